//! Bad input of any kind gets its status word or error and changes nothing on the card:
//! malformed and oversized APDUs, broken chains, unknown INS/CLA, damaged and foreign
//! card files.

use eid_card::{CardFileError, CardKind, VirtualCard, apdu, piv};

use crate::support::*;

fn sw(response: &[u8]) -> u16 {
    assert!(response.len() >= 2);
    u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
}

/// A personalised card opened directly (no client), and its file's bytes.
fn raw_card() -> (TestCard, VirtualCard, Vec<u8>) {
    let card = TestCard::personalised(CardKind::TwoPin);
    let raw = card.reader.pull_out().unwrap();
    let bytes = card.file_bytes();
    (card, raw, bytes)
}

#[test]
fn malformed_apdus_get_their_status_word_and_change_nothing() {
    let (card, mut raw, before) = raw_card();
    let verify = |data: &[u8]| apdu::build(0, 0x20, 0, 0x80, data, None);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (vec![], 0x6700, "empty"),
        (vec![0x00, 0xA4, 0x04], 0x6700, "three bytes"),
        (vec![0xFF, 0xA4, 0x04, 0x00], 0x6E00, "CLA FF"),
        (vec![0x80, 0xCB, 0x3F, 0xFF], 0x6E00, "proprietary CLA"),
        (vec![0x0C, 0x20, 0x00, 0x80], 0x6E00, "secure messaging CLA"),
        (vec![0x00, 0x01, 0x00, 0x00], 0x6D00, "unknown INS"),
        (vec![0x00, 0xB0, 0x00, 0x00, 0x00], 0x6D00, "READ BINARY"),
        (
            vec![0x00, 0xCB, 0x3F, 0xFF, 0x00, 0x00, 0x03, 0x5C, 0x01, 0x7E],
            0x6700,
            "extended Lc",
        ),
        (
            vec![0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x01],
            0x6700,
            "Lc longer than data",
        ),
        (
            vec![0x00, 0xCB, 0x3F, 0xFF, 0x01, 0x5C, 0x01, 0x7E, 0x00],
            0x6700,
            "Lc shorter than data",
        ),
        (verify(b"123456"), 0x6700, "PIN field not 8 bytes"),
        (verify(b"12a456\xFF\xFF"), 0x6A80, "PIN not digits"),
        (verify(b"12345\xFF\xFF\xFF"), 0x6A80, "PIN too short"),
        (
            verify(b"1\xFF2345\xFF\xFF"),
            0x6A80,
            "PIN padding in the middle",
        ),
        (
            apdu::build(0, 0x20, 0, 0x81, b"12345678", None),
            0x6A86,
            "VERIFY the PUK",
        ),
        (
            apdu::build(0, 0x20, 0, 0x00, b"123456\xFF\xFF", None),
            0x6A86,
            "global PIN",
        ),
        (
            apdu::build(0, 0x20, 0x01, 0x80, b"123456\xFF\xFF", None),
            0x6A86,
            "VERIFY P1",
        ),
        (
            apdu::build(0, 0x24, 0, 0x80, b"123456\xFF\xFF", None),
            0x6700,
            "CHANGE short",
        ),
        (
            apdu::build(0, 0x2C, 0, 0x81, &[0x31; 16], None),
            0x6A86,
            "RESET the PUK",
        ),
        (
            apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x02, 0x5F, 0xC1], None),
            0x6A80,
            "2-byte tag",
        ),
        (
            apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x03, 0x5F, 0xC1], None),
            0x6A80,
            "bad TLV",
        ),
        (
            apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x03, 0x5F, 0xC1, 0x01], None),
            0x6A82,
            "9E",
        ),
        (
            apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x03, 0x5F, 0xC1, 0x0A], None),
            0x6A82,
            "empty",
        ),
        (
            apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x03, 0x11, 0x22, 0x33], None),
            0x6A82,
            "unknown",
        ),
        (
            apdu::build(0, 0xCB, 0x00, 0x00, &[0x5C, 0x01, 0x7E], None),
            0x6A86,
            "GET DATA P1P2",
        ),
        (
            apdu::build(0, 0xDB, 0x3F, 0xFF, &[0x5C, 0x01, 0x7E, 0x53, 0x00], None),
            0x6982,
            "PUT",
        ),
        (
            apdu::build(0, 0x47, 0x00, 0x9A, &[0xAC, 0x03, 0x80, 0x01, 0x11], None),
            0x6982,
            "GEN",
        ),
        (
            apdu::build(0, 0x87, 0x11, 0x9A, &[0x7C, 0x00], None),
            0x6982,
            "sign without PIN",
        ),
        (
            apdu::build(0, 0x87, 0x11, 0x9D, &[0x7C, 0x00], None),
            0x6A86,
            "slot 9D",
        ),
        (
            apdu::build(0, 0x87, 0x03, 0x9B, &[0x7C, 0x02, 0x81, 0x00], None),
            0x6A86,
            "3DES",
        ),
        (
            apdu::build(0, 0x87, 0x08, 0x9B, &[0x7C, 0x02, 0x83, 0x00], None),
            0x6A80,
            "7C junk",
        ),
        (
            apdu::build(
                0,
                0x87,
                0x08,
                0x9B,
                &[
                    0x7C, 0x12, 0x82, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
                None,
            ),
            0x6985,
            "answer, no challenge",
        ),
        (
            vec![0x00, 0xC0, 0x00, 0x00, 0x00],
            0x6985,
            "GET RESPONSE, nothing pending",
        ),
        (
            vec![0x00, 0xC0, 0x01, 0x00, 0x00],
            0x6A86,
            "GET RESPONSE P1",
        ),
        (
            apdu::build(0, 0xF7, 0x00, 0x42, &[], Some(0)),
            0x6A86,
            "metadata of 42",
        ),
        (
            apdu::build(0, 0xF9, 0x9D, 0x00, &[], Some(0)),
            0x6A86,
            "attest 9D",
        ),
        (
            apdu::build(0, 0xA4, 0x04, 0x00, &[0xA0, 0x00, 0x00, 0x03, 0x09], None),
            0x6A82,
            "AID",
        ),
        (
            apdu::build(0, 0xA4, 0x00, 0x00, &piv::AID, None),
            0x6A86,
            "SELECT by FID",
        ),
        (
            apdu::build(0x10, 0x20, 0x00, 0x80, b"123456\xFF\xFF", None),
            0x6884,
            "chained VERIFY",
        ),
    ];
    for (apdu, expected, what) in cases {
        let response = raw.transmit(&apdu);
        assert_eq!(sw(&response), expected, "{what}: {response:02X?}");
        assert_eq!(card.file_bytes(), before, "{what} changed the card file");
    }
    // Nothing spent a try.
    let json = card_json(&card.path);
    assert_eq!(json["pin1"]["tries_left"], 3);
}

#[test]
fn broken_chains_are_refused() {
    let (card, mut raw, before) = raw_card();
    let put = |cla: u8, data: &[u8]| apdu::build(cla, 0xDB, 0x3F, 0xFF, data, None);
    // A chain broken by another command: 6883, and the chain is gone.
    assert_eq!(sw(&raw.transmit(&put(0x10, &[0x5C, 0x03]))), 0x9000);
    assert_eq!(
        sw(&raw.transmit(&apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x01, 0x7E], None))),
        0x6883
    );
    let discovery = apdu::build(0, 0xCB, 0x3F, 0xFF, &[0x5C, 0x01, 0x7E], Some(0));
    assert_eq!(
        sw(&raw.transmit(&discovery)),
        0x9000,
        "the broken chain is gone"
    );
    // INS change mid-chain (both chained commands): 6883.
    assert_eq!(sw(&raw.transmit(&put(0x10, &[0x5C, 0x03]))), 0x9000);
    let generate = apdu::build(0x10, 0x47, 0x00, 0x9A, &[0xAC], None);
    assert_eq!(sw(&raw.transmit(&generate)), 0x6883);
    // P2 change mid-chain: 6883.
    let sign = |p2: u8| apdu::build(0x10, 0x87, 0x11, p2, &[0x7C], None);
    assert_eq!(sw(&raw.transmit(&sign(0x9A))), 0x9000);
    assert_eq!(sw(&raw.transmit(&sign(0x9C))), 0x6883);
    // GET RESPONSE inside a chain: 6883.
    assert_eq!(sw(&raw.transmit(&sign(0x9A))), 0x9000);
    assert_eq!(sw(&raw.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00])), 0x6883);
    // SELECT drops a chain and runs.
    assert_eq!(sw(&raw.transmit(&sign(0x9A))), 0x9000);
    assert_eq!(
        sw(&raw.transmit(&apdu::build(0, 0xA4, 4, 0, &piv::AID, Some(0)))),
        0x9000
    );
    // Over 64 KiB of chained data: 6A84, and the chain is gone.
    let part = apdu::build(0x10, 0xDB, 0x3F, 0xFF, &[0xAA; 255], None);
    let mut last = 0;
    for _ in 0..300 {
        last = sw(&raw.transmit(&part));
        if last != 0x9000 {
            break;
        }
    }
    assert_eq!(last, 0x6A84);
    assert_eq!(
        sw(&raw.transmit(&put(0x00, &[0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x53, 0x00]))),
        0x6982
    );
    assert_eq!(card.file_bytes(), before);
}

#[test]
fn damaged_and_foreign_card_files_are_refused_and_left_alone() {
    let card = TestCard::personalised(CardKind::OnePin);
    let good = card.file_bytes();
    let dir = tempfile::tempdir().unwrap();
    let mut newer: serde_json::Value = serde_json::from_slice(&good).unwrap();
    newer["version"] = 99.into();
    let mut broken: serde_json::Value = serde_json::from_slice(&good).unwrap();
    broken["pin1"]["tries_left"] = 9.into();
    let mut two_pin_without_pin2: serde_json::Value = serde_json::from_slice(&good).unwrap();
    two_pin_without_pin2["profile"]["kind"] = "two_pin".into();
    let mut bad_key: serde_json::Value = serde_json::from_slice(&good).unwrap();
    bad_key["signing_key"]["pkcs8"] = "3003020101".into();
    let mut extra: serde_json::Value = serde_json::from_slice(&good).unwrap();
    extra["surprise"] = true.into();
    type Expect = fn(&CardFileError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), |e| {
            matches!(e, CardFileError::Corrupt { .. })
        }),
        ("empty", Vec::new(), |e| {
            matches!(e, CardFileError::Corrupt { .. })
        }),
        ("binary", vec![0x00, 0xFF, 0x13, 0x37], |e| {
            matches!(e, CardFileError::Foreign(_))
        }),
        ("text", b"hello, world\n".to_vec(), |e| {
            matches!(e, CardFileError::Foreign(_))
        }),
        (
            "foreign JSON",
            br#"{"name": "photos", "version": 1}"#.to_vec(),
            |e| matches!(e, CardFileError::Foreign(_)),
        ),
        ("JSON array", b"[1, 2, 3]".to_vec(), |e| {
            matches!(e, CardFileError::Foreign(_))
        }),
        ("newer", serde_json::to_vec(&newer).unwrap(), |e| {
            matches!(e, CardFileError::TooNew { version: 99, .. })
        }),
        (
            "broken invariant",
            serde_json::to_vec(&broken).unwrap(),
            |e| matches!(e, CardFileError::Corrupt { .. }),
        ),
        (
            "kind without PIN2",
            serde_json::to_vec(&two_pin_without_pin2).unwrap(),
            |e| matches!(e, CardFileError::Corrupt { .. }),
        ),
        ("bad key", serde_json::to_vec(&bad_key).unwrap(), |e| {
            matches!(e, CardFileError::Corrupt { .. })
        }),
        ("unknown field", serde_json::to_vec(&extra).unwrap(), |e| {
            matches!(e, CardFileError::Corrupt { .. })
        }),
    ];
    for (what, bytes, expected) in cases {
        let path = dir.path().join(format!("{what}.json"));
        std::fs::write(&path, &bytes).unwrap();
        let err = VirtualCard::open(&path).unwrap_err();
        assert!(expected(&err), "{what}: {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what} was touched");
    }
    // Creating over an existing file is refused too.
    let err = VirtualCard::create(&card.path, profile(CardKind::TwoPin)).unwrap_err();
    assert!(matches!(err, CardFileError::Exists(_)), "{err:?}");
    assert_eq!(card.file_bytes(), good);
    // A missing file is an I/O error naming the file.
    let err = VirtualCard::open(&dir.path().join("absent.json")).unwrap_err();
    assert!(err.to_string().contains("absent.json"), "{err}");
}

#[test]
fn the_card_file_is_private_and_holds_no_temporary_files() {
    use std::os::unix::fs::PermissionsExt;
    let card = TestCard::personalised(CardKind::TwoPin);
    let mode = std::fs::metadata(&card.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let names: Vec<_> = std::fs::read_dir(card.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["card.json"]);
}

#[test]
fn invalid_profiles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = profile(CardKind::TwoPin);
    p.card_number = "12 34".into();
    assert!(matches!(
        VirtualCard::create(&dir.path().join("a"), p),
        Err(CardFileError::InvalidProfile(_))
    ));
    let mut p = profile(CardKind::TwoPin);
    p.pin_tries = 0;
    assert!(matches!(
        VirtualCard::in_memory(p),
        Err(CardFileError::InvalidProfile(_))
    ));
    let mut p = profile(CardKind::TwoPin);
    p.puk_tries = 16;
    assert!(matches!(
        VirtualCard::in_memory(p),
        Err(CardFileError::InvalidProfile(_))
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
