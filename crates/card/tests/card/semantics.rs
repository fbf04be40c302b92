//! Card semantics through the client: PINs, PUK, the signing key's PIN rule, the
//! management key, one-PIN cards, keys never leaving the card, card removal.

use eid_card::{
    Card, CardError, CardKind, KeyOrigin, KeySlot, LifeCycle, ManagementKey, PinRef, VirtualCard,
};

use crate::support::*;

#[test]
fn wrong_pins_count_down_block_and_the_puk_unblocks_both() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    for which in [PinRef::Pin1, PinRef::Pin2] {
        let bad = pin("000000");
        assert!(matches!(
            c.verify(which, &bad),
            Err(CardError::WrongPin { tries_left: 2 })
        ));
        assert!(matches!(
            c.verify(which, &bad),
            Err(CardError::WrongPin { tries_left: 1 })
        ));
        assert!(matches!(c.verify(which, &bad), Err(CardError::PinBlocked)));
        let right = if which == PinRef::Pin1 { PIN1 } else { PIN2 };
        assert!(matches!(
            c.verify(which, &pin(right)),
            Err(CardError::PinBlocked)
        ));
        assert_eq!(c.pin_status(which).unwrap().tries_left, 0);
    }
    for which in [PinRef::Pin1, PinRef::Pin2] {
        c.unblock_pin(which, &pin(PUK), &pin("11223344")).unwrap();
        assert_eq!(c.pin_status(which).unwrap().tries_left, 3);
        c.verify(which, &pin("11223344")).unwrap();
    }
    assert_eq!(c.pin_status(PinRef::Puk).unwrap().tries_left, 10);
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Active);
}

#[test]
fn a_right_pin_restores_the_counter() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    assert!(c.verify(PinRef::Pin1, &pin("999999")).is_err());
    assert_eq!(c.pin_status(PinRef::Pin1).unwrap().tries_left, 2);
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert_eq!(c.pin_status(PinRef::Pin1).unwrap().tries_left, 3);
}

#[test]
fn tries_come_from_the_product() {
    let mut profile = profile(CardKind::TwoPin);
    profile.pin_tries = 5;
    profile.puk_tries = 2;
    let card = TestCard::blank_with(profile);
    let c = &card.client;
    assert!(matches!(
        c.verify(PinRef::Pin1, &pin("000000")),
        Err(CardError::WrongPin { tries_left: 4 })
    ));
    assert!(matches!(
        c.unblock_pin(PinRef::Pin1, &pin("00000000"), &pin("111111")),
        Err(CardError::WrongPuk { tries_left: 1 })
    ));
}

#[test]
fn ten_wrong_puks_kill_the_card() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    let bad = pin("00000000");
    for left in (1..10).rev() {
        match c.unblock_pin(PinRef::Pin1, &bad, &pin("111111")) {
            Err(CardError::WrongPuk { tries_left }) => assert_eq!(tries_left, left),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        c.unblock_pin(PinRef::Pin1, &bad, &pin("111111")),
        Err(CardError::CardDead)
    ));
    // Dead: only SELECT and GET DATA work.
    assert!(matches!(
        c.unblock_pin(PinRef::Pin1, &pin(PUK), &pin("111111")),
        Err(CardError::CardDead)
    ));
    assert!(matches!(
        c.verify(PinRef::Pin1, &pin(PIN1)),
        Err(CardError::CardDead)
    ));
    assert!(matches!(
        c.sign(KeySlot::Authentication, &[0; 32]),
        Err(CardError::CardDead)
    ));
    assert!(matches!(
        c.key_metadata(KeySlot::Signing),
        Err(CardError::CardDead)
    ));
    assert!(matches!(
        c.authenticate_management(&management_key()),
        Err(CardError::CardDead)
    ));
    c.select().unwrap();
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Dead);
    assert_eq!(c.read_certificate(KeySlot::Authentication).unwrap(), None);
    // And it stays dead after a power cycle and a reopen.
    let reopened = VirtualCard::open(&card.path).unwrap();
    drop(card.reader.insert(reopened));
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Dead);
}

#[test]
fn the_signing_key_needs_pin2_before_every_signature() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    let digest = sha256(b"to be signed");
    let refused = |r: Result<Vec<u8>, CardError>| {
        assert!(
            matches!(r, Err(CardError::SecurityStatusNotSatisfied)),
            "{r:?}"
        );
    };
    refused(c.sign(KeySlot::Signing, &digest));
    // PIN1 is not the signing code on a two-PIN card.
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    refused(c.sign(KeySlot::Signing, &digest));
    c.verify(PinRef::Pin2, &pin(PIN2)).unwrap();
    c.sign(KeySlot::Signing, &digest).unwrap();
    // The verification was consumed by the signature.
    refused(c.sign(KeySlot::Signing, &digest));
    // And it lapses with any command in between.
    c.verify(PinRef::Pin2, &pin(PIN2)).unwrap();
    c.info().unwrap();
    refused(c.sign(KeySlot::Signing, &digest));
    // As one operation it works every time.
    for _ in 0..3 {
        c.sign_with_pin(KeySlot::Signing, PinRef::Pin2, &pin(PIN2), &digest)
            .unwrap();
    }
    // The authentication key stays usable once PIN1 is verified.
    c.sign(KeySlot::Authentication, &digest).unwrap();
    c.sign(KeySlot::Authentication, &digest).unwrap();
}

#[test]
fn verify_ff_and_select_drop_the_verified_state() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    let digest = sha256(b"login");
    assert!(!c.is_verified(PinRef::Pin1).unwrap());
    assert!(matches!(
        c.sign(KeySlot::Authentication, &digest),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert!(c.is_verified(PinRef::Pin1).unwrap());
    c.sign(KeySlot::Authentication, &digest).unwrap();
    c.reset_verified(PinRef::Pin1).unwrap();
    assert!(!c.is_verified(PinRef::Pin1).unwrap());
    assert!(c.sign(KeySlot::Authentication, &digest).is_err());
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    c.select().unwrap();
    assert!(c.sign(KeySlot::Authentication, &digest).is_err());
    // A wrong PIN drops it too.
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert!(c.verify(PinRef::Pin1, &pin("000000")).is_err());
    assert!(c.sign(KeySlot::Authentication, &digest).is_err());
}

#[test]
fn generation_and_writes_need_the_management_key() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    let before = card.file_bytes();
    let refused = |r: Result<(), CardError>| {
        assert!(
            matches!(r, Err(CardError::SecurityStatusNotSatisfied)),
            "{r:?}"
        );
    };
    refused(c.generate_key(KeySlot::Signing).map(drop));
    refused(c.write_certificate(KeySlot::Signing, Some(b"not a certificate")));
    refused(c.set_management_key(&ManagementKey::from_bytes([7; 16])));
    // The blank-card key no longer works; a wrong answer is refused and spends the
    // challenge, so the right answer to that same challenge is refused as well.
    assert!(matches!(
        c.authenticate_management(&ManagementKey::blank_card()),
        Err(CardError::ManagementKeyRejected)
    ));
    let challenge = c.management_challenge().unwrap();
    assert!(matches!(
        c.management_respond(&[0; 16]),
        Err(CardError::ManagementKeyRejected)
    ));
    let right = management_key().respond(&challenge).unwrap();
    assert!(matches!(
        c.management_respond(&right),
        Err(CardError::ManagementKeyRejected)
    ));
    refused(c.generate_key(KeySlot::Signing).map(drop));
    assert_eq!(card.file_bytes(), before, "refusals changed the card file");
    // The relayed challenge–response (as a server would compute it) works.
    let challenge = c.management_challenge().unwrap();
    c.management_respond(&management_key().respond(&challenge).unwrap())
        .unwrap();
    c.generate_key(KeySlot::Signing).unwrap();
    c.write_certificate(KeySlot::Signing, Some(b"0\x03\x02\x01\x01"))
        .unwrap();
    assert_eq!(
        c.read_certificate(KeySlot::Signing).unwrap().as_deref(),
        Some(&b"0\x03\x02\x01\x01"[..])
    );
    c.write_certificate(KeySlot::Signing, None).unwrap();
    assert_eq!(c.read_certificate(KeySlot::Signing).unwrap(), None);
}

#[test]
fn signatures_verify_with_the_key_from_generate_and_from_metadata() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    c.authenticate_management(&management_key()).unwrap();
    let generated = c.generate_key(KeySlot::Signing).unwrap();
    let meta = c.key_metadata(KeySlot::Signing).unwrap().unwrap();
    assert_eq!(meta.public_key_spki, generated);
    assert_eq!(meta.origin, KeyOrigin::Generated);
    assert_eq!(meta.guarded_by, Some(PinRef::Pin2));
    assert_eq!(meta.pin_policy, 0x03);
    let message = b"the to-be-signed structure";
    let signature = c
        .sign_with_pin(KeySlot::Signing, PinRef::Pin2, &pin(PIN2), &sha256(message))
        .unwrap();
    assert!(verifies(&generated, message, &signature));
    assert!(!verifies(&generated, b"something else", &signature));

    let auth = c.key_metadata(KeySlot::Authentication).unwrap().unwrap();
    assert_eq!(
        (auth.pin_policy, auth.guarded_by),
        (0x02, Some(PinRef::Pin1))
    );
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let signature = c.sign(KeySlot::Authentication, &sha256(message)).unwrap();
    assert!(verifies(&auth.public_key_spki, message, &signature));
    assert_ne!(auth.public_key_spki, generated);
}

#[test]
fn keys_never_leave_the_card() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    // Exercise every command that answers something.
    c.info().unwrap();
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    c.sign(KeySlot::Authentication, &[1; 32]).unwrap();
    c.sign_with_pin(KeySlot::Signing, PinRef::Pin2, &pin(PIN2), &[2; 32])
        .unwrap();
    for slot in [
        KeySlot::Authentication,
        KeySlot::Signing,
        KeySlot::Attestation,
    ] {
        c.key_metadata(slot).unwrap().unwrap();
    }
    c.attest(KeySlot::Signing).unwrap();
    c.attest(KeySlot::Authentication).unwrap();
    c.pin_status(PinRef::Puk).unwrap();
    let json = card_json(&card.path);
    let log = card.log.lock().unwrap();
    assert!(log.len() > 20);
    for field in ["authentication_key", "signing_key", "attestation_key"] {
        let pkcs8 = hex::decode(json[field]["pkcs8"].as_str().unwrap()).unwrap();
        // ECPrivateKey: INTEGER 1, OCTET STRING (32-byte private scalar).
        let at = pkcs8
            .windows(5)
            .position(|w| w == [2, 1, 1, 4, 32])
            .unwrap()
            + 5;
        let scalar = &pkcs8[at..at + 32];
        for response in log.iter() {
            assert!(!contains(response, &pkcs8), "{field}: PKCS#8 in a response");
            assert!(
                !contains(response, scalar),
                "{field}: private key in a response"
            );
        }
    }
    // No PIN either.
    for secret in [PIN1, PIN2, PUK] {
        for response in log.iter() {
            assert!(!contains(response, secret.as_bytes()));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_one_pin_card_is_activated_with_the_transport_code() {
    let card = TestCard::personalised(CardKind::OnePin);
    let c = &card.client;
    let info = c.info().unwrap();
    assert_eq!(
        (info.kind, info.life_cycle),
        (CardKind::OnePin, LifeCycle::NotActivated)
    );
    assert_eq!(info.product_number, "701");
    // Not usable before activation: PIN1 cannot be verified, no key can be used.
    assert!(matches!(
        c.verify(PinRef::Pin1, &pin(TRANSPORT)),
        Err(CardError::NotActivated)
    ));
    assert!(matches!(
        c.is_verified(PinRef::Pin1),
        Err(CardError::NotActivated)
    ));
    assert!(c.sign(KeySlot::Authentication, &[0; 32]).is_err());
    assert!(matches!(
        c.verify(PinRef::Pin2, &pin(TRANSPORT)),
        Err(CardError::NotFound)
    ));
    // Activation: the transport code (tries count as any PIN) and a new PIN1.
    assert!(matches!(
        c.change_pin(PinRef::Pin1, &pin("000000"), &pin(PIN1)),
        Err(CardError::WrongPin { tries_left: 2 })
    ));
    assert!(matches!(
        c.change_pin(PinRef::Pin1, &pin(TRANSPORT), &pin(TRANSPORT)),
        Err(CardError::BadPinFormat)
    ));
    c.change_pin(PinRef::Pin1, &pin(TRANSPORT), &pin(PIN1))
        .unwrap();
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Active);
    assert_eq!(c.pin_status(PinRef::Pin1).unwrap().tries_left, 3);
    // PIN1 guards both keys; the signing key before every signature.
    let meta = c.key_metadata(KeySlot::Signing).unwrap().unwrap();
    assert_eq!(meta.guarded_by, Some(PinRef::Pin1));
    let message = b"enroll";
    let signature = c
        .sign_with_pin(KeySlot::Signing, PinRef::Pin1, &pin(PIN1), &sha256(message))
        .unwrap();
    assert!(verifies(&meta.public_key_spki, message, &signature));
    assert!(matches!(
        c.sign(KeySlot::Signing, &sha256(message)),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    c.sign(KeySlot::Authentication, &sha256(message)).unwrap();
    // Unblocking with the PUK gives a transport code again: the holder chooses anew.
    c.unblock_pin(PinRef::Pin1, &pin(PUK), &pin("555555"))
        .unwrap();
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::NotActivated);
    assert!(matches!(
        c.verify(PinRef::Pin1, &pin("555555")),
        Err(CardError::NotActivated)
    ));
    c.change_pin(PinRef::Pin1, &pin("555555"), &pin("8642097"))
        .unwrap();
    c.verify(PinRef::Pin1, &pin("8642097")).unwrap();
}

#[test]
fn bad_pin_forms_cost_no_try() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    for bad in ["12345", "123456789", "12a456", ""] {
        assert!(matches!(
            c.verify(PinRef::Pin1, &pin(bad)),
            Err(CardError::BadPinFormat)
        ));
    }
    assert!(matches!(
        c.change_pin(PinRef::Puk, &pin(PUK), &pin("1234567")),
        Err(CardError::BadPinFormat)
    ));
    assert_eq!(c.pin_status(PinRef::Pin1).unwrap().tries_left, 3);
    assert_eq!(c.pin_status(PinRef::Puk).unwrap().tries_left, 10);
}

#[test]
fn a_pulled_card_gives_card_removed_and_comes_back_fresh() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let pulled = card.reader.pull_out().unwrap();
    assert!(!card.reader.is_present());
    assert!(matches!(c.info(), Err(CardError::CardRemoved)));
    assert!(matches!(
        c.sign(KeySlot::Authentication, &[0; 32]),
        Err(CardError::CardRemoved)
    ));
    card.reader.insert(pulled);
    assert!(
        !c.is_verified(PinRef::Pin1).unwrap(),
        "power-off drops the verified state"
    );
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
}

/// Pulls the card out of the reader just before the APDU number `pull_at` (0-based).
#[derive(Debug)]
struct PullAt {
    reader: eid_card::VirtualReader,
    sent: usize,
    pull_at: usize,
}

impl eid_card::Transport for PullAt {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, eid_card::TransportError> {
        if self.sent == self.pull_at {
            self.reader.pull_out();
        }
        self.sent += 1;
        self.reader.transmit(apdu)
    }
}

#[test]
fn a_card_pulled_in_the_middle_of_a_long_operation_fails_cleanly() {
    let card = TestCard::personalised(CardKind::TwoPin);
    card.client
        .authenticate_management(&management_key())
        .unwrap();
    let before = card.file_bytes();
    // A 3000-byte certificate goes in 12 chained parts; the card leaves after the third.
    let client = eid_card::CardClient::new(PullAt {
        reader: card.reader.clone(),
        sent: 0,
        pull_at: 3,
    });
    let result = client.write_certificate(KeySlot::Signing, Some(&vec![0x30; 3000]));
    assert!(matches!(result, Err(CardError::CardRemoved)), "{result:?}");
    assert!(matches!(client.info(), Err(CardError::CardRemoved)));
    assert_eq!(card.file_bytes(), before, "a broken chain wrote something");
    // Back in, the half-sent chain is gone with the power-off.
    card.reader.insert(VirtualCard::open(&card.path).unwrap());
    assert_eq!(
        card.client.read_certificate(KeySlot::Signing).unwrap(),
        None
    );
}

#[test]
fn state_survives_reopening_the_card_file() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    assert!(c.verify(PinRef::Pin2, &pin("000000")).is_err());
    let spki = c
        .key_metadata(KeySlot::Signing)
        .unwrap()
        .unwrap()
        .public_key_spki;
    drop(card.reader.pull_out());
    card.reader.insert(VirtualCard::open(&card.path).unwrap());
    assert_eq!(c.pin_status(PinRef::Pin2).unwrap().tries_left, 2);
    let meta = c.key_metadata(KeySlot::Signing).unwrap().unwrap();
    assert_eq!(meta.public_key_spki, spki);
    let info = c.info().unwrap();
    assert_eq!(info.card_number, "9752269000123456");
    assert_eq!(info.life_cycle, LifeCycle::Active);
}

#[test]
fn a_certificate_request_is_signed_by_the_card() {
    use x509_parser::prelude::{FromDer, X509CertificationRequest};
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    let spki = c
        .key_metadata(KeySlot::Authentication)
        .unwrap()
        .unwrap()
        .public_key_spki;
    assert!(matches!(
        eid_card::certificate_request(c, KeySlot::Authentication, "9752269000123456", &spki),
        Err(CardError::SecurityStatusNotSatisfied)
    ));
    c.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    let der = eid_card::certificate_request(c, KeySlot::Authentication, "9752269000123456", &spki)
        .unwrap();
    let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
    csr.verify_signature().unwrap();
    assert_eq!(csr.certification_request_info.subject_pki.raw, &spki[..]);
}
