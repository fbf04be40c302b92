//! A plain PIV card's attestation in YubiKey's format, checked against the card maker's
//! roots the operator configured: accepted only with a chain to a configured anchor, the
//! card's serial, slot 9C, PIN policy *always* and the very key of the request. The
//! attestations here are made with rcgen, independently of the emulator's DER writer.

use eid_pki::{
    AttestationError, CertificateAuthority, KeyAlgorithm, KeyAttestation, VendorAttestationRoots,
    verify_signing_key_attestation,
};
use eid_store::{Card, CardKind, CardState};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    PublicKeyData, date_time_ymd,
};
use time::OffsetDateTime;

use crate::harness::*;

const SERIAL: u32 = 31_415_926;
const YUBICO: [u64; 8] = [1, 3, 6, 1, 4, 1, 41482, 3];

fn yubico_oid(n: u64) -> Vec<u64> {
    let mut oid = YUBICO.to_vec();
    oid.push(n);
    oid
}

fn der_integer(n: u32) -> Vec<u8> {
    let mut content: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    [vec![0x02, content.len() as u8], content].concat()
}

/// A maker: an RSA root (as Yubico's) and a P-256 intermediate that issues F9
/// certificates.
struct Maker {
    root_pem: String,
    intermediate_pem: String,
    intermediate: CertificateParams,
    intermediate_key: KeyPair,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(2016, 3, 14);
    params.not_after = date_time_ymd(2052, 4, 17);
    params
}

impl Maker {
    fn new(name: &str) -> Self {
        let root_key = key(KeyKind::Rsa2048);
        let root = ca_params(&format!("{name} PIV Root CA"));
        let root_pem = root.self_signed(&root_key).unwrap().pem();
        let intermediate_key = key(KeyKind::P256);
        let intermediate = ca_params(&format!("{name} PIV Attestation B 1"));
        let intermediate_pem = intermediate
            .signed_by(&intermediate_key, &Issuer::new(root, &root_key))
            .unwrap()
            .pem();
        Self {
            root_pem,
            intermediate_pem,
            intermediate,
            intermediate_key,
        }
    }

    fn roots(&self) -> VendorAttestationRoots {
        VendorAttestationRoots::from_pem(
            (self.root_pem.clone() + &self.intermediate_pem).as_bytes(),
        )
        .unwrap()
    }
}

/// What a card's attestation says, to be varied by each test.
struct Attestation {
    serial: Option<u32>,
    f9_serial: Option<u32>,
    subject: String,
    policy: Vec<u8>,
    f9_not_after: (i32, u8, u8),
}

impl Default for Attestation {
    fn default() -> Self {
        Self {
            serial: Some(SERIAL),
            f9_serial: Some(SERIAL),
            subject: "YubiKey PIV Attestation 9c".into(),
            policy: vec![0x03, 0x01],
            f9_not_after: (2052, 4, 17),
        }
    }
}

/// The F9 certificate (DER) and the attestation (DER) of `slot_key`, made by a card of
/// `maker` whose F9 key is `f9_key` (signed by `signer`, the F9 key unless a test says).
fn attest(
    maker: &Maker,
    a: &Attestation,
    f9_key: &KeyPair,
    signer: &KeyPair,
    slot_key: &KeyPair,
) -> (Vec<u8>, Vec<u8>) {
    let mut f9 = CertificateParams::new(vec![]).unwrap();
    f9.distinguished_name
        .push(DnType::CommonName, "Yubico PIV Attestation");
    f9.not_before = date_time_ymd(2024, 1, 1);
    let (y, m, d) = a.f9_not_after;
    f9.not_after = date_time_ymd(y, m, d);
    if let Some(serial) = a.f9_serial {
        f9.custom_extensions.push(CustomExtension::from_oid_content(
            &yubico_oid(7),
            der_integer(serial),
        ));
    }
    let f9_der = f9
        .signed_by(
            f9_key,
            &Issuer::new(maker.intermediate.clone(), &maker.intermediate_key),
        )
        .unwrap()
        .der()
        .to_vec();

    let mut slot = CertificateParams::new(vec![]).unwrap();
    slot.distinguished_name
        .push(DnType::CommonName, a.subject.as_str());
    slot.not_before = f9.not_before;
    slot.not_after = f9.not_after;
    slot.custom_extensions = vec![CustomExtension::from_oid_content(
        &yubico_oid(3),
        vec![5, 7, 4],
    )];
    if let Some(serial) = a.serial {
        slot.custom_extensions
            .push(CustomExtension::from_oid_content(
                &yubico_oid(7),
                der_integer(serial),
            ));
    }
    slot.custom_extensions
        .push(CustomExtension::from_oid_content(
            &yubico_oid(8),
            a.policy.clone(),
        ));
    let attestation = slot
        .signed_by(slot_key, &Issuer::new(f9, signer))
        .unwrap()
        .der()
        .to_vec();
    (f9_der, attestation)
}

fn plain_piv_card(kind: CardKind) -> Card {
    Card {
        card_number: SERIAL.to_string(),
        product_number: "790".into(),
        kind,
        state: CardState::Active,
        holder: ANNA.into(),
        created_at: now(),
    }
}

struct World {
    ca: std::sync::Arc<CertificateAuthority>,
    maker: Maker,
    f9_key: KeyPair,
    slot_key: KeyPair,
}

async fn world() -> World {
    World {
        ca: Fixture::new(KeyAlgorithm::P256).await.ca,
        maker: Maker::new("Yubico-like"),
        f9_key: key(KeyKind::P256),
        slot_key: key(KeyKind::P256),
    }
}

impl World {
    fn check_with(
        &self,
        roots: &VendorAttestationRoots,
        card: &Card,
        f9_der: &[u8],
        attestation: &[u8],
        at: OffsetDateTime,
    ) -> Result<eid_pki::AttestedKey, AttestationError> {
        verify_signing_key_attestation(
            &self.ca,
            roots,
            card,
            &[],
            &self.slot_key.subject_public_key_info(),
            &KeyAttestation {
                attestation,
                attestation_key_certificate: Some(f9_der),
            },
            at,
        )
    }

    fn check(&self, a: &Attestation) -> Result<eid_pki::AttestedKey, AttestationError> {
        let (f9, att) = attest(&self.maker, a, &self.f9_key, &self.f9_key, &self.slot_key);
        self.check_with(
            &self.maker.roots(),
            &plain_piv_card(CardKind::OnePin),
            &f9,
            &att,
            now(),
        )
    }
}

#[tokio::test]
async fn a_yubikey_attestation_chaining_to_a_configured_root_is_accepted() {
    let w = world().await;
    let attested = w.check(&Attestation::default()).unwrap();
    assert_eq!(attested.card_number, SERIAL.to_string());
    assert_eq!((attested.slot, attested.pin_reference), (0x9C, 0x80));
    assert!(!attested.attestation_key_serial.is_empty());

    // The intermediate alone is an anchor too; the root alone is not enough for an F9
    // certificate the intermediate issued (the app sends no intermediates).
    let (f9, att) = attest(
        &w.maker,
        &Attestation::default(),
        &w.f9_key,
        &w.f9_key,
        &w.slot_key,
    );
    let card = plain_piv_card(CardKind::OnePin);
    let intermediate_only =
        VendorAttestationRoots::from_pem(w.maker.intermediate_pem.as_bytes()).unwrap();
    assert!(
        w.check_with(&intermediate_only, &card, &f9, &att, now())
            .is_ok()
    );
    let root_only = VendorAttestationRoots::from_pem(w.maker.root_pem.as_bytes()).unwrap();
    assert!(matches!(
        w.check_with(&root_only, &card, &f9, &att, now()),
        Err(AttestationError::UntrustedMaker(_))
    ));
}

#[tokio::test]
async fn without_a_trusted_maker_the_attestation_is_refused() {
    let w = world().await;
    let (f9, att) = attest(
        &w.maker,
        &Attestation::default(),
        &w.f9_key,
        &w.f9_key,
        &w.slot_key,
    );
    let card = plain_piv_card(CardKind::OnePin);
    // None configured.
    let err = w
        .check_with(&VendorAttestationRoots::default(), &card, &f9, &att, now())
        .unwrap_err();
    assert!(matches!(err, AttestationError::NoVendorRoots), "{err}");
    assert!(
        err.to_string().contains("vendor_attestation_roots"),
        "{err}"
    );
    // Another maker's roots.
    let other = Maker::new("Other").roots();
    assert!(matches!(
        w.check_with(&other, &card, &f9, &att, now()),
        Err(AttestationError::UntrustedMaker(_))
    ));
    // The F9 certificate has expired.
    let expired = Attestation {
        f9_not_after: (2025, 12, 31),
        ..Attestation::default()
    };
    assert!(matches!(
        w.check(&expired),
        Err(AttestationError::UntrustedMaker(_))
    ));
    // The maker's root is not yet valid (a clock before 2016).
    let early = time::macros::datetime!(2015-01-01 00:00 UTC);
    assert!(matches!(
        w.check_with(&w.maker.roots(), &card, &f9, &att, early),
        Err(AttestationError::UntrustedMaker(_))
    ));
}

#[tokio::test]
async fn an_attestation_not_signed_by_the_cards_attestation_key_is_refused() {
    let w = world().await;
    let forger = key(KeyKind::P256);
    let (f9, att) = attest(
        &w.maker,
        &Attestation::default(),
        &w.f9_key,
        &forger,
        &w.slot_key,
    );
    let err = w
        .check_with(
            &w.maker.roots(),
            &plain_piv_card(CardKind::OnePin),
            &f9,
            &att,
            now(),
        )
        .unwrap_err();
    assert!(matches!(err, AttestationError::NotFromCard(_)), "{err}");
    // The F9 certificate names another YubiKey than the attestation.
    let mismatch = Attestation {
        f9_serial: Some(SERIAL + 1),
        ..Attestation::default()
    };
    assert!(matches!(
        w.check(&mismatch),
        Err(AttestationError::NotFromCard(_))
    ));
    // An F9 certificate without a serial (older YubiKeys) is fine.
    let no_f9_serial = Attestation {
        f9_serial: None,
        ..Attestation::default()
    };
    assert!(w.check(&no_f9_serial).is_ok());
}

#[tokio::test]
async fn another_card_slot_policy_or_key_is_refused() {
    let w = world().await;
    let other_card = Attestation {
        serial: Some(SERIAL + 1),
        f9_serial: None,
        ..Attestation::default()
    };
    assert!(matches!(
        w.check(&other_card),
        Err(AttestationError::WrongCardOrSlot { card, slot: 0x9C }) if card == (SERIAL + 1).to_string()
    ));
    let authentication_slot = Attestation {
        subject: "YubiKey PIV Attestation 9a".into(),
        ..Attestation::default()
    };
    assert!(matches!(
        w.check(&authentication_slot),
        Err(AttestationError::WrongCardOrSlot { slot: 0x9A, .. })
    ));
    for (policy, _name) in [(0x02, "once"), (0x01, "never")] {
        let weak = Attestation {
            policy: vec![policy, 0x01],
            ..Attestation::default()
        };
        assert!(matches!(
            w.check(&weak),
            Err(AttestationError::WrongPinPolicy { policy: p, .. }) if p == policy
        ));
    }
    // Another key than the request's.
    let (f9, att) = attest(
        &w.maker,
        &Attestation::default(),
        &w.f9_key,
        &w.f9_key,
        &key(KeyKind::P256),
    );
    assert!(matches!(
        w.check_with(
            &w.maker.roots(),
            &plain_piv_card(CardKind::OnePin),
            &f9,
            &att,
            now()
        ),
        Err(AttestationError::WrongKey)
    ));
}

#[tokio::test]
async fn a_malformed_attestation_is_refused() {
    let w = world().await;
    for bad in [
        Attestation {
            serial: None,
            ..Attestation::default()
        },
        Attestation {
            subject: "Some other certificate".into(),
            ..Attestation::default()
        },
        Attestation {
            policy: vec![0x03],
            ..Attestation::default()
        },
    ] {
        assert!(matches!(w.check(&bad), Err(AttestationError::Malformed(_))));
    }
    let (f9, att) = attest(
        &w.maker,
        &Attestation::default(),
        &w.f9_key,
        &w.f9_key,
        &w.slot_key,
    );
    let card = plain_piv_card(CardKind::OnePin);
    let roots = w.maker.roots();
    let trailing = [att.as_slice(), &[0]].concat();
    for (f9, att) in [
        (&f9[..], &trailing[..]),
        (&f9[..], &att[..att.len() - 1]),
        (&[0x30, 0x00][..], &att[..]),
    ] {
        assert!(matches!(
            w.check_with(&roots, &card, f9, att, now()),
            Err(AttestationError::Malformed(_))
        ));
    }
}

#[tokio::test]
async fn a_two_pin_card_is_never_attested_by_a_maker() {
    // Two-PIN cards are the platform's eID cards: their F9 key is the platform's, in the
    // store; a maker's certificate sent along is not looked at.
    let w = world().await;
    let (f9, att) = attest(
        &w.maker,
        &Attestation::default(),
        &w.f9_key,
        &w.f9_key,
        &w.slot_key,
    );
    let err = w
        .check_with(
            &w.maker.roots(),
            &plain_piv_card(CardKind::TwoPin),
            &f9,
            &att,
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::NoAttestationKey(_)),
        "{err}"
    );
}

#[test]
fn the_roots_file_holds_ca_certificates_only() {
    let maker = Maker::new("Yubico-like");
    assert_eq!(
        VendorAttestationRoots::from_pem(
            (maker.root_pem.clone() + &maker.intermediate_pem).as_bytes()
        )
        .unwrap()
        .len(),
        2
    );
    let mut leaf = CertificateParams::new(vec![]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "leaf");
    let leaf = leaf.self_signed(&key(KeyKind::P256)).unwrap().pem();
    let key_pem = key(KeyKind::P256).serialize_pem();
    for (text, why) in [
        ("", "no certificate"),
        ("not pem at all", "no certificate"),
        (leaf.as_str(), "not a CA certificate"),
        (key_pem.as_str(), "not a CERTIFICATE"),
        (
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            "not DER X.509",
        ),
    ] {
        let err = VendorAttestationRoots::from_pem(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(why), "{text:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = VendorAttestationRoots::load(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
