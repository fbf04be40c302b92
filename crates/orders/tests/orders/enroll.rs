//! Enrollment approvals (`enrollSign`) and the activation of a card in the store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

use eid_orders::OrderError;
use eid_protocol::HintCode;
use eid_store::orders::OrderStore;
use eid_store::{CardKind, CardState, Store};

use crate::world::*;
use crate::{fetched_login, later, refused_completion};

#[tokio::test]
async fn an_enrollment_approval_names_the_key_and_the_card() {
    let w = world().await;
    let session = w.session().await;
    let new_key = b"a new signing key's SubjectPublicKeyInfo".to_vec();

    // A login signature replayed as the approval of an enrollment is refused.
    let started = w.start(&enroll(&w.anna.number), &session).await;
    let fetched = w.fetch(&started).await.unwrap();
    assert_eq!(
        fetched.order.card_number.as_deref(),
        Some(w.anna.number.as_str())
    );
    let (_, login_order) = fetched_login(&w).await;
    let mut replayed = w.anna.complete_login(&login_order.order);
    replayed.new_public_key = Some(new_key.clone());
    refused_completion(
        &w,
        &session,
        &fetched,
        &replayed,
        |e| matches!(e, OrderError::BadSignature),
        Some(HintCode::CertificateErr),
    )
    .await;

    // An approval of another key is refused.
    let started = w.start(&enroll(&w.anna.number), &session).await;
    let fetched = w.fetch(&started).await.unwrap();
    let mut other_key = w
        .anna
        .complete_enrollment(&fetched.order, &new_key, &w.store)
        .await;
    other_key.new_public_key = Some(b"another key".to_vec());
    refused_completion(
        &w,
        &session,
        &fetched,
        &other_key,
        |e| matches!(e, OrderError::BadSignature),
        Some(HintCode::CertificateErr),
    )
    .await;

    // Another card (valid, signing correctly for itself) is the wrong card.
    let started = w.start(&enroll(&w.anna.number), &session).await;
    let fetched = w.fetch(&started).await.unwrap();
    let bertils = w
        .bertil
        .complete_enrollment(&fetched.order, &new_key, &w.store)
        .await;
    refused_completion(
        &w,
        &session,
        &fetched,
        &bertils,
        |e| matches!(e, OrderError::WrongCard { .. }),
        Some(HintCode::WrongCard),
    )
    .await;

    // Without the key: refused, order unchanged.
    let started = w.start(&enroll(&w.anna.number), &session).await;
    let fetched = w.fetch(&started).await.unwrap();
    let mut no_key = w
        .anna
        .complete_enrollment(&fetched.order, &new_key, &w.store)
        .await;
    no_key.new_public_key = None;
    refused_completion(
        &w,
        &session,
        &fetched,
        &no_key,
        |e| matches!(e, OrderError::InvalidParameters(_)),
        None,
    )
    .await;

    // The real approval is accepted and records the approved key.
    let approval = w
        .anna
        .complete_enrollment(&fetched.order, &new_key, &w.store)
        .await;
    w.orders
        .app_complete(&fetched.app_token, &approval, later(5), &mut rand::rng())
        .await
        .unwrap();
    let order = w
        .store
        .order(&fetched.order.order_ref)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        order.signature.unwrap().approved_key_sha256,
        Some(eid_orders::sha256(&new_key))
    );
}

#[tokio::test]
async fn a_card_not_yet_activated_in_the_store_becomes_active() {
    let w = world().await;
    // Activated on the card (PIN1 chosen), not yet in the store.
    let mut card = w.pki.card(ANNA, "9752000003", CardKind::OnePin).await;
    card.activate("246810");
    assert_eq!(
        w.store.card(&card.number).await.unwrap().unwrap().state,
        CardState::NotActivated
    );
    let (session, fetched) = fetched_login(&w).await;
    let done = w
        .orders
        .app_complete(
            &fetched.app_token,
            &card.complete_login(&fetched.order),
            later(5),
            &mut rand::rng(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.store.card(&card.number).await.unwrap().unwrap().state,
        CardState::Active
    );
    assert!(
        w.audit_actions()
            .await
            .ends_with(&["order.sign".into(), "card.activate".into()])
    );
    let (order_ref, secret) = return_params(&done.return_url);
    let collected = w
        .orders
        .browser_return(&order_ref, &secret, session.as_str(), later(6))
        .await
        .unwrap();
    assert_eq!(collected.completion_data.unwrap().card_number, card.number);
}
