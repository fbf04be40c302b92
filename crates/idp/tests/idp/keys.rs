//! Key rotation with overlap, and the discovery document.

use eid_idp::AuthorizeOutcome;
use eid_store::oidc::SigningAlg;
use time::Duration;

use crate::harness::*;

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn rotation_publishes_ahead_and_keeps_the_old_key_during_the_overlap() {
    let mut env = env_with(|c| {
        c.key_publish_ahead = Duration::hours(1);
        c.key_cache_ttl = Duration::ZERO;
    })
    .await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let old_tokens = env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    let old_kid = kid_of(&old_tokens.id_token);

    let new_kid = env
        .idp
        .rotate_signing_key(SigningAlg::ES256, T0, &mut env.rng, "admin:test")
        .await
        .unwrap();
    // Published at once, but the old key still signs until the switch.
    let jwks = env.idp.jwks(T0).await.unwrap();
    assert_eq!(kids(&jwks), vec![old_kid.clone(), new_kid.clone()]);
    let switch = T0 + Duration::hours(1);
    let minute_before = switch - Duration::minutes(1);
    let code = env.code(RP, &session, minute_before).await;
    let before_switch = env
        .redeem(&code, Some(VERIFIER), minute_before)
        .await
        .unwrap();
    assert_eq!(kid_of(&before_switch.id_token), old_kid);

    // After the switch the new key signs; a token signed by the old key still verifies.
    let code = env.code(RP, &session, switch).await;
    let after = env.redeem(&code, Some(VERIFIER), switch).await.unwrap();
    assert_eq!(kid_of(&after.id_token), new_kid);
    let jwks = env.idp.jwks(switch).await.unwrap();
    assert!(kids(&jwks).contains(&old_kid));
    verify_with_jwks(&jwks, &before_switch.id_token, RP);
    verify_with_jwks(&jwks, &after.id_token, RP);
    let minute_after = switch + Duration::minutes(1);
    assert!(
        env.idp
            .userinfo(&before_switch.access_token, minute_after)
            .await
            .is_ok()
    );
    // The old key as an id_token_hint still works in the overlap.
    let request = env.request(
        RP,
        &[
            ("prompt", "none"),
            ("id_token_hint", &before_switch.id_token),
        ],
    );
    let outcome = env
        .idp
        .authorize(&request, Some(session.expose()), switch, &mut env.rng)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Code(_)));

    // Once every token it signed has expired, the old key is gone from the JWKS.
    let gone = switch + Duration::minutes(10);
    assert_eq!(kids(&env.idp.jwks(gone).await.unwrap()), vec![new_kid]);
    let audit = eid_store::Store::audit_entries(&*env.store, 0, 1000)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.event.action == "oidc.key.rotate"));
    assert!(
        audit
            .iter()
            .any(|e| e.event.action == "oidc.key.retire" && e.event.subject == old_kid)
    );
}

#[tokio::test]
async fn discovery_document_matches_the_issuer_and_the_rules() {
    let env = env().await;
    let d = env.idp.discovery();
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(
        d["authorization_endpoint"],
        "https://idp.example/oidc/authorize"
    );
    for (key, value) in [
        ("response_types_supported", serde_json::json!(["code"])),
        ("response_modes_supported", serde_json::json!(["query"])),
        (
            "grant_types_supported",
            serde_json::json!(["authorization_code"]),
        ),
        (
            "code_challenge_methods_supported",
            serde_json::json!(["S256"]),
        ),
        (
            "authorization_response_iss_parameter_supported",
            serde_json::json!(true),
        ),
        ("request_parameter_supported", serde_json::json!(false)),
        ("request_uri_parameter_supported", serde_json::json!(false)),
    ] {
        assert_eq!(d[key], value, "{key}");
    }
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("openid"))
    );
    assert!(
        d["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("employeeHsaId"))
    );
    for key in [
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(
            d[key].as_str().unwrap().starts_with("https://idp.example/"),
            "{key}"
        );
    }
    assert!(eid_idp::ProviderConfig::new("https://idp.example/").is_err());
    assert!(eid_idp::ProviderConfig::new("http://idp.example").is_err());
    assert!(eid_idp::ProviderConfig::new("http://127.0.0.1:8080").is_ok());
}
