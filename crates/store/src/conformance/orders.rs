//! The [`OrderStore`] part of the conformance suite: order round trips, the single use of
//! the autostart token, the signature and the return secret (races included), the checks
//! inside the signing transaction, card activation, browser sessions and purging. Expanded
//! by [`order_conformance_tests!`](crate::order_conformance_tests) with a [`Harness`] whose
//! store also implements [`OrderStore`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::{Harness, T0, audit_len, certificate, event, race, seeded};
use crate::model::*;
use crate::orders::*;
use crate::{Conflict, Store, StoreError};

/// Expands to one `#[tokio::test]` per order conformance check, run against `$harness`.
#[macro_export]
macro_rules! order_conformance_tests {
    ($harness:expr) => {
        $crate::order_conformance_tests!(@each $harness;
            orders_round_trip, orders_autostart_token_once, orders_hints_and_failure,
            orders_sign_and_return_once, orders_relayed_return_fails_the_order,
            orders_sign_rechecks_certificate_card_and_person, orders_sign_activates_a_card,
            orders_race_for_autostart_token, orders_race_to_sign, orders_race_for_return_secret,
            orders_browser_sessions, orders_purge, orders_changes_are_announced);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::orders::$name(&$harness).await;
        }
    )*};
}

const SERIAL: u64 = 0x4A0B;

/// A fresh pending order number `n` (distinct references, tokens and hashes per `n`).
pub fn order(n: u8) -> OrderRecord {
    OrderRecord {
        order_ref: format!("order-{n}"),
        kind: "auth".into(),
        state: OrderState::Pending,
        hint: "outstandingTransaction".into(),
        autostart_token_sha256: [n; 32],
        autostart_used: false,
        app_token_sha256: None,
        qr_start_token: format!("qr-{n}"),
        qr_start_secret: format!("qr-secret-{n}"),
        server_nonce: format!("nonce-{n}"),
        browser_session_sha256: [0xB0; 32],
        requester_id: "mypages".into(),
        requester_name: "Mina sidor".into(),
        return_url: "https://eid.example/return".into(),
        text: "Logga in på Mina sidor".into(),
        card_number: None,
        created_at: T0,
        expires_at: T0 + Duration::minutes(3),
        purge_after: T0 + Duration::minutes(8),
        signature: None,
        return_secret_sha256: None,
        returned: false,
    }
}

fn app_token(n: u8) -> [u8; 32] {
    [n ^ 0xA5; 32]
}

fn signed_by(hsa: &str, card: &str) -> OrderSignature {
    OrderSignature {
        signed_at: T0 + Duration::seconds(20),
        hsa_id: hsa.into(),
        card_number: card.into(),
        certificate_serial: Serial::from_be_bytes(&SERIAL.to_be_bytes()).unwrap(),
        signature: vec![0x30, 0x44, 1, 2, 3],
        approved_key_sha256: None,
    }
}

fn sign_request(n: u8, hsa: &str, card: &str) -> SignOrder {
    SignOrder {
        order_ref: format!("order-{n}"),
        app_token_sha256: app_token(n),
        signature: signed_by(hsa, card),
        return_secret_sha256: [0x5E; 32],
        now: T0 + Duration::seconds(20),
        audit: event("order.sign", &format!("order-{n}")),
        activation: None,
    }
}

fn return_request(n: u8, session: [u8; 32]) -> ReturnToOrder {
    ReturnToOrder {
        order_ref: format!("order-{n}"),
        return_secret_sha256: [0x5E; 32],
        browser_session_sha256: session,
        now: T0 + Duration::seconds(30),
        complete_purge_after: T0 + Duration::minutes(4),
        failed_purge_after: T0 + Duration::minutes(6),
        on_complete: event("order.complete", &format!("order-{n}")),
        on_relay: event("order.fail", &format!("order-{n}")),
    }
}

/// A seeded store (organisation, person, card with an authentication certificate) and
/// order `n` added and fetched by the app. Returns the store, HSA-id and card number.
async fn fetched<H: Harness>(h: &H, n: u8) -> (Arc<H::Store>, String, String)
where
    H::Store: OrderStore,
{
    let (store, hsa, card) = seeded(h).await;
    store
        .add_certificate(&certificate(SERIAL, 0x11, &card, &hsa), &event("c", "x"))
        .await
        .unwrap();
    store
        .add_order(&order(n), &event("order.start", "x"))
        .await
        .unwrap();
    store
        .claim_order(&[n; 32], &app_token(n), T0 + Duration::seconds(5))
        .await
        .unwrap()
        .unwrap();
    (store, hsa, card)
}

/// An order round-trips with every field; a taken reference or token conflicts; the start
/// is audited.
pub async fn orders_round_trip<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    let mut full = order(1);
    full.kind = "enrollSign".into();
    full.card_number = Some("9752000001".into());
    store
        .add_order(&full, &event("order.start", "order-1"))
        .await
        .unwrap();
    assert_eq!(store.order("order-1").await.unwrap(), Some(full.clone()));
    assert_eq!(audit_len(&*store).await, 1);
    assert_eq!(store.order("order-404").await.unwrap(), None);
    assert_eq!(store.order_by_app_token(&app_token(1)).await.unwrap(), None);

    // A signed, returned record round-trips too (as a later implementation may copy one).
    let mut done = order(2);
    done.state = OrderState::Complete;
    done.autostart_used = true;
    done.app_token_sha256 = Some(app_token(2));
    done.signature = Some(OrderSignature {
        approved_key_sha256: Some([9; 32]),
        ..signed_by("SE2321000016-A1B2", "9752000001")
    });
    done.returned = true;
    store
        .add_order(&done, &event("order.start", "order-2"))
        .await
        .unwrap();
    assert_eq!(store.order("order-2").await.unwrap(), Some(done.clone()));
    assert_eq!(
        store.order_by_app_token(&app_token(2)).await.unwrap(),
        Some(done)
    );

    for clash in [
        order(1),
        OrderRecord {
            order_ref: "other".into(),
            ..order(1)
        },
        OrderRecord {
            order_ref: "other".into(),
            autostart_token_sha256: [77; 32],
            ..order(1)
        },
    ] {
        assert!(matches!(
            store.add_order(&clash, &event("order.start", "x")).await,
            Err(StoreError::Conflict(Conflict::OneTimeValue))
        ));
    }
    assert_eq!(store.order("order-1").await.unwrap(), Some(full));
    assert_eq!(audit_len(&*store).await, 2);
}

/// The autostart token fetches its order once, only while pending and unexpired.
pub async fn orders_autostart_token_once<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    store.add_order(&order(1), &event("o", "x")).await.unwrap();
    store.add_order(&order(2), &event("o", "x")).await.unwrap();
    let at = T0 + Duration::seconds(5);
    assert_eq!(
        store
            .claim_order(&[99; 32], &app_token(99), at)
            .await
            .unwrap(),
        None
    );

    let claimed = store
        .claim_order(&[1; 32], &app_token(1), at)
        .await
        .unwrap()
        .unwrap();
    assert!(claimed.autostart_used);
    assert_eq!(claimed.app_token_sha256, Some(app_token(1)));
    assert_eq!(claimed.hint, "started");
    assert_eq!(store.order("order-1").await.unwrap(), Some(claimed.clone()));
    assert_eq!(
        store.order_by_app_token(&app_token(1)).await.unwrap(),
        Some(claimed.clone())
    );
    // Used: refused, and the first app token stays.
    assert_eq!(
        store.claim_order(&[1; 32], &[3; 32], at).await.unwrap(),
        None
    );
    assert_eq!(store.order("order-1").await.unwrap(), Some(claimed));

    // Expired: refused, nothing changed.
    let late = T0 + Duration::minutes(3);
    assert_eq!(
        store
            .claim_order(&[2; 32], &app_token(2), late)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.order("order-2").await.unwrap(), Some(order(2)));
    assert_eq!(audit_len(&*store).await, 2);
}

/// Hints change only on pending, unsigned, unexpired orders; a failure is final and audited.
pub async fn orders_hints_and_failure<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    store.add_order(&order(1), &event("o", "x")).await.unwrap();
    let at = T0 + Duration::seconds(10);
    assert!(
        store
            .set_order_hint("order-1", "userSign", at)
            .await
            .unwrap()
    );
    assert_eq!(
        store.order("order-1").await.unwrap().unwrap().hint,
        "userSign"
    );
    assert!(
        !store
            .set_order_hint("order-404", "userSign", at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_order_hint("order-1", "started", T0 + Duration::minutes(3))
            .await
            .unwrap()
    );

    let purge = T0 + Duration::minutes(5);
    assert!(
        store
            .fail_order(
                "order-1",
                "userCancel",
                purge,
                &event("order.fail", "order-1")
            )
            .await
            .unwrap()
    );
    let failed = store.order("order-1").await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.hint.as_str(), failed.purge_after),
        (OrderState::Failed, "userCancel", purge)
    );
    assert_eq!(audit_len(&*store).await, 2);
    // Final: neither another failure nor a hint changes it, and nothing is audited.
    assert!(
        !store
            .fail_order(
                "order-1",
                "cancelled",
                purge,
                &event("order.fail", "order-1")
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_order_hint("order-1", "userSign", at)
            .await
            .unwrap()
    );
    assert_eq!(store.order("order-1").await.unwrap(), Some(failed));
    assert_eq!(audit_len(&*store).await, 2);
}

/// A fetched order is signed once with its app token, then completed once by the browser
/// session that started it with the right secret.
pub async fn orders_sign_and_return_once<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let (store, hsa, card) = fetched(h, 1).await;
    let before = audit_len(&*store).await;

    // Another app token, or too late: nothing.
    let mut wrong = sign_request(1, &hsa, &card);
    wrong.app_token_sha256 = [0xEE; 32];
    assert!(!store.sign_order(&wrong).await.unwrap());
    let mut late = sign_request(1, &hsa, &card);
    late.now = T0 + Duration::minutes(3);
    assert!(!store.sign_order(&late).await.unwrap());
    // Before the signature there is nothing to return to.
    assert_eq!(
        store
            .return_to_order(&return_request(1, [0xB0; 32]))
            .await
            .unwrap(),
        ReturnOutcome::Refused
    );
    assert_eq!(audit_len(&*store).await, before);

    assert!(
        store
            .sign_order(&sign_request(1, &hsa, &card))
            .await
            .unwrap()
    );
    let signed = store.order("order-1").await.unwrap().unwrap();
    assert_eq!(signed.state, OrderState::Pending);
    assert_eq!(signed.signature, Some(signed_by(&hsa, &card)));
    assert_eq!(signed.return_secret_sha256, Some([0x5E; 32]));
    assert_eq!(audit_len(&*store).await, before + 1);
    // Once: a second signature and a hint change are refused.
    assert!(
        !store
            .sign_order(&sign_request(1, &hsa, &card))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_order_hint("order-1", "started", T0)
            .await
            .unwrap()
    );

    // A wrong secret, or a return after expiry: refused, nothing changed.
    let mut bad_secret = return_request(1, [0xB0; 32]);
    bad_secret.return_secret_sha256 = [0x5F; 32];
    assert_eq!(
        store.return_to_order(&bad_secret).await.unwrap(),
        ReturnOutcome::Refused
    );
    let mut too_late = return_request(1, [0xB0; 32]);
    too_late.now = T0 + Duration::minutes(3);
    assert_eq!(
        store.return_to_order(&too_late).await.unwrap(),
        ReturnOutcome::Refused
    );
    assert_eq!(store.order("order-1").await.unwrap(), Some(signed));

    let ReturnOutcome::Completed(done) = store
        .return_to_order(&return_request(1, [0xB0; 32]))
        .await
        .unwrap()
    else {
        panic!("the right secret and session complete the order");
    };
    assert_eq!(done.state, OrderState::Complete);
    assert!(done.returned);
    assert_eq!(done.return_secret_sha256, None);
    assert_eq!(done.purge_after, T0 + Duration::minutes(4));
    assert_eq!(store.order("order-1").await.unwrap().as_ref(), Some(&*done));
    assert_eq!(audit_len(&*store).await, before + 2);
    // The secret is spent; a completed order cannot fail.
    assert_eq!(
        store
            .return_to_order(&return_request(1, [0xB0; 32]))
            .await
            .unwrap(),
        ReturnOutcome::Refused
    );
    assert!(
        !store
            .fail_order("order-1", "cancelled", T0, &event("order.fail", "x"))
            .await
            .unwrap()
    );
    assert_eq!(store.order("order-1").await.unwrap().as_ref(), Some(&*done));
    assert_eq!(audit_len(&*store).await, before + 2);
}

/// The right secret in another browser session spends the secret and fails the order.
pub async fn orders_relayed_return_fails_the_order<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let (store, hsa, card) = fetched(h, 1).await;
    assert!(
        store
            .sign_order(&sign_request(1, &hsa, &card))
            .await
            .unwrap()
    );
    let before = audit_len(&*store).await;
    assert_eq!(
        store
            .return_to_order(&return_request(1, [0xBB; 32]))
            .await
            .unwrap(),
        ReturnOutcome::Relayed
    );
    let failed = store.order("order-1").await.unwrap().unwrap();
    assert_eq!(failed.state, OrderState::Failed);
    assert_eq!(failed.hint, RELAYED_HINT);
    assert_eq!(failed.return_secret_sha256, None);
    assert_eq!(failed.purge_after, T0 + Duration::minutes(6));
    assert_eq!(audit_len(&*store).await, before + 1);
    // Not even the right session can complete it now.
    assert_eq!(
        store
            .return_to_order(&return_request(1, [0xB0; 32]))
            .await
            .unwrap(),
        ReturnOutcome::Refused
    );
    assert_eq!(store.order("order-1").await.unwrap(), Some(failed));
}

/// The signing transaction refuses a revoked certificate, a revoked card and an inactive
/// person, and changes nothing.
pub async fn orders_sign_rechecks_certificate_card_and_person<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    async fn refused<S: Store + OrderStore>(store: &S, req: &SignOrder) {
        let before = store.order(&req.order_ref).await.unwrap();
        let len = audit_len(store).await;
        assert!(
            matches!(store.sign_order(req).await, Err(StoreError::Refused(_))),
            "{req:?}"
        );
        assert_eq!(store.order(&req.order_ref).await.unwrap(), before);
        assert_eq!(audit_len(store).await, len);
    }

    // A certificate that is not there, or names another card.
    let (store, hsa, card) = fetched(h, 1).await;
    let mut unknown = sign_request(1, &hsa, &card);
    unknown.signature.certificate_serial = Serial::from_be_bytes(&[0x77]).unwrap();
    refused(&*store, &unknown).await;
    let mut other_card = sign_request(1, &hsa, &card);
    other_card.signature.card_number = "9752000999".into();
    refused(&*store, &other_card).await;

    // A revoked certificate.
    let serial = Serial::from_be_bytes(&SERIAL.to_be_bytes()).unwrap();
    store
        .revoke_certificate(
            &serial,
            RevocationReason::KeyCompromise,
            T0,
            &event("r", "x"),
        )
        .await
        .unwrap();
    refused(&*store, &sign_request(1, &hsa, &card)).await;

    // A revoked card (its certificate still valid).
    let (store, hsa, card) = fetched(h, 1).await;
    store
        .set_card_state(&card, CardState::Revoked, &event("card.revoke", &card))
        .await
        .unwrap();
    refused(&*store, &sign_request(1, &hsa, &card)).await;

    // An inactive person.
    let (store, _, _) = fetched(h, 1).await;
    let mut gone = super::person("2321000016", "GONE");
    gone.active = false;
    store.add_person(&gone, &event("p", "x")).await.unwrap();
    store
        .add_card(&super::card("9752000002", &gone.hsa_id), &event("c", "x"))
        .await
        .unwrap();
    store
        .add_certificate(
            &certificate(SERIAL + 1, 0x22, "9752000002", &gone.hsa_id),
            &event("c", "x"),
        )
        .await
        .unwrap();
    let mut req = sign_request(1, &gone.hsa_id, "9752000002");
    req.signature.certificate_serial = Serial::from_be_bytes(&(SERIAL + 1).to_be_bytes()).unwrap();
    refused(&*store, &req).await;
}

/// A signature with a card that is not activated activates it, in the same transaction,
/// with its own audit entry; a signature without an activation event leaves it.
pub async fn orders_sign_activates_a_card<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let (store, hsa, card) = fetched(h, 1).await;
    store
        .set_card_state(&card, CardState::NotActivated, &event("c", "x"))
        .await
        .unwrap();
    store.add_order(&order(2), &event("o", "x")).await.unwrap();
    store
        .claim_order(&[2; 32], &app_token(2), T0)
        .await
        .unwrap()
        .unwrap();
    let before = audit_len(&*store).await;
    assert!(
        store
            .sign_order(&sign_request(2, &hsa, &card))
            .await
            .unwrap()
    );
    assert_eq!(
        store.card(&card).await.unwrap().unwrap().state,
        CardState::NotActivated
    );
    let mut activate = sign_request(1, &hsa, &card);
    activate.activation = Some(event("card.activate", &card));
    assert!(store.sign_order(&activate).await.unwrap());
    assert_eq!(
        store.card(&card).await.unwrap().unwrap().state,
        CardState::Active
    );
    let entries = store.audit_entries(before, 10).await.unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["order.sign", "order.sign", "card.activate"]);
}

fn won(won: bool) -> Result<(), StoreError> {
    if won {
        Ok(())
    } else {
        Err(StoreError::Refused("lost".into()))
    }
}

/// Sixteen apps racing with one autostart token: exactly one gets the order.
pub async fn orders_race_for_autostart_token<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    store.add_order(&order(1), &event("o", "x")).await.unwrap();
    let (wins, losses) = race(&store, 16, |s, i| async move {
        let got = s.claim_order(&[1; 32], &[i as u8; 32], T0).await?;
        won(got.is_some())
    })
    .await;
    assert_eq!((wins, losses.len()), (1, 15));
    let claimed = store.order("order-1").await.unwrap().unwrap();
    let winner = claimed.app_token_sha256.unwrap();
    assert_eq!(
        store.order_by_app_token(&winner).await.unwrap(),
        Some(claimed)
    );
}

/// Eight completions racing for one order: exactly one signature is recorded.
pub async fn orders_race_to_sign<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let (store, hsa, card) = fetched(h, 1).await;
    let before = audit_len(&*store).await;
    let (wins, _) = race(&store, 8, |s, i| {
        let mut req = sign_request(1, &hsa, &card);
        req.signature.signature = vec![0x30, i as u8];
        req.return_secret_sha256 = [i as u8; 32];
        async move { won(s.sign_order(&req).await?) }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(audit_len(&*store).await, before + 1);
    let signed = store.order("order-1").await.unwrap().unwrap();
    let i = signed.signature.unwrap().signature[1];
    assert_eq!(signed.return_secret_sha256, Some([i; 32]));
}

/// Sixteen returns racing with the right secret (half of them from another browser
/// session): exactly one is not refused.
pub async fn orders_race_for_return_secret<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let (store, hsa, card) = fetched(h, 1).await;
    assert!(
        store
            .sign_order(&sign_request(1, &hsa, &card))
            .await
            .unwrap()
    );
    let before = audit_len(&*store).await;
    let (wins, _) = race(&store, 16, |s, i| {
        let session = if i % 2 == 0 { [0xB0; 32] } else { [0xBB; 32] };
        let req = return_request(1, session);
        async move { won(s.return_to_order(&req).await? != ReturnOutcome::Refused) }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(audit_len(&*store).await, before + 1);
    let order = store.order("order-1").await.unwrap().unwrap();
    assert_ne!(order.state, OrderState::Pending);
    assert_eq!(order.return_secret_sha256, None);
}

/// Browser sessions: stored by hash, unique, invisible once expired.
pub async fn orders_browser_sessions<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    let session = BrowserSession {
        id_sha256: [0xB0; 32],
        created_at: T0,
        expires_at: T0 + Duration::hours(1),
    };
    store.add_browser_session(&session).await.unwrap();
    assert_eq!(
        store.browser_session(&[0xB0; 32], T0).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(store.browser_session(&[0xB1; 32], T0).await.unwrap(), None);
    assert_eq!(
        store
            .browser_session(&[0xB0; 32], T0 + Duration::hours(1))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.add_browser_session(&session).await,
        Err(StoreError::Conflict(Conflict::OneTimeValue))
    ));
}

/// Purging forgets orders past their `purge_after` and expired browser sessions, and
/// nothing else.
pub async fn orders_purge<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    let at = |minutes: i64| -> OffsetDateTime { T0 + Duration::minutes(minutes) };
    for (n, purge) in [(1u8, 4), (2, 6), (3, 9)] {
        let mut o = order(n);
        o.purge_after = at(purge);
        store.add_order(&o, &event("o", "x")).await.unwrap();
    }
    for (n, expiry) in [(1u8, 5), (2, 60)] {
        store
            .add_browser_session(&BrowserSession {
                id_sha256: [n; 32],
                created_at: T0,
                expires_at: at(expiry),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store.purge_expired_orders(at(1)).await.unwrap(),
        Purged::default()
    );
    assert_eq!(
        store.purge_expired_orders(at(7)).await.unwrap(),
        Purged {
            orders: 2,
            browser_sessions: 1
        }
    );
    assert_eq!(store.order("order-1").await.unwrap(), None);
    assert_eq!(store.order("order-2").await.unwrap(), None);
    assert!(store.order("order-3").await.unwrap().is_some());
    assert!(
        store
            .browser_session(&[2; 32], at(7))
            .await
            .unwrap()
            .is_some()
    );
    // The audit log keeps the starts: purging forgets state, never history.
    assert_eq!(audit_len(&*store).await, 3);
}

/// A committed change to an order reaches the store's feed of changed orders; a change
/// that does not apply announces nothing.
pub async fn orders_changes_are_announced<H: Harness>(h: &H)
where
    H::Store: OrderStore,
{
    let store = h.fresh().await;
    let mut changes = store.order_changes().expect("the store has a feed");
    store
        .add_order(&order(1), &event("order.start", "order-1"))
        .await
        .unwrap();
    // A feed through the database may start listening after the first change: change the
    // order until it is heard.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut hint = 0;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no announcement");
        hint += 1;
        assert!(
            store
                .set_order_hint(&order(1).order_ref, &format!("hint{hint}"), T0)
                .await
                .unwrap()
        );
        let heard = tokio::time::timeout(std::time::Duration::from_millis(300), async {
            loop {
                match changes.recv().await {
                    Ok(r) if r == order(1).order_ref => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        })
        .await;
        if heard == Ok(true) {
            break;
        }
    }
    // Nothing applies to an unknown order: nothing is announced about it.
    assert!(
        !store
            .set_order_hint("no-such-order", "x", T0)
            .await
            .unwrap()
    );
    while let Ok(Ok(r)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), changes.recv()).await
    {
        assert_ne!(r, "no-such-order");
    }
}
