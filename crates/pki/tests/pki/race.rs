//! Concurrency: the store's unique constraint, not a read-then-write check, decides.

use std::sync::Arc;

use eid_pki::{IssueError, IssueRequest, KeyAlgorithm, Profile, issue};
use eid_store::Store;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_issues_for_one_key_exactly_one_succeeds() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    for round in 0..10u64 {
        let csr = new_csr(KeyKind::P256);
        let before = fx.snapshot().await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (i, (hsa_id, card)) in [(ANNA, ANNA_CARD), (BO, BO_CARD)].into_iter().enumerate() {
            let req = IssueRequest {
                hsa_id: hsa_id.into(),
                card_number: card.into(),
                profile: Profile::Authentication,
                csr: csr.clone(),
                virtual_card: false,
            };
            let (ca, store, barrier) = (fx.ca.clone(), fx.store.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(round * 2 + i as u64);
                barrier.wait().await;
                issue(&ca, store.as_ref(), &req, "admin:test", now(), &mut rng).await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(IssueError::KeyAlreadyCertified { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(ok, 1, "round {round}");
        let after = fx.snapshot().await;
        assert_eq!(after.certificates.len(), before.certificates.len() + 1);
        assert_eq!(after.audit_entries, before.audit_entries + 1);
        assert!(
            fx.store
                .certificate_by_public_key(csr.spki_sha256())
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn a_taken_serial_is_retried_with_a_new_one() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    let mut serials = Vec::new();
    for (hsa_id, card) in [(ANNA, ANNA_CARD), (BO, BO_CARD)] {
        // The same seed: the second issue draws the first one's serial first.
        let mut rng = StdRng::seed_from_u64(42);
        let req = IssueRequest {
            hsa_id: hsa_id.into(),
            card_number: card.into(),
            profile: Profile::Authentication,
            csr: new_csr(KeyKind::P256),
            virtual_card: false,
        };
        let issued = issue(
            &fx.ca,
            fx.store.as_ref(),
            &req,
            "admin:test",
            now(),
            &mut rng,
        )
        .await
        .unwrap();
        serials.push(issued.record.serial);
    }
    assert_ne!(serials[0], serials[1]);
    let snapshot = fx.snapshot().await;
    assert_eq!(snapshot.certificates.len(), 2);
}
