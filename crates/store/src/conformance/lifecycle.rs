//! The life-cycle part of the conformance suite ([`crate::lifecycle`]): a card revoked with
//! its certificates, login sessions, grants and My Pages sessions in one go (another card's
//! left alone, a second revocation refused), and signing certificates issued but never
//! delivered revoked after their time (not a delivered one, not one too new, not one whose
//! card a fetch holds). Expanded by
//! [`lifecycle_conformance_tests!`](crate::lifecycle_conformance_tests) with a [`Harness`]
//! whose store also implements [`OidcStore`], [`PortalStore`], [`OrderStore`], [`EnrollStore`]
//! and [`RevocationStore`]: revoking a card reaches into all of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use time::Duration;

use super::oidc::client;
use super::orders::order;
use super::{Harness, T0, audit_len, card, certificate, event, missing, seeded};
use crate::audit;
use crate::enroll::{CardClaim, ClaimOutcome, Delivery, EnrollStore};
use crate::lifecycle::{CardRevocation, UndeliveredRevocation};
use crate::model::*;
use crate::oidc::{AuthCodeRecord, GrantRecord, LoginSession, OidcStore};
use crate::orders::OrderStore;
use crate::portal::{PortalSessionRecord, PortalStore};
use crate::revocation::RevocationStore;
use crate::{Missing, Store, StoreError};

/// Expands to one `#[tokio::test]` per life-cycle conformance check, run against
/// `$harness`.
#[macro_export]
macro_rules! lifecycle_conformance_tests {
    ($harness:expr) => {
        $crate::lifecycle_conformance_tests!(@each $harness;
            lifecycle_card_revocation_ends_everything_at_once,
            lifecycle_card_revocation_refusals_change_nothing,
            lifecycle_undelivered_signing_certificates_are_revoked);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::lifecycle::$name(&$harness).await;
        }
    )*};
}

const OTHER_CARD: &str = "9752000099";

pub(crate) fn login(id: u8, hsa: &str, card: &str) -> LoginSession {
    LoginSession {
        id_sha256: [id; 32],
        hsa_id: hsa.into(),
        card_number: card.into(),
        auth_time: T0,
        acr: "loa3".into(),
        amr: vec!["hwk".into(), "sc".into(), "pin".into()],
        expires_at: T0 + Duration::hours(8),
        ended_at: None,
    }
}

pub(crate) fn portal(id: u8, card: &str) -> PortalSessionRecord {
    PortalSessionRecord {
        id_sha256: [id; 32],
        subject: "sub-1".into(),
        hsa_id: Some("SE2321000016-A1B2".into()),
        card_number: Some(card.into()),
        auth_time: Some(T0),
        sealed_tokens: vec![1, 2, 3],
        tokens_expire_at: T0 + Duration::minutes(5),
        created_at: T0,
        expires_at: T0 + Duration::hours(8),
    }
}

/// Redeems a code of login session `session` into grant `id`.
pub(crate) async fn grant<S: OidcStore>(store: &S, id: u8, hsa: &str, session: u8) {
    let code = AuthCodeRecord {
        code_sha256: [id; 32],
        client_id: "rp".into(),
        redirect_uri: "https://rp.example/cb".into(),
        code_challenge: None,
        code_challenge_method: None,
        nonce: None,
        scope: "openid".into(),
        session_sha256: [session; 32],
        hsa_id: hsa.into(),
        auth_time: T0,
        acr: "loa3".into(),
        amr: vec!["sc".into()],
        issued_at: T0,
        expires_at: T0 + Duration::seconds(60),
        redeemed_at: None,
        grant_id: None,
    };
    store.add_code(&code).await.unwrap();
    let grant = GrantRecord {
        grant_id: format!("g{id}"),
        client_id: "rp".into(),
        hsa_id: hsa.into(),
        session_sha256: [session; 32],
        scope: "openid".into(),
        access_jti: format!("jti-{id}"),
        created_at: T0,
        expires_at: T0 + Duration::minutes(5),
        revoked_at: None,
    };
    store
        .redeem_code(&[id; 32], T0, &grant, &event("oidc.grant.revoke", "x"))
        .await
        .unwrap();
}

fn revocation(card: &str) -> CardRevocation {
    CardRevocation {
        card_number: card.into(),
        reason: RevocationReason::KeyCompromise,
        at: T0 + Duration::minutes(10),
        audit: event("card.revoke", card),
        certificate_audit: event("certificate.revoke", "replaced by the store"),
    }
}

fn revoked_at(cert: &CertificateRecord) -> Option<(time::OffsetDateTime, RevocationReason)> {
    match cert.status {
        CertStatus::Valid => None,
        CertStatus::Revoked { at, reason } => Some((at, reason)),
    }
}

/// Revoking a card revokes its valid certificates (an earlier revocation keeps its time and
/// reason), ends its login sessions and their grants and its My Pages sessions, audits each
/// certificate, and leaves another card of the same holder as it was.
pub async fn lifecycle_card_revocation_ends_everything_at_once<H: Harness>(h: &H)
where
    H::Store: OidcStore + PortalStore + RevocationStore,
{
    let (store, hsa, number) = seeded(h).await;
    store
        .add_card(&card(OTHER_CARD, &hsa), &event("card.add", OTHER_CARD))
        .await
        .unwrap();
    store
        .add_client(&client("rp"), &event("oidc.client.add", "rp"))
        .await
        .unwrap();
    let auth = certificate(0x10, 0x10, &number, &hsa);
    let mut signing = certificate(0x11, 0x11, &number, &hsa);
    signing.kind = CertKind::Signing;
    let mut old = certificate(0x12, 0x12, &number, &hsa);
    old.kind = CertKind::Signing;
    let other = certificate(0x20, 0x20, OTHER_CARD, &hsa);
    for c in [&auth, &signing, &old, &other] {
        store
            .add_certificate(c, &event("certificate.issue", "x"))
            .await
            .unwrap();
    }
    let superseded_at = T0 + Duration::minutes(1);
    store
        .revoke_certificate(
            &old.serial,
            RevocationReason::Superseded,
            superseded_at,
            &event("certificate.revoke", "x"),
        )
        .await
        .unwrap();
    store.add_session(&login(1, &hsa, &number)).await.unwrap();
    store
        .add_session(&login(2, &hsa, OTHER_CARD))
        .await
        .unwrap();
    grant(&*store, 7, &hsa, 1).await;
    grant(&*store, 8, &hsa, 2).await;
    store.add_portal_session(&portal(1, &number)).await.unwrap();
    store
        .add_portal_session(&portal(2, OTHER_CARD))
        .await
        .unwrap();
    let before = audit_len(&*store).await;
    let marker = store.revocation_marker().await.unwrap().revocations;

    let r = revocation(&number);
    let done = store.revoke_card(&r).await.unwrap();
    assert_eq!(done.certificates, vec![auth.serial.clone(), signing.serial]);
    assert_eq!(
        (done.login_sessions, done.grants, done.portal_sessions),
        (1, 1, 1)
    );
    // Server nodes see that their revocation caches are stale: one move per certificate.
    assert_eq!(
        store.revocation_marker().await.unwrap().revocations,
        marker + 2
    );

    let at = r.at;
    assert_eq!(
        store.card(&number).await.unwrap().unwrap().state,
        CardState::Revoked
    );
    let certs = store.certificates_of_card(&number).await.unwrap();
    let statuses: Vec<_> = certs.iter().map(revoked_at).collect();
    assert_eq!(
        statuses,
        [
            Some((at, RevocationReason::KeyCompromise)),
            Some((at, RevocationReason::KeyCompromise)),
            Some((superseded_at, RevocationReason::Superseded)),
        ]
    );
    assert!(!store.session(&[1; 32]).await.unwrap().unwrap().is_live(at));
    assert_eq!(
        store
            .grant_by_jti("jti-7")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at)
    );
    assert!(store.portal_session(&[1; 32], at).await.unwrap().is_none());

    // The holder's other card is untouched.
    assert_eq!(
        store.card(OTHER_CARD).await.unwrap().unwrap().state,
        CardState::Active
    );
    assert_eq!(
        store
            .certificate(&other.serial)
            .await
            .unwrap()
            .unwrap()
            .status,
        CertStatus::Valid
    );
    assert!(store.session(&[2; 32]).await.unwrap().unwrap().is_live(at));
    assert_eq!(
        store
            .grant_by_jti("jti-8")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert!(store.portal_session(&[2; 32], at).await.unwrap().is_some());

    // One entry for the card (with what it ended), one per certificate revoked now.
    assert_eq!(audit_len(&*store).await, before + 3);
    let entries = store.audit_entries(before, 10).await.unwrap();
    let card_entry = &entries[0].event;
    assert_eq!(
        (card_entry.action.as_str(), card_entry.subject.as_str()),
        ("card.revoke", number.as_str())
    );
    assert_eq!(
        card_entry.details["test"], true,
        "the caller's details kept"
    );
    assert_eq!(card_entry.details["reason"], "keyCompromise");
    assert_eq!(
        card_entry.details["certificates"][0],
        auth.serial.to_string()
    );
    assert_eq!(card_entry.details["login_sessions"], 1);
    assert_eq!(card_entry.details["portal_sessions"], 1);
    for (entry, cert) in entries[1..].iter().zip([&auth, &certs[1]]) {
        assert_eq!(entry.event.action, "certificate.revoke");
        assert_eq!(entry.event.subject, cert.serial.to_string());
        assert_eq!(entry.event.details["reason"], "keyCompromise");
        assert_eq!(entry.event.details["card"], number.as_str());
    }
    audit::verify(&*store, None).await.unwrap();
}

/// An unknown card is not found and a revoked card is refused; neither changes anything or
/// appends to the audit log.
pub async fn lifecycle_card_revocation_refusals_change_nothing<H: Harness>(h: &H)
where
    H::Store: OidcStore + PortalStore,
{
    let (store, hsa, number) = seeded(h).await;
    let auth = certificate(0x10, 0x10, &number, &hsa);
    store
        .add_certificate(&auth, &event("certificate.issue", "x"))
        .await
        .unwrap();
    let before = audit_len(&*store).await;
    assert_eq!(
        missing(store.revoke_card(&revocation("9752000077")).await),
        Missing::Card
    );
    assert_eq!(audit_len(&*store).await, before);

    store.revoke_card(&revocation(&number)).await.unwrap();
    let after = audit_len(&*store).await;
    let mut again = revocation(&number);
    again.at += Duration::hours(1);
    again.reason = RevocationReason::CessationOfOperation;
    match store.revoke_card(&again).await {
        Err(StoreError::Refused(why)) => assert!(why.contains("already revoked"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(audit_len(&*store).await, after);
    let cert = store.certificate(&auth.serial).await.unwrap().unwrap();
    assert_eq!(
        revoked_at(&cert),
        Some((T0 + Duration::minutes(10), RevocationReason::KeyCompromise))
    );
}

/// Of the signing certificates: one issued long enough ago and never delivered is revoked
/// (audited); a delivered one, one too new, one already revoked, an authentication
/// certificate (never delivered by a fetch) and one whose card an unexpired fetch holds are
/// not. Once that fetch has expired, the next pass revokes it; a pass after that revokes
/// nothing more.
pub async fn lifecycle_undelivered_signing_certificates_are_revoked<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, number) = seeded(h).await;
    store
        .add_card(&card(OTHER_CARD, &hsa), &event("card.add", OTHER_CARD))
        .await
        .unwrap();
    let signing = |serial: u64, card: &str, issued_hours: i64| {
        let mut c = certificate(serial, serial as u8, card, &hsa);
        c.kind = CertKind::Signing;
        c.issued_at = T0 + Duration::hours(issued_hours);
        c
    };
    let stale = signing(0x31, &number, 0);
    let delivered = signing(0x32, &number, 0);
    let fresh = signing(0x33, &number, 23);
    let revoked = signing(0x34, &number, 0);
    let held = signing(0x35, OTHER_CARD, 0);
    let auth = certificate(0x36, 0x36, &number, &hsa);
    // The delivered one first: a delivery supersedes the card's signing certificates
    // already there (a renewal), which the others here are not about.
    store
        .add_certificate(&delivered, &event("certificate.issue", "x"))
        .await
        .unwrap();
    store
        .confirm_delivery(&Delivery {
            serial: delivered.serial.clone(),
            card_number: number.clone(),
            order_ref: "order-1".into(),
            at: T0 + Duration::minutes(1),
            audit: event("certificate.deliver", "x"),
            superseded_audit: event("certificate.revoke", "x"),
        })
        .await
        .unwrap();
    for c in [&stale, &fresh, &revoked, &held, &auth] {
        store
            .add_certificate(c, &event("certificate.issue", "x"))
            .await
            .unwrap();
    }
    store
        .revoke_certificate(
            &revoked.serial,
            RevocationReason::KeyCompromise,
            T0 + Duration::hours(1),
            &event("certificate.revoke", "x"),
        )
        .await
        .unwrap();

    // A fetch on the other card holds it from a day after T0 for three minutes.
    let now = T0 + Duration::hours(24);
    let mut fetch = order(9);
    fetch.kind = "enrollSign".into();
    fetch.card_number = Some(OTHER_CARD.into());
    fetch.created_at = now;
    fetch.expires_at = now + Duration::minutes(3);
    fetch.purge_after = fetch.expires_at + Duration::minutes(5);
    store
        .add_order(&fetch, &event("order.start", "order-9"))
        .await
        .unwrap();
    let claim = CardClaim {
        card_number: OTHER_CARD.into(),
        order_ref: "order-9".into(),
        counts: true,
        max: 6,
        until: fetch.expires_at,
        now,
        resume: None,
        audit: event("card.management", OTHER_CARD),
    };
    assert_eq!(
        store.claim_card(&claim).await.unwrap(),
        ClaimOutcome::Granted(1)
    );

    let pass = |at: time::OffsetDateTime| UndeliveredRevocation {
        issued_before: at - Duration::hours(24) + Duration::seconds(1),
        reason: RevocationReason::CessationOfOperation,
        at,
        audit: event("certificate.revoke", "replaced by the store"),
    };
    let before = audit_len(&*store).await;
    let first = store.revoke_undelivered(&pass(now)).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|c| c.serial.to_string())
            .collect::<Vec<_>>(),
        [stale.serial.to_string()]
    );
    assert_eq!(
        revoked_at(&first[0]),
        Some((now, RevocationReason::CessationOfOperation))
    );
    assert_eq!(
        store.certificate(&stale.serial).await.unwrap().unwrap(),
        first[0]
    );
    for c in [&delivered, &fresh, &held, &auth] {
        assert_eq!(
            store.certificate(&c.serial).await.unwrap().unwrap().status,
            CertStatus::Valid,
            "{:?}",
            c.serial
        );
    }
    assert_eq!(
        revoked_at(&store.certificate(&revoked.serial).await.unwrap().unwrap()),
        Some((T0 + Duration::hours(1), RevocationReason::KeyCompromise))
    );
    assert_eq!(audit_len(&*store).await, before + 1);
    let entry = store
        .audit_entries(before, 1)
        .await
        .unwrap()
        .remove(0)
        .event;
    assert_eq!(entry.action, "certificate.revoke");
    assert_eq!(entry.subject, stale.serial.to_string());
    assert_eq!(entry.details["reason"], "cessationOfOperation");
    assert_eq!(entry.details["kind"], "signing");

    // The fetch has expired without delivering: its card's certificate goes now.
    let later = now + Duration::minutes(10);
    let second = store.revoke_undelivered(&pass(later)).await.unwrap();
    assert_eq!(
        second
            .iter()
            .map(|c| c.serial.to_string())
            .collect::<Vec<_>>(),
        [held.serial.to_string()]
    );
    // Nothing is left to revoke, nothing more is audited.
    let after = audit_len(&*store).await;
    assert!(
        store
            .revoke_undelivered(&pass(later))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit_len(&*store).await, after);
    audit::verify(&*store, None).await.unwrap();
}
