//! `eid app --pcsc`: every reader with a card is an eID to choose from, looked up at each
//! page. With two cards in two readers the dialog offers both; the holder's choice is the
//! card that logs in; a card taken out is no longer offered.

use eid_clock::{Clock as _, SystemClock};
use eid_testkit::pcsc::PcscDaemon;
use eid_testkit::{ANNA, CardKind, Pki, Server, TestApp};

use super::EID;
use super::stack::{form_input, login_dialog, login_done, with_server};

#[tokio::test]
async fn the_app_on_every_reader_offers_each_card_and_the_holder_chooses() {
    let daemon = PcscDaemon::start();
    let pki = Pki::new(SystemClock.now()).await;
    let first = pki.card_file(ANNA, "9752000001", CardKind::TwoPin).await;
    let second = pki.card_file(ANNA, "9752000002", CardKind::TwoPin).await;
    let _in_first = daemon.serve(EID, &first.path, 0);
    let in_second = daemon.serve(EID, &second.path, 1);
    let mut app = daemon.command(EID);
    app.args(["app", "--pcsc"]);
    let server = Server::builder(pki)
        .app_with(move |base| TestApp::spawn(with_server(app, base)))
        .start()
        .await;

    // Both readers are offered; the first is active.
    let mut browser = server.browser();
    let dialog = login_dialog(&server, &mut browser, "9752000001").await;
    assert!(
        dialog.body.contains("<select name=\"card\">"),
        "{}",
        dialog.body
    );
    for slot in [0, 1] {
        let reader = PcscDaemon::reader_name(slot);
        assert!(dialog.body.contains(&reader), "{reader}: {}", dialog.body);
    }
    // The holder chooses the second card and types its PIN1: it is the card that logs in
    // (with the first card that PIN1 would be wrong).
    let signed = server
        .app()
        .post(
            &mut browser,
            &dialog,
            "sign",
            &[("card", "1"), ("pin", &second.pin1)],
        )
        .await;
    let start = login_done(&server, &mut browser, &signed).await;
    assert_eq!(form_input(&start, "/mypages/fetch", "card"), "9752000002");

    // The second card out: only the first is offered, without a choice.
    in_second.kill();
    daemon.wait_for_card(1, false);
    let mut again = server.browser();
    let dialog = login_dialog(&server, &mut again, "9752000001").await;
    assert!(!dialog.body.contains("<select"), "{}", dialog.body);
    assert!(!dialog.body.contains("9752000002"), "{}", dialog.body);
}
