//! A real SQLite store with two organisations, persons and cards, and a freshly created CA.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use eid_pki::{
    CaNames, CertificateAuthority, Csr, FileSigner, IssueError, IssueRequest, Issued, KeyAlgorithm,
    NewCa, Profile, ProfileSettings, create_ca, issue,
};
use eid_store::{
    AuditEvent, AuditHead, Card, CardKind, CardState, CertificateRecord, Durability, Organisation,
    Person, SigningPolicy, SqliteStore, Store,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

/// Organisation with self-service signing.
pub const ORG: &str = "2321000016";
pub const ORG_NAME: &str = "Region Exempel";
/// Organisation with signing disabled.
pub const ORG_DISABLED: &str = "5560000001";
pub const ORG_DISABLED_NAME: &str = "Vård AB";

/// Entitled to signing, in ORG.
pub const ANNA: &str = "SE2321000016-anna";
pub const ANNA_CARD: &str = "9752269000000001";
/// Not entitled, in ORG.
pub const BO: &str = "SE2321000016-bo";
pub const BO_CARD: &str = "9752269000000002";
/// Entitled, but in ORG_DISABLED.
pub const CARL: &str = "SE5560000001-carl";
pub const CARL_CARD: &str = "9752269000000003";
/// Inactive (has left), in ORG.
pub const DORA: &str = "SE2321000016-dora";
pub const DORA_CARD: &str = "9752269000000004";
/// Anna's revoked card.
pub const ANNA_REVOKED_CARD: &str = "9752269000000005";

pub const CRL_URL: &str = "http://ca.eid.example/crl/issuing.crl";
pub const OCSP_URL: &str = "http://ca.eid.example/ocsp";
pub const CA_ISSUERS_URL: &str = "http://ca.eid.example/issuing.cer";

/// When the CA was made.
pub fn ca_time() -> OffsetDateTime {
    datetime!(2026-01-01 00:00:00 UTC)
}

/// When the tests issue, with a fraction of a second that certificates cannot hold.
pub fn now() -> OffsetDateTime {
    datetime!(2026-03-01 12:00:00.250 UTC)
}

pub fn names() -> CaNames {
    CaNames {
        country: "SE".into(),
        organisation: "eid test CA".into(),
        root_common_name: "eid Test Root CA v1".into(),
        issuing_common_name: "eid Test Issuing CA v1".into(),
    }
}

pub fn settings() -> ProfileSettings {
    let mut s = ProfileSettings::new(CRL_URL, OCSP_URL);
    s.ca_issuers_url = Some(CA_ISSUERS_URL.into());
    s
}

/// A store with data, a CA over it, and a temporary folder.
pub struct Fixture {
    pub ca: Arc<CertificateAuthority>,
    /// The created CA, keys included.
    #[allow(dead_code)] // Kept for tests that need the root key.
    pub new_ca: NewCa,
    pub store: Arc<SqliteStore>,
    pub dir: TempDir,
    pub rng: StdRng,
}

fn event(action: &str, subject: &str) -> AuditEvent {
    AuditEvent {
        at: ca_time(),
        actor: "system".into(),
        action: action.into(),
        subject: subject.into(),
        details: serde_json::json!({}),
    }
}

impl Fixture {
    pub async fn new(algorithm: KeyAlgorithm) -> Self {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let new_ca = create_ca(&names(), algorithm, ca_time(), &mut rng).unwrap();
        let signer = FileSigner::from_pkcs8_pem(&new_ca.issuing_key_pem).unwrap();
        let ca = CertificateAuthority::load(
            &new_ca.root_cert_pem,
            &new_ca.issuing_cert_pem,
            Arc::new(signer),
            settings(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap();
        let fx = Self {
            ca: Arc::new(ca),
            new_ca,
            store: Arc::new(store),
            dir,
            rng,
        };
        fx.populate().await;
        fx
    }

    async fn populate(&self) {
        let s = &self.store;
        for (number, name, policy) in [
            (ORG, ORG_NAME, SigningPolicy::SelfService),
            (ORG_DISABLED, ORG_DISABLED_NAME, SigningPolicy::Disabled),
        ] {
            let org = Organisation {
                org_number: number.into(),
                name: name.into(),
                signing_policy: policy,
                accept_unattested_keys: true,
                created_at: ca_time(),
            };
            s.add_organisation(&org, &event("organisation.add", number))
                .await
                .unwrap();
        }
        for (hsa_id, given, surname, org, entitled, active) in [
            (ANNA, "Anna", "Andersson", ORG, true, true),
            (BO, "Bo", "Björk", ORG, false, true),
            (CARL, "Carl", "Öberg", ORG_DISABLED, true, true),
            (DORA, "Dora", "Dahl", ORG, true, false),
        ] {
            let person = Person {
                hsa_id: hsa_id.into(),
                given_name: given.into(),
                surname: surname.into(),
                org_number: org.into(),
                signing_entitled: entitled,
                active,
                created_at: ca_time(),
            };
            s.add_person(&person, &event("person.add", hsa_id))
                .await
                .unwrap();
        }
        for (number, holder, state) in [
            (ANNA_CARD, ANNA, CardState::Active),
            (BO_CARD, BO, CardState::Active),
            (CARL_CARD, CARL, CardState::Active),
            (DORA_CARD, DORA, CardState::Active),
            (ANNA_REVOKED_CARD, ANNA, CardState::Revoked),
        ] {
            let card = Card {
                card_number: number.into(),
                product_number: "701".into(),
                kind: CardKind::OnePin,
                state,
                holder: holder.into(),
                created_at: ca_time(),
            };
            s.add_card(&card, &event("card.add", number)).await.unwrap();
        }
    }

    /// Issues with the fixture's RNG.
    pub async fn issue(
        &mut self,
        hsa_id: &str,
        card: &str,
        profile: Profile,
        csr: &Csr,
        virtual_card: bool,
        now: OffsetDateTime,
    ) -> Result<Issued, IssueError> {
        let req = IssueRequest {
            hsa_id: hsa_id.into(),
            card_number: card.into(),
            profile,
            csr: csr.clone(),
            virtual_card,
        };
        issue(
            &self.ca,
            self.store.as_ref(),
            &req,
            "admin:test",
            now,
            &mut self.rng,
        )
        .await
    }

    /// An authentication certificate for `hsa_id`'s virtual card `card`, on a new P-256
    /// key, issued at `now`.
    pub async fn authentication(
        &mut self,
        hsa_id: &str,
        card: &str,
        now: OffsetDateTime,
    ) -> Issued {
        let csr = new_csr(KeyKind::P256);
        self.issue(hsa_id, card, Profile::Authentication, &csr, true, now)
            .await
            .unwrap()
    }

    /// What must not change when an issuance is refused.
    pub async fn snapshot(&self) -> Snapshot {
        let mut certificates = Vec::new();
        for card in [ANNA_CARD, BO_CARD, CARL_CARD, DORA_CARD, ANNA_REVOKED_CARD] {
            certificates.extend(self.store.certificates_of_card(card).await.unwrap());
        }
        Snapshot {
            audit_heads: self.store.audit_heads().await.unwrap(),
            audit_entries: self.store.audit_entries(0, 100_000).await.unwrap().len(),
            certificates,
        }
    }

    /// Writes a file into the fixture's folder.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub audit_heads: Vec<AuditHead>,
    pub audit_entries: usize,
    pub certificates: Vec<CertificateRecord>,
}

/// A key of a given kind, and a CSR for it whose subject tries to inject a name.
pub enum KeyKind {
    P256,
    Rsa2048,
}

pub fn key(kind: KeyKind) -> KeyPair {
    match kind {
        KeyKind::P256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyKind::Rsa2048 => {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap()
        }
    }
}

/// A CSR saying CN=Mallory, O=Evil, C=XX, serialNumber=SE2321000016-anna... and asking
/// for CA:TRUE. None of it may reach a certificate.
pub fn csr_der(key: &KeyPair) -> Vec<u8> {
    let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Mallory");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Evil");
    params.distinguished_name.push(DnType::CountryName, "XX");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.serialize_request(key).unwrap().der().to_vec()
}

pub fn csr(key: &KeyPair) -> Csr {
    Csr::from_der(&csr_der(key)).unwrap()
}

pub fn new_csr(kind: KeyKind) -> Csr {
    csr(&key(kind))
}

/// Runs a command, returning (success, stdout+stderr).
pub fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
