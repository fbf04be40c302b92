//! The app's world: the testkit's server on port 0, whose launch links point at the eID app
//! on loopback holding Anna's card file, and the client [`RP`](eid_testkit::RP).
#![allow(missing_debug_implementations)] // Test fixtures.

use eid_clock::{Clock as _, SystemClock};
use eid_testkit::{
    ANNA, AuthRequest, Browser, CardFile, CardKind, Pki, RP, RP_REDIRECT, Rp, Server, TestApp,
    rp_client,
};

pub struct World {
    pub server: Server,
    /// Anna's card, held by the app.
    pub card: CardFile,
    pub rp: Rp,
}

pub async fn start() -> World {
    start_with(CardKind::TwoPin).await
}

/// A world whose card is of `kind` (a one-PIN card waits for activation; its `pin1` is then
/// its transport code).
pub async fn start_with(kind: CardKind) -> World {
    let pki = Pki::new(SystemClock.now()).await;
    let card = pki.card_file(ANNA, "9752000001", kind).await;
    let server = Server::builder(pki)
        .app(vec![card.path.clone()])
        .client(rp_client(RP, RP_REDIRECT))
        .start()
        .await;
    World {
        rp: server.client(RP),
        server,
        card,
    }
}

impl World {
    pub fn app(&self) -> &TestApp {
        self.server.app()
    }

    /// Opens the login page, presses *Legitimera*: the launch link of the waiting page
    /// (which points at the app).
    pub async fn start_order(&self, browser: &mut Browser, request: &AuthRequest) -> String {
        let login = browser.get(&request.url).await;
        let wait = self.server.legitimera(browser, &login).await;
        let link = wait.launch_link();
        assert!(link.starts_with(&self.app().launch_base), "{link}");
        link
    }
}
