//! The server booted on port 0 with a real store, spoken to over loopback HTTP: health,
//! and black-box re-implementations of the OpenID Foundation's Basic/Config OP checks and
//! the RFC 9700 / RFC 9207 musts, with a real card login through the eID app.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

mod certificates;
mod conformance;
mod health;
mod lifecycle;
mod limits;
mod login;
mod mypages;
mod mypages_certificates;
mod mypages_fetch_api;
mod nodes;
mod revocation;
mod world;

use world::start;

#[tokio::test]
async fn health_and_readiness_answer_with_security_headers() {
    let w = start().await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("{}{path}", w.server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let h = response.headers();
        assert_eq!(
            h["content-security-policy"],
            eid_server::headers::CONTENT_SECURITY_POLICY
        );
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn an_unknown_path_is_404_with_the_same_headers() {
    let w = start().await;
    let response = w
        .server
        .browser()
        .get(&format!("{}/no/such/page", w.server.base))
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(response.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn housekeeping_purges_without_failing() {
    let w = start().await;
    let mut browser = w.server.browser();
    let _ = browser.get(&w.rp.auth_request(&[]).url).await;
    // Nothing has expired yet.
    assert_eq!(eid_server::purge_expired(&w.server.state).await.unwrap(), 0);
}
