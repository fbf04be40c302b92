//! The conformance suite every [`Store`] implementation must pass, concurrency included.
//!
//! An implementation's tests provide a [`Harness`] (a fresh, empty store per test, and a way
//! to tamper with the audit log behind the store's back, as a database administrator could)
//! and expand [`store_conformance_tests!`](crate::store_conformance_tests) to get one test per
//! check. Built only for tests (`cfg(test)` or the `conformance` feature).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

pub mod enroll;
pub mod lifecycle;
pub mod oidc;
pub mod orders;
pub mod portal;
pub mod postgres;
pub mod revocation;
use std::future::Future;
use std::sync::Arc;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::model::*;
use crate::{AuditError, Conflict, Missing, Store, StoreError, audit};

/// A change made to the audit log behind the store's back, in chain `chain`.
#[derive(Debug, Clone)]
pub enum Tamper {
    /// Change the details of entry `seq`, leaving its hash.
    Change {
        /// The chain.
        chain: String,
        /// The entry.
        seq: u64,
    },
    /// Delete entry `seq`.
    Remove {
        /// The chain.
        chain: String,
        /// The entry.
        seq: u64,
    },
    /// Insert a forged entry after `after`, correctly hashed onto it, renumbering the rest
    /// of the chain (and its head).
    Insert {
        /// The chain.
        chain: String,
        /// The entry the forged one follows.
        after: u64,
    },
    /// Delete the chain's newest entry, leaving the recorded head.
    DropNewest {
        /// The chain.
        chain: String,
    },
    /// Rewrite history consistently, as only whoever owns the database can: change entry
    /// `seq`'s details and recompute its hash, every later hash of the chain and the head.
    /// Only signed heads find this.
    Rewrite {
        /// The chain.
        chain: String,
        /// The entry changed.
        seq: u64,
    },
}

/// What an implementation's tests provide to the suite.
pub trait Harness: Sync {
    /// The implementation under test.
    type Store: Store + 'static;
    /// A new, empty store.
    fn fresh(&self) -> impl Future<Output = Arc<Self::Store>> + Send;
    /// Applies `tamper` to the store's audit log with raw database access.
    fn tamper(&self, store: &Self::Store, tamper: Tamper) -> impl Future<Output = ()> + Send;
}

/// Expands to one `#[tokio::test]` per conformance check, run against `$harness`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($harness:expr) => {
        $crate::store_conformance_tests!(@each $harness;
            organisations, persons, cards, certificates, revocation, one_time_values,
            audit_chain_records_every_change, failed_change_leaves_no_trace,
            race_for_serial, race_for_public_key, race_for_one_time_value, race_for_hsa_id,
            concurrent_writers_keep_every_chain_linear, tamper_changed_entry_found,
            tamper_removed_entry_found, tamper_inserted_entry_found, tamper_dropped_newest_found,
            signed_heads_are_recorded_once_and_checked, rewritten_history_is_found_by_signed_heads);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::$name(&$harness).await;
        }
    )*};
}

/// The instant test data is made at.
pub const T0: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

pub(crate) fn event(action: &str, subject: &str) -> AuditEvent {
    AuditEvent {
        at: T0,
        actor: "admin:test".into(),
        action: action.into(),
        subject: subject.into(),
        details: serde_json::json!({ "test": true }),
    }
}

/// An organisation with number `number`.
pub fn organisation(number: &str) -> Organisation {
    Organisation {
        org_number: number.into(),
        name: format!("Region {number}"),
        signing_policy: SigningPolicy::SelfService,
        accept_unattested_keys: false,
        created_at: T0,
    }
}

/// A person `SE<org>-<local>`.
pub fn person(org: &str, local: &str) -> Person {
    Person {
        hsa_id: format!("SE{org}-{local}"),
        given_name: "Anna".into(),
        surname: "Andersson".into(),
        org_number: org.into(),
        signing_entitled: true,
        active: true,
        created_at: T0,
    }
}

/// A two-PIN card of `holder`.
pub fn card(number: &str, holder: &str) -> Card {
    Card {
        card_number: number.into(),
        product_number: "610".into(),
        kind: CardKind::TwoPin,
        state: CardState::Active,
        holder: holder.into(),
        created_at: T0,
    }
}

/// A certificate record with the given serial and key hash byte.
pub fn certificate(serial: u64, key: u8, card: &str, hsa_id: &str) -> CertificateRecord {
    CertificateRecord {
        serial: Serial::from_be_bytes(&serial.to_be_bytes()).unwrap(),
        kind: CertKind::Authentication,
        card_number: Some(card.into()),
        hsa_id: Some(hsa_id.into()),
        status: CertStatus::Valid,
        der: vec![0x30, 0x00, key],
        not_before: T0,
        not_after: T0 + Duration::days(730),
        public_key_sha256: [key; 32],
        issued_at: T0,
    }
}

const ORG: &str = "2321000016";

/// A store with one organisation, one person and one card in it.
pub(crate) async fn seeded<H: Harness>(h: &H) -> (Arc<H::Store>, String, String) {
    let store = h.fresh().await;
    store
        .add_organisation(&organisation(ORG), &event("organisation.add", ORG))
        .await
        .unwrap();
    let p = person(ORG, "A1B2");
    store
        .add_person(&p, &event("person.add", &p.hsa_id))
        .await
        .unwrap();
    store
        .add_card(
            &card("9752000001", &p.hsa_id),
            &event("card.add", "9752000001"),
        )
        .await
        .unwrap();
    (store, p.hsa_id, "9752000001".into())
}

async fn audit_len<S: Store>(store: &S) -> u64 {
    audit::verify(store, None).await.unwrap().entries
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Conflict {
    match result {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn missing<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Missing {
    match result {
        Err(StoreError::NotFound(m)) => m,
        other => panic!("expected not-found, got {other:?}"),
    }
}

/// Organisations round-trip; a duplicate number conflicts; policy changes stick.
pub async fn organisations<H: Harness>(h: &H) {
    let store = h.fresh().await;
    assert!(store.organisations().await.unwrap().is_empty());
    let org = organisation(ORG);
    store
        .add_organisation(&org, &event("o", ORG))
        .await
        .unwrap();
    assert_eq!(store.organisation(ORG).await.unwrap(), Some(org.clone()));
    let mut dup = organisation(ORG);
    dup.name = "Other".into();
    assert_eq!(
        conflict(store.add_organisation(&dup, &event("o", ORG)).await),
        Conflict::OrgNumber
    );
    assert_eq!(store.organisation(ORG).await.unwrap(), Some(org));
    assert_eq!(store.organisation("5560000000").await.unwrap(), None);
    store
        .add_organisation(&organisation("1000000001"), &event("o", "x"))
        .await
        .unwrap();
    let all = store.organisations().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|o| o.org_number.as_str())
            .collect::<Vec<_>>(),
        ["1000000001", ORG]
    );
    store
        .set_organisation_policy(ORG, SigningPolicy::Disabled, true, &event("p", ORG))
        .await
        .unwrap();
    let changed = store.organisation(ORG).await.unwrap().unwrap();
    assert_eq!(changed.signing_policy, SigningPolicy::Disabled);
    assert!(changed.accept_unattested_keys);
    assert_eq!(
        missing(
            store
                .set_organisation_policy("999", SigningPolicy::SelfService, false, &event("p", "x"))
                .await
        ),
        Missing::Organisation
    );
}

/// Persons round-trip, need their organisation, and have unique HSA-ids.
pub async fn persons<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let p = person(ORG, "A1");
    assert_eq!(
        missing(store.add_person(&p, &event("p", "x")).await),
        Missing::Organisation
    );
    store
        .add_organisation(&organisation(ORG), &event("o", ORG))
        .await
        .unwrap();
    store.add_person(&p, &event("p", "x")).await.unwrap();
    assert_eq!(store.person(&p.hsa_id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        conflict(store.add_person(&p, &event("p", "x")).await),
        Conflict::HsaId
    );
    store
        .add_organisation(&organisation("1000000001"), &event("o", "x"))
        .await
        .unwrap();
    let other = person("1000000001", "B2");
    store.add_person(&other, &event("p", "x")).await.unwrap();
    assert_eq!(store.persons(None).await.unwrap().len(), 2);
    assert_eq!(store.persons(Some(ORG)).await.unwrap(), vec![p.clone()]);
    store
        .set_signing_entitlement(&p.hsa_id, false, &event("e", "x"))
        .await
        .unwrap();
    assert!(
        !store
            .person(&p.hsa_id)
            .await
            .unwrap()
            .unwrap()
            .signing_entitled
    );
    assert_eq!(
        missing(
            store
                .set_signing_entitlement("SE1-none", true, &event("e", "x"))
                .await
        ),
        Missing::Person
    );
}

/// Cards round-trip, need their holder, have unique numbers and change state.
pub async fn cards<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    let c = store.card(&number).await.unwrap().unwrap();
    assert_eq!(c, card(&number, &hsa));
    assert_eq!(
        conflict(store.add_card(&card(&number, &hsa), &event("c", "x")).await),
        Conflict::CardNumber
    );
    assert_eq!(
        missing(
            store
                .add_card(&card("1", "SE1-nobody"), &event("c", "x"))
                .await
        ),
        Missing::Person
    );
    let mut one_pin = card("9752000002", &hsa);
    one_pin.kind = CardKind::OnePin;
    one_pin.state = CardState::NotActivated;
    one_pin.product_number = "710".into();
    store.add_card(&one_pin, &event("c", "x")).await.unwrap();
    assert_eq!(store.cards(Some(&hsa)).await.unwrap().len(), 2);
    assert_eq!(store.cards(Some("SE1-other")).await.unwrap(), vec![]);
    store
        .set_card_state("9752000002", CardState::Active, &event("c", "x"))
        .await
        .unwrap();
    assert_eq!(
        store.card("9752000002").await.unwrap().unwrap().state,
        CardState::Active
    );
    assert_eq!(
        missing(
            store
                .set_card_state("0", CardState::Dead, &event("c", "x"))
                .await
        ),
        Missing::Card
    );
}

/// Certificates round-trip and are found by serial, key, card and person; serial and key
/// are unique.
pub async fn certificates<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    let c = certificate(0x0102_0304_0506_0708, 7, &number, &hsa);
    store.add_certificate(&c, &event("i", "x")).await.unwrap();
    assert_eq!(store.certificate(&c.serial).await.unwrap(), Some(c.clone()));
    assert_eq!(
        store.certificate_by_public_key(&[7; 32]).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.certificates_of_card(&number).await.unwrap(),
        vec![c.clone()]
    );
    assert_eq!(
        store.certificates_of_person(&hsa).await.unwrap(),
        vec![c.clone()]
    );
    let same_serial = certificate(0x0102_0304_0506_0708, 8, &number, &hsa);
    assert_eq!(
        conflict(store.add_certificate(&same_serial, &event("i", "x")).await),
        Conflict::Serial
    );
    let same_key = certificate(99, 7, &number, &hsa);
    assert_eq!(
        conflict(store.add_certificate(&same_key, &event("i", "x")).await),
        Conflict::PublicKey
    );
    let no_card = certificate(100, 9, "0000", &hsa);
    assert_eq!(
        missing(store.add_certificate(&no_card, &event("i", "x")).await),
        Missing::Card
    );
    let mut attestation = certificate(101, 10, &number, &hsa);
    attestation.kind = CertKind::Attestation;
    attestation.hsa_id = None;
    store
        .add_certificate(&attestation, &event("i", "x"))
        .await
        .unwrap();
    assert_eq!(store.certificates_of_card(&number).await.unwrap().len(), 2);
    assert_eq!(store.certificates_of_person(&hsa).await.unwrap().len(), 1);
}

/// Revocation records time and reason once; a second revocation is refused.
pub async fn revocation<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    let c = certificate(42, 1, &number, &hsa);
    store.add_certificate(&c, &event("i", "x")).await.unwrap();
    let at = T0 + Duration::hours(3);
    store
        .revoke_certificate(
            &c.serial,
            RevocationReason::KeyCompromise,
            at,
            &event("r", "x"),
        )
        .await
        .unwrap();
    let got = store.certificate(&c.serial).await.unwrap().unwrap();
    assert_eq!(
        got.status,
        CertStatus::Revoked {
            at,
            reason: RevocationReason::KeyCompromise
        }
    );
    let before = audit_len(&*store).await;
    assert!(matches!(
        store
            .revoke_certificate(
                &c.serial,
                RevocationReason::Superseded,
                at,
                &event("r", "x")
            )
            .await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(
        store.certificate(&c.serial).await.unwrap().unwrap().status,
        got.status
    );
    assert_eq!(audit_len(&*store).await, before);
    let unknown = Serial::from_be_bytes(&[9, 9]).unwrap();
    assert_eq!(
        missing(
            store
                .revoke_certificate(
                    &unknown,
                    RevocationReason::Unspecified,
                    at,
                    &event("r", "x")
                )
                .await
        ),
        Missing::Certificate
    );
}

/// A one-time value is accepted once per purpose, and forgotten after it expires.
pub async fn one_time_values<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let until = T0 + Duration::minutes(10);
    store.use_once("code", b"abc", until).await.unwrap();
    assert_eq!(
        conflict(store.use_once("code", b"abc", until).await),
        Conflict::OneTimeValue
    );
    store.use_once("nonce", b"abc", until).await.unwrap();
    store.use_once("code", b"abd", T0).await.unwrap();
    assert_eq!(
        store
            .purge_used_once(T0 + Duration::minutes(1))
            .await
            .unwrap(),
        1
    );
    store.use_once("code", b"abd", until).await.unwrap();
    assert_eq!(
        conflict(store.use_once("code", b"abc", until).await),
        Conflict::OneTimeValue
    );
}

/// Every change with an event appends exactly that event, in order, to a valid chain.
pub async fn audit_chain_records_every_change<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    store
        .add_certificate(
            &certificate(5, 5, &number, &hsa),
            &event("certificate.issue", "05"),
        )
        .await
        .unwrap();
    let standalone = store.append_audit(&event("login", &hsa)).await.unwrap();
    let entries = store.audit_entries(0, 100).await.unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "organisation.add",
            "person.add",
            "card.add",
            "certificate.issue",
            "login"
        ]
    );
    assert_eq!(entries[4], standalone);
    assert_eq!(
        store.audit_entries(entries[2].id, 1).await.unwrap(),
        vec![entries[3].clone()]
    );
    // Each entry is in its chain's listing too, and the chains' lengths add up.
    for entry in &entries {
        let chain = store
            .audit_chain(&entry.chain, entry.seq - 1, 1)
            .await
            .unwrap();
        assert_eq!(chain, vec![entry.clone()]);
    }
    let report = audit::verify(&*store, None).await.unwrap();
    assert_eq!(report.entries, 5);
    let heads = store.audit_heads().await.unwrap();
    assert_eq!(heads.iter().map(|h| h.seq).sum::<u64>(), 5);
    let head = heads.iter().find(|h| h.chain == standalone.chain).unwrap();
    assert_eq!((head.seq, head.hash), (standalone.seq, standalone.hash));
}

/// A refused change leaves neither a record nor an audit entry.
pub async fn failed_change_leaves_no_trace<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    let before = audit_len(&*store).await;
    let _ = store
        .add_person(&person(ORG, "A1B2"), &event("p", "x"))
        .await;
    let _ = store.add_card(&card(&number, &hsa), &event("c", "x")).await;
    let _ = store
        .add_person(&person("404", "X"), &event("p", "x"))
        .await;
    assert_eq!(audit_len(&*store).await, before);
    assert_eq!(store.persons(None).await.unwrap().len(), 1);
}

async fn race<S, F, Fut>(store: &Arc<S>, n: usize, attempt: F) -> (usize, Vec<StoreError>)
where
    S: Store + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: Future<Output = Result<(), StoreError>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let fut = attempt(Arc::clone(store), i);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut wins = 0;
    let mut losses = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(e) => losses.push(e),
        }
    }
    (wins, losses)
}

fn all_conflicts(losses: &[StoreError], expected: Conflict) {
    for loss in losses {
        assert!(
            matches!(loss, StoreError::Conflict(c) if *c == expected),
            "expected {expected:?}, got {loss:?}"
        );
    }
}

/// Writers racing for one serial: exactly one wins.
pub async fn race_for_serial<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    let (wins, losses) = race(&store, 8, |s, i| {
        let c = certificate(777, i as u8 + 1, &number, &hsa);
        async move { s.add_certificate(&c, &event("i", "x")).await }
    })
    .await;
    assert_eq!(wins, 1);
    all_conflicts(&losses, Conflict::Serial);
    assert_eq!(store.certificates_of_card(&number).await.unwrap().len(), 1);
    assert_eq!(audit_len(&*store).await, 4);
}

/// Writers racing to certify one public key: exactly one wins.
pub async fn race_for_public_key<H: Harness>(h: &H) {
    let (store, hsa, number) = seeded(h).await;
    let (wins, losses) = race(&store, 8, |s, i| {
        let c = certificate(1000 + i as u64, 0xAB, &number, &hsa);
        async move { s.add_certificate(&c, &event("i", "x")).await }
    })
    .await;
    assert_eq!(wins, 1);
    all_conflicts(&losses, Conflict::PublicKey);
    assert_eq!(store.certificates_of_card(&number).await.unwrap().len(), 1);
}

/// Writers racing to use one one-time value: exactly one wins.
pub async fn race_for_one_time_value<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let (wins, losses) = race(&store, 16, |s, _| async move {
        s.use_once("code", b"the-code", T0 + Duration::minutes(5))
            .await
    })
    .await;
    assert_eq!(wins, 1);
    all_conflicts(&losses, Conflict::OneTimeValue);
}

/// Writers racing to add one HSA-id: exactly one wins.
pub async fn race_for_hsa_id<H: Harness>(h: &H) {
    let store = h.fresh().await;
    store
        .add_organisation(&organisation(ORG), &event("o", ORG))
        .await
        .unwrap();
    let (wins, losses) = race(&store, 8, |s, i| {
        let mut p = person(ORG, "SAME");
        p.given_name = format!("Writer{i}");
        async move { s.add_person(&p, &event("p", "x")).await }
    })
    .await;
    assert_eq!(wins, 1);
    all_conflicts(&losses, Conflict::HsaId);
}

/// Many concurrent writers: every chain linear, with every event in one of them.
pub async fn concurrent_writers_keep_every_chain_linear<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let (wins, _) = race(&store, 32, |s, i| async move {
        s.append_audit(&event("concurrent", &i.to_string()))
            .await
            .map(drop)
    })
    .await;
    assert_eq!(wins, 32);
    let report = audit::verify(&*store, None).await.unwrap();
    assert_eq!(report.entries, 32);
    let mut subjects: Vec<usize> = store
        .audit_entries(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.subject.parse().unwrap())
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, (0..32).collect::<Vec<_>>());
}

/// A store with a chain of at least six entries, and that chain's name.
async fn long_chain<H: Harness>(h: &H) -> (Arc<H::Store>, String) {
    let store = h.fresh().await;
    for i in 0..200 {
        let entry = store
            .append_audit(&event("entry", &i.to_string()))
            .await
            .unwrap();
        if entry.seq >= 6 {
            audit::verify(&*store, None).await.unwrap();
            return (store, entry.chain);
        }
    }
    panic!("no chain reached six entries in 200 appends");
}

async fn tampered<H: Harness>(
    h: &H,
    tamper: impl FnOnce(String) -> Tamper,
) -> (String, AuditError) {
    let (store, chain) = long_chain(h).await;
    h.tamper(&store, tamper(chain.clone())).await;
    let err = audit::verify(&*store, None)
        .await
        .expect_err("the check must find the tampering");
    (chain, err)
}

/// A changed entry is found.
pub async fn tamper_changed_entry_found<H: Harness>(h: &H) {
    let (chain, err) = tampered(h, |chain| Tamper::Change { chain, seq: 3 }).await;
    assert_eq!(err, AuditError::Changed { chain, seq: 3 });
}

/// A removed entry is found.
pub async fn tamper_removed_entry_found<H: Harness>(h: &H) {
    let (chain, err) = tampered(h, |chain| Tamper::Remove { chain, seq: 3 }).await;
    assert_eq!(
        err,
        AuditError::Gap {
            chain,
            previous: 2,
            found: 4
        }
    );
}

/// An inserted entry is found.
pub async fn tamper_inserted_entry_found<H: Harness>(h: &H) {
    let (chain, err) = tampered(h, |chain| Tamper::Insert { chain, after: 3 }).await;
    assert_eq!(err, AuditError::Unlinked { chain, seq: 5 });
}

/// Dropping the newest entry is found through the recorded head.
pub async fn tamper_dropped_newest_found<H: Harness>(h: &H) {
    let (chain, err) = tampered(h, |chain| Tamper::DropNewest { chain }).await;
    assert_eq!(
        err,
        AuditError::HeadMismatch {
            chain,
            last: 5,
            head: 6
        }
    );
}

/// The audit key of the suite's installation.
fn audit_key(seed: u8) -> audit::AuditKey {
    audit::AuditKey::derive(&[seed; 32]).unwrap()
}

/// Signing every chain's head records one signature per head; signing again adds none;
/// the check verifies them all, and a signature with another key is refused.
pub async fn signed_heads_are_recorded_once_and_checked<H: Harness>(h: &H) {
    let (store, _) = long_chain(h).await;
    let key = audit_key(7);
    let heads = store.audit_heads().await.unwrap();
    let signed = audit::sign_heads(&*store, &key, T0).await.unwrap();
    assert_eq!(signed.len(), heads.len());
    assert!(
        audit::sign_heads(&*store, &key, T0)
            .await
            .unwrap()
            .is_empty()
    );
    // Recording one again changes nothing.
    store.add_signed_audit_head(&signed[0]).await.unwrap();
    let mut recorded = store.signed_audit_heads().await.unwrap();
    recorded.sort_by(|a, b| (&a.head.chain, a.head.seq).cmp(&(&b.head.chain, b.head.seq)));
    let mut expected = signed.clone();
    expected.sort_by(|a, b| (&a.head.chain, a.head.seq).cmp(&(&b.head.chain, b.head.seq)));
    assert_eq!(recorded, expected);
    let report = audit::verify(&*store, Some(&key)).await.unwrap();
    assert_eq!(report.signed_heads, heads.len() as u64);
    assert!(
        report
            .chains
            .iter()
            .all(|c| c.signed == Some((c.entries, T0)))
    );

    // More entries, another signing: the older signatures stay checked.
    store.append_audit(&event("later", "x")).await.unwrap();
    let more = audit::sign_heads(&*store, &key, T0).await.unwrap();
    assert_eq!(more.len(), 1);
    let report = audit::verify(&*store, Some(&key)).await.unwrap();
    assert_eq!(report.signed_heads, heads.len() as u64 + 1);

    // A head signed with another installation's key is refused.
    let forged = audit_key(8).sign(&heads[0], T0 + Duration::seconds(1));
    let forged = audit::SignedAuditHead {
        head: audit::AuditHead {
            seq: heads[0].seq - 1,
            ..heads[0].clone()
        },
        ..forged
    };
    store.add_signed_audit_head(&forged).await.unwrap();
    assert!(matches!(
        audit::verify(&*store, Some(&key)).await,
        Err(AuditError::BadSignature { .. })
    ));
}

/// History rewritten consistently (hashes and head recomputed) passes the chain check but
/// not the signed heads.
pub async fn rewritten_history_is_found_by_signed_heads<H: Harness>(h: &H) {
    let (store, chain) = long_chain(h).await;
    let key = audit_key(7);
    audit::sign_heads(&*store, &key, T0).await.unwrap();
    h.tamper(
        &store,
        Tamper::Rewrite {
            chain: chain.clone(),
            seq: 3,
        },
    )
    .await;
    audit::verify(&*store, None)
        .await
        .expect("a consistent rewrite passes the chain check");
    let head = store
        .audit_heads()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.chain == chain)
        .unwrap();
    assert_eq!(
        audit::verify(&*store, Some(&key)).await,
        Err(AuditError::SignedHeadMismatch {
            chain,
            seq: head.seq
        })
    );
}
