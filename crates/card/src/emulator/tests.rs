//! Unit tests of the emulator's framing: chaining, GET RESPONSE, the 9C grant.

use super::*;
use crate::card::CardKind;

fn card() -> VirtualCard {
    VirtualCard::in_memory(CardProfile::new("123", "402", CardKind::TwoPin)).unwrap()
}

fn sw(response: &[u8]) -> u16 {
    let n = response.len();
    u16::from_be_bytes([response[n - 2], response[n - 1]])
}

#[test]
fn select_answers_the_apt_and_accepts_truncated_aids() {
    let mut card = card();
    let full = card.transmit(&crate::apdu::build(0, 0xA4, 4, 0, &piv::AID, Some(0)));
    assert_eq!(sw(&full), 0x9000);
    assert_eq!(full[0], 0x61);
    let short = card.transmit(&crate::apdu::build(0, 0xA4, 4, 0, &piv::AID[..5], None));
    assert_eq!(sw(&short), 0x9000);
    let other = card.transmit(&crate::apdu::build(
        0,
        0xA4,
        4,
        0,
        &[0xA0, 0, 0, 3, 9],
        None,
    ));
    assert_eq!(sw(&other), 0x6A82);
    let too_short = card.transmit(&crate::apdu::build(0, 0xA4, 4, 0, &piv::AID[..4], None));
    assert_eq!(sw(&too_short), 0x6A82);
}

#[test]
fn a_long_response_comes_in_parts() {
    let mut card = card();
    card.session.pending.clear();
    let get = |card: &mut VirtualCard, le: u8| card.transmit(&[0, 0xC0, 0, 0, le]);
    assert_eq!(sw(&get(&mut card, 0)), 0x6985);
    card.session.pending = vec![7; 300];
    let first = get(&mut card, 0);
    assert_eq!((first.len(), sw(&first)), (258, 0x612C));
    let second = get(&mut card, 0x2C);
    assert_eq!((second.len(), sw(&second)), (0x2C + 2, 0x9000));
}

#[test]
fn the_sign_grant_lapses_with_any_command() {
    let mut card = card();
    card.session.sign_grant = true;
    card.transmit(&[0, 0xCB, 0x3F, 0xFF, 2, 0x5C, 0x7E, 0]);
    assert!(!card.session.sign_grant);
    card.session.sign_grant = true;
    card.transmit(&[0x10, 0x87, 0x11, 0x9C, 1, 0x7C]);
    assert!(
        card.session.sign_grant,
        "a chained part passes the grant on"
    );
    card.transmit(&[0xFF]);
    assert!(!card.session.sign_grant);
}
