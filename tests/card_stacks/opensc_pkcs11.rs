//! The PKCS#11 backend through OpenSC's module over our card in the virtual reader: OpenSC
//! shows the one-PIN card as one token (named by the card number our CHUID carries), the
//! eID app with `--pkcs11 opensc-pkcs11.so` logs in to My Pages with it, and the fetch is
//! refused clearly: OpenSC generates PIV keys only under the card's management key, which
//! the server keeps.

use eid_card::{Card as _, CardClient, Pin, PinRef, VirtualCard, VirtualReader};
use eid_clock::{Clock as _, SystemClock};
use eid_store::{CardState, CertKind, Store as _};
use eid_testkit::pcsc::{OPENSC_PKCS11, PcscDaemon};
use eid_testkit::{ANNA, CardKind, Pki, Server, TestApp};
use zeroize::Zeroizing;

use super::EID;
use super::stack::{begin_fetch, login_dialog, login_done, with_server};

const NUMBER: &str = "9752000031";
const NEW_PIN1: &str = "246810";

fn pin(value: &str) -> Pin {
    Pin::new(Zeroizing::new(value.to_owned()))
}

#[tokio::test]
async fn through_opensc_pkcs11_a_one_pin_card_logs_in_and_its_fetch_is_refused_clearly() {
    let daemon = PcscDaemon::start();
    let pki = Pki::new(SystemClock.now()).await;
    let card = pki.card_file(ANNA, NUMBER, CardKind::OnePin).await;
    // Activated (PIN1 chosen), as at its first login through the PIV path.
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
    client.select().unwrap();
    client
        .change_pin(PinRef::Pin1, &pin(&card.pin1), &pin(NEW_PIN1))
        .unwrap();
    drop(client);
    pki.store
        .set_card_state(NUMBER, CardState::Active, &pki.event("card.activate"))
        .await
        .unwrap();
    let _served = daemon.serve(EID, &card.path, 0);
    let mut app = daemon.command(EID);
    app.args(["app", "--pkcs11", OPENSC_PKCS11]);
    let server = Server::builder(pki)
        .app_with(move |base| TestApp::spawn(with_server(app, base)))
        .start()
        .await;

    // The token is found as card NUMBER and logs in with PIN1 (OpenSC's VERIFY and 9A).
    let mut browser = server.browser();
    let dialog = login_dialog(&server, &mut browser, NUMBER).await;
    let signed = server
        .app()
        .post(&mut browser, &dialog, "sign", &[("pin", NEW_PIN1)])
        .await;
    let start = login_done(&server, &mut browser, &signed).await;

    // The fetch: no key is generated (OpenSC wants the management key) and nothing issued.
    let dialog = begin_fetch(&server, &mut browser, &start, NUMBER).await;
    let refused = server
        .app()
        .post(&mut browser, &dialog, "enroll/key", &[("pin", NEW_PIN1)])
        .await;
    assert!(
        !refused.body.contains("Hämtningen startar"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("kan inte ta emot ett underskriftscertifikat"),
        "{}",
        refused.body
    );
    let signing = server
        .pki
        .store
        .certificates_of_card(NUMBER)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .count();
    assert_eq!(signing, 0, "no signing certificate issued");
}
