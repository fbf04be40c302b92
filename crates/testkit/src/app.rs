//! The third layer: the eID app on loopback, holding card files.

use std::path::PathBuf;

use eid_app::{App, Config};

use crate::browser::{Browser, Page, encode};

/// The eID app serving on `127.0.0.1:0` until dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    /// The secret first path segment of every page.
    pub capability: String,
    /// Where launch links point: the autostart token is appended.
    pub launch_base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    /// Starts the app with `cards` (the first is active), trusting `servers`.
    pub async fn start(cards: Vec<PathBuf>, servers: Vec<String>) -> Self {
        let app = App::bind(Config {
            cards,
            servers,
            port: 0,
        })
        .await
        .unwrap();
        let url = app.url().trim_end_matches('/').to_owned();
        let capability = app.capability().to_owned();
        let launch_base = app.launch_base();
        let (stop, stopped) = crate::stop_signal();
        tokio::spawn(app.serve(stopped));
        Self {
            url,
            capability,
            launch_base,
            _stop: stop,
        }
    }

    /// Posts `action` (`sign`, `cancel`, `activate`) of the app's dialog `page`, with its
    /// launch and CSRF fields, `extra` fields and the app's own origin, as the dialog's form
    /// does.
    pub async fn post(
        &self,
        browser: &mut Browser,
        page: &Page,
        action: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let (launch, csrf) = (page.input("launch"), page.input("csrf"));
        let mut pairs = vec![("launch", launch.as_str()), ("csrf", csrf.as_str())];
        pairs.extend_from_slice(extra);
        let url = format!("{}/{}/{action}", self.url, self.capability);
        let r = browser
            .http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.url)
            .body(encode(&pairs));
        browser.send(&url, r).await
    }
}
