//! The PKCS#11 backend against SoftHSM2: tokens found as cards of the right kind, PINs, the
//! signing key made on the token, its request and certificate, and OpenSC's `pkcs11-tool`
//! and OpenSSL checking the result from outside.
//!
//! SoftHSM reads `SOFTHSM2_CONF` from the environment of the process that loads it, and the
//! workspace forbids the unsafe `set_var`, so each test body runs in a child process of this
//! test binary with a configuration of its own: the outer test makes the tokens with
//! `softhsm2-util`, runs the ignored inner test with `run_child`, then checks from
//! outside.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eid_card::pkcs11::{Pkcs11Card, Pkcs11Module};
use eid_card::{
    Card, CardError, CardKind, KeyOrigin, KeySlot, LifeCycle, PinRef, certificate_request,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SubjectPublicKeyInfo,
};

use crate::softhsm::{MODULE, SoftHsm, text};
use crate::support::*;

/// Set in the child's environment: the inner tests do nothing without it.
const CHILD: &str = "EID_CARD_TEST_PKCS11_CHILD";
const TWO_PIN: &str = "9752269000123456";
const ONE_PIN: &str = "9752269000654321";
const SO_PIN: &str = "12348765";

/// The usual tokens: a two-PIN card and a one-PIN card.
fn with_cards() -> SoftHsm {
    let hsm = SoftHsm::new();
    hsm.init_token(&format!("{TWO_PIN} (PIN1)"), SO_PIN, PIN1);
    hsm.init_token(&format!("{TWO_PIN} (PIN2)"), SO_PIN, PIN2);
    hsm.init_token(ONE_PIN, SO_PIN, PIN1);
    hsm
}

/// Runs the ignored test `inner` (its path in this binary) in a child process with `hsm`'s
/// configuration; fails with the child's output if it fails.
fn run_child(hsm: &SoftHsm, inner: &str) {
    let output = hsm
        .command(std::env::current_exe().unwrap().to_str().unwrap())
        .args([inner, "--exact", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let out = text(&output);
    assert!(output.status.success(), "{inner} failed:\n{out}");
    assert!(out.contains("1 passed"), "{inner} did not run:\n{out}");
}

/// In the child: the folder of the test's configuration (for files the outer test checks).
fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD)?;
    let conf = PathBuf::from(std::env::var_os("SOFTHSM2_CONF")?);
    conf.parent().map(Path::to_path_buf)
}

fn open(number: &str) -> Pkcs11Card {
    Pkcs11Card::open(Path::new(MODULE), Some(number)).unwrap()
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

// --- Cards, PINs and what a token cannot do -------------------------------------------------

#[test]
fn tokens_are_found_as_cards_of_their_kind_and_pins_are_checked() {
    run_child(&with_cards(), "pkcs11::inner_cards_and_pins");
}

#[test]
#[ignore = "run by tokens_are_found_as_cards_of_their_kind_and_pins_are_checked in a child process with SOFTHSM2_CONF"]
fn inner_cards_and_pins() {
    if child_dir().is_none() {
        return;
    }
    let module = Pkcs11Module::load(Path::new(MODULE)).unwrap();
    let cards = module.cards().unwrap();
    let kinds: Vec<_> = cards
        .iter()
        .map(|c| (c.card_number.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [(TWO_PIN, CardKind::TwoPin), (ONE_PIN, CardKind::OnePin)]
    );
    assert_eq!(
        cards[0].labels,
        [format!("{TWO_PIN} (PIN1)"), format!("{TWO_PIN} (PIN2)")]
    );
    // Several cards: the caller must name one; an unknown number is no card.
    assert!(module.open(None).is_err());
    assert!(matches!(
        module.open(Some("1234")),
        Err(CardError::CardRemoved)
    ));

    let two = open(TWO_PIN);
    let info = two.info().unwrap();
    assert_eq!(info.card_number, TWO_PIN);
    assert_eq!(info.kind, CardKind::TwoPin);
    assert_eq!(info.life_cycle, LifeCycle::Active);
    assert!(!info.product_number.is_empty());

    // Right and wrong PINs, each on its own token.
    assert!(!two.is_verified(PinRef::Pin1).unwrap());
    assert!(matches!(
        two.verify(PinRef::Pin1, &pin("000000")),
        Err(CardError::WrongPin { tries_left: 1.. })
    ));
    assert!(matches!(
        two.verify(PinRef::Pin1, &pin(PIN2)),
        Err(CardError::WrongPin { .. })
    ));
    assert!(matches!(
        two.verify(PinRef::Pin1, &pin("12a456")),
        Err(CardError::BadPinFormat)
    ));
    two.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert!(two.is_verified(PinRef::Pin1).unwrap());
    assert!(!two.is_verified(PinRef::Pin2).unwrap());
    two.verify(PinRef::Pin2, &pin(PIN2)).unwrap();
    assert!(two.is_verified(PinRef::Pin2).unwrap());
    // A wrong PIN after a right one leaves the PIN unverified.
    assert!(two.verify(PinRef::Pin1, &pin("000000")).is_err());
    assert!(!two.is_verified(PinRef::Pin1).unwrap());
    two.reset_verified(PinRef::Pin2).unwrap();
    assert!(!two.is_verified(PinRef::Pin2).unwrap());
    let status = two.pin_status(PinRef::Pin1).unwrap();
    assert_eq!(status.tries_total, 3);
    assert!(status.tries_left >= 1);
    // select drops every login.
    two.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    two.select().unwrap();
    assert!(!two.is_verified(PinRef::Pin1).unwrap());

    let one = open(ONE_PIN);
    assert_eq!(one.info().unwrap().kind, CardKind::OnePin);
    assert!(matches!(
        one.verify(PinRef::Pin2, &pin(PIN2)),
        Err(CardError::NotFound)
    ));
    one.verify(PinRef::Pin1, &pin(PIN1)).unwrap();

    // No management key, no attestation: said plainly.
    for refused in [
        one.management_challenge().map(drop),
        one.management_respond(&[0; 16]),
        one.authenticate_management(&management_key()),
        one.set_management_key(&management_key()),
        one.attest(KeySlot::Signing).map(drop),
        one.generate_key(KeySlot::Attestation).map(drop),
    ] {
        let error = refused.unwrap_err();
        assert!(matches!(error, CardError::Unsupported(_)), "{error:?}");
        assert!(error.to_string().starts_with("this card cannot "));
    }
    let capabilities = one.capabilities().unwrap();
    assert!(!capabilities.attestation && !capabilities.management_key);
    assert!(capabilities.generate_keys && capabilities.sign_ecdsa);
}

// --- The signing key of a two-PIN card, end to end ------------------------------------------

#[test]
fn the_signing_key_is_made_certified_and_used_on_the_token() {
    let hsm = with_cards();
    run_child(&hsm, "pkcs11::inner_signing_key");
    let token = format!("{TWO_PIN} (PIN2)");

    // The request the token signed: OpenSSL accepts it.
    let csr = hsm.path("request.der");
    let out = openssl(&[
        "req",
        "-inform",
        "DER",
        "-in",
        csr.to_str().unwrap(),
        "-verify",
        "-noout",
    ]);
    assert!(out.status.success(), "openssl req -verify: {}", text(&out));

    // OpenSC's view: the certificate and the key with ID 02.
    let listed = hsm.pkcs11_tool(&token, &["--login", "--pin", PIN2, "-O"]);
    let listing = text(&listed);
    assert!(listed.status.success(), "{listing}");
    for class in [
        "Certificate Object",
        "Private Key Object",
        "Public Key Object",
    ] {
        let object = listing
            .split(class)
            .nth(1)
            .unwrap_or_else(|| panic!("no {class}: {listing}"));
        let id = object
            .lines()
            .find(|l| l.trim_start().starts_with("ID:"))
            .unwrap();
        assert_eq!(id.split(':').nth(1).unwrap().trim(), "02", "{listing}");
    }

    // pkcs11-tool signs a SHA-256 digest with ECDSA; OpenSSL verifies it with the certificate.
    let data = hsm.path("data.txt");
    std::fs::write(&data, b"signed through OpenSC's pkcs11-tool").unwrap();
    let digest = hsm.path("data.sha256");
    std::fs::write(&digest, sha256(&std::fs::read(&data).unwrap())).unwrap();
    let signature = hsm.path("data.sig");
    let signed = hsm.pkcs11_tool(
        &token,
        &[
            "--login",
            "--pin",
            PIN2,
            "--sign",
            "-m",
            "ECDSA",
            "--id",
            "02",
            "--signature-format",
            "openssl",
            "-i",
            digest.to_str().unwrap(),
            "-o",
            signature.to_str().unwrap(),
        ],
    );
    assert!(
        signed.status.success(),
        "pkcs11-tool --sign: {}",
        text(&signed)
    );
    let public = hsm.path("public.pem");
    let out = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        hsm.path("certificate.der").to_str().unwrap(),
        "-pubkey",
        "-noout",
        "-out",
        public.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        public.to_str().unwrap(),
        "-signature",
        signature.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "openssl dgst -verify: {}", text(&out));
}

#[test]
#[ignore = "run by the_signing_key_is_made_certified_and_used_on_the_token in a child process with SOFTHSM2_CONF"]
fn inner_signing_key() {
    let Some(dir) = child_dir() else {
        return;
    };
    let card = open(TWO_PIN);
    // Key generation needs the slot's PIN (PIN2 for 9C), not PIN1.
    assert!(matches!(
        card.generate_key(KeySlot::Signing),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert!(matches!(
        card.generate_key(KeySlot::Signing),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    assert_eq!(card.key_metadata(KeySlot::Signing).unwrap(), None);
    card.verify(PinRef::Pin2, &pin(PIN2)).unwrap();
    let spki = card.generate_key(KeySlot::Signing).unwrap();

    // Readable again, even after the logins are gone.
    card.select().unwrap();
    let key = card.key_metadata(KeySlot::Signing).unwrap().unwrap();
    assert_eq!(key.public_key_spki, spki);
    assert_eq!(key.origin, KeyOrigin::Generated);
    assert_eq!(key.guarded_by, Some(PinRef::Pin2));
    assert_eq!(key.pin_policy, 0x03);
    // Generated without CKA_ALWAYS_AUTHENTICATE (not asked for): the backend enforces the PIN.
    assert_eq!(
        card.capabilities().unwrap().always_authenticate,
        Some(false)
    );

    // The request, signed by the token right after PIN2.
    let digest = sha256(b"too early");
    assert!(matches!(
        card.sign(KeySlot::Signing, &digest),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    card.verify(PinRef::Pin2, &pin(PIN2)).unwrap();
    let request = certificate_request(&card, KeySlot::Signing, TWO_PIN, &spki).unwrap();
    std::fs::write(dir.join("request.der"), &request).unwrap();
    // PIN2 grants one signature: the next needs PIN2 again.
    assert!(matches!(
        card.sign(KeySlot::Signing, &digest),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    // … given by the command just before: anything in between lets the grant lapse.
    card.verify(PinRef::Pin2, &pin(PIN2)).unwrap();
    card.info().unwrap();
    assert!(matches!(
        card.sign(KeySlot::Signing, &digest),
        Err(CardError::SecurityStatusNotSatisfied)
    ));

    // A certificate for the key, written and read back; an empty slot reads as none.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(vec![]).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "eID test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut leaf = CertificateParams::new(vec![]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("{TWO_PIN} signing"));
    let certificate = leaf
        .signed_by(
            &SubjectPublicKeyInfo::from_der(&spki).unwrap(),
            &Issuer::new(ca, &ca_key),
        )
        .unwrap();
    assert_eq!(card.read_certificate(KeySlot::Signing).unwrap(), None);
    card.write_certificate(KeySlot::Signing, Some(b"not a certificate"))
        .unwrap_err();
    card.write_certificate(KeySlot::Signing, Some(certificate.der()))
        .unwrap();
    card.write_certificate(KeySlot::Signing, Some(certificate.der()))
        .unwrap();
    assert_eq!(
        card.read_certificate(KeySlot::Signing).unwrap().as_deref(),
        Some(certificate.der().as_ref())
    );
    std::fs::write(dir.join("certificate.der"), certificate.der()).unwrap();
    assert_eq!(
        card.read_certificate(KeySlot::Authentication).unwrap(),
        None
    );

    // A signature with the PIN in the same operation verifies with the public key.
    let message = b"an eID signature";
    let signature = card
        .sign_with_pin(KeySlot::Signing, PinRef::Pin2, &pin(PIN2), &sha256(message))
        .unwrap();
    assert!(verifies(&spki, message, &signature));
    assert!(matches!(
        card.sign_with_pin(
            KeySlot::Signing,
            PinRef::Pin2,
            &pin("000000"),
            &sha256(message)
        ),
        Err(CardError::WrongPin { .. })
    ));
    // PIN1 does not open the signing key of a two-PIN card.
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert!(card.sign(KeySlot::Signing, &digest).is_err());

    // The authentication key on PIN1's token: PIN once, then any number of signatures.
    let auth = card.generate_key(KeySlot::Authentication).unwrap();
    assert_ne!(auth, spki);
    for message in [&b"one"[..], b"two"] {
        let signature = card
            .sign(KeySlot::Authentication, &sha256(message))
            .unwrap();
        assert!(verifies(&auth, message, &signature));
    }
    card.reset_verified(PinRef::Pin1).unwrap();
    assert!(matches!(
        card.sign(KeySlot::Authentication, &digest),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    // A certificate written and deleted again.
    card.write_certificate(KeySlot::Authentication, Some(certificate.der()))
        .unwrap();
    card.write_certificate(KeySlot::Authentication, None)
        .unwrap();
    assert_eq!(
        card.read_certificate(KeySlot::Authentication).unwrap(),
        None
    );
    // A new key replaces the old one.
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let again = card.generate_key(KeySlot::Authentication).unwrap();
    assert_ne!(again, auth);
    assert_eq!(
        card.key_metadata(KeySlot::Authentication)
            .unwrap()
            .unwrap()
            .public_key_spki,
        again
    );
}

// --- PINs of a one-PIN card: change, unblock with the SO PIN --------------------------------

#[test]
fn pins_change_and_unblock_with_the_so_pin() {
    run_child(&with_cards(), "pkcs11::inner_change_and_unblock");
}

#[test]
#[ignore = "run by pins_change_and_unblock_with_the_so_pin in a child process with SOFTHSM2_CONF"]
fn inner_change_and_unblock() {
    if child_dir().is_none() {
        return;
    }
    let card = open(ONE_PIN);
    const NEW: &str = "8642097";
    const NEWER: &str = "55667788";
    const NEW_PUK: &str = "11223344";
    assert!(matches!(
        card.change_pin(PinRef::Pin1, &pin("000000"), &pin(NEW)),
        Err(CardError::WrongPin { .. })
    ));
    assert!(matches!(
        card.change_pin(PinRef::Pin1, &pin(PIN1), &pin("123")),
        Err(CardError::BadPinFormat)
    ));
    card.change_pin(PinRef::Pin1, &pin(PIN1), &pin(NEW))
        .unwrap();
    assert!(matches!(
        card.verify(PinRef::Pin1, &pin(PIN1)),
        Err(CardError::WrongPin { .. })
    ));
    card.verify(PinRef::Pin1, &pin(NEW)).unwrap();

    // The PUK is the token's SO PIN.
    assert!(matches!(
        card.unblock_pin(PinRef::Pin1, &pin("00000000"), &pin(NEWER)),
        Err(CardError::WrongPuk { tries_left: 1.. })
    ));
    card.unblock_pin(PinRef::Pin1, &pin(SO_PIN), &pin(NEWER))
        .unwrap();
    assert!(card.verify(PinRef::Pin1, &pin(NEW)).is_err());
    card.verify(PinRef::Pin1, &pin(NEWER)).unwrap();
    card.change_pin(PinRef::Puk, &pin(SO_PIN), &pin(NEW_PUK))
        .unwrap();
    assert!(
        card.unblock_pin(PinRef::Pin1, &pin(SO_PIN), &pin(PIN1))
            .is_err()
    );
    card.unblock_pin(PinRef::Pin1, &pin(NEW_PUK), &pin(PIN1))
        .unwrap();
    assert_eq!(card.pin_status(PinRef::Puk).unwrap().tries_total, 10);

    // On a one-PIN card PIN1 opens both keys; the signing key still wants it each time.
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let signing = card.generate_key(KeySlot::Signing).unwrap();
    let auth = card.generate_key(KeySlot::Authentication).unwrap();
    assert_eq!(
        card.key_metadata(KeySlot::Signing)
            .unwrap()
            .unwrap()
            .guarded_by,
        Some(PinRef::Pin1)
    );
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let signature = card.sign(KeySlot::Signing, &sha256(b"once")).unwrap();
    assert!(verifies(&signing, b"once", &signature));
    assert!(card.sign(KeySlot::Signing, &sha256(b"twice")).is_err());
    let signature = card
        .sign(KeySlot::Authentication, &sha256(b"auth"))
        .unwrap();
    assert!(verifies(&auth, b"auth", &signature));
    // The two-PIN card's PUK is both tokens' SO PIN.
    let two = open(TWO_PIN);
    two.change_pin(PinRef::Puk, &pin(SO_PIN), &pin(NEW_PUK))
        .unwrap();
    two.unblock_pin(PinRef::Pin2, &pin(NEW_PUK), &pin(NEWER))
        .unwrap();
    two.verify(PinRef::Pin2, &pin(NEWER)).unwrap();
}

// --- CKA_ALWAYS_AUTHENTICATE: what SoftHSM does with it -------------------------------------

#[test]
fn always_authenticate_is_detected() {
    run_child(&with_cards(), "pkcs11::inner_always_authenticate");
}

#[test]
#[ignore = "run by always_authenticate_is_detected in a child process with SOFTHSM2_CONF"]
fn inner_always_authenticate() {
    if child_dir().is_none() {
        return;
    }
    let card = open(ONE_PIN);
    card.set_always_authenticate(true).unwrap();
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let spki = card.generate_key(KeySlot::Signing).unwrap();
    // SoftHSM 2.6 takes the attribute, and then wants the context login between C_SignInit
    // and a single-part C_Sign, which cryptoki's safe API cannot do: a clear refusal.
    assert_eq!(card.capabilities().unwrap().always_authenticate, Some(true));
    let result = card.sign_with_pin(KeySlot::Signing, PinRef::Pin1, &pin(PIN1), &sha256(b"m"));
    match result {
        Ok(signature) => assert!(verifies(&spki, b"m", &signature)),
        Err(error) => assert!(matches!(error, CardError::Unsupported(_)), "{error:?}"),
    }
    // Without it (the default), the key works and the backend asks for the PIN each time.
    card.set_always_authenticate(false).unwrap();
    card.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let spki = card.generate_key(KeySlot::Signing).unwrap();
    assert_eq!(
        card.capabilities().unwrap().always_authenticate,
        Some(false)
    );
    let signature = card
        .sign_with_pin(KeySlot::Signing, PinRef::Pin1, &pin(PIN1), &sha256(b"m"))
        .unwrap();
    assert!(verifies(&spki, b"m", &signature));
}
