//! The first layer: a CA, a store, an organisation with its persons, personalised cards.

use std::sync::Arc;

use eid_card::{CardClient, CardProfile, VirtualCard, VirtualReader};
use eid_pki::{
    CaNames, CardMasterKey, CertificateAuthority, Csr, FileSigner, IssueRequest, KeyAlgorithm,
    Profile, ProfileSettings, issue,
};
use eid_ra::{Personalisation, personalise};
use eid_store::{
    AnyStore, AuditEvent, CardKind, CardState, Durability, Organisation, Person, SigningPolicy,
    SqliteStore, Store,
};
use time::{Duration, OffsetDateTime};

use crate::card::{CardFile, Letter, TestCard};

/// The organisation number of "Region Exempel".
pub const ORG: &str = "2321000016";
/// Anna Andersson's HSA-id; every [`Pki`] has her.
pub const ANNA: &str = "SE2321000016-A1B2";

/// A temporary folder with a CA (P-256, valid from a day before `now`), an SQLite store
/// (`eid.db`), the organisation [`ORG`] and the person [`ANNA`].
pub struct Pki {
    /// The instant the fixture was made at; audit entries and certificates date from it.
    pub now: OffsetDateTime,
    pub ca: Arc<CertificateAuthority>,
    pub store: Arc<AnyStore>,
    /// Diversifies the cards' management keys.
    pub master: CardMasterKey,
    /// Holds the store and the card files; removed when the last fixture sharing it is
    /// dropped.
    pub dir: Arc<tempfile::TempDir>,
}

impl Pki {
    pub async fn new(now: OffsetDateTime) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap();
        Self::build(now, dir, AnyStore::from(store)).await
    }

    /// The same over `store` (a PostgreSQL database, say; empty).
    pub async fn with_store(now: OffsetDateTime, store: AnyStore) -> Self {
        Self::build(now, tempfile::tempdir().unwrap(), store).await
    }

    async fn build(now: OffsetDateTime, dir: tempfile::TempDir, store: AnyStore) -> Self {
        let names = CaNames {
            country: "SE".into(),
            organisation: "Test".into(),
            root_common_name: "Test Root".into(),
            issuing_common_name: "Test Issuing".into(),
        };
        let new = eid_pki::create_ca(
            &names,
            KeyAlgorithm::P256,
            now - Duration::days(1),
            &mut rand::rng(),
        )
        .unwrap();
        let signer = FileSigner::from_pkcs8_pem(&new.issuing_key_pem).unwrap();
        let ca = CertificateAuthority::load(
            &new.root_cert_pem,
            &new.issuing_cert_pem,
            Arc::new(signer),
            ProfileSettings::new("http://localhost/crl", "http://localhost/ocsp"),
        )
        .unwrap();
        let pki = Self {
            now,
            ca: Arc::new(ca),
            store: Arc::new(store),
            master: CardMasterKey::generate().unwrap(),
            dir: Arc::new(dir),
        };
        let organisation = Organisation {
            org_number: ORG.into(),
            name: "Region Exempel".into(),
            signing_policy: SigningPolicy::SelfService,
            accept_unattested_keys: false,
            created_at: now,
        };
        pki.store
            .add_organisation(&organisation, &pki.event("organisation.add"))
            .await
            .unwrap();
        pki.add_person(ANNA, "Anna").await;
        pki
    }

    /// The same CA, card master key and folder over another handle on the same database:
    /// what a second server node of the installation has.
    pub fn node(&self, store: AnyStore) -> Self {
        Self {
            now: self.now,
            ca: self.ca.clone(),
            store: Arc::new(store),
            master: self.master.clone(),
            dir: self.dir.clone(),
        }
    }

    /// An audit event by `test` at [`Pki::now`].
    pub fn event(&self, action: &str) -> AuditEvent {
        AuditEvent {
            at: self.now,
            actor: "test".into(),
            action: action.into(),
            subject: "x".into(),
            details: serde_json::json!({}),
        }
    }

    /// Adds the organisation `number` called `name` with signing `policy`.
    pub async fn add_organisation(&self, number: &str, name: &str, policy: SigningPolicy) {
        let organisation = Organisation {
            org_number: number.into(),
            name: name.into(),
            signing_policy: policy,
            accept_unattested_keys: false,
            created_at: self.now,
        };
        self.store
            .add_organisation(&organisation, &self.event("organisation.add"))
            .await
            .unwrap();
    }

    /// Adds `given_name` Andersson of [`ORG`], active and entitled to sign.
    pub async fn add_person(&self, hsa_id: &str, given_name: &str) {
        self.add_person_in(hsa_id, given_name, ORG).await;
    }

    /// Adds `given_name` Andersson of organisation `org`, active and entitled to sign.
    pub async fn add_person_in(&self, hsa_id: &str, given_name: &str, org: &str) {
        let person = Person {
            hsa_id: hsa_id.into(),
            given_name: given_name.into(),
            surname: "Andersson".into(),
            org_number: org.into(),
            signing_entitled: true,
            active: true,
            created_at: self.now,
        };
        self.store
            .add_person(&person, &self.event("person.add"))
            .await
            .unwrap();
    }

    /// A virtual card in memory, personalised for `holder` as product 610 (two PINs) or
    /// 710 (one PIN, waiting for activation).
    pub async fn card(&self, holder: &str, number: &str, kind: CardKind) -> TestCard {
        let card = VirtualCard::in_memory(profile(number, kind)).unwrap();
        let client = CardClient::new(VirtualReader::new(card));
        let letter = self.personalise(&client, holder, number, kind).await;
        TestCard::new(number, client, letter)
    }

    /// Like [`Pki::card`], but the card lives in the file `<number>.json` of the fixture's
    /// folder (for the eID app); nothing here keeps it open.
    pub async fn card_file(&self, holder: &str, number: &str, kind: CardKind) -> CardFile {
        let path = self.dir.path().join(format!("{number}.json"));
        let card = VirtualCard::create(&path, profile(number, kind)).unwrap();
        let client = CardClient::new(VirtualReader::new(card));
        let letter = self.personalise(&client, holder, number, kind).await;
        CardFile::new(number, path, letter)
    }

    /// Records card `number` of `holder`, active, whose keys live on a token this fixture
    /// cannot reach (a PKCS#11 token in another process), and issues its authentication
    /// certificate for the key in `csr` (DER, signed by that key). A software token, so the
    /// certificate carries the virtual-card policy. Returns the certificate, DER, for the
    /// caller to write to the token.
    pub async fn token_card(
        &self,
        holder: &str,
        number: &str,
        kind: CardKind,
        csr: &[u8],
    ) -> Vec<u8> {
        let record = eid_store::Card {
            card_number: number.into(),
            product_number: product(kind).into(),
            kind,
            state: CardState::Active,
            holder: holder.into(),
            created_at: self.now,
        };
        self.store
            .add_card(&record, &self.event("card.issue"))
            .await
            .unwrap();
        let request = IssueRequest {
            hsa_id: holder.into(),
            card_number: number.into(),
            profile: Profile::Authentication,
            csr: Csr::from_der(csr).unwrap(),
            virtual_card: true,
        };
        issue(
            &self.ca,
            &*self.store,
            &request,
            "admin:test",
            self.now - Duration::minutes(5),
            &mut rand::rng(),
        )
        .await
        .unwrap()
        .record
        .der
    }

    async fn personalise(
        &self,
        client: &CardClient<VirtualReader>,
        holder: &str,
        number: &str,
        kind: CardKind,
    ) -> Letter {
        let letter = personalise(
            client,
            &self.ca,
            &*self.store,
            &self.master,
            &Personalisation {
                holder,
                card_number: number,
                product_number: product(kind),
                kind,
                virtual_card: true,
            },
            "admin:test",
            self.now - Duration::minutes(5),
            &mut rand::rng(),
        )
        .await
        .unwrap();
        Letter::from(letter)
    }
}

fn product(kind: CardKind) -> &'static str {
    match kind {
        CardKind::TwoPin => "610",
        CardKind::OnePin => "710",
    }
}

fn profile(number: &str, kind: CardKind) -> CardProfile {
    let card_kind = match kind {
        CardKind::TwoPin => eid_card::CardKind::TwoPin,
        CardKind::OnePin => eid_card::CardKind::OnePin,
    };
    CardProfile::new(number, product(kind), card_kind)
}
