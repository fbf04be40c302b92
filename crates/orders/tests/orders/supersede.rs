//! A newer signing-certificate fetch and an older one for the same card (`enroll.rs` of the
//! engine, "One fetch per card"): a fetch abandoned after its key was made is superseded by
//! the next start, which then succeeds; two fetches at once still give one winner and one
//! clear refusal; a signed fetch abandoned before the write is resumed by the next one
//! with the same certificate. Every superseded order collects as failed, `cancelled`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

use eid_orders::{OrderError, Orders, SessionId};
use eid_protocol::{AppFetchResponse, EnrollmentEvidence, HintCode, OrderStatus, StartResponse};
use eid_store::{AnyStore, CertKind, EnrollStore, Store};

use crate::world::*;
use crate::{collect_hint, later};

const CHALLENGE: [u8; 16] = [7; 16];

/// A fetch of Anna's card started in a browser session of its own (as My Pages does) and
/// fetched by the app.
async fn fetch(w: &World) -> (SessionId, StartResponse, AppFetchResponse) {
    let session = w.session().await;
    let started = w.start(&enroll(&w.anna.number), &session).await;
    let fetched = w.fetch(&started).await.unwrap();
    (session, started, fetched)
}

/// The order's `order.fail` audit entries: (hint, supersededBy).
async fn failures(w: &World, order_ref: &str) -> Vec<(String, Option<String>)> {
    w.store
        .audit_entries(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == "order.fail" && e.event.subject == order_ref)
        .map(|e| {
            let d = &e.event.details;
            (
                d["hint"].as_str().unwrap().to_owned(),
                d["supersededBy"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn signing_certificates(w: &World) -> usize {
    w.store
        .certificates_of_card(&w.anna.number)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .count()
}

async fn management(
    orders: &Orders<AnyStore>,
    fetched: &AppFetchResponse,
    seconds: i64,
) -> Result<[u8; 16], OrderError> {
    orders
        .management_response(&fetched.app_token, &CHALLENGE, later(seconds))
        .await
}

#[tokio::test]
async fn an_abandoned_fetch_is_superseded_and_the_next_one_succeeds() {
    let w = world().await;
    let orders = w.with_master();
    // The first fetch gets its management response (the app made the key in 9C), then the
    // holder closes the app. It holds the card.
    let (first_session, first, first_app) = fetch(&w).await;
    management(&orders, &first_app, 3).await.unwrap();

    // The holder clicks *Hämta underskriftscertifikat* again: a new order, a new browser
    // session. The first one ends at once, and its page is told.
    let (second_session, second, second_app) = fetch(&w).await;
    assert_eq!(
        collect_hint(&w, &first.order_ref, &first_session).await,
        (OrderStatus::Failed, Some(HintCode::Cancelled))
    );
    assert_eq!(
        failures(&w, &first.order_ref).await,
        [("cancelled".into(), Some(second.order_ref.clone()))]
    );
    // The first app, should it come back, gets nothing more.
    assert!(matches!(
        management(&orders, &first_app, 4).await,
        Err(OrderError::NotPending)
    ));
    let late = w
        .anna
        .complete_signing_enrollment(&first_app.order, &w.store, &w.pki.master)
        .await;
    assert!(matches!(
        orders
            .app_complete(&first_app.app_token, &late, later(5), &mut rand::rng())
            .await,
        Err(OrderError::NotPending)
    ));

    // The second fetch goes through: management responses, completion, return.
    assert_eq!(
        management(&orders, &second_app, 6).await.unwrap(),
        w.pki
            .master
            .management_response(&w.anna.number, &CHALLENGE)
            .unwrap()
    );
    let approval = w
        .anna
        .complete_signing_enrollment(&second_app.order, &w.store, &w.pki.master)
        .await;
    let done = orders
        .app_complete(&second_app.app_token, &approval, later(7), &mut rand::rng())
        .await
        .unwrap();
    assert!(done.certificate.is_some());
    management(&orders, &second_app, 8).await.unwrap();
    let (order_ref, secret) = return_params(&done.return_url);
    let returned = orders
        .browser_return(&order_ref, &secret, second_session.as_str(), later(9))
        .await
        .unwrap();
    assert_eq!(returned.status, OrderStatus::Complete);
    assert_eq!(signing_certificates(&w).await, 1);
    // Still a superseded order afterwards, not anything else.
    assert_eq!(
        collect_hint(&w, &first.order_ref, &first_session).await,
        (OrderStatus::Failed, Some(HintCode::Cancelled))
    );
}

#[tokio::test]
async fn two_fetches_at_once_give_one_winner_and_one_clear_refusal() {
    let w = world().await;
    let orders = w.with_master();

    // Both fetched, both asking for the card at the same moment: the newer wins, the older
    // was superseded when the newer started.
    let (older_session, older, older_app) = fetch(&w).await;
    let (_, _, newer_app) = fetch(&w).await;
    let (a, b) = tokio::join!(
        management(&orders, &older_app, 3),
        management(&orders, &newer_app, 3)
    );
    assert!(matches!(a, Err(OrderError::NotPending)), "{a:?}");
    assert!(b.is_ok(), "{b:?}");
    assert_eq!(
        collect_hint(&w, &older.order_ref, &older_session).await,
        (OrderStatus::Failed, Some(HintCode::Cancelled))
    );

    // The winner signs: its certificate is issued, not yet on the card. A fetch started
    // now does not supersede it; it cannot have the card (no management response, no
    // completion for another key) and fails with `alreadyInProgress`.
    let (spki, evidence) = w.anna.signing_key(&w.pki.master);
    let mut approval = w
        .anna
        .complete_enrollment(&newer_app.order, &spki, &w.store)
        .await;
    approval.enrollment = Some(evidence);
    let done = orders
        .app_complete(&newer_app.app_token, &approval, later(5), &mut rand::rng())
        .await
        .unwrap();
    let (late_session, late, late_app) = fetch(&w).await;
    assert!(matches!(
        management(&orders, &late_app, 6).await,
        Err(OrderError::AlreadyInProgress)
    ));
    assert_eq!(
        collect_hint(&w, &late.order_ref, &late_session).await,
        (OrderStatus::Failed, Some(HintCode::AlreadyInProgress))
    );
    let (late_session, late, late_app) = fetch(&w).await;
    let mut other = w
        .anna
        .complete_enrollment(&late_app.order, b"another key", &w.store)
        .await;
    // Refused before the request is read: the card is not this order's.
    other.enrollment = Some(EnrollmentEvidence {
        certificate_request: vec![0x30, 0x00],
        attestation: None,
        attestation_key_certificate: None,
    });
    assert!(matches!(
        orders
            .app_complete(&late_app.app_token, &other, later(7), &mut rand::rng())
            .await,
        Err(OrderError::AlreadyInProgress)
    ));
    assert_eq!(
        collect_hint(&w, &late.order_ref, &late_session).await,
        (OrderStatus::Failed, Some(HintCode::AlreadyInProgress))
    );
    assert_eq!(signing_certificates(&w).await, 1);

    // The winner is untouched: it writes, confirms and completes.
    management(&orders, &newer_app, 8).await.unwrap();
    let serial = w
        .store
        .certificate_by_public_key(&eid_orders::sha256(&spki))
        .await
        .unwrap()
        .unwrap()
        .serial;
    orders
        .confirm_delivery(&newer_app.app_token, &serial.to_string(), later(9))
        .await
        .unwrap();
    assert!(done.certificate.is_some());
}

#[tokio::test]
async fn a_signed_fetch_abandoned_before_the_write_is_resumed_by_the_next() {
    let w = world().await;
    let orders = w.with_master();
    let (first_session, first, first_app) = fetch(&w).await;
    management(&orders, &first_app, 3).await.unwrap();
    let (spki, evidence) = w.anna.signing_key(&w.pki.master);
    let mut approval = w
        .anna
        .complete_enrollment(&first_app.order, &spki, &w.store)
        .await;
    approval.enrollment = Some(evidence.clone());
    let issued = orders
        .app_complete(&first_app.app_token, &approval, later(5), &mut rand::rng())
        .await
        .unwrap()
        .certificate
        .unwrap();
    // The card was pulled and the app closed before the write. A new fetch leaves the
    // signed order alone at its start ...
    let (second_session, second, second_app) = fetch(&w).await;
    assert_eq!(
        collect_hint(&w, &first.order_ref, &first_session).await,
        (OrderStatus::Pending, Some(HintCode::UserSign))
    );
    // ... and its app finds the key in 9C without a certificate and approves it again: the
    // same certificate, delivered again, and the card is the new order's.
    let mut again = w
        .anna
        .complete_enrollment(&second_app.order, &spki, &w.store)
        .await;
    again.enrollment = Some(evidence);
    let done = orders
        .app_complete(&second_app.app_token, &again, later(20), &mut rand::rng())
        .await
        .unwrap();
    assert_eq!(done.certificate.as_deref(), Some(issued.as_slice()));
    assert_eq!(signing_certificates(&w).await, 1);
    assert_eq!(
        collect_hint(&w, &first.order_ref, &first_session).await,
        (OrderStatus::Failed, Some(HintCode::Cancelled))
    );
    assert_eq!(
        failures(&w, &first.order_ref).await,
        [("cancelled".into(), Some(second.order_ref.clone()))]
    );
    assert!(matches!(
        management(&orders, &first_app, 21).await,
        Err(OrderError::NotPending)
    ));
    management(&orders, &second_app, 22).await.unwrap();
    let serial = w
        .store
        .certificate_by_public_key(&eid_orders::sha256(&spki))
        .await
        .unwrap()
        .unwrap()
        .serial;
    orders
        .confirm_delivery(&second_app.app_token, &serial.to_string(), later(23))
        .await
        .unwrap();
    let (order_ref, secret) = return_params(&done.return_url);
    let returned = orders
        .browser_return(&order_ref, &secret, second_session.as_str(), later(24))
        .await
        .unwrap();
    assert_eq!(returned.status, OrderStatus::Complete);
    assert_eq!(
        w.store.delivered_at(&serial).await.unwrap(),
        Some(later(23))
    );
}
