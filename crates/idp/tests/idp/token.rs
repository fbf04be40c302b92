//! The token endpoint's refusals: PKCE, reuse, another client, expiry, client authentication.

use eid_idp::{AuthorizeOutcome, ClientSpec, ErrorCode, TokenError};
use time::Duration;

use crate::harness::*;

fn refused(result: Result<eid_idp::TokenResponse, TokenError>) -> (ErrorCode, u16) {
    match result {
        Err(e @ TokenError::Refused(_)) => {
            let TokenError::Refused(ref inner) = e else {
                unreachable!()
            };
            (inner.code, e.status())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn pkce_verifier_must_match_and_be_present() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let wrong = "x".repeat(43);
    assert_eq!(
        refused(env.redeem(&code, Some(&wrong), T0).await).0,
        ErrorCode::InvalidGrant
    );
    let code = env.code(RP, &session, T0).await;
    assert_eq!(
        refused(env.redeem(&code, None, T0).await).0,
        ErrorCode::InvalidGrant
    );
    // A failed attempt does not burn the code: the rightful client still redeems it.
    assert!(env.redeem(&code, Some(VERIFIER), T0).await.is_ok());
    assert_eq!(s256(VERIFIER), CHALLENGE);
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_refused() {
    let mut env = env().await;
    let relaxed = ClientSpec {
        pkce_optional: true,
        ..spec("c2", "https://c2.example/cb", true)
    };
    let (_, secret) = env
        .idp
        .register_client(&relaxed, "admin:test", T0, &mut env.rng)
        .await
        .unwrap();
    let secret = secret.unwrap();
    let session = env.login(T0).await;
    let request = pairs(&[
        ("response_type", "code"),
        ("client_id", "c2"),
        ("redirect_uri", "https://c2.example/cb"),
        ("scope", "openid"),
    ]);
    let mut codes = Vec::new();
    for _ in 0..2 {
        let AuthorizeOutcome::Code(r) = env
            .idp
            .authorize(&request, Some(session.expose()), T0, &mut env.rng)
            .await
            .unwrap()
        else {
            panic!()
        };
        codes.push(r.code.expose().to_owned());
    }
    let form = |code: &str, verifier: Option<&str>| {
        let mut f = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "https://c2.example/cb"),
            ("client_id", "c2"),
            ("client_secret", secret.expose()),
        ];
        f.extend(verifier.map(|v| ("code_verifier", v)));
        pairs(&f)
    };
    let with_verifier = env
        .idp
        .token(&form(&codes[0], Some(VERIFIER)), None, T0, &mut env.rng)
        .await;
    assert_eq!(refused(with_verifier).0, ErrorCode::InvalidGrant);
    assert!(
        env.idp
            .token(&form(&codes[1], None), None, T0, &mut env.rng)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes_the_first_access_token() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let first = env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    assert!(env.idp.userinfo(&first.access_token, T0).await.is_ok());
    let later = T0 + Duration::seconds(30);
    assert_eq!(
        refused(env.redeem(&code, Some(VERIFIER), later).await).0,
        ErrorCode::InvalidGrant
    );
    let err = env
        .idp
        .userinfo(&first.access_token, later)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401);
    // The revocation is in the audit log.
    let entries = eid_store::Store::audit_entries(&*env.store, 0, 1000)
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.event.action == "oidc.grant.revoke")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_code_issue_at_most_one_token() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let env = std::sync::Arc::new(env);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut wins = 0;
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let (env, code, barrier) = (
            std::sync::Arc::clone(&env),
            code.clone(),
            std::sync::Arc::clone(&barrier),
        );
        tasks.push(tokio::spawn(async move {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + i);
            let auth = env.basic();
            let form = pairs(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", RP_CB),
                ("code_verifier", VERIFIER),
            ]);
            barrier.wait().await;
            env.idp
                .token(&form, Some(&auth), T0, &mut rng)
                .await
                .is_ok()
        }));
    }
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn a_code_of_another_client_an_expired_code_and_a_wrong_redirect_are_refused() {
    let mut env = env().await;
    let session = env.login(T0).await;
    // The public client's code presented by the confidential client.
    let spa_code = env.code(SPA, &session, T0).await;
    assert_eq!(
        refused(env.redeem(&spa_code, Some(VERIFIER), T0).await).0,
        ErrorCode::InvalidGrant
    );
    // Expired: move `now` past the 60 s lifetime.
    let code = env.code(RP, &session, T0).await;
    let late = T0 + Duration::seconds(61);
    assert_eq!(
        refused(env.redeem(&code, Some(VERIFIER), late).await).0,
        ErrorCode::InvalidGrant
    );
    // Another redirect URI than in the request, and none at all.
    let code = env.code(RP, &session, T0).await;
    let auth = env.basic();
    for uri in [Some("https://rp.example/other"), None] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
        ];
        form.extend(uri.map(|u| ("redirect_uri", u)));
        let result = env
            .idp
            .token(&pairs(&form), Some(&auth), T0, &mut env.rng)
            .await;
        let expected = if uri.is_some() {
            ErrorCode::InvalidGrant
        } else {
            ErrorCode::InvalidRequest
        };
        assert_eq!(refused(result).0, expected);
    }
    // An unknown code; another grant type.
    assert_eq!(
        refused(env.redeem("bogus", Some(VERIFIER), T0).await).0,
        ErrorCode::InvalidGrant
    );
    let form = pairs(&[
        ("grant_type", "password"),
        ("username", "a"),
        ("password", "b"),
    ]);
    assert_eq!(
        refused(env.idp.token(&form, Some(&auth), T0, &mut env.rng).await).0,
        ErrorCode::UnsupportedGrantType
    );
}

/// Extra form fields, an `Authorization` header, the expected error.
type Case<'a> = (Vec<(&'a str, &'a str)>, Option<String>, ErrorCode);

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_CB),
        ("code_verifier", VERIFIER),
    ];
    let b64 = |s: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let secret = env.rp_secret.expose().to_owned();
    let cases: Vec<Case<'_>> = vec![
        (
            vec![],
            Some(b64("rp:wrong-secret")),
            ErrorCode::InvalidClient,
        ),
        (
            vec![("client_id", RP), ("client_secret", "wrong")],
            None,
            ErrorCode::InvalidClient,
        ),
        (vec![("client_id", RP)], None, ErrorCode::InvalidClient),
        (vec![], None, ErrorCode::InvalidClient),
        (
            vec![],
            Some(b64(&format!("nobody:{secret}"))),
            ErrorCode::InvalidClient,
        ),
        (vec![], Some("Basic %%%".into()), ErrorCode::InvalidClient),
        (
            vec![("client_secret", &secret)],
            Some(b64(&format!("rp:{secret}"))),
            ErrorCode::InvalidRequest,
        ),
        // A public client presenting a secret.
        (
            vec![("client_id", SPA), ("client_secret", "anything")],
            None,
            ErrorCode::InvalidClient,
        ),
        (vec![], Some(b64("spa:anything")), ErrorCode::InvalidClient),
    ];
    for (extra, header, expected) in cases {
        let mut form = base.to_vec();
        form.extend(extra.iter().copied());
        let result = env
            .idp
            .token(&pairs(&form), header.as_deref(), T0, &mut env.rng)
            .await;
        let (code, status) = refused(result);
        assert_eq!(code, expected, "{extra:?} {header:?}");
        if expected == ErrorCode::InvalidClient {
            assert_eq!(status, 401);
        }
    }
    // None of that burned the code.
    assert!(env.redeem(&code, Some(VERIFIER), T0).await.is_ok());
}

#[tokio::test]
async fn a_rotated_secret_replaces_the_old_one_at_once() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let (_, secret) = env
        .idp
        .rotate_client_secret(RP, "admin:test", T0, &mut env.rng)
        .await
        .unwrap();
    // The old secret is refused…
    let code = env.code(RP, &session, T0).await;
    let (error, _) = refused(env.redeem(&code, Some(VERIFIER), T0).await);
    assert_eq!(error, ErrorCode::InvalidClient);
    // …and the new one works.
    env.rp_secret = secret;
    let code = env.code(RP, &session, T0).await;
    env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    // A public client has no secret to rotate.
    assert!(
        env.idp
            .rotate_client_secret(SPA, "admin:test", T0, &mut env.rng)
            .await
            .is_err()
    );
}
