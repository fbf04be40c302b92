//! Authorization requests: every refusal, local or redirected, and what is ignored.

use eid_idp::{AuthorizeError, AuthorizeOutcome, ClientSpec, ErrorCode};

use crate::harness::*;

/// The error of a request that must be refused locally (never redirected).
async fn local(env: &mut Env, request: &[(String, String)]) -> ErrorCode {
    match env.idp.authorize(request, None, T0, &mut env.rng).await {
        Err(AuthorizeError::Local(e)) => e.code,
        other => panic!("expected a local error, got {other:?}"),
    }
}

/// The error of a request that must be redirected to the client, with `iss`.
async fn redirected(
    env: &mut Env,
    request: &[(String, String)],
) -> (ErrorCode, Option<String>, String) {
    match env.idp.authorize(request, None, T0, &mut env.rng).await {
        Err(AuthorizeError::Redirect(r)) => {
            assert_eq!(r.iss, ISSUER);
            assert!(r.location().contains("iss=https%3A%2F%2Fidp.example"));
            (r.error.code, r.state.clone(), r.location())
        }
        other => panic!("expected a redirected error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_client_or_redirect_uri_is_shown_locally_never_redirected() {
    let mut env = env().await;
    for extra in [
        vec![("redirect_uri", "https://evil.example/cb")],
        vec![("redirect_uri", "https://rp.example/cb/")],
        vec![("redirect_uri", "https://rp.example/cb?x=1")],
        vec![("redirect_uri", "")],
        vec![("client_id", "unknown")],
        vec![("client_id", "")],
        vec![("redirect_uri", SPA_CB)],
    ] {
        let request = env.request(RP, &extra);
        assert_eq!(
            local(&mut env, &request).await,
            ErrorCode::InvalidRequest,
            "{extra:?}"
        );
    }
    let mut twice = env.request(RP, &[]);
    twice.push(("redirect_uri".into(), "https://evil.example/cb".into()));
    assert_eq!(local(&mut env, &twice).await, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn protocol_errors_are_redirected_with_state_and_iss() {
    let mut env = env().await;
    let cases: Vec<(Vec<(&str, &str)>, ErrorCode)> = vec![
        (vec![("response_type", "")], ErrorCode::InvalidRequest),
        (
            vec![("response_type", "token")],
            ErrorCode::UnsupportedResponseType,
        ),
        (
            vec![("response_type", "code id_token")],
            ErrorCode::UnsupportedResponseType,
        ),
        (vec![("scope", "profile")], ErrorCode::InvalidScope),
        (vec![("scope", "")], ErrorCode::InvalidScope),
        (vec![("scope", "openid admin.api")], ErrorCode::InvalidScope),
        (
            vec![("code_challenge_method", "plain")],
            ErrorCode::InvalidRequest,
        ),
        (
            vec![("code_challenge_method", "")],
            ErrorCode::InvalidRequest,
        ),
        (vec![("code_challenge", "short")], ErrorCode::InvalidRequest),
        (vec![("code_challenge", "")], ErrorCode::InvalidRequest),
        (
            vec![("response_mode", "fragment")],
            ErrorCode::InvalidRequest,
        ),
        (
            vec![("response_mode", "form_post")],
            ErrorCode::InvalidRequest,
        ),
        (vec![("prompt", "none login")], ErrorCode::InvalidRequest),
        (vec![("max_age", "-1")], ErrorCode::InvalidRequest),
        (
            vec![("id_token_hint", "not.a.token")],
            ErrorCode::InvalidRequest,
        ),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            ErrorCode::RequestNotSupported,
        ),
        (
            vec![("request_uri", "https://rp.example/req")],
            ErrorCode::RequestUriNotSupported,
        ),
        (vec![("prompt", "none")], ErrorCode::LoginRequired),
    ];
    for (extra, expected) in cases {
        let request = env.request(RP, &extra);
        let (code, state, _) = redirected(&mut env, &request).await;
        assert_eq!(code, expected, "{extra:?}");
        assert_eq!(state.as_deref(), Some("st-123"), "{extra:?}");
    }
}

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_by_default() {
    let mut env = env().await;
    for client in [SPA, RP] {
        let request = env.request(
            client,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        );
        assert_eq!(
            redirected(&mut env, &request).await.0,
            ErrorCode::InvalidRequest,
            "{client}"
        );
    }
    // A public client can never be registered without PKCE.
    let public = ClientSpec {
        pkce_optional: true,
        ..spec("p2", "https://p2.example/cb", false)
    };
    assert!(
        env.idp
            .register_client(&public, "admin:test", T0, &mut env.rng)
            .await
            .is_err()
    );
    // A confidential client may skip it by explicit setting.
    let relaxed = ClientSpec {
        pkce_optional: true,
        ..spec("c2", "https://c2.example/cb", true)
    };
    env.idp
        .register_client(&relaxed, "admin:test", T0, &mut env.rng)
        .await
        .unwrap();
    let request = pairs(&[
        ("response_type", "code"),
        ("client_id", "c2"),
        ("redirect_uri", "https://c2.example/cb"),
        ("scope", "openid"),
    ]);
    let outcome = env
        .idp
        .authorize(&request, None, T0, &mut env.rng)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Login(_)));
}

#[tokio::test]
async fn prompt_none_without_session_keeps_a_128_character_state() {
    let mut env = env().await;
    let state: String = "aZ0-._~".chars().cycle().take(128).collect();
    let request = env.request(RP, &[("prompt", "none"), ("state", &state)]);
    let (code, echoed, location) = redirected(&mut env, &request).await;
    assert_eq!(code, ErrorCode::LoginRequired);
    assert_eq!(echoed.as_deref(), Some(state.as_str()));
    assert!(location.starts_with("https://rp.example/cb?error=login_required&"));
    assert!(location.contains(&format!("state={state}")));
}

#[tokio::test]
async fn unknown_and_hint_parameters_are_accepted_and_scope_order_is_free() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let request = env.request(
        RP,
        &[
            ("scope", "mypages.api profile openid openid"),
            ("nonce", ""),
            ("unknown_param", "whatever"),
            ("login_hint", "anna"),
            ("ui_locales", "sv en"),
            ("claims_locales", "sv"),
            ("acr_values", "http://id.elegnamnden.se/loa/1.0/loa3"),
            ("display", "popup"),
            ("prompt", "consent"),
            ("claims", r#"{"id_token":{"name":{"essential":true}}}"#),
            ("response_mode", "query"),
        ],
    );
    let outcome = env
        .idp
        .authorize(&request, Some(session.expose()), T0, &mut env.rng)
        .await
        .unwrap();
    let AuthorizeOutcome::Code(response) = outcome else {
        panic!("code expected")
    };
    let tokens = env
        .redeem(response.code.expose(), Some(VERIFIER), T0)
        .await
        .unwrap();
    let jwks = env.idp.jwks(T0).await.unwrap();
    let (_, id) = verify_with_jwks(&jwks, &tokens.id_token, RP);
    assert!(id.get("nonce").is_none(), "no nonce sent, none returned");
    assert_eq!(id["name"], "Anna Andersson");
    assert_eq!(tokens.scope, "mypages.api profile openid");
}

#[tokio::test]
async fn id_token_hint_of_another_person_needs_a_login() {
    let mut env = env().await;
    let session = env.login(T0).await;
    // An ID token of ours for another person: made by another provider instance over the same
    // keys is not possible here, so use a hint whose sub differs by logging in a second person.
    use eid_store::{Card, CardKind, CardState, Person, Store};
    let other = "SE2321000016-C3D4";
    let audit = |a: &str| eid_store::AuditEvent {
        at: T0,
        actor: "admin:test".into(),
        action: a.into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    };
    env.store
        .add_person(
            &Person {
                hsa_id: other.into(),
                given_name: "Bo".into(),
                surname: "Berg".into(),
                org_number: "2321000016".into(),
                signing_entitled: false,
                active: true,
                created_at: T0,
            },
            &audit("person.add"),
        )
        .await
        .unwrap();
    env.store
        .add_card(
            &Card {
                card_number: "9752000002".into(),
                product_number: "610".into(),
                kind: CardKind::TwoPin,
                state: CardState::Active,
                holder: other.into(),
                created_at: T0,
            },
            &audit("card.add"),
        )
        .await
        .unwrap();
    let bo = env
        .idp
        .create_session(other, "9752000002", T0, &mut env.rng)
        .await
        .unwrap()
        .id;
    let code = env.code(RP, &bo, T0).await;
    let bo_tokens = env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    // Anna's browser, Bo's ID token as hint: prompt=none ⇒ login_required; otherwise a login.
    let request = env.request(
        RP,
        &[("prompt", "none"), ("id_token_hint", &bo_tokens.id_token)],
    );
    match env
        .idp
        .authorize(&request, Some(session.expose()), T0, &mut env.rng)
        .await
    {
        Err(AuthorizeError::Redirect(r)) => assert_eq!(r.error.code, ErrorCode::LoginRequired),
        other => panic!("expected login_required, got {other:?}"),
    }
    let request = env.request(RP, &[("id_token_hint", &bo_tokens.id_token)]);
    let outcome = env
        .idp
        .authorize(&request, Some(session.expose()), T0, &mut env.rng)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Login(p) if p.fresh_login));
    // A hint for another client is not accepted as a hint for this one.
    let request = env.request(SPA, &[("id_token_hint", &bo_tokens.id_token)]);
    let (code, _, _) = redirected(&mut env, &request).await;
    assert_eq!(code, ErrorCode::InvalidRequest);
}
