//! Refusals: each is refused with its error (and, where the order ends, its hint), and
//! nothing else changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

use time::Duration;

use eid_orders::OrderError;
use eid_pki::ValidationError;
use eid_protocol::{HintCode, OrderStatus, ToBeSigned};
use eid_store::orders::OrderStore;
use eid_store::{CardState, RevocationReason, Store};

use crate::world::*;
use crate::{collect_hint, fetched_login, later, refused_completion};

#[tokio::test]
async fn a_signature_by_another_card_is_refused() {
    let w = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let mut completion = w.anna.complete_login(&fetched.order);
    completion.signature = w.bertil.sign(&ToBeSigned::for_order(&fetched.order, None));
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| matches!(e, OrderError::BadSignature),
        Some(HintCode::CertificateErr),
    )
    .await;
}

#[tokio::test]
async fn a_signature_over_another_orders_bytes_is_refused() {
    let w = world().await;
    let (_, other) = fetched_login(&w).await;
    let (session, fetched) = fetched_login(&w).await;
    let completion = w.anna.complete_login(&other.order);
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| matches!(e, OrderError::BadSignature),
        Some(HintCode::CertificateErr),
    )
    .await;
    // Nor is the same order's text or origin changed in what was signed.
    let (session, fetched) = fetched_login(&w).await;
    let mut elsewhere = fetched.order.clone();
    elsewhere.server_origin = "https://evil.example".into();
    let completion = w.anna.complete_login(&elsewhere);
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| matches!(e, OrderError::BadSignature),
        Some(HintCode::CertificateErr),
    )
    .await;
}

#[tokio::test]
async fn a_tampered_certificate_is_refused() {
    let w = world().await;
    for position in [Position::Subject, Position::Signature] {
        let (session, fetched) = fetched_login(&w).await;
        let mut completion = w.anna.complete_login(&fetched.order);
        let cert = &mut completion.certificate;
        let at = match position {
            // Inside the subject's common name ("Anna Andersson").
            Position::Subject => cert.windows(4).position(|x| x == b"Anna").unwrap(),
            Position::Signature => cert.len() - 3,
        };
        cert[at] ^= 0x01;
        refused_completion(
            &w,
            &session,
            &fetched,
            &completion,
            |e| {
                matches!(
                    e,
                    OrderError::Certificate(
                        ValidationError::NotIssuedHere | ValidationError::Malformed(_)
                    )
                )
            },
            Some(HintCode::CertificateErr),
        )
        .await;
    }
    // Another CA's certificate for the same key and name is not ours either.
    let other = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let mut completion = w.anna.complete_login(&fetched.order);
    completion.certificate = other.anna.certificate();
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| matches!(e, OrderError::Certificate(ValidationError::NotIssuedHere)),
        Some(HintCode::CertificateErr),
    )
    .await;
}

enum Position {
    Subject,
    Signature,
}

#[tokio::test]
async fn a_revoked_certificate_or_card_is_refused() {
    let w = world().await;
    let event = |action: &str| eid_store::AuditEvent {
        at: NOW,
        actor: "admin:test".into(),
        action: action.into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    };
    // Bertil's card is revoked (its certificate still valid).
    w.store
        .set_card_state(&w.bertil.number, CardState::Revoked, &event("card.revoke"))
        .await
        .unwrap();
    let (session, fetched) = fetched_login(&w).await;
    let completion = w.bertil.complete_login(&fetched.order);
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| {
            matches!(
                e,
                OrderError::Certificate(ValidationError::CardNotUsable {
                    state: "revoked",
                    ..
                })
            )
        },
        Some(HintCode::CertificateErr),
    )
    .await;

    // Anna's authentication certificate is revoked.
    let auth = w
        .store
        .certificates_of_card(&w.anna.number)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == eid_store::CertKind::Authentication)
        .unwrap();
    w.store
        .revoke_certificate(
            &auth.serial,
            RevocationReason::KeyCompromise,
            NOW,
            &event("certificate.revoke"),
        )
        .await
        .unwrap();
    let (session, fetched) = fetched_login(&w).await;
    let completion = w.anna.complete_login(&fetched.order);
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| matches!(e, OrderError::Certificate(ValidationError::Revoked(_))),
        Some(HintCode::CertificateErr),
    )
    .await;
}

#[tokio::test]
async fn an_inactive_person_is_refused() {
    let w = world().await;
    // The store has no method for a person leaving yet: do it as an administrator would.
    rusqlite::Connection::open(w.pki.dir.path().join("eid.db"))
        .unwrap()
        .execute("UPDATE persons SET active = 0 WHERE hsa_id = ?1", [ANNA])
        .unwrap();
    let (session, fetched) = fetched_login(&w).await;
    let completion = w.anna.complete_login(&fetched.order);
    refused_completion(
        &w,
        &session,
        &fetched,
        &completion,
        |e| {
            matches!(
                e,
                OrderError::Certificate(ValidationError::PersonInactive(_))
            )
        },
        Some(HintCode::CertificateErr),
    )
    .await;
}

#[tokio::test]
async fn an_expired_order_is_refused() {
    let w = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let completion = w.anna.complete_login(&fetched.order);
    let late = NOW + w.orders.config().order_lifetime;
    assert!(matches!(
        w.orders
            .app_complete(&fetched.app_token, &completion, late, &mut rand::rng())
            .await,
        Err(OrderError::Expired)
    ));
    assert!(matches!(
        w.orders
            .app_report(&fetched.app_token, &HintCode::UserSign, late)
            .await,
        Err(OrderError::Expired)
    ));
    let c = w
        .orders
        .collect(&fetched.order.order_ref, session.as_str(), late)
        .await
        .unwrap();
    assert_eq!(
        (c.status, c.hint_code),
        (OrderStatus::Failed, Some(HintCode::ExpiredTransaction))
    );
    let order = w
        .store
        .order(&fetched.order.order_ref)
        .await
        .unwrap()
        .unwrap();
    assert!(order.signature.is_none());

    // An order not yet fetched cannot be fetched after its expiry.
    let started = w.start(&login("mypages"), &session).await;
    assert!(matches!(
        w.orders
            .app_fetch(&started.auto_start_token, late, &mut rand::rng())
            .await,
        Err(OrderError::TokenRefused)
    ));
    // It is forgotten once purged (5 minutes after expiry by default).
    let gone = late + w.orders.config().failed_kept + Duration::seconds(1);
    assert!(matches!(
        w.orders
            .collect(&started.order_ref, session.as_str(), gone)
            .await,
        Err(OrderError::NotFound)
    ));
    let purged = w.orders.purge(gone).await.unwrap();
    assert_eq!(purged.orders, 2);
    assert!(w.store.order(&started.order_ref).await.unwrap().is_none());
}

#[tokio::test]
async fn the_autostart_token_is_used_once() {
    let w = world().await;
    let session = w.session().await;
    let started = w.start(&login("mypages"), &session).await;
    let first = w.fetch(&started).await.unwrap();
    let before = w.store.order(&started.order_ref).await.unwrap();
    assert!(matches!(
        w.fetch(&started).await,
        Err(OrderError::TokenRefused)
    ));
    assert_eq!(w.store.order(&started.order_ref).await.unwrap(), before);
    // The first app's token still works; made-up tokens do not.
    w.orders
        .app_report(&first.app_token, &HintCode::UserSign, later(3))
        .await
        .unwrap();
    for token in ["", "short", &"A".repeat(43)] {
        assert!(matches!(
            w.orders.app_fetch(token, later(3), &mut rand::rng()).await,
            Err(OrderError::TokenRefused)
        ));
        assert!(matches!(
            w.orders
                .app_report(token, &HintCode::UserSign, later(3))
                .await,
            Err(OrderError::TokenRefused)
        ));
    }
}

#[tokio::test]
async fn the_return_secret_is_used_once_and_the_order_completes_once() {
    let w = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let completion = w.anna.complete_login(&fetched.order);
    let done = w
        .orders
        .app_complete(&fetched.app_token, &completion, later(5), &mut rand::rng())
        .await
        .unwrap();
    // A second completion of a signed order is refused.
    assert!(matches!(
        w.orders
            .app_complete(&fetched.app_token, &completion, later(5), &mut rand::rng())
            .await,
        Err(OrderError::NotPending)
    ));
    let (order_ref, secret) = return_params(&done.return_url);
    assert!(matches!(
        w.orders
            .browser_return(&order_ref, "wrong-secret", session.as_str(), later(6))
            .await,
        Err(OrderError::ReturnRefused)
    ));
    w.orders
        .browser_return(&order_ref, &secret, session.as_str(), later(6))
        .await
        .unwrap();
    let audit = w.audit_actions().await.len();
    assert!(matches!(
        w.orders
            .browser_return(&order_ref, &secret, session.as_str(), later(7))
            .await,
        Err(OrderError::ReturnRefused)
    ));
    assert_eq!(w.audit_actions().await.len(), audit);
    assert_eq!(
        collect_hint(&w, &order_ref, &session).await.0,
        OrderStatus::Complete
    );
    // A complete order cannot be cancelled; it is collectable for 3 minutes, then gone.
    assert!(matches!(
        w.orders
            .cancel(&order_ref, session.as_str(), later(8))
            .await,
        Err(OrderError::NotPending)
    ));
    let gone = later(6) + w.orders.config().complete_kept + Duration::seconds(1);
    assert!(matches!(
        w.orders.collect(&order_ref, session.as_str(), gone).await,
        Err(OrderError::NotFound)
    ));
}

#[tokio::test]
async fn only_the_starting_session_collects_or_cancels() {
    let w = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let other = w.session().await;
    let order_ref = &fetched.order.order_ref;
    let before = w.store.order(order_ref).await.unwrap();
    assert!(matches!(
        w.orders.collect(order_ref, other.as_str(), later(5)).await,
        Err(OrderError::WrongBrowserSession)
    ));
    assert!(matches!(
        w.orders.cancel(order_ref, other.as_str(), later(5)).await,
        Err(OrderError::WrongBrowserSession)
    ));
    assert!(matches!(
        w.orders
            .collect("no-such-order", session.as_str(), later(5))
            .await,
        Err(OrderError::NotFound)
    ));
    assert_eq!(w.store.order(order_ref).await.unwrap(), before);
}

#[tokio::test]
async fn a_cancelled_order_cannot_be_completed() {
    let w = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let order_ref = &fetched.order.order_ref;
    w.orders
        .cancel(order_ref, session.as_str(), later(4))
        .await
        .unwrap();
    assert_eq!(
        collect_hint(&w, order_ref, &session).await,
        (OrderStatus::Failed, Some(HintCode::Cancelled))
    );
    assert!(matches!(
        w.orders.cancel(order_ref, session.as_str(), later(4)).await,
        Err(OrderError::NotPending)
    ));
    let completion = w.anna.complete_login(&fetched.order);
    assert!(matches!(
        w.orders
            .app_complete(&fetched.app_token, &completion, later(5), &mut rand::rng())
            .await,
        Err(OrderError::NotPending)
    ));
    assert!(
        w.store
            .order(order_ref)
            .await
            .unwrap()
            .unwrap()
            .signature
            .is_none()
    );
}

#[tokio::test]
async fn the_app_reports_hints_and_cancels() {
    let w = world().await;
    let (session, fetched) = fetched_login(&w).await;
    let order_ref = &fetched.order.order_ref;
    for hint in [
        HintCode::NoCardReader,
        HintCode::CardRemoved,
        HintCode::WrongCard,
    ] {
        w.orders
            .app_report(&fetched.app_token, &hint, later(3))
            .await
            .unwrap();
        assert_eq!(
            collect_hint(&w, order_ref, &session).await,
            (OrderStatus::Pending, Some(hint))
        );
    }
    // Codes only the server sets, and unknown codes, are refused.
    for hint in [
        HintCode::ExpiredTransaction,
        HintCode::CertificateErr,
        HintCode::OutstandingTransaction,
        HintCode::Unknown("somethingNew".into()),
    ] {
        assert!(matches!(
            w.orders
                .app_report(&fetched.app_token, &hint, later(3))
                .await,
            Err(OrderError::InvalidParameters(_))
        ));
    }
    w.orders
        .app_report(&fetched.app_token, &HintCode::UserCancel, later(4))
        .await
        .unwrap();
    assert_eq!(
        collect_hint(&w, order_ref, &session).await,
        (OrderStatus::Failed, Some(HintCode::UserCancel))
    );
    assert!(matches!(
        w.orders
            .app_report(&fetched.app_token, &HintCode::PinBlocked, later(5))
            .await,
        Err(OrderError::NotPending)
    ));
}
