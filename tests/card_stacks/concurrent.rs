//! Several programs on one card at once through pcscd: each step holds the card in a PC/SC
//! transaction, so their APDUs never interleave. Reading a certificate takes a GET DATA and
//! GET RESPONSE parts; any command of another program in between would discard the rest
//! (docs/card.md), so interleaving shows as a failed or wrong read.

use std::thread;

use eid_testkit::CardKind;
use eid_testkit::pcsc::{OPENSC_PKCS11, PcscDaemon};
use serde_json::Value;

use super::EID;
use super::stack::{NUMBER, Stack};

#[tokio::test]
async fn concurrent_readers_of_one_card_each_get_whole_answers() {
    let stack = Stack::start(CardKind::TwoPin).await;
    let reader = PcscDaemon::reader_name(0);
    let daemon = &stack.daemon;
    let pin_page = format!("{}/{}/pin", stack.app().url, stack.app().capability);

    // The app's pages (each a step of its own) while the processes below read.
    let http = reqwest::Client::new();
    let pages = tokio::spawn(async move {
        let mut bodies = Vec::new();
        for _ in 0..6 {
            let page = http.get(&pin_page).send().await.unwrap();
            assert_eq!(page.status(), 200);
            bodies.push(page.text().await.unwrap());
        }
        bodies
    });

    let (shows, listings) = thread::scope(|s| {
        let shows: Vec<_> = (0..4)
            .map(|_| s.spawn(|| daemon.run(EID, &["card", "show", "--reader", &reader, "--json"])))
            .collect();
        let listings: Vec<_> = (0..2)
            .map(|_| s.spawn(|| daemon.run("pkcs11-tool", &["--module", OPENSC_PKCS11, "-O"])))
            .collect();
        (
            shows
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>(),
            listings
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>(),
        )
    });

    let mut certificates = Vec::new();
    for out in &shows {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(shown["card_number"], NUMBER);
        certificates.push(shown["certificates"].clone());
    }
    assert!(
        certificates.windows(2).all(|w| w[0] == w[1]),
        "every reader got the same certificates"
    );
    assert!(
        certificates[0].as_array().is_some_and(|c| !c.is_empty()),
        "{certificates:?}"
    );
    for out in &listings {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Certificate Object"), "{text}");
    }
    for body in pages.await.unwrap() {
        assert!(body.contains(NUMBER), "{body}");
    }
}
