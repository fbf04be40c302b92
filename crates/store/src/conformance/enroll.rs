//! The [`EnrollStore`] part of the conformance suite: one fetch per card (a claim held by a
//! pending order, released when that order ends, expires or delivers; only a pending,
//! unexpired order claims), the per-order budget, a race of claims with one winner, a new
//! order superseding the card's unsigned ones (never a signed one, never another card's),
//! a completion resuming a signed holder's key, supersede racing claims and starts,
//! deliveries recorded once, and a delivery revoking the card's older signing certificates
//! (a renewal). Expanded by
//! [`enroll_conformance_tests!`](crate::enroll_conformance_tests) with a [`Harness`] whose
//! store also implements [`OrderStore`] and [`EnrollStore`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::orders::order;
use super::{Harness, T0, audit_len, card as card_record, certificate, event, race, seeded};
use crate::enroll::*;
use crate::model::*;
use crate::orders::{OrderRecord, OrderSignature, OrderState, OrderStore};
use crate::{Store, StoreError};

/// Expands to one `#[tokio::test]` per enrollment conformance check, run against
/// `$harness`.
#[macro_export]
macro_rules! enroll_conformance_tests {
    ($harness:expr) => {
        $crate::enroll_conformance_tests!(@each $harness;
            enroll_one_order_holds_a_card, enroll_budget, enroll_race_for_a_card,
            enroll_delivery_once, enroll_only_a_pending_order_claims,
            enroll_a_new_order_supersedes_unsigned_ones,
            enroll_a_signed_holder_is_resumed_not_superseded, enroll_supersede_races_a_claim,
            enroll_starts_race_one_stays,
            enroll_a_delivery_supersedes_older_signing_certificates);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::enroll::$name(&$harness).await;
        }
    )*};
}

fn claim(n: u8, card: &str, counts: bool) -> CardClaim {
    CardClaim {
        card_number: card.into(),
        order_ref: format!("order-{n}"),
        counts,
        max: 3,
        until: T0 + Duration::minutes(3),
        now: T0 + Duration::seconds(10),
        resume: None,
        audit: event("card.management", card),
    }
}

/// Order `n` as an `enrollSign` order for `card`; order `n` expires `2 + n` minutes after
/// [`T0`], so that a later order outlives an earlier one.
fn enroll_order(n: u8, card: &str) -> OrderRecord {
    let mut o = order(n);
    o.kind = "enrollSign".into();
    o.card_number = Some(card.into());
    o.expires_at = T0 + Duration::minutes(2 + i64::from(n));
    o.purge_after = o.expires_at + Duration::minutes(5);
    o
}

/// How the tests' superseded orders end.
fn superseding(by: &str) -> Supersede {
    let mut audit = event("order.fail", "replaced by the store");
    audit.details = serde_json::json!({ "hint": "cancelled", "supersededBy": by });
    Supersede {
        hint: "cancelled".into(),
        purge_after: T0 + Duration::minutes(20),
        audit,
    }
}

/// Order `n` started at `at` as a new enrollment of `card`.
fn new_enrollment(n: u8, card: &str, at: OffsetDateTime) -> NewEnrollment {
    let mut o = enroll_order(n, card);
    o.created_at = at;
    NewEnrollment {
        order: o,
        audit: event("order.start", &format!("order-{n}")),
        supersede: superseding(&format!("order-{n}")),
    }
}

/// A signature of `hsa` on `card` approving the key whose hash is `[key; 32]`.
fn approving(hsa: &str, card: &str, key: u8) -> OrderSignature {
    OrderSignature {
        signed_at: T0 + Duration::seconds(20),
        hsa_id: hsa.into(),
        card_number: card.into(),
        certificate_serial: Serial::from_be_bytes(&[0x51]).unwrap(),
        signature: vec![0x30, 0x44, 1, 2, 3],
        approved_key_sha256: Some([key; 32]),
    }
}

async fn state_of<S: OrderStore>(store: &S, n: u8) -> (OrderState, String) {
    let o = store.order(&format!("order-{n}")).await.unwrap().unwrap();
    (o.state, o.hint)
}

/// The newest audit entries' actions and subjects, oldest first.
async fn last_audit<S: Store>(store: &S, n: usize) -> Vec<(String, String)> {
    let all = store.audit_entries(0, 10_000).await.unwrap();
    all[all.len() - n..]
        .iter()
        .map(|e| (e.event.action.clone(), e.event.subject.clone()))
        .collect()
}

async fn with_orders<H: Harness>(h: &H, orders: &[u8]) -> (Arc<H::Store>, String, String)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, card) = seeded(h).await;
    for n in orders {
        store
            .add_order(&enroll_order(*n, &card), &event("order.start", "x"))
            .await
            .unwrap();
    }
    (store, hsa, card)
}

/// A pending order holds its card; another order is refused until the holder fails, or
/// its claim lapses; every grant is audited, a refusal is not.
pub async fn enroll_one_order_holds_a_card<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, _, card) = with_orders(h, &[1, 2]).await;
    let before = audit_len(&*store).await;
    assert_eq!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
    assert_eq!(
        store.claim_card(&claim(1, &card, false)).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
    assert_eq!(
        store.claim_card(&claim(2, &card, true)).await.unwrap(),
        ClaimOutcome::Busy {
            order_ref: "order-1".into()
        }
    );
    assert_eq!(audit_len(&*store).await, before + 2);
    // After its expiry the claim lapses (order 2 lives a minute longer than order 1).
    let mut late = claim(2, &card, true);
    late.now = T0 + Duration::seconds(210);
    assert_eq!(
        store.claim_card(&late).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
    // Order 2 now holds it; when order 2 fails, order 1 may claim again.
    assert!(matches!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Busy { .. }
    ));
    store
        .fail_order(
            "order-2",
            "userCancel",
            T0 + Duration::minutes(9),
            &event("order.fail", "order-2"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Granted(2)
    );
}

/// An order's counted steps stop at its budget; uncounted ones do not count.
pub async fn enroll_budget<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, _, card) = with_orders(h, &[1]).await;
    for n in 1..=3 {
        assert_eq!(
            store.claim_card(&claim(1, &card, true)).await.unwrap(),
            ClaimOutcome::Granted(n)
        );
    }
    assert_eq!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Exhausted
    );
    assert_eq!(
        store.claim_card(&claim(1, &card, false)).await.unwrap(),
        ClaimOutcome::Granted(3)
    );
}

/// Of orders claiming one free card at once, exactly one wins.
pub async fn enroll_race_for_a_card<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, _, card) = with_orders(h, &[1, 2, 3, 4, 5, 6, 7, 8]).await;
    let (wins, losses) = race(&store, 8, |s, i| {
        let c = claim(i as u8 + 1, &card, true);
        async move {
            match s.claim_card(&c).await? {
                ClaimOutcome::Granted(_) => Ok(()),
                other => Err(StoreError::Refused(format!("{other:?}"))),
            }
        }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(losses.len(), 7);
}

/// A delivery is recorded once (audited once), releases the delivering order's claim, and
/// reads back.
pub async fn enroll_delivery_once<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, card) = with_orders(h, &[1, 2]).await;
    let mut cert = certificate(0x5151, 0x22, &card, &hsa);
    cert.kind = CertKind::Signing;
    store
        .add_certificate(&cert, &event("certificate.issue", "x"))
        .await
        .unwrap();
    assert_eq!(store.delivered_at(&cert.serial).await.unwrap(), None);
    store.claim_card(&claim(1, &card, true)).await.unwrap();
    let delivery = Delivery {
        serial: cert.serial.clone(),
        card_number: card.clone(),
        order_ref: "order-1".into(),
        at: T0 + Duration::seconds(30),
        audit: event("certificate.deliver", "x"),
        superseded_audit: event("certificate.revoke", "x"),
    };
    let before = audit_len(&*store).await;
    assert!(store.confirm_delivery(&delivery).await.unwrap());
    assert!(!store.confirm_delivery(&delivery).await.unwrap());
    assert_eq!(audit_len(&*store).await, before + 1);
    assert_eq!(
        store.delivered_at(&cert.serial).await.unwrap(),
        Some(T0 + Duration::seconds(30))
    );
    // The card is free for another order.
    assert_eq!(
        store.claim_card(&claim(2, &card, true)).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
}

/// Only a pending, unexpired order claims a card: a failed, expired or unknown one gets
/// [`ClaimOutcome::Ended`], and nothing is changed or audited.
pub async fn enroll_only_a_pending_order_claims<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, _, card) = with_orders(h, &[1, 2]).await;
    store
        .fail_order(
            "order-1",
            "userCancel",
            T0 + Duration::minutes(9),
            &event("order.fail", "order-1"),
        )
        .await
        .unwrap();
    let before = audit_len(&*store).await;
    assert_eq!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Ended
    );
    let mut expired = claim(2, &card, true);
    expired.now = T0 + Duration::minutes(4);
    assert_eq!(
        store.claim_card(&expired).await.unwrap(),
        ClaimOutcome::Ended
    );
    assert_eq!(
        store.claim_card(&claim(7, &card, true)).await.unwrap(),
        ClaimOutcome::Ended
    );
    assert_eq!(audit_len(&*store).await, before);
    // Nothing was counted: order 2's first counted step is still its first.
    assert_eq!(
        store.claim_card(&claim(2, &card, true)).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
}

/// A new enrollment supersedes the card's pending, unsigned, unexpired orders (the one
/// holding the card included), each failed with the given hint and audited under its own
/// reference; a signed order, an expired one, another card's and a login order are left
/// alone. The superseded holder's claim is gone, and it cannot claim again.
pub async fn enroll_a_new_order_supersedes_unsigned_ones<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, card) = with_orders(h, &[1, 2]).await;
    store
        .add_card(&card_record("9752000002", &hsa), &event("card.add", "x"))
        .await
        .unwrap();
    let mut signed = enroll_order(3, &card);
    signed.signature = Some(approving(&hsa, &card, 0x33));
    let other_card = enroll_order(4, "9752000002");
    let login = order(5);
    let mut expired = enroll_order(6, &card);
    expired.expires_at = T0 + Duration::seconds(30);
    for o in [signed, other_card, login, expired] {
        store
            .add_order(&o, &event("order.start", "x"))
            .await
            .unwrap();
    }
    assert_eq!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
    let before = audit_len(&*store).await;

    let started = new_enrollment(9, &card, T0 + Duration::minutes(1));
    let superseded = store.start_enrollment(&started).await.unwrap();
    assert_eq!(superseded, vec!["order-1".to_owned(), "order-2".to_owned()]);
    assert_eq!(audit_len(&*store).await, before + 3);
    assert_eq!(
        last_audit(&*store, 3).await,
        vec![
            ("order.start".into(), "order-9".into()),
            ("order.fail".into(), "order-1".into()),
            ("order.fail".into(), "order-2".into()),
        ]
    );
    for n in [1, 2] {
        assert_eq!(
            state_of(&*store, n).await,
            (OrderState::Failed, "cancelled".into())
        );
        let o = store.order(&format!("order-{n}")).await.unwrap().unwrap();
        assert_eq!(o.purge_after, T0 + Duration::minutes(20));
    }
    for n in [3, 4, 5, 6] {
        assert_eq!(
            state_of(&*store, n).await.0,
            OrderState::Pending,
            "order-{n}"
        );
    }
    assert_eq!(
        store.order("order-9").await.unwrap().unwrap(),
        started.order
    );
    // The card is free for the new order; the superseded holder cannot take it back.
    let mut step = claim(9, &card, true);
    step.now = T0 + Duration::seconds(70);
    assert_eq!(
        store.claim_card(&step).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
    assert_eq!(
        store.claim_card(&claim(1, &card, true)).await.unwrap(),
        ClaimOutcome::Ended
    );

    // Only an enrollSign order for a card starts an enrollment; nothing changes otherwise.
    let before = audit_len(&*store).await;
    let mut no_card = new_enrollment(10, &card, T0 + Duration::minutes(2));
    no_card.order.card_number = None;
    let mut a_login = new_enrollment(11, &card, T0 + Duration::minutes(2));
    a_login.order.kind = "auth".into();
    for bad in [no_card, a_login] {
        assert!(matches!(
            store.start_enrollment(&bad).await,
            Err(StoreError::Refused(_))
        ));
    }
    // A one-time value taken: refused as by add_order, and order 9 stays.
    let mut clash = new_enrollment(12, &card, T0 + Duration::minutes(2));
    clash.order.autostart_token_sha256 = [9; 32];
    assert!(matches!(
        store.start_enrollment(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(state_of(&*store, 9).await.0, OrderState::Pending);
    assert_eq!(audit_len(&*store).await, before);
}

/// A signed order holding the card (its certificate issued, not yet confirmed on the card)
/// is not superseded by a new order. A management step of the new order is refused, and so
/// is a completion for another key; a completion for the holder's key takes the card over
/// (the holder fails, audited).
pub async fn enroll_a_signed_holder_is_resumed_not_superseded<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, card) = seeded(h).await;
    let mut signed = enroll_order(3, &card);
    signed.signature = Some(approving(&hsa, &card, 0x33));
    store
        .add_order(&signed, &event("order.start", "x"))
        .await
        .unwrap();
    assert_eq!(
        store.claim_card(&claim(3, &card, false)).await.unwrap(),
        ClaimOutcome::Granted(0)
    );
    let started = new_enrollment(9, &card, T0 + Duration::minutes(1));
    assert!(store.start_enrollment(&started).await.unwrap().is_empty());
    assert_eq!(state_of(&*store, 3).await.0, OrderState::Pending);

    let busy = ClaimOutcome::Busy {
        order_ref: "order-3".into(),
    };
    let mut management = claim(9, &card, true);
    management.now = T0 + Duration::seconds(70);
    assert_eq!(store.claim_card(&management).await.unwrap(), busy);
    let resume = |key: u8| {
        let mut c = claim(9, &card, false);
        c.now = T0 + Duration::seconds(80);
        c.audit = event("order.enroll", &card);
        c.resume = Some(Resume {
            key_sha256: [key; 32],
            supersede: superseding("order-9"),
        });
        c
    };
    let before = audit_len(&*store).await;
    assert_eq!(store.claim_card(&resume(0x44)).await.unwrap(), busy);
    assert_eq!(state_of(&*store, 3).await.0, OrderState::Pending);
    assert_eq!(audit_len(&*store).await, before);

    assert_eq!(
        store.claim_card(&resume(0x33)).await.unwrap(),
        ClaimOutcome::Granted(0)
    );
    assert_eq!(
        state_of(&*store, 3).await,
        (OrderState::Failed, "cancelled".into())
    );
    assert_eq!(
        last_audit(&*store, 2).await,
        vec![
            ("order.fail".into(), "order-3".into()),
            ("order.enroll".into(), card.clone()),
        ]
    );
    // Order 9 holds the card now: its management steps (the write) are granted, the
    // superseded order's are not.
    assert_eq!(
        store.claim_card(&management).await.unwrap(),
        ClaimOutcome::Granted(1)
    );
    assert_eq!(
        store.claim_card(&claim(3, &card, true)).await.unwrap(),
        ClaimOutcome::Ended
    );
}

/// A holder's claim racing a new order's start: whichever runs first, the holder ends
/// failed and without the card, and the new order gets it.
pub async fn enroll_supersede_races_a_claim<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    for round in 0..10u8 {
        let (store, _, card) = with_orders(h, &[1]).await;
        let start = new_enrollment(9, &card, T0 + Duration::seconds(5));
        let (s1, s2) = (Arc::clone(&store), Arc::clone(&store));
        let step = claim(1, &card, true);
        let (claimed, started) = tokio::join!(
            tokio::spawn(async move { s1.claim_card(&step).await }),
            tokio::spawn(async move { s2.start_enrollment(&start).await }),
        );
        let claimed = claimed.unwrap().unwrap();
        assert!(
            matches!(claimed, ClaimOutcome::Granted(1) | ClaimOutcome::Ended),
            "round {round}: {claimed:?}"
        );
        assert_eq!(started.unwrap().unwrap(), vec!["order-1".to_owned()]);
        assert_eq!(state_of(&*store, 1).await.0, OrderState::Failed);
        let mut next = claim(9, &card, true);
        next.now = T0 + Duration::seconds(20);
        assert_eq!(
            store.claim_card(&next).await.unwrap(),
            ClaimOutcome::Granted(1),
            "round {round}"
        );
    }
}

/// New orders for one card started at once: exactly one stays pending, every other one
/// is superseded by a later one.
pub async fn enroll_starts_race_one_stays<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, _, card) = seeded(h).await;
    let (wins, _) = race(&store, 8, |s, i| {
        let start = new_enrollment(i as u8 + 1, &card, T0 + Duration::seconds(5));
        async move { s.start_enrollment(&start).await.map(drop) }
    })
    .await;
    assert_eq!(wins, 8, "every start is added");
    let mut pending = 0;
    for n in 1..=8 {
        match state_of(&*store, n).await {
            (OrderState::Pending, _) => pending += 1,
            (OrderState::Failed, hint) => assert_eq!(hint, "cancelled"),
            other => panic!("order-{n}: {other:?}"),
        }
    }
    assert_eq!(pending, 1);
}

/// A delivery revokes the card's other signing certificates in force (`superseded`, at the
/// delivery, one `certificate.revoke` entry each, subject the serial), in its transaction:
/// never the delivered one, an authentication certificate, an expired one, one revoked
/// already (its reason stays), or another card's. Delivering again changes nothing.
pub async fn enroll_a_delivery_supersedes_older_signing_certificates<H: Harness>(h: &H)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, card) = with_orders(h, &[1]).await;
    let other_card = "9752009999";
    store
        .add_card(
            &card_record(other_card, &hsa),
            &event("card.add", other_card),
        )
        .await
        .unwrap();
    let at = T0 + Duration::days(700);
    let signing = |serial: u64, key: u8, card: &str| {
        let mut c = certificate(serial, key, card, &hsa);
        c.kind = CertKind::Signing;
        c
    };
    let auth = certificate(0x6001, 0x61, &card, &hsa);
    let old = signing(0x6002, 0x62, &card);
    let mut expired = signing(0x6003, 0x63, &card);
    expired.not_after = at - Duration::seconds(1);
    let compromised = signing(0x6004, 0x64, &card);
    let elsewhere = signing(0x6005, 0x65, other_card);
    let mut new = signing(0x6006, 0x66, &card);
    new.not_before = at - Duration::minutes(1);
    new.issued_at = at - Duration::minutes(1);
    for c in [&auth, &old, &expired, &compromised, &elsewhere, &new] {
        store
            .add_certificate(c, &event("certificate.issue", "x"))
            .await
            .unwrap();
    }
    store
        .revoke_certificate(
            &compromised.serial,
            RevocationReason::KeyCompromise,
            T0 + Duration::days(1),
            &event("certificate.revoke", "x"),
        )
        .await
        .unwrap();
    let delivery = Delivery {
        serial: new.serial.clone(),
        card_number: card.clone(),
        order_ref: "order-1".into(),
        at,
        audit: event("certificate.deliver", "x"),
        superseded_audit: event("certificate.revoke", "replaced by the store"),
    };
    assert!(store.confirm_delivery(&delivery).await.unwrap());
    let status = |serial: Serial| {
        let store = store.clone();
        async move { store.certificate(&serial).await.unwrap().unwrap().status }
    };
    assert_eq!(
        status(old.serial.clone()).await,
        CertStatus::Revoked {
            at,
            reason: RevocationReason::Superseded
        }
    );
    assert_eq!(
        status(compromised.serial.clone()).await,
        CertStatus::Revoked {
            at: T0 + Duration::days(1),
            reason: RevocationReason::KeyCompromise
        }
    );
    for kept in [&auth, &expired, &elsewhere, &new] {
        assert_eq!(status(kept.serial.clone()).await, CertStatus::Valid);
    }
    assert_eq!(
        last_audit(&*store, 2).await,
        vec![
            ("certificate.deliver".to_owned(), "x".to_owned()),
            ("certificate.revoke".to_owned(), old.serial.to_string()),
        ]
    );
    // Delivered again: nothing more.
    let before = audit_len(&*store).await;
    assert!(!store.confirm_delivery(&delivery).await.unwrap());
    assert_eq!(audit_len(&*store).await, before);
}
