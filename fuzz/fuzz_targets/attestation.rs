//! A card's attestation of its signing key (`eid_pki::verify_signing_key_attestation`), the
//! eID app's untrusted evidence at a signing-certificate fetch: never a panic, and an
//! accepted attestation always says this card, slot 9C, the card kind's PIN, this key and
//! the card's real attestation key.
//!
//! The anchor is real: a CA, and an F9 attestation-key certificate issued by it for one
//! card (`issue_attestation`, through a SQLite store, once). The input then drives one of
//! two shapes. *Raw*: the bytes as the attestation and (optionally) as the request's key.
//! *Built*: an attestation assembled here from fuzzed parts (each extension honest, left
//! out, or raw bytes; extra extensions; the certified key; who signs it; the issuer; bytes
//! flipped or appended afterwards) and signed, so that the checks behind the signature
//! are reached too. An attestation built with every part honest must be accepted.
#![no_main]

use std::sync::{Arc, OnceLock};

use eid_pki::{
    AttestedKey, CaNames, CertificateAuthority, FileSigner, KeyAlgorithm, KeyAttestation,
    ProfileSettings, Signer, VendorAttestationRoots, issue_attestation,
    verify_signing_key_attestation,
};
use eid_store::{
    AuditEvent, Card, CardKind, CardState, CertificateRecord, Organisation, Person, SigningPolicy,
    SqliteStore, Store,
};
use libfuzzer_sys::arbitrary::{Result as Arb, Unstructured};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

const CARD: &str = "9752000001";
/// The card arc `2.25.335355927546609564506616252023372769.2` (`docs/card.md`).
const CARD_ARC: [u128; 4] = [2, 25, 335_355_927_546_609_564_506_616_252_023_372_769, 2];
const ECDSA_WITH_SHA256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];

struct Fixture {
    ca: CertificateAuthority,
    /// Card makers' roots (the CA's root, as if it were a maker's), for the YubiKey path.
    roots: VendorAttestationRoots,
    /// The store's records of the card's certificates: the F9 certificate.
    records: Vec<CertificateRecord>,
    /// The F9 certificate's serial (upper-case hex) and raw subject.
    f9_serial: String,
    f9_subject: Vec<u8>,
    /// The card's attestation key, and a key that is not it.
    f9: FileSigner,
    stranger: FileSigner,
    /// The key in 9C (DER SubjectPublicKeyInfo) and another one.
    key: Vec<u8>,
    other_key: Vec<u8>,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a time");
        let names = CaNames {
            country: "SE".into(),
            organisation: "Fuzz".into(),
            root_common_name: "Fuzz Root".into(),
            issuing_common_name: "Fuzz Issuing".into(),
        };
        let new =
            eid_pki::create_ca(&names, KeyAlgorithm::P256, t, &mut rand::rng()).expect("a CA");
        let signer = FileSigner::from_pkcs8_pem(&new.issuing_key_pem).expect("its key");
        let ca = CertificateAuthority::load(
            &new.root_cert_pem,
            &new.issuing_cert_pem,
            Arc::new(signer),
            ProfileSettings::new("http://fuzz.example/crl", "http://fuzz.example/ocsp"),
        )
        .expect("the CA loads");
        let f9 = FileSigner::generate(KeyAlgorithm::P256).expect("a key");
        let record = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(certify_f9(&ca, &f9, t));
        let (_, cert) = x509_parser::parse_x509_certificate(&record.der).expect("F9 parses");
        let f9_subject = cert.subject().as_raw().to_vec();
        let key = |_| {
            FileSigner::generate(KeyAlgorithm::P256)
                .expect("a key")
                .spki_der()
                .to_vec()
        };
        let roots =
            VendorAttestationRoots::from_pem(new.root_cert_pem.as_bytes()).expect("the root");
        Fixture {
            ca,
            roots,
            f9_serial: record.serial.to_string(),
            f9_subject,
            records: vec![record],
            f9,
            stranger: FileSigner::generate(KeyAlgorithm::P256).expect("a key"),
            key: key(0),
            other_key: key(1),
            now: t + time::Duration::days(1),
        }
    })
}

/// The F9 certificate of [`CARD`], issued the way personalisation does, in a store that
/// lives only for this.
async fn certify_f9(
    ca: &CertificateAuthority,
    f9: &FileSigner,
    t: OffsetDateTime,
) -> CertificateRecord {
    let dir = std::env::temp_dir().join(format!("eid-fuzz-attestation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let store = SqliteStore::open(&dir.join("eid.db"), eid_store::Durability::Process)
        .await
        .expect("a store");
    let audit = |action: &str| AuditEvent {
        at: t,
        actor: "admin:fuzz".into(),
        action: action.into(),
        subject: "fuzz".into(),
        details: serde_json::json!({}),
    };
    let org = Organisation {
        org_number: "2321000016".into(),
        name: "Region Fuzz".into(),
        signing_policy: SigningPolicy::SelfService,
        accept_unattested_keys: false,
        created_at: t,
    };
    let person = Person {
        hsa_id: "SE2321000016-F1".into(),
        given_name: "Fia".into(),
        surname: "Fuzz".into(),
        org_number: org.org_number.clone(),
        signing_entitled: true,
        active: true,
        created_at: t,
    };
    let card = Card {
        card_number: CARD.into(),
        product_number: "610".into(),
        kind: CardKind::TwoPin,
        state: CardState::Active,
        holder: person.hsa_id.clone(),
        created_at: t,
    };
    store
        .add_organisation(&org, &audit("organisation.add"))
        .await
        .expect("org");
    store
        .add_person(&person, &audit("person.add"))
        .await
        .expect("person");
    store
        .add_card(&card, &audit("card.add"))
        .await
        .expect("card");
    let issued = issue_attestation(
        ca,
        &store,
        CARD,
        f9.spki_der(),
        "admin:fuzz",
        t,
        &mut rand::rng(),
    )
    .await
    .expect("the F9 certificate");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    issued.record
}

/// One extension's value: the honest one, none, or raw bytes (the extension's
/// `extnValue` content, normally a DER string).
#[derive(Debug)]
enum Part {
    Honest,
    Missing,
    Raw(Vec<u8>),
}

impl Part {
    fn take(u: &mut Unstructured<'_>) -> Arb<Self> {
        Ok(match u.int_in_range(0..=3u8)? {
            0 | 1 => Self::Honest,
            2 => Self::Missing,
            _ => Self::Raw(u.arbitrary()?),
        })
    }
}

/// Which key a place holds: the card's 9C key, another key, or raw bytes.
#[derive(Debug)]
enum Key {
    Ours,
    Other,
    Raw(Vec<u8>),
}

impl Key {
    fn take(u: &mut Unstructured<'_>) -> Arb<Self> {
        Ok(match u.int_in_range(0..=3u8)? {
            0 | 1 => Self::Ours,
            2 => Self::Other,
            _ => Self::Raw(u.arbitrary()?),
        })
    }

    fn bytes<'a>(&'a self, f: &'a Fixture) -> &'a [u8] {
        match self {
            Self::Ours => &f.key,
            Self::Other => &f.other_key,
            Self::Raw(b) => b,
        }
    }
}

#[derive(Debug)]
struct Built {
    one_pin: bool,
    card: Part,
    slot: Part,
    policy: Part,
    extra: Vec<(u8, Vec<u8>)>,
    certified: Key,
    requested: Key,
    signed_by_f9: bool,
    issuer_is_f9: bool,
    flips: Vec<(u16, u8)>,
    trailing: Vec<u8>,
}

impl Built {
    fn take(u: &mut Unstructured<'_>) -> Arb<Self> {
        Ok(Self {
            one_pin: u.arbitrary()?,
            card: Part::take(u)?,
            slot: Part::take(u)?,
            policy: Part::take(u)?,
            extra: u.arbitrary_iter()?.take(4).collect::<Arb<_>>()?,
            certified: Key::take(u)?,
            requested: Key::take(u)?,
            signed_by_f9: u.ratio(7, 8)?,
            issuer_is_f9: u.ratio(7, 8)?,
            flips: u.arbitrary_iter()?.take(4).collect::<Arb<_>>()?,
            trailing: u.arbitrary()?,
        })
    }

    /// Every part as the card makes it: must be accepted.
    fn honest(&self) -> bool {
        matches!(
            (&self.card, &self.slot, &self.policy),
            (Part::Honest, Part::Honest, Part::Honest)
        ) && self.extra.is_empty()
            && matches!((&self.certified, &self.requested), (Key::Ours, Key::Ours))
            && self.signed_by_f9
            && self.issuer_is_f9
            && self.flips.is_empty()
            && self.trailing.is_empty()
    }

    fn der(&self, f: &Fixture) -> Vec<u8> {
        let guard = if self.one_pin { 0x80 } else { 0x88 };
        let value = |part: &Part, honest: Vec<u8>| match part {
            Part::Honest => Some(honest),
            Part::Missing => None,
            Part::Raw(b) => Some(b.clone()),
        };
        let mut extensions = Vec::new();
        for (n, v) in [
            (1, value(&self.card, der(0x0C, CARD.as_bytes()))),
            (2, value(&self.slot, der(0x04, &[0x9C]))),
            (3, value(&self.policy, der(0x04, &[0x03, guard]))),
            (4, Some(der(0x0C, b"610"))),
        ] {
            if let Some(v) = v {
                extensions.extend(extension(n, &v));
            }
        }
        for (n, v) in &self.extra {
            extensions.extend(extension(u128::from(*n % 8), v));
        }
        let issuer = if self.issuer_is_f9 {
            f.f9_subject.clone()
        } else {
            name("Someone else")
        };
        let validity = der(
            0x30,
            &[der(0x17, b"000101000000Z"), der(0x18, b"99991231235959Z")].concat(),
        );
        let algorithm = der(0x30, &ECDSA_WITH_SHA256);
        let mut body = vec![
            der(0xA0, &der(0x02, &[2])),
            der(0x02, &[0x40, 1, 2, 3, 4, 5, 6, 7]),
            algorithm.clone(),
            issuer,
            validity,
            name(&format!("eID attestation {CARD} 9C")),
            self.certified.bytes(f).to_vec(),
        ];
        if !extensions.is_empty() {
            body.push(der(0xA3, &der(0x30, &extensions)));
        }
        let tbs = der(0x30, &body.concat());
        let signer = if self.signed_by_f9 {
            &f.f9
        } else {
            &f.stranger
        };
        let mut bits = vec![0u8];
        bits.extend(signer.sign(&tbs).expect("signing"));
        let mut out = der(0x30, &[tbs, algorithm, der(0x03, &bits)].concat());
        for (at, x) in &self.flips {
            if !out.is_empty() {
                let i = usize::from(*at) % out.len();
                out[i] ^= x | 1;
            }
        }
        out.extend_from_slice(&self.trailing);
        out
    }
}

/// Checks that an accepted attestation says only what it must.
fn accepted_says_the_truth(f: &Fixture, got: &AttestedKey, one_pin: bool) {
    assert_eq!(got.card_number, CARD);
    assert_eq!(got.slot, 0x9C);
    assert_eq!(got.pin_reference, if one_pin { 0x80 } else { 0x88 });
    assert_eq!(got.attestation_key_serial, f.f9_serial);
}

/// The card record of [`CARD`] (or of a card without records: a plain PIV card).
fn card(number: &str, one_pin: bool) -> Card {
    Card {
        card_number: number.into(),
        product_number: "610".into(),
        kind: if one_pin {
            CardKind::OnePin
        } else {
            CardKind::TwoPin
        },
        state: CardState::Active,
        holder: "SE2321000016-F1".into(),
        created_at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn verify(f: &Fixture, one_pin: bool, spki: &[u8], der: &[u8]) -> Option<AttestedKey> {
    let evidence = KeyAttestation {
        attestation: der,
        attestation_key_certificate: None,
    };
    let got = verify_signing_key_attestation(
        &f.ca,
        &f.roots,
        &card(CARD, one_pin),
        &f.records,
        spki,
        &evidence,
        f.now,
    )
    .ok();
    if let Some(got) = &got {
        accepted_says_the_truth(f, got, one_pin);
    }
    got
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut u = Unstructured::new(data);
    let Ok(raw) = u.arbitrary::<bool>() else {
        return;
    };
    if raw {
        // The rest as the attestation, for the card's key; a valid one cannot be made
        // without the F9 key, so nothing is accepted.
        let rest = u.take_rest();
        assert!(verify(f, false, &f.key, rest).is_none());
        assert!(verify(f, true, rest, rest).is_none());
        // As a plain PIV card's attestation and F9 certificate (YubiKey's format): no F9
        // certificate signed by the roots can be made without the root's key.
        let evidence = KeyAttestation {
            attestation: rest,
            attestation_key_certificate: Some(rest),
        };
        let plain = card("31415926", true);
        assert!(
            verify_signing_key_attestation(&f.ca, &f.roots, &plain, &[], &f.key, &evidence, f.now)
                .is_err()
        );
        return;
    }
    let Ok(built) = Built::take(&mut u) else {
        return;
    };
    let der = built.der(f);
    let got = verify(f, built.one_pin, built.requested.bytes(f), &der);
    if built.honest() {
        assert!(got.is_some(), "an honest attestation is refused: {built:?}");
    }
    if got.is_some() {
        // Only the F9 key's signature, under its name, over the requested key passes.
        assert!(built.signed_by_f9 && built.issuer_is_f9, "{built:?}");
        let requested = public_key(built.requested.bytes(f), true);
        assert!(requested.is_some(), "{built:?}");
        assert_eq!(
            public_key(built.certified.bytes(f), false),
            requested,
            "{built:?}"
        );
    }
});

/// The algorithm, its parameters and the key bits of a DER SubjectPublicKeyInfo (`exact`:
/// nothing may follow it; else what follows is the rest of the certificate).
fn public_key(spki: &[u8], exact: bool) -> Option<(String, Option<Vec<u8>>, Vec<u8>)> {
    use x509_parser::prelude::FromDer;
    let (rest, key) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).ok()?;
    (rest.is_empty() || !exact).then(|| {
        (
            key.algorithm.algorithm.to_id_string(),
            key.algorithm
                .parameters
                .as_ref()
                .map(|p| p.as_bytes().to_vec()),
            key.subject_public_key.data.to_vec(),
        )
    })
}

/// One DER TLV (definite length, any size).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// An OBJECT IDENTIFIER from arcs (the first two folded as X.690 says).
fn oid(arcs: &[u128]) -> Vec<u8> {
    let mut content = Vec::new();
    let first = arcs[0] * 40 + arcs[1];
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7F) as u8 | 0x80);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    der(0x06, &content)
}

/// A Name with one CN (UTF8String).
fn name(common_name: &str) -> Vec<u8> {
    let cn = [oid(&[2, 5, 4, 3]), der(0x0C, common_name.as_bytes())].concat();
    der(0x30, &der(0x31, &der(0x30, &cn)))
}

/// A non-critical extension `CARD_ARC.<n>` with the value `value`.
fn extension(n: u128, value: &[u8]) -> Vec<u8> {
    let mut arcs = CARD_ARC.to_vec();
    arcs.push(n);
    der(0x30, &[oid(&arcs), der(0x04, value)].concat())
}
