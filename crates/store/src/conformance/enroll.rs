//! The [`EnrollStore`] part of the conformance suite: one fetch per card (a claim held by a
//! pending order, released when that order ends, expires or delivers), the per-order
//! budget, a race of claims with one winner, and deliveries recorded once. Expanded by
//! [`enroll_conformance_tests!`](crate::enroll_conformance_tests) with a [`Harness`] whose
//! store also implements [`OrderStore`] and [`EnrollStore`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use std::sync::Arc;

use time::Duration;

use super::orders::order;
use super::{Harness, T0, audit_len, certificate, event, race, seeded};
use crate::enroll::*;
use crate::model::*;
use crate::orders::OrderStore;
use crate::{Store, StoreError};

/// Expands to one `#[tokio::test]` per enrollment conformance check, run against
/// `$harness`.
#[macro_export]
macro_rules! enroll_conformance_tests {
    ($harness:expr) => {
        $crate::enroll_conformance_tests!(@each $harness;
            enroll_one_order_holds_a_card, enroll_budget, enroll_race_for_a_card,
            enroll_delivery_once);
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
        audit: event("card.management", card),
    }
}

async fn with_orders<H: Harness>(h: &H, orders: &[u8]) -> (Arc<H::Store>, String, String)
where
    H::Store: OrderStore + EnrollStore,
{
    let (store, hsa, card) = seeded(h).await;
    for n in orders {
        let mut o = order(*n);
        o.kind = "enrollSign".into();
        o.card_number = Some(card.clone());
        store
            .add_order(&o, &event("order.start", "x"))
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
    // After its expiry the claim lapses.
    let mut late = claim(2, &card, true);
    late.now = T0 + Duration::minutes(4);
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
