//! The live side of revocation, with `now` as an input: the CRL schedule and a CRL recorded
//! by another store handle, the OCSP cache (kept until a revocation or half the
//! validity; never for a nonce or an `unknown`), and the responder's rollover, including
//! two nodes racing and a node with the wrong key-encryption key.

use std::sync::Arc;

use eid_pki::ocsp::{
    OcspAnswer, OcspResponseStatus, OcspService, OcspSettings, ResponderKeySeal, ResponderPolicy,
    ensure_responder,
};
use eid_pki::{CrlSchedule, KeyAlgorithm, LiveCrl};
use eid_store::revocation::RevocationStore;
use eid_store::{Durability, RevocationReason, SqliteStore, Store};
use time::Duration;

use crate::harness::*;
use crate::openssl::Leaf;

fn revoke_event() -> eid_store::AuditEvent {
    eid_store::AuditEvent {
        at: now(),
        actor: "admin:test".into(),
        action: "certificate.revoke".into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    }
}

fn rng() -> rand::rngs::StdRng {
    use rand::SeedableRng as _;
    rand::rngs::StdRng::from_rng(&mut rand::rng())
}

fn seal(byte: u8) -> ResponderKeySeal {
    ResponderKeySeal::new(&[byte; 32]).unwrap()
}

fn signed(answer: &OcspAnswer) -> Arc<eid_pki::ocsp::SignedResponse> {
    match answer {
        OcspAnswer::Signed(r) => r.clone(),
        other => panic!("expected a signed response, got {other:?}"),
    }
}

/// A DER request made by `openssl ocsp ARGS -reqout`.
fn request(fx: &Fixture, args: &[&str], file: &str) -> Vec<u8> {
    let mut all = vec!["ocsp"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-reqout", file]);
    let (ok, out) = run(fx.dir.path(), "openssl", &all);
    assert!(ok, "{out}");
    std::fs::read(fx.dir.path().join(file)).unwrap()
}

/// What `openssl ocsp -respin` says of `der`, a response to a nonce-less request about
/// `leaf`, at `at`.
fn status(fx: &Fixture, der: &[u8], leaf: &str, at: time::OffsetDateTime) -> String {
    fx.write("resp.der", der);
    fx.write(
        "chain.pem",
        format!("{}{}", fx.ca.root_pem(), fx.ca.issuing_pem()),
    );
    let (ok, out) = run(
        fx.dir.path(),
        "openssl",
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "issuing.pem",
            "-cert",
            leaf,
            "-CAfile",
            "chain.pem",
            "-no_nonce",
            // OpenSSL checks the status times against its own clock, not -attime.
            "-validity_period",
            "100000000",
            "-attime",
            &at.unix_timestamp().to_string(),
        ],
    );
    assert!(ok && out.contains("Response verify OK"), "{out}");
    out
}

#[tokio::test]
async fn the_live_crl_follows_its_schedule_and_other_processes() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let t = now();
    let anna = fx.authentication(ANNA, ANNA_CARD, t).await;
    let schedule = CrlSchedule::default();
    let live = LiveCrl::new(fx.store.clone(), fx.ca.clone(), schedule, "test").unwrap();
    let first = live.current(t).await.unwrap();
    assert_eq!(first.this_update, t.replace_nanosecond(0).unwrap());
    assert_eq!(first.next_update - first.this_update, Duration::hours(24));
    // Not due before half its validity; then reissued once.
    assert_eq!(
        live.current(t + Duration::hours(11)).await.unwrap().number,
        first.number
    );
    let second = live.current(t + Duration::hours(12)).await.unwrap();
    assert!(second.number > first.number);
    assert_eq!(
        live.current(t + Duration::hours(12)).await.unwrap().number,
        second.number
    );

    // Another process revokes for a key compromise and publishes at once, on its own
    // handle: the next request serves that CRL, which lists the certificate.
    let admin = SqliteStore::open(fx.store.path(), Durability::Process)
        .await
        .unwrap();
    let at = t + Duration::hours(13);
    admin
        .revoke_certificate(
            &anna.record.serial,
            RevocationReason::KeyCompromise,
            at,
            &revoke_event(),
        )
        .await
        .unwrap();
    let published = fx
        .ca
        .publish_crl(&admin, &schedule, at, "admin:test")
        .await
        .unwrap();
    let served = live.current(at).await.unwrap();
    assert_eq!(served.number, published.number);
    assert!(served.number > second.number);
    fx.write("live.der", &served.der);
    let (ok, text) = run(
        fx.dir.path(),
        "openssl",
        &[
            "crl", "-inform", "DER", "-in", "live.der", "-noout", "-text",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains(&anna.record.serial.to_string()), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    let audit = fx.store.audit_entries(0, 10_000).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.event.action == "crl.issue")
            .count(),
        3
    );

    // Two validities after it expired, a revoked certificate leaves the CRL.
    let late = anna.record.not_after + Duration::hours(49);
    let crl = fx
        .ca
        .publish_crl(&*fx.store, &schedule, late, "test")
        .await
        .unwrap();
    fx.write("late.der", &crl.der);
    let (_, text) = run(
        fx.dir.path(),
        "openssl",
        &[
            "crl", "-inform", "DER", "-in", "late.der", "-noout", "-text",
        ],
    );
    assert!(!text.contains(&anna.record.serial.to_string()), "{text}");
    assert!(
        LiveCrl::new(
            fx.store.clone(),
            fx.ca.clone(),
            CrlSchedule {
                validity: Duration::hours(1),
                reissue_after: Duration::hours(1),
            },
            "test"
        )
        .is_err()
    );
}

#[tokio::test]
async fn the_ocsp_cache_keeps_answers_until_a_revocation_or_half_their_validity() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let t = now();
    let anna = fx.authentication(ANNA, ANNA_CARD, t).await;
    let bo = fx.authentication(BO, BO_CARD, t).await;
    let anna_leaf = Leaf::new(&fx, &anna).file;
    let bo_leaf = Leaf::new(&fx, &bo).file;
    let service = OcspService::start(
        fx.store.clone(),
        fx.ca.clone(),
        seal(1),
        OcspSettings::default(),
        t,
        &mut rng(),
        "test",
    )
    .await
    .unwrap();
    let plain = request(
        &fx,
        &["-issuer", "issuing.pem", "-cert", &anna_leaf, "-no_nonce"],
        "a.der",
    );
    let first = signed(&service.answer(&plain, t).await);
    assert!(!first.has_nonce);
    assert_eq!(first.next_update - first.this_update, Duration::hours(1));
    let out = status(&fx, &first.der, &anna_leaf, t);
    assert!(out.contains(": good"), "{out}");
    // Kept: the same response, not signed again.
    let again = signed(&service.answer(&plain, t + Duration::minutes(29)).await);
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(service.cached(), 1);
    // After half its validity, signed anew.
    let fresh = signed(&service.answer(&plain, t + Duration::minutes(31)).await);
    assert!(!Arc::ptr_eq(&first, &fresh));
    assert!(fresh.this_update > first.this_update);

    // A nonce: answered for that request only; an unknown serial: never kept.
    let with_nonce = request(&fx, &["-issuer", "issuing.pem", "-cert", &bo_leaf], "n.der");
    let answered = signed(&service.answer(&with_nonce, t).await);
    assert!(answered.has_nonce);
    let unknown = request(
        &fx,
        &["-issuer", "issuing.pem", "-serial", "0x77", "-no_nonce"],
        "u.der",
    );
    signed(&service.answer(&unknown, t).await);
    assert_eq!(service.cached(), 1);

    // A revocation, by any handle: the next answer is not the kept one.
    let now = t + Duration::minutes(32);
    fx.store
        .revoke_certificate(
            &anna.record.serial,
            RevocationReason::AffiliationChanged,
            now,
            &revoke_event(),
        )
        .await
        .unwrap();
    let revoked = signed(&service.answer(&plain, now).await);
    let out = status(&fx, &revoked.der, &anna_leaf, now);
    assert!(
        out.contains(": revoked") && out.contains("affiliationChanged"),
        "{out}"
    );
    assert!(Arc::ptr_eq(
        &revoked,
        &signed(&service.answer(&plain, now).await)
    ));

    // Errors are unsigned statuses.
    match service.answer(&plain[..10], now).await {
        OcspAnswer::Error { status, .. } => {
            assert_eq!(status, OcspResponseStatus::MalformedRequest)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_responder_rolls_over_once_even_when_nodes_race() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    let t = now();
    let policy = ResponderPolicy::default();
    let mut rng = rng();
    let first = ensure_responder(&fx.ca, &*fx.store, &seal(1), &policy, t, &mut rng, "test")
        .await
        .unwrap();
    assert!(first.record.not_before <= t);
    assert_eq!(
        first.record.not_after - t,
        Duration::days(30) - Duration::milliseconds(250)
    );
    // Not due yet: the same one, on every node.
    let later = t + Duration::days(19);
    let same = ensure_responder(
        &fx.ca,
        &*fx.store,
        &seal(1),
        &policy,
        later,
        &mut rng,
        "test",
    )
    .await
    .unwrap();
    assert_eq!(same.record.serial, first.record.serial);
    // A node with another key-encryption key cannot use it, and says so.
    let wrong = ensure_responder(
        &fx.ca,
        &*fx.store,
        &seal(2),
        &policy,
        later,
        &mut rng,
        "test",
    )
    .await
    .unwrap_err();
    assert!(wrong.to_string().contains("key-encryption key"), "{wrong}");

    // Due: eight nodes race; one successor is recorded and every node signs with it.
    let due = t + Duration::days(21);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (ca, store) = (fx.ca.clone(), fx.store.clone());
            tokio::spawn(async move {
                let mut rng = self::rng();
                ensure_responder(&ca, &*store, &seal(1), &policy, due, &mut rng, "node")
                    .await
                    .unwrap()
                    .record
                    .serial
            })
        })
        .collect();
    let mut serials = Vec::new();
    for task in tasks {
        serials.push(task.await.unwrap());
    }
    assert!(serials.iter().all(|s| *s == serials[0]), "{serials:?}");
    assert_ne!(serials[0], first.record.serial);
    let history = fx.store.ocsp_responders().await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history[0].not_after > due,
        "rolled over before the first one ended"
    );
    let audit = fx.store.audit_entries(0, 10_000).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.event.action == "ocsp.responder.issue")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_request_made_here_is_the_one_openssl_makes() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let anna = fx.authentication(ANNA, ANNA_CARD, now()).await;
    let leaf = Leaf::new(&fx, &anna).file;
    let theirs = request(
        &fx,
        &["-issuer", "issuing.pem", "-cert", &leaf, "-no_nonce"],
        "theirs.der",
    );
    let ours = eid_pki::ocsp::request(
        fx.ca.issuing_der(),
        std::slice::from_ref(&anna.record.serial),
        None,
    )
    .unwrap();
    assert_eq!(ours, theirs);
    let with_nonce = eid_pki::ocsp::request(
        fx.ca.issuing_der(),
        std::slice::from_ref(&anna.record.serial),
        Some(b"n1"),
    )
    .unwrap();
    fx.write("ours.der", &with_nonce);
    let (ok, out) = run(
        fx.dir.path(),
        "openssl",
        &["ocsp", "-reqin", "ours.der", "-req_text"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("OCSP Nonce") && out.contains("6E31"), "{out}");
}
