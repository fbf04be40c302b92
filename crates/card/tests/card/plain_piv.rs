//! A plain PIV card (as a YubiKey, `CardProfile::plain_piv`): no eID card-info object, a
//! serial number, one PIN and no transport code; and what the client makes of it
//! (`docs/card.md`, "A plain PIV card").

use eid_card::{
    Card, CardClient, CardError, CardKind, CardProfile, KeySlot, LifeCycle, ManagementAlgorithm,
    ManagementKey, PinRef, Sw, Transport, TransportError, VirtualCard, VirtualReader, piv,
};

use crate::support::*;

const SERIAL: u32 = 31_415_926;

fn plain() -> TestCard {
    TestCard::blank_with(CardProfile::plain_piv(SERIAL))
}

#[test]
fn a_plain_piv_card_has_a_serial_and_no_card_info_object() {
    let card = plain();
    let c = &card.client;
    c.select().unwrap();
    let (_, sw) = c
        .exchange(piv::ins::GET_DATA, 0x3F, 0xFF, &[0x5C, 3, 0x5F, 0xFF, 0x10])
        .unwrap();
    assert_eq!(sw, Sw::NOT_FOUND);
    let (serial, sw) = c.exchange(piv::ins::GET_SERIAL, 0, 0, &[]).unwrap();
    assert_eq!((serial, sw), (SERIAL.to_be_bytes().to_vec(), Sw::OK));
    let (_, sw) = c.exchange(piv::ins::GET_SERIAL, 1, 0, &[]).unwrap();
    assert_eq!(sw, Sw::WRONG_P1P2);
    assert!(matches!(
        c.pin_status(PinRef::Pin2),
        Err(CardError::NotFound)
    ));

    // The eID card answers no serial: it says who it is in its card-info object.
    let eid = TestCard::blank(CardKind::OnePin);
    let (_, sw) = eid
        .client
        .exchange(piv::ins::GET_SERIAL, 0, 0, &[])
        .unwrap();
    assert_eq!(sw, Sw::INS_NOT_SUPPORTED);
}

#[test]
fn the_client_reads_a_plain_card_as_an_enrolled_piv_product_blank_until_its_key_changes() {
    let card = plain();
    let c = &card.client;
    let info = c.info().unwrap();
    assert_eq!(info.card_number, SERIAL.to_string());
    assert_eq!(info.product_number, "790");
    assert_eq!(info.kind, CardKind::OnePin);
    assert_eq!(info.life_cycle, LifeCycle::Blank);

    c.authenticate_management(&ManagementKey::blank_card())
        .unwrap();
    c.set_management_key(&management_key()).unwrap();
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Active);
    // Still so after a power cycle (it is in the card file).
    let reopened = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
    assert_eq!(reopened.info().unwrap().life_cycle, LifeCycle::Active);
}

#[test]
fn a_plain_card_knows_no_transport_code_and_signs_9c_with_pin1() {
    let card = plain();
    let c = &card.client;
    c.authenticate_management(&ManagementKey::blank_card())
        .unwrap();
    c.set_management_key(&management_key()).unwrap();
    c.authenticate_management(&management_key()).unwrap();
    let spki = c.generate_key(KeySlot::Signing).unwrap();
    // A PIN change under the management key is just a PIN change: no transport code.
    c.change_pin(PinRef::Pin1, &pin(BLANK_PIN), &pin(PIN1))
        .unwrap();
    c.change_pin(PinRef::Puk, &pin(BLANK_PUK), &pin(PUK))
        .unwrap();
    c.select().unwrap();
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Active);
    let digest = sha256(b"signed with the one PIN");
    let signature = c
        .sign_with_pin(KeySlot::Signing, PinRef::Pin1, &pin(PIN1), &digest)
        .unwrap();
    assert!(verifies(&spki, b"signed with the one PIN", &signature));
    // The grant lapses: the next 9C signature needs PIN1 again.
    assert!(matches!(
        c.sign(KeySlot::Signing, &digest),
        Err(CardError::SecurityStatusNotSatisfied)
    ));

    // Unblocked with the PUK, the new PIN is the PIN (not a transport code).
    for _ in 0..3 {
        let _ = c.verify(PinRef::Pin1, &pin("000000"));
    }
    c.unblock_pin(PinRef::Pin1, &pin(PUK), &pin("11223344"))
        .unwrap();
    c.verify(PinRef::Pin1, &pin("11223344")).unwrap();
    assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Active);
}

#[test]
fn a_plain_card_has_no_attestation_key() {
    let card = plain();
    let c = &card.client;
    c.authenticate_management(&ManagementKey::blank_card())
        .unwrap();
    c.generate_key(KeySlot::Authentication).unwrap();
    assert!(matches!(
        c.attest(KeySlot::Authentication),
        Err(CardError::NotFound)
    ));
}

/// A generic PIV card: what a plain card answers, but no GET SERIAL (as PIV cards other
/// than YubiKeys).
#[derive(Debug)]
struct NoSerial(VirtualReader);

impl Transport for NoSerial {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if apdu.get(1) == Some(&piv::ins::GET_SERIAL) {
            return Ok(Sw::INS_NOT_SUPPORTED.to_bytes().to_vec());
        }
        self.0.transmit(apdu)
    }
}

#[test]
fn a_piv_card_without_a_serial_cannot_be_identified() {
    let card = plain();
    let c = CardClient::new(NoSerial(card.reader.clone()));
    let err = c.info().unwrap_err();
    assert!(matches!(err, CardError::Unsupported(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "this card cannot identify itself: it has neither the eID card-info object nor a serial number"
    );
}

#[test]
fn plain_card_profiles_are_checked_and_eid_card_files_stay_as_they_were() {
    let mut two_pin = CardProfile::plain_piv(SERIAL);
    two_pin.kind = CardKind::TwoPin;
    assert!(VirtualCard::in_memory(two_pin).is_err());
    for number in ["12ab", "0123", "4294967296"] {
        let mut profile = CardProfile::plain_piv(SERIAL);
        profile.card_number = number.into();
        assert!(VirtualCard::in_memory(profile).is_err(), "{number}");
    }

    // An eID card's file has no plain-PIV flag at all, so files made before it load and
    // are written unchanged.
    let eid = TestCard::personalised(CardKind::OnePin);
    assert!(card_json(&eid.path)["profile"].get("piv_only").is_none());
    let plain = plain();
    assert_eq!(card_json(&plain.path)["profile"]["piv_only"], true);
}

/// The PIV metadata of the management key: algorithm (tag 01) and default flag (tag 05).
fn management_metadata<T: Transport>(c: &CardClient<T>) -> (u8, u8) {
    let (body, sw) = c
        .exchange(piv::ins::METADATA, 0, piv::REF_MANAGEMENT, &[])
        .unwrap();
    assert_eq!(sw, Sw::OK);
    let items = eid_card::tlv::parse_all(&body).unwrap();
    (
        eid_card::tlv::find(&items, 0x01).unwrap()[0],
        eid_card::tlv::find(&items, 0x05).unwrap()[0],
    )
}

#[test]
fn factory_default_keys_of_3des_and_aes_192_authenticate_and_the_take_over_makes_aes_128() {
    for (algorithm, byte, challenge_len) in [
        (ManagementAlgorithm::TripleDes, 0x03, 8),
        (ManagementAlgorithm::Aes192, 0x0A, 16),
        (ManagementAlgorithm::Aes256, 0x0C, 16),
    ] {
        let card = TestCard::blank_with(CardProfile::plain_piv_with(SERIAL, algorithm));
        let c = &card.client;
        c.select().unwrap();
        assert_eq!(management_metadata(c), (byte, 1), "{algorithm}");
        assert_eq!(c.management_algorithm().unwrap(), algorithm);
        assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Blank);

        // The challenge is one block of the algorithm's cipher.
        let (body, sw) = c
            .exchange(
                piv::ins::GENERAL_AUTHENTICATE,
                byte,
                piv::REF_MANAGEMENT,
                &[0x7C, 2, 0x81, 0],
            )
            .unwrap();
        assert_eq!(sw, Sw::OK);
        assert_eq!(body.len(), 4 + challenge_len, "{algorithm}");

        // The AES-128 default (the eID card's) is refused, and the error says why.
        let err = c
            .authenticate_management(&ManagementKey::blank_card())
            .unwrap_err();
        assert!(
            matches!(err, CardError::ManagementAlgorithm { card, key }
                if card == algorithm && key == ManagementAlgorithm::Aes128),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("the card's management key is {algorithm}, not AES-128")
        );
        assert!(matches!(
            c.generate_key(KeySlot::Authentication),
            Err(CardError::SecurityStatusNotSatisfied)
        ));
        // A wrong key of the right algorithm is rejected as a wrong key.
        let wrong = ManagementKey::new(algorithm, &vec![0x42; algorithm.key_len()]).unwrap();
        assert!(matches!(
            c.authenticate_management(&wrong),
            Err(CardError::ManagementKeyRejected)
        ));

        // The take-over: the PIV default of the card's algorithm, then the platform's key.
        c.authenticate_management(&ManagementKey::piv_default(algorithm))
            .unwrap();
        c.set_management_key(&management_key()).unwrap();
        assert_eq!(management_metadata(c), (piv::ALG_AES128, 0), "{algorithm}");
        assert_eq!(c.info().unwrap().life_cycle, LifeCycle::Active);
        let err = c
            .authenticate_management(&ManagementKey::piv_default(algorithm))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the card's management key is AES-128, not {algorithm}")
        );
        // After a power cycle the card speaks AES-128, also through the relayed path.
        let reopened = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
        reopened.select().unwrap();
        assert_eq!(
            reopened.management_algorithm().unwrap(),
            ManagementAlgorithm::Aes128
        );
        let challenge = reopened.management_challenge().unwrap();
        reopened
            .management_respond(&management_key().respond(&challenge).unwrap())
            .unwrap();
        reopened.generate_key(KeySlot::Authentication).unwrap();
    }
}

#[test]
fn set_management_key_checks_the_key_length_of_its_algorithm() {
    let card = TestCard::blank_with(CardProfile::plain_piv_with(
        SERIAL,
        ManagementAlgorithm::TripleDes,
    ));
    let c = &card.client;
    c.authenticate_management(&ManagementKey::piv_default(ManagementAlgorithm::TripleDes))
        .unwrap();
    for data in [
        [&[0x08, 0x9B, 24][..], &[7; 24]].concat(),
        [&[0x0A, 0x9B, 16][..], &[7; 16]].concat(),
        [&[0x11, 0x9B, 16][..], &[7; 16]].concat(),
    ] {
        let (_, sw) = c
            .exchange(piv::ins::SET_MANAGEMENT_KEY, 0xFF, 0xFF, &data)
            .unwrap();
        assert_eq!(sw, Sw::WRONG_DATA, "{data:02x?}");
    }
    assert_eq!(management_metadata(c), (0x03, 1), "nothing changed");
}

#[test]
fn management_algorithms_other_than_aes_128_are_for_plain_cards_and_older_files_load() {
    let mut eid = CardProfile::new("9752000001", "701", CardKind::OnePin);
    eid.management_algorithm = ManagementAlgorithm::TripleDes;
    assert!(VirtualCard::in_memory(eid).is_err());

    // A plain card made before the field existed has no algorithm in its file: AES-128.
    let plain = plain();
    let json = card_json(&plain.path);
    assert!(json["profile"].get("management_algorithm").is_none());
    let des = TestCard::blank_with(CardProfile::plain_piv_with(
        SERIAL,
        ManagementAlgorithm::TripleDes,
    ));
    assert_eq!(
        card_json(&des.path)["profile"]["management_algorithm"],
        "3des"
    );
}
