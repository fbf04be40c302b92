//! My Pages over HTTP: *LOGGA IN* as a relying party of our own provider, the start page,
//! the policy, the `mypages.api` resource server, logout, CSRF, cookies and language.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_clock::{Clock as _, SystemClock};
use eid_idp::ClientSpec;
use eid_store::PortalStore;
use eid_testkit::{ANNA, Browser, CardKind, Page, Pki, Server, SigningPolicy, query, rp_client};
use serde_json::Value;

use crate::world::start;

const SESSION: &str = "__Host-eid-mypages";
const PENDING: &str = "__Host-eid-mypages-login";

fn assert_page(page: &Page, lang: &str) {
    let h = &page.headers;
    assert_eq!(
        h["content-security-policy"],
        eid_server::headers::CONTENT_SECURITY_POLICY
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(page.body.contains(&format!("<html lang=\"{lang}\">")));
    assert!(page.body.contains("href=\"/static/eid.css\""));
    assert!(!page.body.contains("<script"), "no script");
    assert!(!page.body.contains("style="), "no inline style");
}

/// The claims of a JWT, unverified (the test only looks).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The `value` of the hidden input `name` inside the form posting to `action`.
fn form_input(page: &Page, action: &str, name: &str) -> String {
    let from = page
        .body
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form to {action}: {}", page.body));
    let rest = &page.body[from..];
    eid_testkit::between(rest, &format!("name=\"{name}\" value=\""), "\"")
}

#[tokio::test]
async fn logga_in_with_the_card_shows_its_eids_with_the_login_card_marked() {
    let w = start().await;
    let base = &w.server.base;
    let mut browser = w.server.browser();
    let home = browser.get(&format!("{base}/mypages")).await;
    assert_eq!(home.status, 200);
    assert_page(&home, "sv");
    for word in [
        "Mina sidor",
        "LOGGA IN",
        "efter ett beslut inom din organisation",
    ] {
        assert!(home.body.contains(word), "{word}: {}", home.body);
    }

    // The authorization request: discovery found the provider's endpoint.
    let authorize = w.server.mypages_begin(&mut browser).await;
    assert!(
        authorize.starts_with(&format!("{base}/oidc/authorize?")),
        "{authorize}"
    );
    let q = query(&authorize);
    assert_eq!(q["client_id"], "mypages");
    assert_eq!(q["redirect_uri"], format!("{base}/mypages/signin-oidc"));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["response_mode"], "query");
    assert_eq!(q["scope"], "openid profile mypages.profile mypages.api");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43);
    // The pending login is sealed: the browser cannot read state, nonce or verifier.
    let pending = browser.cookies[PENDING].clone();
    assert!(!pending.contains(&q["state"]) && !pending.contains(&q["nonce"]));

    let callback = w.server.login(&mut browser, &w.card, &authorize).await;
    let back = query(&callback);
    assert_eq!(back["iss"], *base);
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/mypages");
    let set: Vec<&str> = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session_cookie = set.iter().find(|c| c.starts_with(SESSION)).unwrap();
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session_cookie.contains(attr), "{attr}: {session_cookie}");
    }
    assert!(!session_cookie.contains("Domain"), "{session_cookie}");
    assert!(
        !browser.cookies.contains_key(PENDING),
        "the pending login is spent"
    );

    let page = browser.get(&format!("{base}/mypages")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page(&page, "sv");
    for word in [
        "Anna Andersson",
        "Region Exempel",
        "Dina eID",
        "<summary>",
        "eID 9752000001",
        "Du är inloggad med detta kort",
        "Kortnummer",
        "Produktnummer",
        "<dd>610</dd>",
        "säkerhetskod (PIN1) och underskriftskod (PIN2)",
        "Legitimeringscertifikat",
        "Giltigt",
        "Underskriftscertifikat",
        "Inget på kortet",
        "Hämta underskriftscertifikat",
        "underskriftskod (PIN2) från PIN-brevet",
        "Logga ut",
        "efter ett beslut inom din organisation",
        "anpassningar i den lokala IT-miljön",
    ] {
        assert!(page.body.contains(word), "{word}: {}", page.body);
    }
    assert!(page.body.contains("action=\"/mypages/fetch\""));
    assert_eq!(form_input(&page, "/mypages/fetch", "card"), "9752000001");

    // The store holds the session's hash and sealed tokens only.
    let id = browser.cookies[SESSION].clone();
    let hash: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes())
        .as_ref()
        .try_into()
        .unwrap();
    let record = w
        .server
        .pki
        .store
        .portal_session(&hash, SystemClock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.card_number.as_deref(), Some("9752000001"));
    assert_eq!(record.hsa_id.as_deref(), Some(ANNA));
    assert!(
        !String::from_utf8_lossy(&record.sealed_tokens).contains("eyJ"),
        "tokens are sealed"
    );
}

fn api_client(id: &str, scopes: &[&str]) -> ClientSpec {
    ClientSpec {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..rp_client(id, eid_testkit::RP_REDIRECT)
    }
}

/// A login of `client` with Anna's card: its token response.
async fn tokens(w: &crate::world::World, scopes: &[&str]) -> Value {
    let rp = w
        .server
        .register(&api_client(&scopes.join("-"), scopes))
        .await;
    let mut browser = w.server.browser();
    let request = rp.auth_request(&[]);
    let location = w.login(&mut browser, &request.url).await;
    let code = rp.code(&location, &request);
    let (status, tokens) = rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn api(base: &str, path: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}/mypages/api/v1/{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_answers_the_providers_access_tokens_for_mypages_api_only() {
    let w = start().await;
    let base = &w.server.base;
    let t = tokens(&w, &["openid", "profile", "mypages.api"]).await;
    let access = t["access_token"].as_str().unwrap();
    let claims = payload(access);
    assert_eq!(claims["aud"], "mypages.api");
    assert_eq!(claims["eidCardNumber"], "9752000001");
    assert_eq!(claims["employeeHsaId"], ANNA);
    assert_eq!(
        payload(t["id_token"].as_str().unwrap())["eidCardNumber"],
        "9752000001"
    );

    let (status, _, person) = api(base, "person", Some(access)).await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(person["hsaId"], ANNA);
    assert_eq!(person["name"], "Anna Andersson");
    assert_eq!(person["organisation"]["signingPolicy"], "self-service");
    assert_eq!(person["signingEntitled"], true);

    let (status, _, cards) = api(base, "cards", Some(access)).await;
    assert_eq!(status, 200, "{cards}");
    assert_eq!(cards["loggedInCard"], "9752000001");
    let card = &cards["cards"][0];
    assert_eq!(card["cardNumber"], "9752000001");
    assert_eq!(card["productNumber"], "610");
    assert_eq!(card["kind"], "two-pin");
    assert_eq!(card["state"], "active");
    assert_eq!(card["loggedIn"], true);
    assert_eq!(card["certificates"][0]["kind"], "authentication");
    assert_eq!(card["certificates"][0]["status"], "valid");
    assert_eq!(card["signingCertificateFetch"]["allowed"], true);
    assert!(card["validUntil"].is_string());

    // Refused: no token, an ID token, a token for the issuer only, garbage.
    let (status, challenge, body) = api(base, "cards", None).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    assert_eq!(body["error"], "invalid_token");
    let (status, _, _) = api(base, "cards", t["id_token"].as_str()).await;
    assert_eq!(status, 401, "an ID token is no access token");
    let userinfo_only = tokens(&w, &["openid", "profile"]).await;
    let (status, _, _) = api(base, "person", userinfo_only["access_token"].as_str()).await;
    assert_eq!(status, 401, "aud is the issuer, not mypages.api");
    let (status, _, _) = api(base, "person", Some("a.b.c")).await;
    assert_eq!(status, 401);
    // Without `profile` the token does not say who the person is.
    let anonymous = tokens(&w, &["openid", "mypages.api"]).await;
    let (status, challenge, body) = api(base, "person", anonymous["access_token"].as_str()).await;
    assert_eq!(status, 403, "{body}");
    assert!(challenge.unwrap().contains("insufficient_scope"));
    // Never from the query.
    let r = reqwest::get(format!(
        "{base}/mypages/api/v1/person?access_token={access}"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
}

/// Bo's organisation has not decided on signing certificates: My Pages says so, and offers
/// no fetch. The product name is the one configured.
#[tokio::test]
async fn an_organisation_that_has_not_decided_gets_the_reason_in_plain_words() {
    let pki = Pki::new(SystemClock.now()).await;
    pki.add_organisation("2321000017", "Region Avvaktar", SigningPolicy::Disabled)
        .await;
    pki.add_person_in("SE2321000017-B0B0", "Bo", "2321000017")
        .await;
    let mut card = pki
        .card("SE2321000017-B0B0", "9752000042", CardKind::OnePin)
        .await;
    card.activate("24681357");
    let server = Server::builder(pki)
        .settings(|s| s.product_name = "SITHS eID".into())
        .start()
        .await;
    let mut browser = server.browser();
    let page = server.mypages_login(&mut browser, &card).await;
    for word in [
        "Bo Andersson",
        "SITHS eID 9752000042",
        "<title>Mina sidor – SITHS eID</title>",
        "<dd>710</dd>",
        "Kort 7XX med en kod",
        "Din organisation har inte beslutat",
    ] {
        assert!(page.body.contains(word), "{word}: {}", page.body);
    }
    assert!(
        !page.body.contains("action=\"/mypages/fetch\""),
        "no fetch offered"
    );
    // And a forged fetch is refused with the same reason.
    let csrf = form_input(&page, "/mypages/logout", "csrf");
    let refused = browser
        .post_form(
            &format!("{}/mypages/fetch", server.base),
            &[("csrf", &csrf), ("card", "9752000042")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("Din organisation har inte beslutat"));
}

#[tokio::test]
async fn the_fetch_form_is_refused_without_its_csrf_token() {
    let w = start().await;
    let base = &w.server.base;
    let mut browser = w.server.browser();
    let page = w.server.mypages_login(&mut browser, &w.card).await;
    let csrf = form_input(&page, "/mypages/fetch", "csrf");
    let url = format!("{base}/mypages/fetch");
    for form in [
        vec![("card", "9752000001")],
        vec![("card", "9752000001"), ("csrf", "")],
        vec![("card", "9752000001"), ("csrf", "AAAA")],
        vec![("card", "9752000001"), ("csrf", &csrf), ("csrf", &csrf)],
    ] {
        let r = browser.post_form(&url, &form).await;
        assert_eq!(r.status, 403, "{form:?}: {}", r.body);
    }
    // Another browser's session with this page's token.
    let mut other = w.server.browser();
    let _ = w.server.mypages_login(&mut other, &w.card).await;
    let r = other
        .post_form(&url, &[("card", "9752000001"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 403);
    // Without a session: back to the start page.
    let mut stranger = w.server.browser();
    let r = stranger
        .post_form(&url, &[("card", "9752000001"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    // With the token the request passes the CSRF check.
    let r = browser
        .post_form(&url, &[("card", "9752000001"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// *Hämta underskriftscertifikat* starts the `mypages` client's `enrollSign` order for the
/// login card in this browser and shows the waiting page; the eID app sees that order; the
/// page can follow and cancel it; a return without the order's secret completes nothing.
#[tokio::test]
async fn the_fetch_starts_an_enroll_sign_order_for_the_login_card() {
    let w = start().await;
    let base = &w.server.base;
    let mut browser = w.server.browser();
    let page = w.server.mypages_login(&mut browser, &w.card).await;
    let csrf = form_input(&page, "/mypages/fetch", "csrf");
    let wait = browser
        .post_form(
            &format!("{base}/mypages/fetch"),
            &[("card", "9752000001"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    assert_page_with_script(&wait);
    for word in [
        "Hämta underskriftscertifikat",
        "underskriftskod (PIN2) från",
        "Ta inte ut kortet ur kortläsaren medan hämtningen pågår.",
        "Starta eID-appen",
    ] {
        assert!(wait.body.contains(word), "{word}: {}", wait.body);
    }
    assert!(browser.cookies.contains_key("__Host-eid-browser"));
    let launch = eid_testkit::between(
        &wait.body,
        "id=\"launch\" class=\"button primary\" href=\"",
        "\"",
    )
    .replace("&amp;", "&");
    assert!(launch.starts_with("eid:///?autostarttoken="), "{launch}");
    browser.waiting_on(&wait);
    assert_eq!(
        browser.collect().await,
        ("pending".to_owned(), "outstandingTransaction".to_owned())
    );

    // The app sees the order: the fetch, for this card, asked by My Pages.
    let fetched: eid_protocol::AppFetchResponse = reqwest::Client::new()
        .post(format!("{base}/app/v1/order"))
        .json(&serde_json::json!({ "autoStartToken": query(&launch)["autostarttoken"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched.order.kind, eid_protocol::OrderKind::EnrollSign);
    assert_eq!(fetched.order.card_number.as_deref(), Some("9752000001"));
    assert_eq!(fetched.order.requester, "Mina sidor");
    assert!(fetched.order.text.contains("9752000001"));

    // A return without the secret completes nothing.
    let order_ref = wait.attr("data-order-ref");
    let r = browser
        .get(&format!(
            "{base}/mypages/fetch/return?orderRef={order_ref}&secret=nope"
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("Hämtningen kunde inte slutföras"),
        "{}",
        r.body
    );

    // The page's cancel ends it.
    let r = browser
        .post_json(
            &format!("{base}/orders/cancel"),
            &serde_json::json!({ "orderRef": order_ref }),
            &wait.attr("data-csrf"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        browser.collect().await,
        ("failed".to_owned(), "cancelled".to_owned())
    );
    let js = browser.get(&format!("{base}/static/mypages.js")).await;
    assert_eq!(js.status, 200);
    assert!(
        js.body.contains("eidOrder.follow("),
        "the words of the shared order.js"
    );
}

fn assert_page_with_script(page: &Page) {
    assert_eq!(
        page.headers["content-security-policy"],
        eid_server::headers::CONTENT_SECURITY_POLICY
    );
    assert!(
        page.body
            .contains("<script src=\"/static/mypages.js\" defer></script>")
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style="), "no inline style");
}

#[tokio::test]
async fn logout_ends_the_session_here_and_at_the_provider() {
    let w = start().await;
    let base = &w.server.base;
    let mut browser = w.server.browser();
    let page = w.server.mypages_login(&mut browser, &w.card).await;
    assert!(browser.cookies.contains_key("__Host-eid-sso"));
    let url = format!("{base}/mypages/logout");
    let r = browser.post_form(&url, &[]).await;
    assert_eq!(r.status, 403, "no CSRF token");
    let csrf = form_input(&page, "/mypages/logout", "csrf");
    let r = browser.post_form(&url, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!browser.cookies.contains_key(SESSION));
    let provider = r.location();
    assert!(
        provider.starts_with(&format!("{base}/oidc/logout?")),
        "{provider}"
    );
    let q = query(&provider);
    assert!(q.contains_key("id_token_hint"));
    assert_eq!(q["post_logout_redirect_uri"], format!("{base}/mypages"));
    let r = browser.get(&provider).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("{base}/mypages"));
    assert!(!browser.cookies.contains_key("__Host-eid-sso"));
    let home = browser.get(&format!("{base}/mypages")).await;
    assert!(home.body.contains("LOGGA IN"));
    // The next login needs the card again.
    let authorize = w.server.mypages_begin(&mut browser).await;
    let login = browser.get(&authorize).await;
    assert_eq!(login.status, 200, "the provider's login page");
    assert!(login.body.contains("Legitimera"));
}

#[tokio::test]
async fn a_callback_that_is_not_this_browsers_login_is_refused() {
    let w = start().await;
    let base = &w.server.base;
    // No pending login at all.
    let mut browser = w.server.browser();
    let r = browser
        .get(&format!(
            "{base}/mypages/signin-oidc?code=x&state=y&iss={base}"
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!browser.cookies.contains_key(SESSION));
    // A real code, delivered to another browser (login CSRF / code injection).
    let mut victim = w.server.browser();
    let _ = w.server.mypages_begin(&mut victim).await;
    let mut attacker = w.server.browser();
    let authorize = w.server.mypages_begin(&mut attacker).await;
    let callback = w.server.login(&mut attacker, &w.card, &authorize).await;
    let r = victim.get(&callback).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!victim.cookies.contains_key(SESSION));
    // A pending cookie changed by the browser.
    let mut tamperer = w.server.browser();
    let authorize = w.server.mypages_begin(&mut tamperer).await;
    let callback = w.server.login(&mut tamperer, &w.card, &authorize).await;
    let pending = tamperer.cookies.get_mut(PENDING).unwrap();
    pending.replace_range(10..12, if &pending[10..12] == "AA" { "BB" } else { "AA" });
    let r = tamperer.get(&callback).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn the_language_switch_remembers_english() {
    let w = start().await;
    let base = &w.server.base;
    let mut browser = Browser::new(base);
    let page = browser.get(&format!("{base}/mypages?lang=en")).await;
    assert_page(&page, "en");
    assert!(page.body.contains("LOG IN") && page.body.contains("My Pages"));
    assert!(page.body.contains("hreflang=\"sv\""));
    assert_eq!(browser.cookies["__Host-eid-lang"], "en");
    let again = browser.get(&format!("{base}/mypages")).await;
    assert_page(&again, "en");
    let authorize = w.server.mypages_begin(&mut browser).await;
    assert_eq!(query(&authorize)["ui_locales"], "en");
    let login = browser.get(&authorize).await;
    assert!(
        login.body.contains("lang=\"en\""),
        "the provider's page follows"
    );
    let page = browser.get(&format!("{base}/mypages?lang=sv")).await;
    assert_page(&page, "sv");
    let css = browser.get(&format!("{base}/static/eid.css")).await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

/// Access tokens live 5 minutes and there are no refresh tokens: after that the start page
/// renews the login silently (`prompt=none`) while the provider's session lives, and says
/// the login has expired once it does not.
#[tokio::test]
async fn an_expired_access_token_is_renewed_silently_while_the_provider_session_lives() {
    let clock = std::sync::Arc::new(eid_clock::ManualClock::new(SystemClock.now()));
    let pki = Pki::new(clock.now()).await;
    let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let server = Server::builder(pki).clock(clock.clone()).start().await;
    let base = &server.base;
    let mut browser = server.browser();
    let _ = server.mypages_login(&mut browser, &card).await;
    let session = browser.cookies[SESSION].clone();

    clock.advance(time::Duration::minutes(6));
    let renew = browser.get(&format!("{base}/mypages")).await;
    assert_eq!(renew.status, 303, "{}", renew.body);
    let authorize = renew.location();
    assert_eq!(query(&authorize)["prompt"], "none");
    let callback = browser.get(&authorize).await;
    assert_eq!(callback.status, 303, "no card needed: {}", callback.body);
    let back = browser.get(&callback.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location(), "/mypages?renewed=1");
    assert_eq!(
        browser.cookies[SESSION], session,
        "the same session, renewed"
    );
    let page = browser.get(&format!("{base}/mypages?renewed=1")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Du är inloggad med detta kort"));

    // A fetch needs a recent card login (the renewal did not use the card): the holder is
    // sent to log in with the card again.
    clock.advance(time::Duration::minutes(10));
    let renew = browser.get(&format!("{base}/mypages")).await;
    let callback = browser.get(&renew.location()).await;
    let _ = browser.get(&callback.location()).await;
    let page = browser.get(&format!("{base}/mypages?renewed=1")).await;
    let csrf = form_input(&page, "/mypages/fetch", "csrf");
    let fresh = browser
        .post_form(
            &format!("{base}/mypages/fetch"),
            &[("card", "9752000001"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(fresh.status, 303, "{}", fresh.body);
    let q = query(&fresh.location());
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["max_age"], "0");
    let login = browser.get(&fresh.location()).await;
    assert_eq!(login.status, 200, "the card login page: {}", login.body);

    // Without the provider's session the silent login fails: the portal says so and ends
    // its own session.
    clock.advance(time::Duration::minutes(6));
    browser.cookies.remove("__Host-eid-sso").unwrap();
    let renew = browser.get(&format!("{base}/mypages")).await;
    let callback = browser.get(&renew.location()).await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    assert_eq!(query(&callback.location())["error"], "login_required");
    let back = browser.get(&callback.location()).await;
    assert_eq!(back.location(), "/mypages?expired=1");
    assert!(!browser.cookies.contains_key(SESSION));
    let page = browser.get(&format!("{base}/mypages?expired=1")).await;
    assert!(
        page.body.contains("Din inloggning har gått ut"),
        "{}",
        page.body
    );

    // A new login; past the provider's session (8 hours) the portal's has ended too.
    let _ = server.mypages_login(&mut browser, &card).await;
    clock.advance(time::Duration::hours(9));
    let renew = browser.get(&format!("{base}/mypages")).await;
    assert_eq!(renew.status, 200, "{}", renew.body);
    assert!(renew.body.contains("LOGGA IN"));
    assert!(!browser.cookies.contains_key(SESSION));
}

/// With `[mypages] issuer` set, My Pages treats the provider as any other: discovery over
/// HTTP for the login and for the API's keys (here the provider is this same server, reached
/// over loopback like a foreign one).
#[tokio::test]
async fn a_configured_issuer_is_found_by_discovery_for_login_and_api_keys() {
    let pki = Pki::new(SystemClock.now()).await;
    let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .settings(|s| s.mypages_issuer = Some(s.public_url.clone()))
        .start()
        .await;
    let mut browser = server.browser();
    let page = server.mypages_login(&mut browser, &card).await;
    assert!(
        page.body.contains("Du är inloggad med detta kort"),
        "{}",
        page.body
    );
}
