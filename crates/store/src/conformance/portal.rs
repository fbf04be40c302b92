//! The [`PortalStore`] part of the conformance suite: My Pages' sessions. Expanded by
//! [`portal_store_conformance_tests!`](crate::portal_store_conformance_tests) with a
//! [`Harness`] whose store also implements [`PortalStore`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use std::sync::Arc;

use time::Duration;

use super::{Harness, T0};
use crate::portal::*;

/// Expands to one `#[tokio::test]` per portal-session conformance check, run against
/// `$harness`.
#[macro_export]
macro_rules! portal_store_conformance_tests {
    ($harness:expr) => {
        $crate::portal_store_conformance_tests!(@each $harness;
            portal_sessions, portal_session_renewal, portal_session_purge,
            portal_race_for_one_renewal);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::portal::$name(&$harness).await;
        }
    )*};
}

fn session(id: u8) -> PortalSessionRecord {
    PortalSessionRecord {
        id_sha256: [id; 32],
        subject: "sub-1".into(),
        hsa_id: Some("SE2321000016-A1B2".into()),
        card_number: Some("9752000001".into()),
        auth_time: Some(T0),
        sealed_tokens: vec![1, 2, 3],
        tokens_expire_at: T0 + Duration::minutes(5),
        created_at: T0,
        expires_at: T0 + Duration::hours(8),
    }
}

fn renewal(subject: &str, byte: u8) -> PortalRenewal {
    PortalRenewal {
        subject: subject.into(),
        card_number: Some("9752000002".into()),
        auth_time: Some(T0 + Duration::minutes(10)),
        sealed_tokens: vec![byte; 4],
        tokens_expire_at: T0 + Duration::minutes(15),
    }
}

/// Sessions are found by their id hash until they expire or end; an id is unique.
pub async fn portal_sessions<H: Harness>(h: &H)
where
    H::Store: PortalStore,
{
    let store = h.fresh().await;
    store.add_portal_session(&session(1)).await.unwrap();
    let found = store.portal_session(&[1; 32], T0).await.unwrap().unwrap();
    assert!(found == session(1), "{found:?}");
    assert!(store.portal_session(&[2; 32], T0).await.unwrap().is_none());
    assert!(
        store
            .portal_session(&[1; 32], T0 + Duration::hours(8))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(store.add_portal_session(&session(1)).await.is_err());
    let mut bare = session(3);
    bare.hsa_id = None;
    bare.card_number = None;
    bare.auth_time = None;
    store.add_portal_session(&bare).await.unwrap();
    let found = store.portal_session(&[3; 32], T0).await.unwrap().unwrap();
    assert!(found == bare);
    assert!(store.end_portal_session(&[1; 32]).await.unwrap());
    assert!(!store.end_portal_session(&[1; 32]).await.unwrap());
    assert!(store.portal_session(&[1; 32], T0).await.unwrap().is_none());
}

/// A renewal replaces tokens, card and `auth_time` only for the same subject.
pub async fn portal_session_renewal<H: Harness>(h: &H)
where
    H::Store: PortalStore,
{
    let store = h.fresh().await;
    store.add_portal_session(&session(1)).await.unwrap();
    assert!(
        !store
            .renew_portal_session(&[1; 32], &renewal("someone else", 9), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_portal_session(&[2; 32], &renewal("sub-1", 9), T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .renew_portal_session(&[1; 32], &renewal("sub-1", 9), T0)
            .await
            .unwrap()
    );
    let found = store.portal_session(&[1; 32], T0).await.unwrap().unwrap();
    assert_eq!(found.sealed_tokens, vec![9; 4]);
    assert_eq!(found.card_number.as_deref(), Some("9752000002"));
    assert_eq!(found.auth_time, Some(T0 + Duration::minutes(10)));
    assert_eq!(found.tokens_expire_at, T0 + Duration::minutes(15));
    assert_eq!(found.expires_at, T0 + Duration::hours(8), "the end stays");
    assert!(
        !store
            .renew_portal_session(&[1; 32], &renewal("sub-1", 8), T0 + Duration::hours(9))
            .await
            .unwrap(),
        "an expired session is not renewed"
    );
}

/// Expired sessions are purged, live ones kept.
pub async fn portal_session_purge<H: Harness>(h: &H)
where
    H::Store: PortalStore,
{
    let store = h.fresh().await;
    store.add_portal_session(&session(1)).await.unwrap();
    let mut short = session(2);
    short.expires_at = T0 + Duration::minutes(1);
    store.add_portal_session(&short).await.unwrap();
    assert_eq!(
        store
            .purge_portal_sessions(T0 + Duration::minutes(2))
            .await
            .unwrap(),
        1
    );
    assert!(store.portal_session(&[1; 32], T0).await.unwrap().is_some());
}

/// Concurrent renewals of one session: every one lands, the session holds one of them whole.
pub async fn portal_race_for_one_renewal<H: Harness>(h: &H)
where
    H::Store: PortalStore,
{
    let store = h.fresh().await;
    store.add_portal_session(&session(1)).await.unwrap();
    let mut tasks = Vec::new();
    for byte in 10..20u8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .renew_portal_session(&[1; 32], &renewal("sub-1", byte), T0)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    let found = store.portal_session(&[1; 32], T0).await.unwrap().unwrap();
    let first = found.sealed_tokens[0];
    assert!((10..20).contains(&first) && found.sealed_tokens == vec![first; 4]);
}
