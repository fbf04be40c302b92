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

    // An approval without the certificate request: refused, order unchanged.
    let approval = w
        .anna
        .complete_enrollment(&fetched.order, &new_key, &w.store)
        .await;
    refused_completion(
        &w,
        &session,
        &fetched,
        &approval,
        |e| matches!(e, OrderError::InvalidParameters(_)),
        None,
    )
    .await;

    // The real approval of a key made on the card is accepted, records the approved key
    // and answers the signing certificate, committed.
    let approval = w
        .anna
        .complete_signing_enrollment(&fetched.order, &w.store, &w.pki.master)
        .await;
    let done = w
        .orders
        .app_complete(&fetched.app_token, &approval, later(5), &mut rand::rng())
        .await
        .unwrap();
    let order = w
        .store
        .order(&fetched.order.order_ref)
        .await
        .unwrap()
        .unwrap();
    let key = approval.new_public_key.unwrap();
    assert_eq!(
        order.signature.unwrap().approved_key_sha256,
        Some(eid_orders::sha256(&key))
    );
    let certificate = done.certificate.unwrap();
    let record = w
        .store
        .certificate_by_public_key(&eid_orders::sha256(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.der, certificate);
    assert_eq!(record.kind, eid_store::CertKind::Signing);
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

#[tokio::test]
async fn management_responses_only_for_an_open_fetch_and_with_the_master_key() {
    let w = world().await;
    let challenge = [7u8; 16];
    // A login order never gets one.
    let (_, login_order) = fetched_login(&w).await;
    assert!(matches!(
        w.orders
            .management_response(&login_order.app_token, &challenge, later(3))
            .await,
        Err(OrderError::InvalidParameters(_))
    ));
    // An engine without the card master key answers none.
    let session = w.session().await;
    let started = w.start(&enroll(&w.anna.number), &session).await;
    let fetched = w.fetch(&started).await.unwrap();
    assert!(matches!(
        w.orders
            .management_response(&fetched.app_token, &challenge, later(3))
            .await,
        Err(OrderError::Config(_))
    ));
    // With it: the card's AES answer, audited; a challenge of another length is refused.
    let orders = eid_orders::Orders::new(
        w.pki.store.clone(),
        w.pki.ca.clone(),
        eid_orders::OrderConfig::new(ORIGIN),
    )
    .unwrap()
    .with_card_master(std::sync::Arc::new(w.pki.master.clone()));
    let response = orders
        .management_response(&fetched.app_token, &challenge, later(3))
        .await
        .unwrap();
    assert_eq!(
        Some(response),
        w.pki.master.management_response(&w.anna.number, &challenge)
    );
    assert!(w.audit_actions().await.contains(&"card.management".into()));
    assert!(matches!(
        orders
            .management_response(&fetched.app_token, &[1, 2, 3], later(3))
            .await,
        Err(OrderError::InvalidParameters(_))
    ));
    // After the order's expiry: refused.
    assert!(matches!(
        orders
            .management_response(&fetched.app_token, &challenge, later(600))
            .await,
        Err(OrderError::Expired)
    ));
}
