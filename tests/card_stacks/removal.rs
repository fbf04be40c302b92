//! The card taken out at each step of the fetch, through the real PC/SC stack: between
//! steps (the card process stopped) and in the middle of a step (the card process killed as
//! a chosen command reaches the card, with `EID_CARD_FAILPOINT=command-<INS>`). Each time
//! the app says the card is missing, the order hears `cardRemoved`, and once the card is
//! back the fetch goes on to exactly one signing certificate, on the card.

use eid_card::{Card as _, KeySlot};
use eid_testkit::CardKind;

use super::stack::Stack;

const MISSING: &str = "Kortet saknas. Sätt i kortet och försök igen.";

#[tokio::test]
async fn a_card_taken_out_at_each_step_of_the_fetch_is_told_and_the_fetch_goes_on() {
    let mut stack = Stack::start(CardKind::TwoPin).await;
    let mut browser = stack.server.browser();
    let start = stack.mypages_login(&mut browser).await;
    let dialog = stack.begin_fetch(&mut browser, &start).await;
    let code = stack.signing_code();
    let pin1 = stack.card.pin1.clone();

    // Out before the key step.
    stack.take_out();
    let page = stack
        .app()
        .post(&mut browser, &dialog, "enroll/key", &[("pin", &code)])
        .await;
    assert!(page.body.contains(MISSING), "{}", page.body);
    assert_eq!(
        browser.collect().await,
        ("pending".into(), "cardRemoved".into())
    );

    // Out as the key generation reaches the card (after the management-key authentication
    // the server answered).
    stack.put_back_until("command-47");
    let page = stack
        .app()
        .post(&mut browser, &page, "enroll/key", &[("pin", &code)])
        .await;
    assert!(page.body.contains(MISSING), "{}", page.body);
    stack.take_out();

    // Back in: the key step goes through.
    stack.put_back();
    let approve = stack
        .app()
        .post(&mut browser, &page, "enroll/key", &[("pin", &code)])
        .await;
    assert!(
        approve.body.contains("Hämtningen startar"),
        "{}",
        approve.body
    );

    // Out between the key step and the approval.
    stack.take_out();
    let page = stack
        .app()
        .post(&mut browser, &approve, "enroll/approve", &[("pin", &pin1)])
        .await;
    assert!(page.body.contains(MISSING), "{}", page.body);
    assert!(
        stack.signing_certificates().await.is_empty(),
        "nothing issued"
    );

    // Out as the certificate is written (PUT DATA): issued, not on the card.
    stack.put_back_until("command-DB");
    let page = stack
        .app()
        .post(&mut browser, &page, "enroll/approve", &[("pin", &pin1)])
        .await;
    assert!(
        page.body
            .contains("utfärdat men ännu inte skrivet till kortet"),
        "{}",
        page.body
    );
    let issued = stack.signing_certificates().await;
    assert_eq!(issued.len(), 1);
    let card = stack.take_out();
    assert_eq!(card.read_certificate(KeySlot::Signing).unwrap(), None);
    drop(card);

    // Back in, *Försök igen*: the same certificate is written.
    stack.put_back();
    let done = stack
        .app()
        .post(&mut browser, &page, "enroll/deliver", &[])
        .await;
    assert!(done.body.contains("Hämtningen är klar"), "{}", done.body);
    let card = stack.take_out();
    assert_eq!(
        card.read_certificate(KeySlot::Signing).unwrap(),
        Some(issued[0].der.clone())
    );
    assert_eq!(stack.signing_certificates().await.len(), 1, "one, not two");
}
