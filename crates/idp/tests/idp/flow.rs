//! Whole flows: authorize → card login → code → token → ID token checked with the JWKS →
//! userinfo.

use eid_idp::{
    ACR_LOA3, AuthorizeOutcome, ClientSpec, ErrorCode, TOKEN_RESPONSE_HEADERS, UserinfoError,
};
use eid_store::oidc::SigningAlg;
use serde_json::json;
use time::Duration;

use crate::harness::*;

#[tokio::test]
async fn full_flow_with_login_pkce_id_token_and_userinfo() {
    let mut env = env().await;
    let request = env.request(RP, &[]);
    let pending = match env
        .idp
        .authorize(&request, None, T0, &mut env.rng)
        .await
        .unwrap()
    {
        AuthorizeOutcome::Login(pending) => pending,
        other => panic!("expected the login page, got {other:?}"),
    };
    assert_eq!(pending.client_name, "Client rp");
    // The order engine finishes a card login a few seconds later.
    let login_at = T0 + Duration::seconds(20);
    let session = env.login(login_at).await;
    let response = env
        .idp
        .finish_login(&pending, session.expose(), login_at, &mut env.rng)
        .await
        .unwrap();
    let location = response.location();
    assert!(
        location.starts_with("https://rp.example/cb?code="),
        "{location}"
    );
    assert!(
        location.ends_with("&state=st-123&iss=https%3A%2F%2Fidp.example"),
        "{location}"
    );
    assert_eq!(response.code.expose().len(), 43, "256 random bits");

    let at = login_at + Duration::seconds(2);
    let tokens = env
        .redeem(response.code.expose(), Some(VERIFIER), at)
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 300);
    assert_eq!(TOKEN_RESPONSE_HEADERS[0], ("Cache-Control", "no-store"));
    let body = serde_json::to_value(&tokens).unwrap();
    assert!(body["access_token"].is_string() && body["id_token"].is_string());

    let jwks = env.idp.jwks(at).await.unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key["kid"].is_string());
        assert_eq!(key["use"], "sig");
        assert!(
            key.get("d").is_none() && key.get("k").is_none(),
            "public keys only"
        );
    }
    let (typ, id) = verify_with_jwks(&jwks, &tokens.id_token, RP);
    assert_eq!(typ, "JWT");
    assert_eq!(alg_of(&tokens.id_token), SigningAlg::ES256);
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["aud"], RP);
    assert_eq!(id["sub"], json!(env.idp.subject_of(HSA)));
    assert_ne!(id["sub"], json!(HSA), "sub is opaque");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["acr"], ACR_LOA3);
    assert_eq!(id["amr"], json!(["hwk", "sc", "pin"]));
    assert_eq!(id["auth_time"], json!(login_at.unix_timestamp()));
    assert_eq!(id["iat"], json!(at.unix_timestamp()));
    assert!(id["exp"].as_i64().unwrap() > at.unix_timestamp());
    assert_eq!(id["name"], "Anna Andersson");
    assert_eq!(id["given_name"], "Anna");
    assert_eq!(id["family_name"], "Andersson");
    assert_eq!(id["employeeHsaId"], HSA);
    assert_eq!(id["https://id.oidc.se/claim/orgName"], "Region Test");
    assert_eq!(id["https://id.oidc.se/claim/orgNumber"], "2321000016");
    assert!(id["at_hash"].is_string());
    assert_eq!(id["eidCardNumber"], CARD, "the login's card");

    let (typ, access) = verify_with_jwks(&jwks, &tokens.access_token, "mypages.api");
    assert_eq!(typ, "at+jwt");
    assert_eq!(access["client_id"], RP);
    assert_eq!(access["scope"], "openid profile mypages.api");
    assert!(access["jti"].is_string());
    assert_eq!(access["eidCardNumber"], CARD);
    assert_eq!(
        access["employeeHsaId"], HSA,
        "profile: the API finds the person"
    );
    assert!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap() <= 300);

    let info = env.idp.userinfo(&tokens.access_token, at).await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["employeeHsaId"], HSA);
    assert_eq!(info["name"], "Anna Andersson");
    // An ID token is not an access token.
    let err = env.idp.userinfo(&tokens.id_token, at).await.unwrap_err();
    assert_eq!(err.status(), 401);
    // Expired access token.
    let err = env
        .idp
        .userinfo(&tokens.access_token, at + Duration::minutes(6))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UserinfoError::Refused(e) if e.code == ErrorCode::InvalidToken),
        "{err:?}"
    );
    assert!(
        err.www_authenticate()
            .starts_with("Bearer error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn silent_login_prompt_login_and_max_age() {
    let mut env = env().await;
    let session = env.login(T0).await;
    // prompt=none with a session: silent, same sub and auth_time.
    let later = T0 + Duration::minutes(10);
    let request = env.request(RP, &[("prompt", "none")]);
    let outcome = env
        .idp
        .authorize(&request, Some(session.expose()), later, &mut env.rng)
        .await
        .unwrap();
    let AuthorizeOutcome::Code(code) = outcome else {
        panic!("silent success expected")
    };
    let tokens = env
        .redeem(code.code.expose(), Some(VERIFIER), later)
        .await
        .unwrap();
    let jwks = env.idp.jwks(later).await.unwrap();
    let (_, id) = verify_with_jwks(&jwks, &tokens.id_token, RP);
    assert_eq!(id["auth_time"], json!(T0.unix_timestamp()));

    // max_age=10000: no new login.
    let request = env.request(RP, &[("max_age", "10000")]);
    let outcome = env
        .idp
        .authorize(&request, Some(session.expose()), later, &mut env.rng)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Code(_)));

    // max_age=1 after waiting: login forced, and the old session does not satisfy it.
    let request = env.request(RP, &[("max_age", "1")]);
    let AuthorizeOutcome::Login(pending) = env
        .idp
        .authorize(&request, Some(session.expose()), later, &mut env.rng)
        .await
        .unwrap()
    else {
        panic!("max_age must force a login")
    };
    assert!(pending.fresh_login);
    assert!(
        env.idp
            .finish_login(&pending, session.expose(), later, &mut env.rng)
            .await
            .is_err()
    );

    // prompt=login: a new login, and auth_time changes.
    let request = env.request(RP, &[("prompt", "login")]);
    let AuthorizeOutcome::Login(pending) = env
        .idp
        .authorize(&request, Some(session.expose()), later, &mut env.rng)
        .await
        .unwrap()
    else {
        panic!("prompt=login must force a login")
    };
    let relogin = later + Duration::seconds(15);
    let fresh = env.login(relogin).await;
    let response = env
        .idp
        .finish_login(&pending, fresh.expose(), relogin, &mut env.rng)
        .await
        .unwrap();
    let tokens = env
        .redeem(response.code.expose(), Some(VERIFIER), relogin)
        .await
        .unwrap();
    let (_, id2) = verify_with_jwks(&jwks, &tokens.id_token, RP);
    assert_eq!(id2["auth_time"], json!(relogin.unix_timestamp()));
    assert_eq!(id2["sub"], id["sub"]);

    // id_token_hint of the same person with prompt=none: silent.
    let request = env.request(
        RP,
        &[("prompt", "none"), ("id_token_hint", &tokens.id_token)],
    );
    let outcome = env
        .idp
        .authorize(&request, Some(fresh.expose()), relogin, &mut env.rng)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Code(_)));
}

#[tokio::test]
async fn public_client_rs256_client_and_client_secret_post() {
    let mut env = env().await;
    let session = env.login(T0).await;
    // Public client: PKCE, no secret.
    let code = env.code(SPA, &session, T0).await;
    let form = pairs(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", SPA_CB),
        ("client_id", SPA),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = env.idp.token(&form, None, T0, &mut env.rng).await.unwrap();
    assert!(env.idp.userinfo(&tokens.access_token, T0).await.is_ok());

    // client_secret_post.
    let code = env.code(RP, &session, T0).await;
    let secret = env.rp_secret.expose().to_owned();
    let form = pairs(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", RP_CB),
        ("client_id", RP),
        ("client_secret", &secret),
        ("code_verifier", VERIFIER),
    ]);
    env.idp.token(&form, None, T0, &mut env.rng).await.unwrap();

    // A client that wants RS256: a key is made for it, and its ID tokens verify with the JWKS.
    let mut rs = ClientSpec {
        id_token_alg: Some(SigningAlg::RS256),
        ..spec("rs", "https://rs.example/cb", true)
    };
    rs.scopes = vec!["openid".into()];
    let (_, secret) = env
        .idp
        .register_client(&rs, "admin:test", T0, &mut env.rng)
        .await
        .unwrap();
    let created = env
        .idp
        .ensure_signing_keys(T0, &mut env.rng, "system")
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    let request = pairs(&[
        ("response_type", "code"),
        ("client_id", "rs"),
        ("redirect_uri", "https://rs.example/cb"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let AuthorizeOutcome::Code(response) = env
        .idp
        .authorize(&request, Some(session.expose()), T0, &mut env.rng)
        .await
        .unwrap()
    else {
        panic!("code expected")
    };
    let form = pairs(&[
        ("grant_type", "authorization_code"),
        ("code", response.code.expose()),
        ("redirect_uri", "https://rs.example/cb"),
        ("client_id", "rs"),
        ("client_secret", secret.unwrap().expose()),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = env.idp.token(&form, None, T0, &mut env.rng).await.unwrap();
    assert_eq!(alg_of(&tokens.id_token), SigningAlg::RS256);
    let jwks = env.idp.jwks(T0).await.unwrap();
    let (_, id) = verify_with_jwks(&jwks, &tokens.id_token, "rs");
    assert!(
        id.get("name").is_none(),
        "no profile scope, no profile claims"
    );
    let (_, access) = verify_with_jwks(&jwks, &tokens.access_token, ISSUER);
    assert_eq!(access["scope"], "openid");
    let info = env.idp.userinfo(&tokens.access_token, T0).await.unwrap();
    assert_eq!(
        info.as_object().unwrap().len(),
        1,
        "only sub without profile: {info}"
    );
}

#[tokio::test]
async fn revoking_a_card_ends_its_sessions_and_stops_its_tokens() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let tokens = env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    let code2 = env.code(RP, &session, T0).await;
    assert_eq!(
        env.idp
            .revoke_sessions_of_card(CARD, "admin:test", T0)
            .await
            .unwrap(),
        1
    );
    assert!(env.idp.userinfo(&tokens.access_token, T0).await.is_err());
    assert!(
        env.idp
            .session(Some(session.expose()), T0)
            .await
            .unwrap()
            .is_none()
    );
    // A code issued before the revocation cannot be redeemed any more.
    let err = env.redeem(&code2, Some(VERIFIER), T0).await.unwrap_err();
    assert_eq!(err.to_json()["error"], "invalid_grant");
    // And prompt=none now needs a login.
    let request = env.request(RP, &[("prompt", "none")]);
    assert!(
        env.idp
            .authorize(&request, Some(session.expose()), T0, &mut env.rng)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn secrets_codes_and_tokens_never_show_in_debug() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let request = env.request(RP, &[]);
    let outcome = env
        .idp
        .authorize(&request, Some(session.expose()), T0, &mut env.rng)
        .await
        .unwrap();
    let AuthorizeOutcome::Code(response) = &outcome else {
        panic!()
    };
    let code = response.code.expose().to_owned();
    let tokens = env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    let shown = format!(
        "{outcome:?} {session:?} {tokens:?} {:?} {:?} {:?}",
        env.rp_secret,
        env.idp,
        env.idp.session(Some(session.expose()), T0).await.unwrap()
    );
    for secret in [
        code.as_str(),
        session.expose(),
        env.rp_secret.expose(),
        &tokens.access_token,
        &tokens.id_token,
    ] {
        assert!(!shown.contains(secret), "a secret leaked into Debug output");
    }
    let clients = eid_store::OidcStore::clients(&*env.store).await.unwrap();
    assert!(
        !format!("{clients:?}")
            .contains(&hex::encode(eid_idp::secret_hash(env.rp_secret.expose())))
    );
}
