//! The `oidcc-*` checks of the Basic and Config OP plans, re-implemented.

use serde_json::Value;

use eid_testkit::{AuthRequest, Page, Rp, challenge, encode, query, random};

use crate::world::{RP, RP_REDIRECT, start};

#[tokio::test]
async fn oidcc_server_happy_flow_with_userinfo_get_and_post() {
    let w = start().await;
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let location = w.login(&mut browser, &request.url).await;
    let code = w.rp.code(&location, &request);
    let (status, tokens) = w.rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(!access.is_empty());
    let id = w.rp.verify(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id["nonce"], request.nonce.as_str());
    assert_eq!(id["acr"], "http://id.elegnamnden.se/loa/1.0/loa3");
    assert_eq!(id["given_name"], "Anna");
    let sub = id["sub"].as_str().unwrap();
    assert_eq!(sub.len(), 43);
    if let Some(at_hash) = id.get("at_hash") {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
        use base64::Engine as _;
        let half = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
        assert_eq!(at_hash, half.as_str());
    }
    assert!(id.get("c_hash").is_none());

    // userinfo: GET with the header, POST with the header, POST with the body.
    let (status, claims) = w.rp.userinfo(access).await;
    assert_eq!(status, 200);
    assert_eq!(claims["sub"], sub);
    let http = reqwest::Client::new();
    let url = format!("{}/oidc/userinfo", w.server.base);
    let r = http.post(&url).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], sub);
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("access_token", access)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Not both at once.
    let r = http
        .post(&url)
        .bearer_auth(access)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("access_token", access)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Never from the query.
    let r = http
        .get(format!("{url}?{}", encode(&[("access_token", access)])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn discovery_and_jwks() {
    let w = start().await;
    let r = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        w.server.base
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], w.server.issuer());
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(d.get(field).is_some(), "{field}");
    }
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        d["jwks_uri"].as_str().unwrap(),
        format!("{}/oidc/jwks", w.server.base)
    );
    let r = reqwest::get(d["jwks_uri"].as_str().unwrap()).await.unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key["kid"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private}");
        }
    }
}

#[tokio::test]
async fn codereuse_is_refused_and_revokes_the_access_token() {
    let w = start().await;
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let code =
        w.rp.code(&w.login(&mut browser, &request.url).await, &request);
    let (status, tokens) = w.rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(w.rp.userinfo(access).await.0, 200);
    let (status, error) = w.rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");
    assert_eq!(w.rp.userinfo(access).await.0, 401);
}

/// An error page: HTML, no redirect.
fn assert_error_page(page: &Page) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!page.headers.contains_key("location"));
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn an_unregistered_or_missing_redirect_uri_is_an_error_page() {
    let w = start().await;
    let mut browser = w.server.browser();
    let url = format!(
        "{}/oidc/authorize?{}",
        w.server.base,
        encode(&[
            ("client_id", RP),
            ("redirect_uri", "https://evil.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ])
    );
    assert_error_page(&browser.get(&url).await);
    let url = format!(
        "{}/oidc/authorize?{}",
        w.server.base,
        encode(&[
            ("client_id", RP),
            ("response_type", "code"),
            ("scope", "openid")
        ])
    );
    assert_error_page(&browser.get(&url).await);
}

#[tokio::test]
async fn a_missing_response_type_is_redirected_with_iss() {
    let w = start().await;
    let mut browser = w.server.browser();
    let url = format!(
        "{}/oidc/authorize?{}",
        w.server.base,
        encode(&[
            ("client_id", RP),
            ("redirect_uri", RP_REDIRECT),
            ("scope", "openid"),
            ("state", "s1"),
        ])
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 303);
    let q = query(&page.location());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
    assert_eq!(q["iss"], w.server.issuer());
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let w = start().await;
    let mut browser = w.server.browser();
    let state = "x".repeat(128);
    let verifier = random(32);
    let c = challenge(&verifier);
    let url = format!(
        "{}/oidc/authorize?{}",
        w.server.base,
        encode(&[
            ("client_id", RP),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", &state),
            ("prompt", "none"),
            ("code_challenge", &c),
            ("code_challenge_method", "S256"),
        ])
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 303);
    let q = query(&page.location());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], state);
    assert_eq!(q["iss"], w.server.issuer());
}

#[tokio::test]
async fn prompt_none_logged_in_prompt_login_and_max_age() {
    let w = start().await;
    let mut browser = w.server.browser();
    let first = w.rp.auth_request(&[]);
    let code = w.rp.code(&w.login(&mut browser, &first.url).await, &first);
    let (_, tokens) = w.rp.token(&code, Some(&first.verifier)).await;
    let id1 = w.rp.verify(tokens["id_token"].as_str().unwrap()).await;

    // prompt=none with a session: silent, same sub.
    let silent = w.rp.auth_request(&[("prompt", "none")]);
    let page = browser.get(&silent.url).await;
    assert_eq!(page.status, 303);
    let code = w.rp.code(&page.location(), &silent);
    let (_, tokens) = w.rp.token(&code, Some(&silent.verifier)).await;
    let id2 = w.rp.verify(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id1["sub"], id2["sub"]);
    assert_eq!(id1["auth_time"], id2["auth_time"]);

    // id_token_hint naming the logged-in person: silent too (oidcc-id-token-hint).
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let hinted =
        w.rp.auth_request(&[("prompt", "none"), ("id_token_hint", &hint)]);
    let page = browser.get(&hinted.url).await;
    assert_eq!(page.status, 303);
    w.rp.code(&page.location(), &hinted);
    // A forged hint is refused (to the client, with iss).
    let last = if hint.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &hint[..hint.len() - 1]);
    let bad =
        w.rp.auth_request(&[("prompt", "none"), ("id_token_hint", &forged)]);
    let page = browser.get(&bad.url).await;
    assert_eq!(page.status, 303);
    let q = query(&page.location());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["iss"], w.server.issuer());

    // prompt=login: a new card login, a later auth_time.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = w.rp.auth_request(&[("prompt", "login")]);
    let code = w.rp.code(&w.login(&mut browser, &again.url).await, &again);
    let (_, tokens) = w.rp.token(&code, Some(&again.verifier)).await;
    let id3 = w.rp.verify(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id1["sub"], id3["sub"]);
    assert!(id3["auth_time"].as_i64().unwrap() > id1["auth_time"].as_i64().unwrap());

    // max_age=1 after two seconds: the login page again, not a silent code.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let aged = w.rp.auth_request(&[("max_age", "1")]);
    let page = browser.get(&aged.url).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Legitimera"));
    let code = w.rp.code(&w.login(&mut browser, &aged.url).await, &aged);
    let (_, tokens) = w.rp.token(&code, Some(&aged.verifier)).await;
    let id4 = w.rp.verify(tokens["id_token"].as_str().unwrap()).await;
    assert!(id4["auth_time"].as_i64().unwrap() > id3["auth_time"].as_i64().unwrap());
}

#[tokio::test]
async fn an_unknown_parameter_is_ignored_and_post_to_authorize_works() {
    let w = start().await;
    let mut browser = w.server.browser();
    // Scope order does not matter (oidcc-scope-…): `profile openid` is the same request.
    let request = w.rp.auth_request(&[("extra", "foobar")]);
    let request = AuthRequest {
        url: request
            .url
            .replace("scope=openid+profile", "scope=profile+openid"),
        ..request
    };
    assert!(request.url.contains("scope=profile+openid"));
    let code =
        w.rp.code(&w.login(&mut browser, &request.url).await, &request);
    assert_eq!(w.rp.token(&code, Some(&request.verifier)).await.0, 200);

    // The same request as a POST form (silent now: the browser has a session).
    let request = w.rp.auth_request(&[]);
    let (_, form) = request.url.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
    let page = browser
        .post_form(&format!("{}/oidc/authorize", w.server.base), &pairs)
        .await;
    assert_eq!(page.status, 303);
    let code = w.rp.code(&page.location(), &request);
    assert_eq!(w.rp.token(&code, Some(&request.verifier)).await.0, 200);
}

#[tokio::test]
async fn pkce_downgrade_is_refused_both_ways_and_client_secret_post_works() {
    let w = start().await;
    let mut browser = w.server.browser();
    // A challenge without a method (plain) is refused.
    let verifier = random(32);
    let c = challenge(&verifier);
    let url = format!(
        "{}/oidc/authorize?{}",
        w.server.base,
        encode(&[
            ("client_id", RP),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", &c),
        ])
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 303);
    assert_eq!(query(&page.location())["error"], "invalid_request");

    // A verifier without a challenge (a client allowed to skip PKCE) is refused.
    let url = format!(
        "{}/oidc/authorize?{}",
        w.server.base,
        encode(&[
            ("client_id", &w.legacy.client_id),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ])
    );
    let location = w.login(&mut browser, &url).await;
    let code = query(&location)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, error) = w.legacy.token_with(&form, true).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");
    // The failed request did not burn the code: client_secret_post without a verifier.
    let (status, tokens) = w.legacy.token_with(&form[..3], false).await;
    assert_eq!(status, 200, "{tokens}");

    // A wrong verifier is refused for a PKCE client.
    let request = w.rp.auth_request(&[]);
    let code =
        w.rp.code(&browser.get(&request.url).await.location(), &request);
    assert_eq!(
        w.rp.token(&code, Some(&random(32))).await.1["error"],
        "invalid_grant"
    );
    assert_eq!(w.rp.token(&code, None).await.1["error"], "invalid_grant");
    assert_eq!(w.rp.token(&code, Some(&request.verifier)).await.0, 200);
}

#[tokio::test]
async fn a_wrong_client_secret_is_401() {
    let w = start().await;
    let wrong = Rp {
        secret: Some("wrong".into()),
        ..w.rp.clone()
    };
    let (status, error) = wrong
        .token_with(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", RP_REDIRECT),
            ],
            true,
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(error["error"], "invalid_client");
}
