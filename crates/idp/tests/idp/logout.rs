//! RP-initiated logout.

use eid_idp::LogoutError;

use crate::harness::*;

#[tokio::test]
async fn logout_ends_the_session_and_redirects_only_to_a_registered_uri() {
    let mut env = env().await;
    let session = env.login(T0).await;
    let code = env.code(RP, &session, T0).await;
    let tokens = env.redeem(&code, Some(VERIFIER), T0).await.unwrap();
    let bye = format!("{RP_CB}/bye");

    // An unregistered post-logout URI: the session ends, but no redirect.
    let request = pairs(&[
        ("id_token_hint", &tokens.id_token),
        ("post_logout_redirect_uri", "https://evil.example/"),
    ]);
    let out = env.idp.end_session(&request, None, T0).await.unwrap();
    assert_eq!(out.redirect, None);
    assert!(out.hint_verified);

    // client_id not matching the hint: refused.
    let request = pairs(&[("id_token_hint", &tokens.id_token), ("client_id", SPA)]);
    assert!(matches!(
        env.idp.end_session(&request, None, T0).await,
        Err(LogoutError::Refused(_))
    ));
    // A forged hint: refused.
    let request = pairs(&[("id_token_hint", "eyJ.eyJ.sig")]);
    assert!(matches!(
        env.idp.end_session(&request, None, T0).await,
        Err(LogoutError::Refused(_))
    ));

    let request = pairs(&[
        ("id_token_hint", &tokens.id_token),
        ("post_logout_redirect_uri", &bye),
        ("state", "s 1"),
    ]);
    let out = env
        .idp
        .end_session(&request, Some(session.expose()), T0)
        .await
        .unwrap();
    assert!(out.session_ended);
    assert_eq!(
        out.redirect.as_deref(),
        Some("https://rp.example/cb/bye?state=s%201")
    );
    assert!(
        env.idp
            .session(Some(session.expose()), T0)
            .await
            .unwrap()
            .is_none()
    );
    // Without a hint the client must be named for a redirect.
    let request = pairs(&[("client_id", RP), ("post_logout_redirect_uri", &bye)]);
    let out = env.idp.end_session(&request, None, T0).await.unwrap();
    assert!(out.redirect.is_some() && !out.hint_verified && !out.session_ended);
    let request = pairs(&[("post_logout_redirect_uri", &bye)]);
    assert_eq!(
        env.idp
            .end_session(&request, None, T0)
            .await
            .unwrap()
            .redirect,
        None
    );
}
