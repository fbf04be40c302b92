//! End to end in headless Chromium: a relying party → the identity provider's login page →
//! the eID app's loopback page → PIN1 on the (virtual) card → back to the relying party,
//! which verifies the ID token. Screenshots land in `target/browser/<test>/`.
//!
//! Headless Chromium does not open `eid://` links, so the server's launch base is the app's
//! loopback page, which each test opens in a new tab of the same browser, as the app opens
//! its page beside the waiting page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.
#![allow(missing_debug_implementations)]

mod demo;
mod driver;
mod fetch;
mod login;
mod mypages;
mod site;

use eid_server::Settings;
use eid_testkit::{ANNA, CardFile, CardKind, Pki, Server, rp_client};

use driver::{Browser, Driver};
use site::Site;

const CLIENT: &str = "testtjansten";

/// A server with the eID app holding one card file, a relying party registered with it,
/// and Chromium.
struct World {
    server: Server,
    site: Site,
    card: CardFile,
    driver: Driver,
}

impl World {
    async fn start(test: &str, kind: CardKind) -> Self {
        Self::start_with(test, kind, |_| {}).await
    }

    async fn start_with(
        test: &str,
        kind: CardKind,
        edit: impl FnOnce(&mut Settings) + Send + 'static,
    ) -> Self {
        let pki = Pki::new(eid_clock::Clock::now(&eid_clock::SystemClock)).await;
        let card = pki.card_file(ANNA, "9752000001", kind).await;
        let (listener, base) = site::bind().await;
        let server = Server::builder(pki)
            .app(vec![card.path.clone()])
            .client(rp_client(CLIENT, &format!("{base}/callback")))
            .settings(edit)
            .start()
            .await;
        let secret = server.client(CLIENT).secret.unwrap();
        let site = Site::start(listener, base, server.issuer(), CLIENT, &secret).await;
        let driver = Driver::start(test).await;
        Self {
            server,
            site,
            card,
            driver,
        }
    }

    /// The relying party's login link → the provider's login page → *Legitimera*: the
    /// browser is on the waiting page; returns the launch link it shows.
    async fn legitimera(&self, browser: &mut Browser) -> String {
        browser.goto(&format!("{}/login", self.site.base)).await;
        browser.wait_for_text("eID på denna enhet").await;
        browser.shot("login-page").await;
        browser
            .click("form[action='/login'] button[type=submit]")
            .await;
        browser.wait_for_text("Väntar på eID-appen").await;
        browser.shot("waiting").await;
        let launch = browser.href("#launch").await;
        assert!(
            launch.starts_with(&self.server.app().launch_base),
            "the launch link {launch} does not point at the app"
        );
        launch
    }
}
