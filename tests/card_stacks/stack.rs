//! The whole platform over a real PC/SC stack: a private pcscd with vsmartcard's virtual
//! reader, a card file served into reader 0 by `eid card serve`, the server in this
//! process, and `eid app --reader …` as a process of its own that reaches the card through
//! pcsc-lite only; a browser (HTTP) drives My Pages and the app's pages as the holder does.

use std::process::Command;

use eid_card::{Card as _, CardClient, VirtualCard, VirtualReader};
use eid_clock::{Clock as _, SystemClock};
use eid_store::{CertKind, CertificateRecord, Store as _};
use eid_testkit::pcsc::{PcscDaemon, ServedCard};
use eid_testkit::{ANNA, Browser, CardFile, CardKind, Letter, Page, Pki, Server, TestApp};

use super::EID;

/// PIN1 a one-PIN card's holder chooses at activation.
const NEW_PIN1: &str = "246810";
pub(super) const NUMBER: &str = "9752000001";

/// pcscd with Anna's card in reader 0, the server, and `eid app` on that reader.
pub(super) struct Stack {
    pub(super) server: Server,
    pub(super) card: CardFile,
    pub(super) served: Option<ServedCard>,
    // Last: the daemon outlives the app and the card process.
    pub(super) daemon: PcscDaemon,
}

impl Stack {
    pub(super) async fn start(kind: CardKind) -> Self {
        let daemon = PcscDaemon::start();
        let pki = Pki::new(SystemClock.now()).await;
        let card = pki.card_file(ANNA, NUMBER, kind).await;
        let served = daemon.serve(EID, &card.path, 0);
        let mut app = daemon.command(EID);
        app.args(["app", "--reader", &PcscDaemon::reader_name(0)]);
        let server = Server::builder(pki)
            .app_with(move |base| TestApp::spawn(with_server(app, base)))
            .start()
            .await;
        Stack {
            server,
            card,
            served: Some(served),
            daemon,
        }
    }

    pub(super) fn app(&self) -> &TestApp {
        self.server.app()
    }

    /// Logs in to My Pages through the app and the card in the reader (a one-PIN card is
    /// activated on the way, as at its first use); returns the start page. The card's PIN1
    /// afterwards is in `self.card.pin1`.
    pub(super) async fn mypages_login(&mut self, browser: &mut Browser) -> Page {
        let dialog = login_dialog(&self.server, browser, NUMBER).await;
        let signed = match self.card.letter {
            Letter::TwoPin { .. } => {
                self.app()
                    .post(browser, &dialog, "sign", &[("pin", &self.card.pin1)])
                    .await
            }
            Letter::OnePin { .. } => {
                let transport = self.card.pin1.clone();
                self.card.pin1 = NEW_PIN1.into();
                self.app()
                    .post(
                        browser,
                        &dialog,
                        "activate",
                        &[
                            ("transport", &transport),
                            ("pin", NEW_PIN1),
                            ("again", NEW_PIN1),
                        ],
                    )
                    .await
            }
        };
        login_done(&self.server, browser, &signed).await
    }

    /// *Hämta underskriftscertifikat* on My Pages' start page: the app's fetch dialog.
    pub(super) async fn begin_fetch(&self, browser: &mut Browser, start: &Page) -> Page {
        begin_fetch(&self.server, browser, start, NUMBER).await
    }

    /// The signing code the fetch asks for: PIN2, or PIN1 on a one-PIN card.
    pub(super) fn signing_code(&self) -> String {
        match &self.card.letter {
            Letter::TwoPin { pin2, .. } => pin2.clone(),
            Letter::OnePin { .. } => self.card.pin1.clone(),
        }
    }

    /// The fetch's two PIN steps in the app: the signing code (key generated on the card),
    /// then PIN1 (approval, certificate written); returns the app's last page.
    pub(super) async fn fetch(&self, browser: &mut Browser, dialog: &Page) -> Page {
        fetch(
            &self.server,
            browser,
            dialog,
            &self.signing_code(),
            &self.card.pin1,
        )
        .await
    }
}

// The page walk of the seed procedure, for any card the server's app holds.

/// My Pages' login up to the app's dialog, which must show card `number`.
pub(super) async fn login_dialog(server: &Server, browser: &mut Browser, number: &str) -> Page {
    let authorize = server.mypages_begin(browser).await;
    let login = browser.get(&authorize).await;
    let wait = server.legitimera(browser, &login).await;
    let dialog = browser.get(&wait.launch_link()).await;
    assert_eq!(dialog.status, 200, "{}", dialog.body);
    assert!(
        dialog.body.contains(number),
        "the card in the app: {}",
        dialog.body
    );
    dialog
}

/// From the app's page after the login's signature back to My Pages' start page.
pub(super) async fn login_done(server: &Server, browser: &mut Browser, signed: &Page) -> Page {
    assert_eq!(signed.status, 200, "{}", signed.body);
    let back = browser.get(&signed.return_url()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location();
    assert!(callback.contains("/mypages/signin-oidc?"), "{callback}");
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let start = browser.get(&format!("{}/mypages", server.base)).await;
    assert_eq!(start.status, 200, "{}", start.body);
    start
}

/// *Hämta underskriftscertifikat* for card `number` on My Pages' start page: the app's
/// fetch dialog.
pub(super) async fn begin_fetch(
    server: &Server,
    browser: &mut Browser,
    start: &Page,
    number: &str,
) -> Page {
    let csrf = form_input(start, "/mypages/fetch", "csrf");
    let wait = browser
        .post_form(
            &format!("{}/mypages/fetch", server.base),
            &[("csrf", &csrf), ("card", number)],
        )
        .await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    browser.waiting_on(&wait);
    let dialog = browser.get(&wait.launch_link()).await;
    assert_eq!(dialog.status, 200, "{}", dialog.body);
    assert!(
        dialog.body.contains("underskriftscertifikat"),
        "{}",
        dialog.body
    );
    dialog
}

/// The fetch's two PIN steps in the app: the signing `code` (the key), then `pin1`
/// (approval, certificate written); returns the app's last page.
pub(super) async fn fetch(
    server: &Server,
    browser: &mut Browser,
    dialog: &Page,
    code: &str,
    pin1: &str,
) -> Page {
    let approve = server
        .app()
        .post(browser, dialog, "enroll/key", &[("pin", code)])
        .await;
    assert!(
        approve.body.contains("Hämtningen startar"),
        "{}",
        approve.body
    );
    server
        .app()
        .post(browser, &approve, "enroll/approve", &[("pin", pin1)])
        .await
}

impl Stack {
    /// The card's signing certificates in the store.
    pub(super) async fn signing_certificates(&self) -> Vec<CertificateRecord> {
        self.server
            .pki
            .store
            .certificates_of_card(NUMBER)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.kind == CertKind::Signing)
            .collect()
    }

    /// Takes the card out (kills `eid card serve`, if it still runs) and opens its file in
    /// this process: what the card remembers.
    pub(super) fn take_out(&mut self) -> CardClient<VirtualReader> {
        drop(self.served.take());
        self.daemon.wait_for_card(0, false);
        let card = CardClient::new(VirtualReader::new(
            VirtualCard::open(&self.card.path).unwrap(),
        ));
        card.select().unwrap();
        card
    }

    /// Puts the card (its file as it is now) back in reader 0.
    pub(super) fn put_back(&mut self) {
        assert!(self.served.is_none(), "the card is still in the reader");
        self.served = Some(self.daemon.serve(EID, &self.card.path, 0));
    }

    /// Puts the card back in reader 0 armed to be taken out the moment `failpoint` (e.g.
    /// `command-DB`: PUT DATA) reaches it (`EID_CARD_FAILPOINT`).
    pub(super) fn put_back_until(&mut self, failpoint: &str) {
        assert!(self.served.is_none(), "the card is still in the reader");
        self.served = Some(self.daemon.serve_armed(EID, &self.card.path, 0, failpoint));
    }
}

/// `eid app …` trusting `base`.
pub(super) fn with_server(mut app: Command, base: &str) -> Command {
    app.args(["--server", base]);
    app
}

/// The value of input `name` in the form posting to `action`.
pub(super) fn form_input(page: &Page, action: &str, name: &str) -> String {
    let from = page
        .body
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form to {action}: {}", page.body));
    eid_testkit::between(
        &page.body[from..],
        &format!("name=\"{name}\" value=\""),
        "\"",
    )
}
