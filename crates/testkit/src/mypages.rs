//! My Pages as a test walks it over HTTP: *LOGGA IN* → the provider's login with a card →
//! the callback → the start page.

use crate::browser::{Browser, Page};
use crate::card::TestCard;
use crate::server::Server;

impl Server {
    /// `GET /mypages/login`: the redirect to the provider (the pending-login cookie kept).
    pub async fn mypages_begin(&self, browser: &mut Browser) -> String {
        let login = browser.get(&format!("{}/mypages/login", self.base)).await;
        assert_eq!(login.status, 303, "{}", login.body);
        login.location()
    }

    /// A whole My Pages login with `card` (the app played in-process): the start page after
    /// it.
    pub async fn mypages_login(&self, browser: &mut Browser, card: &TestCard) -> Page {
        let authorize = self.mypages_begin(browser).await;
        let callback = self.login(browser, card, &authorize).await;
        assert!(
            callback.starts_with(&format!("{}/mypages/signin-oidc?", self.base)),
            "{callback}"
        );
        let done = browser.get(&callback).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), "/mypages");
        let page = browser.get(&format!("{}/mypages", self.base)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page
    }
}
