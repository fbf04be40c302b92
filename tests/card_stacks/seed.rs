//! The seed procedure through the PC/SC stack, for both card kinds: log in to My Pages with
//! the card (a one-PIN card is activated on the way), fetch the signing certificate, and
//! find it on the card.

use eid_card::{Card as _, KeySlot};
use eid_testkit::CardKind;

use super::stack::{NUMBER, Stack};

async fn seed_procedure(kind: CardKind) {
    let mut stack = Stack::start(kind).await;
    let mut browser = stack.server.browser();
    let start = stack.mypages_login(&mut browser).await;
    assert!(start.body.contains(NUMBER), "{}", start.body);

    let dialog = stack.begin_fetch(&mut browser, &start).await;
    let done = stack.fetch(&mut browser, &dialog).await;
    assert!(done.body.contains("Hämtningen är klar"), "{}", done.body);
    let back = browser.get(&done.return_url()).await;
    assert!(back.status == 200 || back.status == 303, "{}", back.body);
    let start = browser.get(&format!("{}/mypages", stack.server.base)).await;
    assert!(start.body.contains("Underskrift"), "{}", start.body);

    // The certificate the CA issued is the one on the card: in the card file (the card's
    // memory) once the card process is gone.
    let issued = stack.signing_certificates().await;
    assert_eq!(issued.len(), 1, "one signing certificate");
    let card = stack.take_out();
    assert_eq!(
        card.read_certificate(KeySlot::Signing).unwrap(),
        Some(issued[0].der.clone()),
        "the card holds the issued certificate"
    );
}

#[tokio::test]
async fn a_two_pin_card_in_a_pcsc_reader_logs_in_and_fetches_its_signing_certificate() {
    seed_procedure(CardKind::TwoPin).await;
}

#[tokio::test]
async fn a_one_pin_card_in_a_pcsc_reader_is_activated_logs_in_and_fetches() {
    seed_procedure(CardKind::OnePin).await;
}
