//! The login pages, the page's JSON calls and the relay protection.

use serde_json::json;

use eid_testkit::{Browser, Page, encode, query};

use crate::world::{RP, start};

fn assert_secure_page(page: &Page) {
    let h = &page.headers;
    assert_eq!(
        h["content-security-policy"],
        eid_server::headers::CONTENT_SECURITY_POLICY
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.body.contains("<html lang=\"sv\">"));
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style="), "no inline style");
    assert!(
        page.body
            .contains("<link rel=\"stylesheet\" href=\"/static/eid.css\">"),
        "My Pages' stylesheet"
    );
}

/// Every input a person fills in or chooses is inside a `<label>` (hidden fields need none).
fn assert_labelled(page: &Page) {
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find("<input") {
        let tag = &rest[at..at + rest[at..].find('>').unwrap()];
        if !tag.contains("type=\"hidden\"") {
            let open = rest[..at].rfind("<label").unwrap_or(0);
            let close = rest[..at].rfind("</label>");
            assert!(
                rest[..at].contains("<label") && close.is_none_or(|c| c < open),
                "an input without a label: {tag}"
            );
        }
        rest = &rest[at + 1..];
    }
}

/// A static file of the pages: its type and a cache lifetime (not `no-store`).
async fn assert_asset(browser: &mut Browser, url: &str, content_type: &str) -> String {
    let asset = browser.get(url).await;
    assert_eq!(asset.status, 200, "{url}");
    let h = &asset.headers;
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with(content_type),
        "{url}"
    );
    assert_eq!(h["cache-control"], "public, max-age=300", "{url}");
    asset.body
}

#[tokio::test]
async fn the_pages_are_swedish_and_carry_the_security_headers() {
    let w = start().await;
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let login = browser.get(&request.url).await;
    assert_eq!(login.status, 200);
    assert_secure_page(&login);
    for word in [
        "Logga in",
        "eID på denna enhet",
        "eID på annan enhet",
        "Legitimera",
    ] {
        assert!(login.body.contains(word), "{word}");
    }
    assert!(login.body.contains("value=\"other-device\" disabled"));
    assert!(
        !login.body.contains("<script"),
        "the login page needs no script"
    );
    assert_labelled(&login);
    assert!(browser.cookies.contains_key("__Host-eid-browser"));

    let wait = w.server.legitimera(&mut browser, &login).await;
    assert_secure_page(&wait);
    // The shared order script first, then the login's words (deferred: in this order).
    assert!(wait.body.contains(
        "<script src=\"/static/order.js\" defer></script>\n\
         <script src=\"/static/login.js\" defer></script>"
    ));
    assert!(wait.launch_link().starts_with("eid:///?autostarttoken="));
    // Without script the cancel button would do nothing: the script shows it.
    assert!(
        wait.body
            .contains("<button id=\"cancel\" type=\"button\" hidden>")
    );
    let base = &w.server.base;
    let order = assert_asset(
        &mut browser,
        &format!("{base}/static/order.js"),
        "text/javascript",
    )
    .await;
    assert!(order.contains("/orders/collect") && order.contains("/orders/cancel"));
    let words = assert_asset(
        &mut browser,
        &format!("{base}/static/login.js"),
        "text/javascript",
    )
    .await;
    assert!(words.contains("eidOrder.follow(") && !words.contains("fetch("));
    let css = assert_asset(&mut browser, &format!("{base}/static/eid.css"), "text/css").await;
    assert!(css.contains(":focus-visible"), "a visible focus");

    // An error page too.
    let bad = browser
        .get(&format!(
            "{}/oidc/authorize?client_id=nobody",
            w.server.base
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert_secure_page(&bad);
}

#[tokio::test]
async fn legitimera_needs_the_csrf_token_of_this_browser_session() {
    let w = start().await;
    let mut browser = w.server.browser();
    let login = browser.get(&w.rp.auth_request(&[]).url).await;
    let url = format!("{}/login", w.server.base);
    let (request, mac) = (login.input("request"), login.input("mac"));
    let missing = browser
        .post_form(&url, &[("request", &request), ("mac", &mac)])
        .await;
    assert_eq!(missing.status, 400);
    let wrong = browser
        .post_form(
            &url,
            &[("request", &request), ("mac", &mac), ("csrf", "AAAA")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    // Another browser's token does not do either.
    let mut other = w.server.browser();
    let other_login = other.get(&w.rp.auth_request(&[]).url).await;
    let foreign = browser
        .post_form(
            &url,
            &[
                ("request", &request),
                ("mac", &mac),
                ("csrf", &other_login.input("csrf")),
            ],
        )
        .await;
    assert_eq!(foreign.status, 400);
    // A changed request does not verify.
    let mut forged = request.clone();
    forged.replace_range(..4, "eyJ4");
    let changed = browser
        .post_form(
            &url,
            &[
                ("request", &forged),
                ("mac", &mac),
                ("csrf", &login.input("csrf")),
            ],
        )
        .await;
    assert_eq!(changed.status, 400);
    // The right one does.
    w.server.legitimera(&mut browser, &login).await;
}

#[tokio::test]
async fn collect_and_cancel_need_the_session_and_the_csrf_header() {
    let w = start().await;
    let mut browser = w.server.browser();
    let login = browser.get(&w.rp.auth_request(&[]).url).await;
    let wait = w.server.legitimera(&mut browser, &login).await;
    let (order_ref, csrf) = (wait.attr("data-order-ref"), wait.attr("data-csrf"));
    let body = json!({ "orderRef": order_ref });
    let collect = format!("{}/orders/collect", w.server.base);
    let c = browser.post_json(&collect, &body, &csrf).await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["status"], "pending");
    assert_eq!(c.json()["hintCode"], "outstandingTransaction");
    assert_eq!(browser.post_json(&collect, &body, "AAAA").await.status, 400);
    // Another browser cannot see the order.
    let mut other = w.server.browser();
    let other_wait = other.get(&w.rp.auth_request(&[]).url).await;
    let other_csrf = other_wait.input("csrf");
    assert_eq!(
        other.post_json(&collect, &body, &other_csrf).await.status,
        404
    );

    let cancel = format!("{}/orders/cancel", w.server.base);
    assert_eq!(browser.post_json(&cancel, &body, &csrf).await.status, 200);
    let c = browser.post_json(&collect, &body, &csrf).await;
    assert_eq!(c.json()["status"], "failed");
    assert_eq!(c.json()["hintCode"], "cancelled");
    // The app can no longer fetch it.
    let token = wait.launch_link().split_once('=').unwrap().1.to_owned();
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/order", w.server.base))
        .json(&json!({ "autoStartToken": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// With the state it shows, the page's collect waits: for the order to change (here the
/// app fetching it: hint `started`), or for `collect_wait` with the same answer. A page
/// whose state is out of date is answered at once.
#[tokio::test]
async fn collect_waits_for_the_order_to_change() {
    use std::time::{Duration, Instant};

    let wait_for = Duration::from_secs(2);
    let w = crate::world::start_with(move |s| s.collect_wait = wait_for).await;
    let mut browser = w.server.browser();
    let login = browser.get(&w.rp.auth_request(&[]).url).await;
    let wait = w.server.legitimera(&mut browser, &login).await;
    let (order_ref, csrf) = (wait.attr("data-order-ref"), wait.attr("data-csrf"));
    let collect = format!("{}/orders/collect", w.server.base);
    let known = json!({
        "orderRef": order_ref, "status": "pending", "hintCode": "outstandingTransaction"
    });

    // Nothing happens: the same answer after the wait.
    let started = Instant::now();
    let c = browser.post_json(&collect, &known, &csrf).await;
    assert_eq!(c.json()["hintCode"], "outstandingTransaction");
    assert!(started.elapsed() >= wait_for, "{:?}", started.elapsed());

    // Out of date: at once.
    let stale = json!({ "orderRef": order_ref, "status": "pending", "hintCode": "started" });
    let started = Instant::now();
    let c = browser.post_json(&collect, &stale, &csrf).await;
    assert_eq!(c.json()["hintCode"], "outstandingTransaction");
    assert!(started.elapsed() < wait_for, "{:?}", started.elapsed());

    // The app fetches the order while the page waits: the page hears `started` then.
    let mut page = browser.clone();
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let c = page.post_json(&collect, &known, &csrf).await;
        (c.json()["hintCode"].clone(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "collect answered before any change");
    let token = wait.launch_link().split_once('=').unwrap().1.to_owned();
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/order", w.server.base))
        .json(&json!({ "autoStartToken": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (hint, elapsed) = waiting.await.unwrap();
    assert_eq!(hint, "started");
    assert!(
        elapsed < wait_for,
        "woken by the change, not the timeout: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_relayed_order_logs_nobody_in() {
    let w = start().await;
    // The victim's browser A starts the order; the app's return URL is opened in the
    // attacker's browser B.
    let mut a = w.server.browser();
    let mut b = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let login = a.get(&request.url).await;
    let wait = w.server.legitimera(&mut a, &login).await;
    let back = w.server.play_app(&w.card, &wait).await;
    // B with no cookies at all, and B with a login session of its own.
    let page = b.get(&back).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(!page.headers.contains_key("location"));
    assert!(!b.cookies.contains_key("__Host-eid-sso"));
    // The order is stopped: A cannot finish it either.
    let page = a.get(&back).await;
    assert_ne!(page.status, 303);
    assert!(!a.cookies.contains_key("__Host-eid-sso"));
    let c = a
        .post_json(
            &format!("{}/orders/collect", w.server.base),
            &json!({ "orderRef": wait.attr("data-order-ref") }),
            &wait.attr("data-csrf"),
        )
        .await;
    assert_eq!(c.json()["status"], "failed");

    // B's own browser session does not help it either.
    let mut c_browser = w.server.browser();
    let login = c_browser.get(&w.rp.auth_request(&[]).url).await;
    let wait = w.server.legitimera(&mut c_browser, &login).await;
    let back = w.server.play_app(&w.card, &wait).await;
    let mut d = w.server.browser();
    let _ = d.get(&w.rp.auth_request(&[]).url).await; // d has a browser session
    assert_eq!(d.get(&back).await.status, 403);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let w = start().await;
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let code =
        w.rp.code(&w.login(&mut browser, &request.url).await, &request);
    let (_, tokens) = w.rp.token(&code, Some(&request.verifier)).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let url = format!(
        "{}/oidc/logout?{}",
        w.server.base,
        encode(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "bye"),
        ])
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location().starts_with("https://rp.example/bye"));
    assert!(!browser.cookies.contains_key("__Host-eid-sso"));
    // prompt=none now needs a login.
    let silent = w.rp.auth_request(&[("prompt", "none")]);
    let page = browser.get(&silent.url).await;
    assert_eq!(query(&page.location())["error"], "login_required");
    let _ = RP;
}

#[tokio::test]
async fn english_is_there_when_asked_for() {
    let w = start().await;
    for extra in [("lang", "en"), ("ui_locales", "en-GB sv")] {
        let mut browser = w.server.browser();
        let login = browser.get(&w.rp.auth_request(&[extra]).url).await;
        assert!(login.body.contains("<html lang=\"en\">"), "{extra:?}");
        assert!(login.body.contains("eID on this device"));
        let wait = w.server.legitimera(&mut browser, &login).await;
        assert!(wait.body.contains("<html lang=\"en\">"));
        assert!(wait.body.contains("Start the eID app"));
    }
}

/// Collects everything the server logs.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the server's tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = start().await;
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let login = browser.get(&request.url).await;
    let wait = w.server.legitimera(&mut browser, &login).await;
    let autostart = wait.launch_link().split_once('=').unwrap().1.to_owned();
    let back = w.server.play_app(&w.card, &wait).await;
    let secret = query(&back)["secret"].clone();
    let cookies: Vec<String> = browser.cookies.values().cloned().collect();
    let done = browser.get(&back).await;
    let code = w.rp.code(&done.location(), &request);
    let (_, tokens) = w.rp.token(&code, Some(&request.verifier)).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let _ = w.rp.userinfo(&access).await;
    // Refusals log too.
    let _ = w.rp.token(&code, Some(&request.verifier)).await;
    let _ = browser.get(&back).await;
    let mut secrets = vec![
        autostart,
        secret,
        code,
        access,
        tokens["id_token"].as_str().unwrap().to_owned(),
        w.rp.secret.clone().unwrap(),
        request.verifier.clone(),
        login.input("csrf"),
    ];
    secrets.extend(cookies);
    secrets.extend(browser.cookies.values().cloned());

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(!text.is_empty(), "the log was captured");
    for s in &secrets {
        assert!(s.len() >= 16);
        assert!(!text.contains(s.as_str()), "a secret in the log");
    }
}

#[tokio::test]
async fn the_app_endpoints_refuse_what_they_must() {
    let w = start().await;
    let mut browser = w.server.browser();
    let login = browser.get(&w.rp.auth_request(&[]).url).await;
    let wait = w.server.legitimera(&mut browser, &login).await;
    let token = wait.launch_link().split_once('=').unwrap().1.to_owned();
    let http = reqwest::Client::new();
    let fetch = |t: String| {
        http.post(format!("{}/app/v1/order", w.server.base))
            .json(&json!({ "autoStartToken": t }))
            .send()
    };
    assert_eq!(fetch("A".repeat(43)).await.unwrap().status(), 401);
    let first = fetch(token.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    // The autostart token is good for one fetch.
    let again = fetch(token).await.unwrap();
    assert_eq!(again.status(), 401);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["errorCode"], "tokenRefused");
    // Report and complete need the app token.
    for path in ["report", "complete"] {
        let r = http
            .post(format!("{}/app/v1/{path}", w.server.base))
            .json(&json!({ "hintCode": "userSign" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let r = http
            .post(format!("{}/app/v1/{path}", w.server.base))
            .bearer_auth("A".repeat(43))
            .json(&json!({ "hintCode": "userSign", "signature": "", "certificate": "" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // A malformed body is a 400 with the same JSON shape.
    let r = http
        .post(format!("{}/app/v1/order", w.server.base))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "invalidParameters");
}
