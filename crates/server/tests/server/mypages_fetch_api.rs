//! A signing-certificate fetch over `mypages.api`, against the real server on port 0: started
//! with a bearer token (`POST /mypages/api/v1/cards/{cardNumber}/fetch`), done with the
//! virtual card through the real eID app, its return handed on to the client's redirect URI
//! and brought back with the follow token, followed until the new certificate shows
//! (`GET /mypages/api/v1/fetches/{orderRef}`); and every refusal: the token, the card, the
//! rules, a stale card login (a manual clock), another person's fetch, a forged hand-off,
//! a second start, the rate limit.

use std::sync::Arc;

use eid_clock::{Clock as _, ManualClock, SystemClock};
use eid_idp::ClientSpec;
use eid_server::RateLimit;
use eid_store::{CertKind, EnrollStore, Store};
use eid_testkit::{
    ANNA, Browser, CardFile, CardKind, Letter, Pki, RP_REDIRECT, Rp, Server, SigningPolicy,
    TestCard, query, rp_client,
};
use serde_json::{Value, json};

const NUMBER: &str = "9752000001";
const CLIENT: &str = "api-client";
const FOLLOW: &str = "eid-follow-token";

/// A confidential client allowed the API, redirect URI [`RP_REDIRECT`].
fn api_client() -> ClientSpec {
    ClientSpec {
        scopes: ["openid", "profile", "mypages.api"]
            .map(str::to_owned)
            .to_vec(),
        ..rp_client(CLIENT, RP_REDIRECT)
    }
}

/// An HTTP answer: status, headers, JSON body (`null` if none).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_owned()
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let r = request.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.json().await.unwrap_or(Value::Null),
    }
}

/// The API over HTTP as a client calls it.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self {
            base: format!("{}/mypages/api/v1", server.base),
            http: reqwest::Client::new(),
        }
    }

    async fn start(&self, token: Option<&str>, card: &str, body: &Value) -> Answer {
        let mut r = self
            .http
            .post(format!("{}/cards/{card}/fetch", self.base))
            .json(body);
        if let Some(token) = token {
            r = r.bearer_auth(token);
        }
        answer(r).await
    }

    /// A start returning to [`RP_REDIRECT`].
    async fn start_ok(&self, token: &str, card: &str) -> Answer {
        let a = self
            .start(Some(token), card, &json!({ "returnUrl": RP_REDIRECT }))
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    async fn follow(&self, token: &str, order_ref: &str, follow: Option<&str>) -> Answer {
        let mut r = self
            .http
            .get(format!("{}/fetches/{order_ref}", self.base))
            .bearer_auth(token);
        if let Some(f) = follow {
            r = r.header(FOLLOW, f);
        }
        answer(r).await
    }

    async fn give_back(&self, token: &str, order_ref: &str, follow: &str, secret: &str) -> Answer {
        answer(
            self.http
                .post(format!("{}/fetches/{order_ref}/return", self.base))
                .bearer_auth(token)
                .header(FOLLOW, follow)
                .json(&json!({ "secret": secret })),
        )
        .await
    }
}

/// (status, hintCode) of a followed fetch.
fn state_of(a: &Answer) -> (String, String) {
    assert_eq!(a.status, 200, "{}", a.body);
    (
        a.body["status"].as_str().unwrap().to_owned(),
        a.body["hintCode"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The client's login with the card through the eID app's dialog (PIN1): its access token.
async fn login_through_the_app(
    server: &Server,
    rp: &Rp,
    card: &CardFile,
    browser: &mut Browser,
) -> String {
    let request = rp.auth_request(&[]);
    let login = browser.get(&request.url).await;
    let wait = server.legitimera(browser, &login).await;
    let link = wait.launch_link();
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let signed = server
        .app()
        .post(browser, &page, "sign", &[("pin", &card.pin1)])
        .await;
    let done = browser.get(&signed.return_url()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    token_of(rp, &done.location(), &request).await
}

/// The client's login with an in-memory card (the app played in-process): its access token.
async fn login_in_process(
    server: &Server,
    rp: &Rp,
    card: &TestCard,
    extra: &[(&str, &str)],
) -> String {
    let mut browser = server.browser();
    let request = rp.auth_request(extra);
    let location = server.login(&mut browser, card, &request.url).await;
    token_of(rp, &location, &request).await
}

async fn token_of(rp: &Rp, location: &str, request: &eid_testkit::AuthRequest) -> String {
    let code = rp.code(location, request);
    let (status, tokens) = rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// Anna's two-PIN card in the eID app: started over the API, the signing code and PIN1 in
/// the app, the return handed on to the client and brought back; the follow shows each
/// step and, at the end, the certificate the store issued and the app delivered.
#[tokio::test]
async fn a_fetch_started_over_the_api_completes_through_the_app_and_shows_its_certificate() {
    let pki = Pki::new(SystemClock.now()).await;
    let card = pki.card_file(ANNA, NUMBER, CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .app(vec![card.path.clone()])
        .client(api_client())
        .start()
        .await;
    let rp = server.client(CLIENT);
    let api = Api::new(&server);
    let mut browser = server.browser();
    let token = login_through_the_app(&server, &rp, &card, &mut browser).await;

    let started = api.start_ok(&token, NUMBER).await;
    let s = &started.body;
    let order_ref = s["orderRef"].as_str().unwrap().to_owned();
    let follow = s["followToken"].as_str().unwrap().to_owned();
    assert_eq!(s["cardNumber"], NUMBER);
    assert_eq!(s["signingCode"], "pin2");
    assert!(follow.len() >= 43, "a 256-bit follow token");
    let launch = s["launchUrl"].as_str().unwrap().to_owned();
    assert!(launch.starts_with(&server.app().launch_base), "{launch}");
    assert!(launch.ends_with(s["autoStartToken"].as_str().unwrap()));
    let expires = time::OffsetDateTime::parse(
        s["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(expires > SystemClock.now(), "{expires}");
    assert_eq!(
        started.header("location"),
        format!("/mypages/api/v1/fetches/{order_ref}")
    );

    // Following needs the follow token; with it: waiting for the app.
    let a = api.follow(&token, &order_ref, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"], "invalid_request");
    let a = api.follow(&token, &order_ref, Some(&follow)).await;
    assert_eq!(
        state_of(&a),
        ("pending".into(), "outstandingTransaction".into())
    );
    assert!(a.body["certificate"].is_null());

    // The card holder in the eID app: the signing code (PIN2), then PIN1.
    let app = server.app();
    let page = browser.get(&launch).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Ange din underskriftskod (PIN2)"),
        "{}",
        page.body
    );
    let Letter::TwoPin { pin2, .. } = &card.letter else {
        panic!("a two-PIN card")
    };
    let page = app
        .post(&mut browser, &page, "enroll/key", &[("pin", pin2)])
        .await;
    assert!(page.body.contains("Hämtningen startar"), "{}", page.body);
    let a = api.follow(&token, &order_ref, Some(&follow)).await;
    assert_eq!(state_of(&a), ("pending".into(), "userSign".into()));
    let page = app
        .post(
            &mut browser,
            &page,
            "enroll/approve",
            &[("pin", &card.pin1)],
        )
        .await;
    assert!(page.body.contains("Hämtningen är klar"), "{}", page.body);
    let back = page.return_url();
    assert!(
        back.starts_with(&format!("{}/mypages/fetch/handoff?", server.base)),
        "{back}"
    );

    // Signed and issued, but not complete until the starter brings the return back.
    let a = api.follow(&token, &order_ref, Some(&follow)).await;
    assert_eq!(state_of(&a), ("pending".into(), "userSign".into()));
    assert!(a.body["certificate"].is_null());

    // The hand-off sends the browser on to the client's redirect URI, spending nothing.
    let handoff = browser.get(&back).await;
    assert_eq!(handoff.status, 303, "{}", handoff.body);
    let to_client = handoff.location();
    assert!(
        to_client.starts_with(&format!("{RP_REDIRECT}?")),
        "{to_client}"
    );
    assert!(
        !to_client.contains(&follow),
        "the follow token stays with the client"
    );
    let q = query(&to_client);
    assert_eq!(q["orderRef"], order_ref);
    let secret = q["secret"].clone();
    // A hand-off to anywhere else than the order's own redirect URI is refused.
    let forged = back.replace(
        &eid_testkit::encode(&[("to", RP_REDIRECT)]),
        &eid_testkit::encode(&[("to", "https://evil.example/cb")]),
    );
    assert_ne!(forged, back);
    let r = browser.get(&forged).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // A wrong secret completes nothing; the right one with the follow token completes.
    let a = api.give_back(&token, &order_ref, &follow, "nope").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"], "return_refused");
    let done = api.give_back(&token, &order_ref, &follow, &secret).await;
    assert_eq!(state_of(&done), ("complete".into(), String::new()));
    let issued: Vec<_> = server
        .pki
        .store
        .certificates_of_card(NUMBER)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .collect();
    assert_eq!(issued.len(), 1, "one signing certificate");
    let record = &issued[0];
    let cert = &done.body["certificate"];
    assert_eq!(cert["serial"], record.serial.to_string());
    assert_eq!(cert["kind"], "signing");
    assert_eq!(cert["status"], "valid");
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    assert_eq!(cert["notBefore"], rfc3339(record.not_before));
    assert_eq!(cert["notAfter"], rfc3339(record.not_after));
    assert!(
        server
            .pki
            .store
            .delivered_at(&record.serial)
            .await
            .unwrap()
            .is_some(),
        "the app wrote it to the card"
    );
    let a = api.follow(&token, &order_ref, Some(&follow)).await;
    assert_eq!(state_of(&a).0, "complete");
    assert_eq!(a.body["certificate"], done.body["certificate"]);

    // The secret is spent; the card now has its signing certificate, so no new fetch.
    let a = api.give_back(&token, &order_ref, &follow, &secret).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let again = api
        .start(Some(&token), NUMBER, &json!({ "returnUrl": RP_REDIRECT }))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["error"], "fetch_refused");
    assert_eq!(again.body["reason"], "alreadyHasSigningCertificate");
}

/// The refusals of a start and a follow, and a second start for the card.
#[tokio::test]
async fn the_api_refuses_what_the_page_refuses_and_hides_other_peoples_fetches() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let pki = Pki::new(clock.now()).await;
    let anna = pki.card(ANNA, NUMBER, CardKind::TwoPin).await;
    let _anna_other = pki.card(ANNA, "9752000002", CardKind::TwoPin).await;
    pki.add_person("SE2321000016-CEC1", "Cecilia").await;
    let cecilia = pki
        .card("SE2321000016-CEC1", "9752000003", CardKind::TwoPin)
        .await;
    pki.add_organisation("2321000017", "Region Avvaktar", SigningPolicy::Disabled)
        .await;
    pki.add_person_in("SE2321000017-B0B0", "Bo", "2321000017")
        .await;
    let bo = pki
        .card("SE2321000017-B0B0", "9752000042", CardKind::TwoPin)
        .await;
    let server = Server::builder(pki)
        .clock(clock.clone())
        .client(api_client())
        .start()
        .await;
    let rp = server.client(CLIENT);
    let api = Api::new(&server);
    let body = json!({ "returnUrl": RP_REDIRECT });
    let token = login_in_process(&server, &rp, &anna, &[]).await;

    // The token: none, garbage, an ID token is no access token.
    for bad in [None, Some("a.b.c")] {
        let a = api.start(bad, NUMBER, &body).await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.body["error"], "invalid_token");
        assert!(a.header("www-authenticate").contains("invalid_token"));
    }

    // The card: the person's other card is not the login's; another person's card and no
    // card look alike.
    let a = api.start(Some(&token), "9752000002", &body).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"], "fetch_refused");
    assert_eq!(a.body["reason"], "loggedInWithAnotherCard");
    let other = api.start(Some(&token), "9752000003", &body).await;
    let none = api.start(Some(&token), "9752009999", &body).await;
    assert_eq!(other.status, 404, "{}", other.body);
    assert_eq!(other.body, none.body);
    assert_eq!(other.body["error"], "not_found");

    // The request: a return URL not registered for the client, a bad body, a bad language.
    for bad in [
        json!({ "returnUrl": "https://evil.example/cb" }),
        json!({}),
        json!({ "returnUrl": RP_REDIRECT, "language": "de" }),
        json!({ "returnUrl": RP_REDIRECT, "extra": 1 }),
    ] {
        let a = api.start(Some(&token), NUMBER, &bad).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert_eq!(a.body["error"], "invalid_request");
    }

    // The rules: Bo's organisation has not decided.
    let bo_token = login_in_process(&server, &rp, &bo, &[]).await;
    let a = api.start(Some(&bo_token), "9752000042", &body).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["reason"], "organisationNotDecided");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("has not decided"),
        "{}",
        a.body
    );

    // Anna's fetch: hers only. Cecilia sees none, even with the follow token; a wrong
    // follow token finds none either; all alike.
    let started = api
        .start(
            Some(&token),
            NUMBER,
            &json!({ "returnUrl": RP_REDIRECT, "language": "en" }),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let order_ref = started.body["orderRef"].as_str().unwrap().to_owned();
    let follow = started.body["followToken"].as_str().unwrap().to_owned();
    let cecilia_token = login_in_process(&server, &rp, &cecilia, &[]).await;
    let hers = api.follow(&cecilia_token, &order_ref, Some(&follow)).await;
    let unknown = api
        .follow(
            &cecilia_token,
            "00000000-0000-4000-8000-000000000000",
            Some(&follow),
        )
        .await;
    let wrong_follow = api.follow(&token, &order_ref, Some("not-the-token")).await;
    for a in [&hers, &unknown, &wrong_follow] {
        assert_eq!(a.status, 404, "{}", a.body);
        assert_eq!(a.body, hers.body);
    }
    let a = api
        .give_back(&cecilia_token, &order_ref, &follow, "secret")
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(
        state_of(&api.follow(&token, &order_ref, Some(&follow)).await),
        ("pending".into(), "outstandingTransaction".into())
    );
    // The order the eID app would show is in the language asked.
    let fetched = server
        .state
        .orders
        .app_fetch(
            started.body["autoStartToken"].as_str().unwrap(),
            clock.now(),
            &mut rand::rng(),
        )
        .await
        .unwrap();
    assert_eq!(
        fetched.order.text,
        format!("Fetch a signing certificate onto card {NUMBER}")
    );

    // A second start for the card while the first runs: the newer fetch wins (a fetch left
    // in a closed app never blocks the next), and the first one's client is told it ended.
    let second = api.start_ok(&token, NUMBER).await;
    assert_ne!(second.body["orderRef"], started.body["orderRef"]);
    assert_eq!(
        state_of(&api.follow(&token, &order_ref, Some(&follow)).await),
        ("failed".into(), "cancelled".into())
    );
    let second_ref = second.body["orderRef"].as_str().unwrap();
    let second_follow = second.body["followToken"].as_str().unwrap();
    assert_eq!(
        state_of(&api.follow(&token, second_ref, Some(second_follow)).await).0,
        "pending"
    );

    // A stale card login: 16 minutes on, the access token has expired, and a silent
    // renewal gives a new token with the old auth_time: log in with the card again.
    clock.advance(time::Duration::minutes(16));
    let a = api.start(Some(&token), NUMBER, &body).await;
    assert_eq!(a.status, 401, "the token expired: {}", a.body);
    let mut browser = server.browser();
    let request = rp.auth_request(&[]);
    let location = server.login(&mut browser, &anna, &request.url).await;
    let _ = token_of(&rp, &location, &request).await;
    clock.advance(time::Duration::minutes(16));
    let silent = rp.auth_request(&[("prompt", "none")]);
    let renewed = browser.get(&silent.url).await;
    assert_eq!(renewed.status, 303, "no card needed: {}", renewed.body);
    let renewed = token_of(&rp, &renewed.location(), &silent).await;
    let a = api.start(Some(&renewed), NUMBER, &body).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["error"], "login_required");
    let challenge = a.header("www-authenticate");
    assert!(challenge.contains("max_age=\"900\""), "{challenge}");
    // With the card again, it starts.
    let fresh = login_in_process(&server, &rp, &anna, &[]).await;
    api.start_ok(&fresh, NUMBER).await;
}

/// Fetch starts are limited per card, for the page and the API alike.
#[tokio::test]
async fn fetch_starts_are_limited_per_card() {
    let pki = Pki::new(SystemClock.now()).await;
    let anna = pki.card(ANNA, NUMBER, CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .settings(|s| {
            s.rate_limits.order_starts_per_session = RateLimit {
                max: 2,
                period_secs: 3600,
            };
        })
        .client(api_client())
        .start()
        .await;
    let rp = server.client(CLIENT);
    let api = Api::new(&server);
    let token = login_in_process(&server, &rp, &anna, &[]).await;
    api.start_ok(&token, NUMBER).await;
    // The page's start counts for the same card.
    let mut browser = server.browser();
    let page = server.mypages_login(&mut browser, &anna).await;
    let csrf = eid_testkit::between(
        &page.body[page.body.find("action=\"/mypages/fetch\"").unwrap()..],
        "name=\"csrf\" value=\"",
        "\"",
    );
    let wait = browser
        .post_form(
            &format!("{}/mypages/fetch", server.base),
            &[("card", NUMBER), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    let limited = api
        .start(Some(&token), NUMBER, &json!({ "returnUrl": RP_REDIRECT }))
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["error"], "rate_limited");
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry));
    let page = browser
        .post_form(
            &format!("{}/mypages/fetch", server.base),
            &[("card", NUMBER), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
}

/// The return secret under another follow token is a relayed fetch: it is stopped, as a page
/// order returned in another browser, and the starter never sees it complete.
#[tokio::test]
async fn a_return_under_another_follow_token_stops_the_fetch() {
    let pki = Pki::new(SystemClock.now()).await;
    let anna = pki.card(ANNA, NUMBER, CardKind::TwoPin).await;
    let server = Server::builder(pki).client(api_client()).start().await;
    let rp = server.client(CLIENT);
    let api = Api::new(&server);
    let token = login_in_process(&server, &rp, &anna, &[]).await;
    let started = api.start_ok(&token, NUMBER).await;
    let order_ref = started.body["orderRef"].as_str().unwrap().to_owned();
    let follow = started.body["followToken"].as_str().unwrap().to_owned();

    // The eID app played in-process: the card makes the key and approves it with PIN1.
    let now = SystemClock.now();
    let fetched = server
        .state
        .orders
        .app_fetch(
            started.body["autoStartToken"].as_str().unwrap(),
            now,
            &mut rand::rng(),
        )
        .await
        .unwrap();
    let completion = anna
        .complete_signing_enrollment(&fetched.order, &server.pki.store, &server.pki.master)
        .await;
    let done = server
        .state
        .orders
        .app_complete(&fetched.app_token, &completion, now, &mut rand::rng())
        .await
        .unwrap();
    let secret = query(&done.return_url)["secret"].clone();

    // Another party with the secret but not the follow token of the start.
    let a = api
        .give_back(&token, &order_ref, "another-follow-token", &secret)
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["error"], "relayed");
    assert_eq!(
        state_of(&api.follow(&token, &order_ref, Some(&follow)).await),
        ("failed".into(), "startFailed".into())
    );
    let a = api.give_back(&token, &order_ref, &follow, &secret).await;
    assert_eq!(a.status, 400, "the secret is spent: {}", a.body);
    assert_eq!(a.body["error"], "return_refused");
}
