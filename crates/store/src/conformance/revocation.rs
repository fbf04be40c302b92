//! The [`RevocationStore`] part of the conformance suite: the revoked certificates listed
//! with time and reason, the marker moving with every revocation (and only then), CRL
//! numbers handed out once each and in order under concurrency, CRLs recorded once and the
//! newest one served, and the OCSP responder's life cycle with exactly one winner of a
//! rollover race. Expanded by
//! [`revocation_store_conformance_tests!`](crate::revocation_store_conformance_tests) with a
//! [`Harness`] whose store also implements [`RevocationStore`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use std::collections::BTreeSet;
use std::sync::Arc;

use time::Duration;

use super::{Harness, T0, audit_len, certificate, event, race, seeded};
use crate::model::*;
use crate::revocation::*;
use crate::{Store, StoreError};

/// Expands to one `#[tokio::test]` per revocation conformance check, run against
/// `$harness`.
#[macro_export]
macro_rules! revocation_store_conformance_tests {
    ($harness:expr) => {
        $crate::revocation_store_conformance_tests!(@each $harness;
            revocation_lists_revoked_certificates, revocation_marker_moves_with_revocations,
            revocation_crl_numbers_once_each, revocation_crls_recorded,
            revocation_responder_life_cycle, revocation_responder_race);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::revocation::$name(&$harness).await;
        }
    )*};
}

fn serial(n: u64) -> Serial {
    Serial::from_be_bytes(&n.to_be_bytes()).unwrap()
}

/// Only revoked certificates are listed, by serial, with time and reason; those that
/// expired before the cut-off are left out; the status of one serial reads alike.
pub async fn revocation_lists_revoked_certificates<H: Harness>(h: &H)
where
    H::Store: RevocationStore,
{
    let (store, hsa, card) = seeded(h).await;
    for (n, key) in [(30, 1), (10, 2), (20, 3), (40, 4)] {
        let mut c = certificate(n, key, &card, &hsa);
        if n == 40 {
            c.not_after = T0 + Duration::days(1);
        }
        store.add_certificate(&c, &event("i", "x")).await.unwrap();
    }
    assert!(
        store
            .revoked_certificates(T0 - Duration::days(365))
            .await
            .unwrap()
            .is_empty()
    );
    let at = T0 + Duration::hours(2);
    for (n, reason) in [
        (30, RevocationReason::KeyCompromise),
        (10, RevocationReason::Superseded),
        (40, RevocationReason::CessationOfOperation),
    ] {
        store
            .revoke_certificate(&serial(n), reason, at, &event("r", "x"))
            .await
            .unwrap();
    }
    let listed = store
        .revoked_certificates(T0 - Duration::days(365))
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![
            RevokedCertificate {
                serial: serial(10),
                revoked_at: at,
                reason: RevocationReason::Superseded,
                not_after: T0 + Duration::days(730),
            },
            RevokedCertificate {
                serial: serial(30),
                revoked_at: at,
                reason: RevocationReason::KeyCompromise,
                not_after: T0 + Duration::days(730),
            },
            RevokedCertificate {
                serial: serial(40),
                revoked_at: at,
                reason: RevocationReason::CessationOfOperation,
                not_after: T0 + Duration::days(1),
            },
        ]
    );
    // The one that expired before the cut-off is left out.
    let later = store
        .revoked_certificates(T0 + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|r| r.serial.clone()).collect::<Vec<_>>(),
        [serial(10), serial(30)]
    );
    assert_eq!(
        store.revocation_status(&serial(20)).await.unwrap(),
        Some(CertStatus::Valid)
    );
    assert_eq!(
        store.revocation_status(&serial(30)).await.unwrap(),
        Some(CertStatus::Revoked {
            at,
            reason: RevocationReason::KeyCompromise
        })
    );
    assert_eq!(store.revocation_status(&serial(99)).await.unwrap(), None);
}

/// The marker moves with each revocation, and with a certificate recorded as revoked;
/// not with an issuance, nor with a refused revocation.
pub async fn revocation_marker_moves_with_revocations<H: Harness>(h: &H)
where
    H::Store: RevocationStore,
{
    let (store, hsa, card) = seeded(h).await;
    let start = store.revocation_marker().await.unwrap();
    assert_eq!(start.crl_number, 0);
    store
        .add_certificate(&certificate(1, 1, &card, &hsa), &event("i", "x"))
        .await
        .unwrap();
    assert_eq!(store.revocation_marker().await.unwrap(), start);
    store
        .revoke_certificate(
            &serial(1),
            RevocationReason::Unspecified,
            T0,
            &event("r", "x"),
        )
        .await
        .unwrap();
    let first = store.revocation_marker().await.unwrap();
    assert!(first.revocations > start.revocations);
    assert!(
        store
            .revoke_certificate(
                &serial(1),
                RevocationReason::KeyCompromise,
                T0,
                &event("r", "x")
            )
            .await
            .is_err()
    );
    assert_eq!(store.revocation_marker().await.unwrap(), first);
    let mut born_revoked = certificate(2, 2, &card, &hsa);
    born_revoked.status = CertStatus::Revoked {
        at: T0,
        reason: RevocationReason::Superseded,
    };
    store
        .add_certificate(&born_revoked, &event("i", "x"))
        .await
        .unwrap();
    let second = store.revocation_marker().await.unwrap();
    assert!(second.revocations > first.revocations);
    // Concurrent revocations each move it.
    for n in 10..18 {
        store
            .add_certificate(&certificate(n, n as u8, &card, &hsa), &event("i", "x"))
            .await
            .unwrap();
    }
    let (wins, _) = race(&store, 8, |s, i| async move {
        s.revoke_certificate(
            &serial(10 + i as u64),
            RevocationReason::CessationOfOperation,
            T0,
            &event("r", "x"),
        )
        .await
    })
    .await;
    assert_eq!(wins, 8);
    let last = store.revocation_marker().await.unwrap();
    assert!(last.revocations >= second.revocations + 8, "{last:?}");
}

/// Sixteen concurrent allocations get sixteen different numbers, all above those handed
/// out before.
pub async fn revocation_crl_numbers_once_each<H: Harness>(h: &H)
where
    H::Store: RevocationStore,
{
    let store = h.fresh().await;
    let first = store.allocate_crl_number().await.unwrap();
    assert!(first >= 1);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.allocate_crl_number().await.unwrap() })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for task in tasks {
        assert!(numbers.insert(task.await.unwrap()));
    }
    assert_eq!(numbers.len(), 16);
    assert!(numbers.iter().all(|n| *n > first));
    let next = store.allocate_crl_number().await.unwrap();
    assert!(next > *numbers.last().unwrap());
}

pub(crate) fn crl(number: u64, hours: i64) -> CrlRecord {
    CrlRecord {
        number,
        this_update: T0 + Duration::hours(hours),
        next_update: T0 + Duration::hours(hours + 24),
        der: vec![0x30, 0x03, 0x02, 0x01, number as u8],
    }
}

/// A CRL is recorded once, only under an allocated number, with its audit entry; the
/// newest number is the latest CRL (also when an older one is recorded late) and the
/// marker says it; a refusal leaves no trace.
pub async fn revocation_crls_recorded<H: Harness>(h: &H)
where
    H::Store: RevocationStore,
{
    let store = h.fresh().await;
    assert_eq!(store.latest_crl().await.unwrap(), None);
    let before = audit_len(&*store).await;
    assert!(matches!(
        store.record_crl(&crl(1, 0), &event("crl.issue", "1")).await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(audit_len(&*store).await, before);
    let a = store.allocate_crl_number().await.unwrap();
    let b = store.allocate_crl_number().await.unwrap();
    store
        .record_crl(&crl(b, 1), &event("crl.issue", "b"))
        .await
        .unwrap();
    assert_eq!(store.latest_crl().await.unwrap(), Some(crl(b, 1)));
    assert_eq!(store.revocation_marker().await.unwrap().crl_number, b);
    assert_eq!(audit_len(&*store).await, before + 1);
    // The earlier number, recorded late, does not replace it.
    store
        .record_crl(&crl(a, 0), &event("crl.issue", "a"))
        .await
        .unwrap();
    assert_eq!(store.latest_crl().await.unwrap(), Some(crl(b, 1)));
    assert_eq!(store.revocation_marker().await.unwrap().crl_number, b);
    // Once each.
    assert!(matches!(
        store.record_crl(&crl(b, 2), &event("crl.issue", "b")).await,
        Err(StoreError::Refused(_))
    ));
    let mut empty = crl(store.allocate_crl_number().await.unwrap(), 3);
    empty.next_update = empty.this_update;
    assert!(
        store
            .record_crl(&empty, &event("crl.issue", "x"))
            .await
            .is_err()
    );
    assert_eq!(audit_len(&*store).await, before + 2);
    assert_eq!(store.latest_crl().await.unwrap(), Some(crl(b, 1)));
}

pub(crate) fn responder(n: u64, days: i64) -> ResponderRecord {
    ResponderRecord {
        serial: serial(1000 + n),
        der: vec![0x30, 0x00, n as u8],
        sealed_key: vec![1, n as u8, 7, 7],
        not_before: T0 + Duration::days(days),
        not_after: T0 + Duration::days(days + 30),
        issued_at: T0 + Duration::days(days),
    }
}

/// The first responder is recorded only while there is none; a successor only in place of
/// the current one; the current one is the last recorded, and the history keeps them all.
pub async fn revocation_responder_life_cycle<H: Harness>(h: &H)
where
    H::Store: RevocationStore,
{
    let store = h.fresh().await;
    assert_eq!(store.current_ocsp_responder().await.unwrap(), None);
    let before = audit_len(&*store).await;
    let first = responder(1, 0);
    // A successor of a responder that does not exist is refused.
    assert!(
        !store
            .add_ocsp_responder(&first, Some(&serial(5)), &event("ocsp", "x"))
            .await
            .unwrap()
    );
    assert!(
        store
            .add_ocsp_responder(&first, None, &event("ocsp.responder", "1"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.current_ocsp_responder().await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(audit_len(&*store).await, before + 1);
    // Another first one loses: there is one.
    assert!(
        !store
            .add_ocsp_responder(&responder(2, 0), None, &event("ocsp", "x"))
            .await
            .unwrap()
    );
    let second = responder(3, 20);
    assert!(
        store
            .add_ocsp_responder(&second, Some(&first.serial), &event("ocsp.responder", "3"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.current_ocsp_responder().await.unwrap(),
        Some(second.clone())
    );
    // Replacing a responder that is no longer current is refused.
    assert!(
        !store
            .add_ocsp_responder(&responder(4, 20), Some(&first.serial), &event("ocsp", "x"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.ocsp_responders().await.unwrap(),
        vec![first, second.clone()]
    );
    assert_eq!(audit_len(&*store).await, before + 2);
    // A serial is recorded once.
    assert!(
        store
            .add_ocsp_responder(&second, Some(&second.serial), &event("ocsp", "x"))
            .await
            .is_err()
    );
}

/// Nodes racing to roll the responder over: exactly one successor is recorded.
pub async fn revocation_responder_race<H: Harness>(h: &H)
where
    H::Store: RevocationStore,
{
    let store = h.fresh().await;
    let first = responder(1, 0);
    assert!(
        store
            .add_ocsp_responder(&first, None, &event("ocsp.responder", "1"))
            .await
            .unwrap()
    );
    let (wins, losses) = race(&store, 8, |s, i| {
        let replaces = first.serial.clone();
        async move {
            let added = s
                .add_ocsp_responder(
                    &responder(10 + i as u64, 20),
                    Some(&replaces),
                    &event("ocsp.responder", "x"),
                )
                .await?;
            if added {
                Ok(())
            } else {
                Err(StoreError::Refused("another took over".into()))
            }
        }
    })
    .await;
    assert_eq!(wins, 1, "{losses:?}");
    assert_eq!(store.ocsp_responders().await.unwrap().len(), 2);
}
