//! The server's world: the testkit's server on port 0 over its CA and store, Anna's
//! two-PIN card in memory (the eID app is played in-process with it), and two clients:
//! [`RP`] with PKCE and [`LEGACY`], which may skip it.
#![allow(missing_debug_implementations)] // Test fixtures.

use eid_clock::{Clock as _, SystemClock};
use eid_idp::ClientSpec;
use eid_server::Settings;
use eid_store::CardKind;
use eid_testkit::{ANNA, Browser, Pki, Rp, Server, TestCard, rp_client};

pub use eid_testkit::{RP, RP_REDIRECT};

pub const LEGACY: &str = "legacy";
/// Where both clients may be sent after logout.
pub const BYE: &str = "https://rp.example/bye";

pub struct World {
    pub server: Server,
    /// Anna's card.
    pub card: TestCard,
    pub rp: Rp,
    pub legacy: Rp,
}

fn client(id: &str, pkce_optional: bool) -> ClientSpec {
    ClientSpec {
        post_logout_redirect_uris: vec![BYE.into()],
        pkce_optional,
        ..rp_client(id, RP_REDIRECT)
    }
}

pub async fn start() -> World {
    start_with(|_| {}).await
}

/// A world whose server settings `edit` changes first (rate limits, trusted proxies).
pub async fn start_with(edit: impl FnOnce(&mut Settings) + Send + 'static) -> World {
    let pki = Pki::new(SystemClock.now()).await;
    let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .settings(edit)
        .client(client(RP, false))
        .client(client(LEGACY, true))
        .start()
        .await;
    World {
        rp: server.client(RP),
        legacy: server.client(LEGACY),
        server,
        card,
    }
}

impl World {
    /// A whole login with Anna's card from the authorization URL `url`: the redirect to
    /// the client.
    pub async fn login(&self, browser: &mut Browser, url: &str) -> String {
        self.server.login(browser, &self.card, url).await
    }
}
