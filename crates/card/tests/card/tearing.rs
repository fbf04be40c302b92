//! Tearing: the emulator's process killed between writing a PIN counter and comparing the
//! PIN never gains a try; killed before a rename, the card file is the old one, intact.
//!
//! The test binary runs itself as a child process (as `kill_9_loses_no_commit` in the
//! store does) with `EID_CARD_FAILPOINT` set; the emulator aborts at that failpoint.

use std::path::Path;
use std::process::Command;

use eid_card::emulator::failpoint;
use eid_card::{Card, CardClient, CardKind, PinRef, VirtualCard, VirtualReader};

use crate::support::*;

const CHILD_CARD: &str = "EID_CARD_TEST_CHILD_CARD";
const CHILD_PIN: &str = "EID_CARD_TEST_CHILD_PIN";

/// Run as a child process by the tests below: opens the card and verifies a PIN.
#[test]
#[ignore = "a helper process for the tearing tests"]
fn child_verifies_a_pin() {
    let (Some(path), Some(digits)) = (std::env::var_os(CHILD_CARD), std::env::var(CHILD_PIN).ok())
    else {
        return;
    };
    let card = VirtualCard::open(Path::new(&path)).unwrap();
    let client = CardClient::new(VirtualReader::new(card));
    let result = client.verify(PinRef::Pin1, &pin(&digits));
    println!("survived: {result:?}");
}

/// Runs the child with the failpoint armed; it must die by abort, not finish.
fn run_child(card: &Path, digits: &str, failpoint: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "tearing::child_verifies_a_pin",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_CARD, card)
        .env(CHILD_PIN, digits)
        .env(failpoint::ENV, failpoint)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "the child was not aborted: {stdout}"
    );
    assert!(
        !stdout.contains("survived"),
        "the failpoint was not hit: {stdout}"
    );
}

fn tries_left(path: &Path) -> u64 {
    card_json(path)["pin1"]["tries_left"].as_u64().unwrap()
}

#[test]
fn killed_after_the_counter_is_written_never_gains_a_try() {
    let card = TestCard::personalised(CardKind::TwoPin);
    drop(card.reader.pull_out());
    assert_eq!(tries_left(&card.path), 3);
    // Wrong PIN: the try is spent although the comparison never happened.
    run_child(&card.path, "000000", failpoint::PIN_COUNTER_PERSISTED);
    assert_eq!(tries_left(&card.path), 2);
    // Right PIN: the try is spent too, since the process died before it could restore it.
    run_child(&card.path, PIN1, failpoint::PIN_COUNTER_PERSISTED);
    assert_eq!(tries_left(&card.path), 1);
    // The card still works, and the right PIN restores the counter.
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
    assert_eq!(client.pin_status(PinRef::Pin1).unwrap().tries_left, 1);
    client.verify(PinRef::Pin1, &pin(PIN1)).unwrap();
    assert_eq!(tries_left(&card.path), 3);
}

#[test]
fn killed_before_the_rename_leaves_the_old_file_intact() {
    let card = TestCard::personalised(CardKind::TwoPin);
    drop(card.reader.pull_out());
    let before = card.file_bytes();
    run_child(&card.path, "000000", failpoint::FILE_BEFORE_RENAME);
    assert_eq!(card.file_bytes(), before);
    // The card opens; only a stray temporary file is left beside it, which nobody reads.
    VirtualCard::open(&card.path).unwrap();
    assert_eq!(tries_left(&card.path), 3);
}
