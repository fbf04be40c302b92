//! The end of a card's and a certificate's life while the server runs: a card revoked
//! through the store cannot log in and its sessions are gone (single sign-on, My Pages,
//! access tokens at userinfo); an authentication certificate revoked alone is refused at
//! once; a signing certificate that a fetch issued but never wrote to the card is revoked by
//! the server's periodic pass once its time is up (a manual clock), and a delivered one is
//! not. Every revocation is in the audit log.

use std::sync::Arc;

use eid_clock::{Clock as _, ManualClock, SystemClock};
use eid_server::lifecycle::{
    CrlAfterRevocation, UNDELIVERED_REASON, expire_undelivered, revoke_certificate,
};
use eid_store::revocation::RevocationStore;
use eid_store::{
    AnyStore, AuditEntry, AuditEvent, CardRevocation, CardState, CertKind, CertStatus,
    RevocationReason, Store,
};
use eid_testkit::{ANNA, Browser, CardKind, Pki, Server, TestCard, query};
use serde_json::Value;
use time::Duration;

use crate::certificates::{authentication, fetch_signing_certificate, fetched_and_delivered};
use crate::world::{World, start};

/// A card login from the authorization URL `url` up to the app's completion: the
/// completion's status and body. The browser's waiting page then collects the outcome.
async fn attempt_login(
    server: &Server,
    browser: &mut Browser,
    card: &TestCard,
    url: &str,
) -> (u16, Value) {
    let page = browser.get(url).await;
    assert_eq!(page.status, 200, "the login page: {}", page.body);
    let wait = server.legitimera(browser, &page).await;
    let fetched = server.fetch_order(&wait).await;
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/complete", server.base))
        .bearer_auth(&fetched.app_token)
        .json(&card.complete_login(&fetched.order))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A login that the provider must refuse at the completion: the app is told
/// `certificateErr` with what is wrong, and the waiting page sees the order fail so.
async fn assert_login_refused(w: &World, says: &str) {
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let (status, body) = attempt_login(&w.server, &mut browser, &w.card, &request.url).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorCode"], "certificateErr", "{body}");
    assert!(
        body["details"].as_str().unwrap_or_default().contains(says),
        "{body}"
    );
    assert_eq!(
        browser.collect().await,
        ("failed".to_owned(), "certificateErr".to_owned())
    );
}

/// `prompt=none` in `browser`: whether single sign-on still answers with a code.
async fn sso_answers(w: &World, browser: &mut Browser) -> bool {
    let silent = w.rp.auth_request(&[("prompt", "none")]);
    let page = browser.get(&silent.url).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let q = query(&page.location());
    match q.get("error").map(String::as_str) {
        None => true,
        Some("login_required") => false,
        Some(other) => panic!("unexpected error {other}"),
    }
}

async fn audit(store: &AnyStore) -> Vec<AuditEntry> {
    store.audit_entries(0, 100_000).await.unwrap()
}

fn actions<'a>(log: &'a [AuditEntry], action: &str) -> Vec<&'a AuditEntry> {
    log.iter().filter(|e| e.event.action == action).collect()
}

#[tokio::test]
async fn a_revoked_card_cannot_log_in_and_its_sessions_and_tokens_are_gone() {
    let w = start().await;
    let base = &w.server.base;
    let store = w.server.state.store.clone();

    // Before: a relying party's login with single sign-on and a working access token, and
    // a My Pages session in another browser.
    let mut rp_browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    let code =
        w.rp.code(&w.login(&mut rp_browser, &request.url).await, &request);
    let (status, tokens) = w.rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(w.rp.userinfo(&access).await.0, 200);
    assert!(sso_answers(&w, &mut rp_browser).await);
    let mut mypages = w.server.browser();
    let page = w.server.mypages_login(&mut mypages, &w.card).await;
    assert!(page.body.contains("9752000001"), "{}", page.body);

    // The card is lost: revoked through the store, as `eid admin card revoke` does.
    let now = SystemClock.now();
    let revocation = CardRevocation {
        card_number: w.card.number.clone(),
        reason: RevocationReason::KeyCompromise,
        at: now,
        audit: AuditEvent {
            subject: w.card.number.clone(),
            ..w.server.pki.event("card.revoke")
        },
        certificate_audit: w.server.pki.event("certificate.revoke"),
    };
    let done = store.revoke_card(&revocation).await.unwrap();
    assert_eq!(done.certificates.len(), 2, "authentication and attestation");
    assert_eq!(
        done.login_sessions, 2,
        "the relying party's and My Pages' logins"
    );
    assert!(done.grants >= 2, "{done:?}");
    assert_eq!(done.portal_sessions, 1);

    // At once: no token, no single sign-on, no My Pages session, no login.
    let (status, body) = w.rp.userinfo(&access).await;
    assert_eq!(status, 401, "{body}");
    assert!(!sso_answers(&w, &mut rp_browser).await);
    let again = rp_browser.get(&w.rp.auth_request(&[]).url).await;
    assert_eq!(again.status, 200, "the login page, not a silent code");
    assert!(again.body.contains("Legitimera"));
    let home = mypages.get(&format!("{base}/mypages")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("LOGGA IN"), "{}", home.body);
    assert!(!home.body.contains("9752000001"), "{}", home.body);
    assert_login_refused(&w, "revoked").await;

    // In the audit log: the card, and each certificate with its reason.
    let log = audit(&store).await;
    let card = actions(&log, "card.revoke");
    assert_eq!(card.len(), 1);
    assert_eq!(card[0].event.subject, w.card.number);
    assert_eq!(card[0].event.details["portal_sessions"], 1);
    let certs = actions(&log, "certificate.revoke");
    let serials: Vec<String> = done.certificates.iter().map(ToString::to_string).collect();
    assert_eq!(
        certs
            .iter()
            .map(|e| e.event.subject.clone())
            .collect::<Vec<_>>(),
        serials
    );
    assert!(
        certs
            .iter()
            .all(|e| e.event.details["reason"] == "keyCompromise")
    );
    eid_store::audit::verify(&*store, None).await.unwrap();
}

#[tokio::test]
async fn a_revoked_authentication_certificate_is_refused_at_once() {
    let w = start().await;
    let store = w.server.state.store.clone();
    let mut browser = w.server.browser();
    let request = w.rp.auth_request(&[]);
    w.rp.code(&w.login(&mut browser, &request.url).await, &request);
    assert!(sso_answers(&w, &mut browser).await);
    let auth = authentication(&*store, &w.card.number).await;
    let crl_before = store.revocation_marker().await.unwrap().crl_number;

    // As `eid admin cert revoke SERIAL --reason key-compromise` does, while the server runs.
    let now = SystemClock.now();
    let done = revoke_certificate(
        &*store,
        Some(&w.server.state.revocation.crl),
        &auth.serial,
        RevocationReason::KeyCompromise,
        "admin:test",
        now,
    )
    .await
    .unwrap();
    assert_eq!(done.login_sessions, 1);
    assert!(matches!(
        done.certificate.status,
        CertStatus::Revoked {
            reason: RevocationReason::KeyCompromise,
            ..
        }
    ));
    assert_eq!(
        Some(&done.certificate),
        store.certificate(&auth.serial).await.unwrap().as_ref(),
        "the revoked record returned is the one stored"
    );
    let newest = store.revocation_marker().await.unwrap().crl_number;
    assert!(
        newest > crl_before,
        "a key compromise gets a new CRL at once"
    );
    assert_eq!(done.crl, CrlAfterRevocation::Issued(newest));

    // The card itself stays active; its certificate does not log in, and the session it
    // opened is gone.
    assert_eq!(
        store.card(&w.card.number).await.unwrap().unwrap().state,
        CardState::Active
    );
    assert!(!sso_answers(&w, &mut browser).await);
    assert_login_refused(&w, &format!("{} is revoked", auth.serial)).await;
    // Revoking it again is refused and changes nothing.
    let before = audit(&store).await.len();
    assert!(
        revoke_certificate(
            &*store,
            Some(&w.server.state.revocation.crl),
            &auth.serial,
            RevocationReason::Superseded,
            "admin:test",
            now
        )
        .await
        .is_err()
    );
    let log = audit(&store).await;
    assert_eq!(log.len(), before);
    let revoked = actions(&log, "certificate.revoke");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].event.subject, auth.serial.to_string());
    assert_eq!(revoked[0].event.actor, "admin:test");
    assert_eq!(actions(&log, "oidc.sessions.revoke").len(), 1);
}

#[tokio::test]
async fn a_signing_certificate_never_written_to_the_card_is_revoked_when_its_time_is_up() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let pki = Pki::new(clock.now()).await;
    let stopped = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let written = pki.card(ANNA, "9752000002", CardKind::TwoPin).await;
    let server = Server::builder(pki).clock(clock.clone()).start().await;
    let store = server.state.store.clone();
    let after = Duration::hours(24);

    // One fetch stops after the CA issued (the app was closed); the other writes the
    // certificate and confirms it.
    let (_, orphan) = fetch_signing_certificate(&server, &stopped).await;
    let orphan = orphan.serial.to_string();
    let delivered = fetched_and_delivered(&server, &written)
        .await
        .serial
        .to_string();

    let status = |serial: &str| {
        let store = store.clone();
        let serial = serial.parse().unwrap();
        async move { store.certificate(&serial).await.unwrap().unwrap().status }
    };
    // Within its time the orphan stays valid (the holder may still resume the fetch).
    assert!(
        expire_undelivered(&server.state, after)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(Duration::hours(23));
    assert!(
        expire_undelivered(&server.state, after)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(status(&orphan).await, CertStatus::Valid);

    // A day after it was issued, the server's pass revokes it, and only it.
    clock.advance(Duration::hours(1) + Duration::seconds(1));
    let revoked = expire_undelivered(&server.state, after).await.unwrap();
    assert_eq!(
        revoked
            .iter()
            .map(|c| c.serial.to_string())
            .collect::<Vec<_>>(),
        [orphan.as_str()]
    );
    assert_eq!(revoked[0].kind, CertKind::Signing);
    assert!(matches!(
        status(&orphan).await,
        CertStatus::Revoked { reason, .. } if reason == UNDELIVERED_REASON
    ));
    assert_eq!(status(&delivered).await, CertStatus::Valid);
    // The next pass (another node's, or the next hour's) finds nothing more.
    assert!(
        expire_undelivered(&server.state, after)
            .await
            .unwrap()
            .is_empty()
    );
    let log = audit(&store).await;
    let entries = actions(&log, "certificate.revoke");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event.subject, orphan);
    assert_eq!(entries[0].event.actor, "system:serve");
    assert_eq!(entries[0].event.details["reason"], "cessationOfOperation");

    // The periodic task does the same on its own: a third card's orphan, a day later.
    let late = server.pki.card(ANNA, "9752000003", CardKind::TwoPin).await;
    let (_, third) = fetch_signing_certificate(&server, &late).await;
    let third = third.serial.to_string();
    clock.advance(Duration::hours(25));
    let task = eid_server::lifecycle::spawn(
        server.state.clone(),
        std::time::Duration::from_millis(20),
        after,
    );
    let mut revoked = false;
    for _ in 0..200 {
        if status(&third).await != CertStatus::Valid {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(
        revoked,
        "the periodic task revoked the undelivered certificate"
    );
}
