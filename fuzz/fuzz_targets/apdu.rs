//! Arbitrary byte sequences, split into several APDUs, to a fresh in-memory virtual card:
//! never a panic, always at least a status word, never a response part over 256 bytes.
//!
//! Input: one flags byte (bit 0: one-PIN card; bit 1: authenticate the management key
//! first; bit 2: also generate the F9, 9A and 9C keys), then APDUs as `length, bytes…`.
#![no_main]

use eid_card::{CardKind, CardProfile, ManagementKey, VirtualCard};
use libfuzzer_sys::fuzz_target;

fn ok(response: &[u8]) -> bool {
    response.ends_with(&[0x90, 0x00])
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let kind = if flags & 1 == 0 { CardKind::TwoPin } else { CardKind::OnePin };
    let mut card = VirtualCard::in_memory(CardProfile::new("4711", "701", kind))
        .expect("a valid profile");
    if flags & 2 != 0 {
        let challenge = card.transmit(&[0x00, 0x87, 0x08, 0x9B, 0x04, 0x7C, 0x02, 0x81, 0x00, 0x00]);
        assert!(ok(&challenge) && challenge.len() == 22);
        let challenge: [u8; 16] = challenge[4..20].try_into().expect("16 bytes");
        let answer = ManagementKey::blank_card().respond(&challenge).expect("AES");
        let mut apdu = vec![0x00, 0x87, 0x08, 0x9B, 0x14, 0x7C, 0x12, 0x82, 0x10];
        apdu.extend_from_slice(&answer);
        assert!(ok(&card.transmit(&apdu)));
        if flags & 4 != 0 {
            for slot in [0xF9, 0x9A, 0x9C] {
                let generate = [0x00, 0x47, 0x00, slot, 0x05, 0xAC, 0x03, 0x80, 0x01, 0x11, 0x00];
                assert!(ok(&card.transmit(&generate)));
            }
        }
    }
    while let Some((&len, tail)) = rest.split_first() {
        let (apdu, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let response = card.transmit(apdu);
        assert!(response.len() >= 2, "no status word for {apdu:02X?}");
        assert!(response.len() <= 258, "a response part over 256 bytes");
    }
});
