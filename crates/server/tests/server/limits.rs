//! Rate limits: order starts per browser session, completions per card (never per address
//! alone), answered with 429 and `Retry-After`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_server::RateLimit;
use serde_json::{Value, json};

use eid_testkit::Server;

use crate::world::start_with;

/// Long windows, so a test never straddles a window boundary in practice.
const HOUR: u32 = 3600;

#[tokio::test]
async fn order_starts_are_limited_per_browser_session_not_per_address() {
    let w = start_with(|s| {
        s.rate_limits.order_starts_per_session = RateLimit {
            max: 2,
            period_secs: HOUR,
        };
    })
    .await;
    let mut a = w.server.browser();
    let page = a.get(&w.rp.auth_request(&[]).url).await;
    let form = [
        ("request", page.input("request")),
        ("mac", page.input("mac")),
        ("csrf", page.input("csrf")),
        ("lang", page.input("lang")),
        ("method", "this-device".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let login = format!("{}/login", w.server.base);
    for _ in 0..2 {
        assert_eq!(a.post_form(&login, &pairs).await.status, 200);
    }
    let limited = a.post_form(&login, &pairs).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=u64::from(HOUR)).contains(&retry));
    assert!(limited.body.contains("För många"), "{}", limited.body);
    assert_eq!(limited.headers["x-frame-options"], "DENY");

    // Another browser behind the same address is not locked out.
    let mut b = w.server.browser();
    let page = b.get(&w.rp.auth_request(&[]).url).await;
    let wait = w.server.legitimera(&mut b, &page).await;
    assert_eq!(wait.status, 200);
}

async fn complete(
    server: &Server,
    app_token: &str,
    certificate: &[u8],
    forwarded_for: &str,
) -> (u16, Option<String>, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/complete", server.base))
        .bearer_auth(app_token)
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({
            "signature": STANDARD.encode([0x30, 0x00]),
            "certificate": STANDARD.encode(certificate),
        }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.json().await.unwrap())
}

#[tokio::test]
async fn completions_are_limited_per_card() {
    let w = start_with(|s| {
        s.rate_limits.completions_per_card = RateLimit {
            max: 1,
            period_secs: HOUR,
        };
    })
    .await;
    // One full login with the card takes the card's only completion of the window.
    let mut browser = w.server.browser();
    let location = w.login(&mut browser, &w.rp.auth_request(&[]).url).await;
    assert!(location.contains("code="), "{location}");

    let certificate = w.card.certificate();
    let mut other = w.server.browser();
    let page = other.get(&w.rp.auth_request(&[]).url).await;
    let wait = w.server.legitimera(&mut other, &page).await;
    let fetched = w.server.fetch_order(&wait).await;
    // Another client address in X-Forwarded-For (untrusted, and never a key) changes nothing.
    let (status, retry, body) =
        complete(&w.server, &fetched.app_token, &certificate, "198.51.100.77").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errorCode"], "rateLimited");
    assert!(body["details"].as_str().unwrap().contains("this card"));
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);

    // A made-up app token is refused by the engine and never counted against the card.
    let (status, _, body) = complete(
        &w.server,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &certificate,
        "198.51.100.77",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errorCode"], "tokenRefused");

    // Another certificate (another card) is counted on its own: it gets as far as the
    // certificate check.
    let (status, _, body) = complete(
        &w.server,
        &fetched.app_token,
        b"not this card",
        "198.51.100.77",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorCode"], "certificateErr");
}

#[tokio::test]
async fn limits_are_counted_in_the_store_and_purged_after_their_window() {
    let w = start_with(|s| {
        s.rate_limits.order_starts_per_session = RateLimit {
            max: 1,
            period_secs: 1,
        };
    })
    .await;
    let mut a = w.server.browser();
    let page = a.get(&w.rp.auth_request(&[]).url).await;
    w.server.legitimera(&mut a, &page).await;
    // The slot is a store record: after its window (plus a second) housekeeping forgets it.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert!(eid_server::purge_expired(&w.server.state).await.unwrap() >= 1);
}
