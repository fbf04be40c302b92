//! The conformance suite on PostgreSQL, each test in a fresh database that is dropped
//! afterwards. The server is the one at `EID_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, which the test command makes sure answers:
//! `scripts/test.sh` starts one when none does); a test fails, never skips, without one.

use std::sync::{Arc, Mutex};

use tokio_postgres::NoTls;

use super::PostgresStore;
use crate::audit::entry_hash;
use crate::conformance::postgres::PostgresDatabase;
use crate::conformance::{Harness, T0, Tamper};
use crate::model::{AuditEntry, AuditEvent};

/// Fresh stores in fresh databases, dropped with the harness.
#[derive(Default)]
pub(crate) struct PostgresHarness {
    databases: Mutex<Vec<PostgresDatabase>>,
}

impl PostgresHarness {
    fn url_of(&self, store: &PostgresStore) -> String {
        let databases = self.databases.lock().unwrap();
        let name = store
            .shown()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        databases
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.url.clone())
            .unwrap()
    }
}

impl Harness for PostgresHarness {
    type Store = PostgresStore;

    async fn fresh(&self) -> Arc<PostgresStore> {
        let database = PostgresDatabase::fresh().await;
        let store = PostgresStore::connect(&database.url, "test", 8)
            .await
            .unwrap();
        self.databases.lock().unwrap().push(database);
        Arc::new(store)
    }

    async fn tamper(&self, store: &PostgresStore, tamper: Tamper) {
        let (db, connection) = tokio_postgres::connect(&self.url_of(store), NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        db.batch_execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
            .await
            .unwrap();
        match tamper {
            Tamper::Change { chain, seq } => {
                db.execute(
                    "UPDATE audit_log SET details = '{\"tampered\":true}' \
                     WHERE chain = $1 AND seq = $2",
                    &[&chain, &(seq as i64)],
                )
                .await
                .unwrap();
            }
            Tamper::Remove { chain, seq } => {
                db.execute(
                    "DELETE FROM audit_log WHERE chain = $1 AND seq = $2",
                    &[&chain, &(seq as i64)],
                )
                .await
                .unwrap();
            }
            Tamper::Insert { chain, after } => {
                let prev: Vec<u8> = db
                    .query_one(
                        "SELECT hash FROM audit_log WHERE chain = $1 AND seq = $2",
                        &[&chain, &(after as i64)],
                    )
                    .await
                    .unwrap()
                    .get(0);
                let after_sql = after as i64;
                db.execute(
                    "UPDATE audit_log SET seq = seq + 1000000 WHERE chain = $1 AND seq > $2",
                    &[&chain, &after_sql],
                )
                .await
                .unwrap();
                db.execute(
                    "UPDATE audit_log SET seq = seq - 999999 WHERE chain = $1 AND seq > 1000000",
                    &[&chain],
                )
                .await
                .unwrap();
                db.execute(
                    "UPDATE audit_heads SET seq = seq + 1 WHERE chain = $1",
                    &[&chain],
                )
                .await
                .unwrap();
                let forged = AuditEvent {
                    at: T0,
                    actor: "admin:mallory".into(),
                    action: "forged".into(),
                    subject: "x".into(),
                    details: serde_json::json!({}),
                };
                let prev: [u8; 32] = prev.try_into().unwrap();
                let seq = after + 1;
                let hash = entry_hash(seq, &prev, &forged);
                db.execute(
                    "INSERT INTO audit_log (chain, seq, at, actor, action, subject, details, \
                     prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, '{}', $7, $8)",
                    &[
                        &chain,
                        &(seq as i64),
                        &T0,
                        &forged.actor,
                        &forged.action,
                        &forged.subject,
                        &prev.as_slice(),
                        &hash.as_slice(),
                    ],
                )
                .await
                .unwrap();
            }
            Tamper::DropNewest { chain } => {
                db.execute(
                    "DELETE FROM audit_log WHERE chain = $1 AND seq = \
                     (SELECT max(seq) FROM audit_log WHERE chain = $1)",
                    &[&chain],
                )
                .await
                .unwrap();
            }
            Tamper::Rewrite { chain, seq } => {
                db.execute(
                    "UPDATE audit_log SET details = '{\"rewritten\":true}' \
                     WHERE chain = $1 AND seq = $2",
                    &[&chain, &(seq as i64)],
                )
                .await
                .unwrap();
                // Every hash from there on, and the head, recomputed.
                let rows = db
                    .query(
                        &format!(
                            "SELECT {} FROM audit_log WHERE chain = $1 AND seq >= $2 ORDER BY seq",
                            super::rows::AUDIT
                        ),
                        &[&chain, &(seq as i64)],
                    )
                    .await
                    .unwrap();
                let entries: Vec<AuditEntry> = rows
                    .iter()
                    .map(|r| super::rows::audit_entry(r).unwrap())
                    .collect();
                let mut prev = entries[0].prev_hash;
                for entry in entries {
                    let hash = entry_hash(entry.seq, &prev, &entry.event);
                    db.execute(
                        "UPDATE audit_log SET prev_hash = $1, hash = $2 \
                         WHERE chain = $3 AND seq = $4",
                        &[
                            &prev.as_slice(),
                            &hash.as_slice(),
                            &chain,
                            &(entry.seq as i64),
                        ],
                    )
                    .await
                    .unwrap();
                    db.execute(
                        "UPDATE audit_heads SET hash = $1 WHERE chain = $2 AND seq = $3",
                        &[&hash.as_slice(), &chain, &(entry.seq as i64)],
                    )
                    .await
                    .unwrap();
                    prev = hash;
                }
            }
        }
    }
}

crate::store_conformance_tests!(PostgresHarness::default());
crate::lifecycle_conformance_tests!(PostgresHarness::default());

#[tokio::test]
async fn a_database_of_another_program_is_refused_and_left_alone() {
    let database = PostgresDatabase::fresh().await;
    let (db, connection) = tokio_postgres::connect(&database.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    db.batch_execute("CREATE TABLE invoices (id INT)")
        .await
        .unwrap();
    let err = PostgresStore::connect(&database.url, "test", 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, crate::StoreError::Corrupt(ref why) if why.contains("another program")),
        "{err}"
    );
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was created");
}

#[tokio::test]
async fn nodes_starting_together_migrate_once_and_a_bad_address_is_clear() {
    let database = PostgresDatabase::fresh().await;
    let (a, b) = tokio::join!(
        PostgresStore::connect(&database.url, "a", 2),
        PostgresStore::connect(&database.url, "b", 2)
    );
    a.unwrap();
    b.unwrap();
    let again = PostgresStore::connect(&database.url, "a", 2).await.unwrap();
    assert_eq!(again.node(), "a");
    assert!(!again.shown().contains('@'), "{}", again.shown());

    let err = PostgresStore::connect("postgres://nobody:secret@127.0.0.1:1/none", "a", 1)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("127.0.0.1:1/none"), "{text}");
    assert!(
        !text.contains("secret"),
        "the password must not be shown: {text}"
    );
    let err = PostgresStore::connect("not a url at all ===", "a", 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");
}

#[tokio::test]
async fn writers_on_two_nodes_keep_their_own_chains() {
    let database = PostgresDatabase::fresh().await;
    let a = Arc::new(PostgresStore::connect(&database.url, "a", 4).await.unwrap());
    let b = Arc::new(PostgresStore::connect(&database.url, "b", 4).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let event = AuditEvent {
                at: T0,
                actor: "admin:test".into(),
                action: "concurrent".into(),
                subject: i.to_string(),
                details: serde_json::json!({}),
            };
            crate::Store::append_audit(&*store, &event).await.unwrap()
        }));
    }
    for task in tasks {
        let entry = task.await.unwrap();
        let node = entry.chain.split('.').next().unwrap().to_owned();
        let expected = if entry.event.subject.parse::<u32>().unwrap() % 2 == 0 {
            "a"
        } else {
            "b"
        };
        assert_eq!(node, expected, "{entry:?}");
    }
    let report = crate::audit::verify(&*a, None).await.unwrap();
    assert_eq!(report.entries, 40);
    assert!(report.chains.len() >= 2);
}

/// `eid admin migrate-store`'s engine: an SQLite installation with rows in most tables
/// moves into an empty PostgreSQL store whole (every table's rows, the audit log with its
/// signed head, the revocation marker), reads back the same, and a second migration into
/// the now non-empty store is refused without a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_installation_moves_to_postgres_whole() {
    use crate::conformance::lifecycle::{grant, login, portal};
    use crate::conformance::oidc::client;
    use crate::conformance::orders::order;
    use crate::conformance::revocation::{crl, responder};
    use crate::conformance::{card, certificate, event, organisation, person};
    use crate::model::{CertKind, RevocationReason};
    use crate::{
        Durability, OidcStore, OrderStore, PortalStore, RevocationStore, SqliteStore, Store, audit,
    };

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
        .await
        .unwrap();
    let org = organisation("2321000016");
    let p = person(&org.org_number, "A1B2");
    sqlite
        .add_organisation(&org, &event("organisation.add", "o"))
        .await
        .unwrap();
    sqlite
        .add_person(&p, &event("person.add", "p"))
        .await
        .unwrap();
    sqlite
        .add_card(&card("9752000001", &p.hsa_id), &event("card.add", "c"))
        .await
        .unwrap();
    let auth = certificate(0x10, 0x10, "9752000001", &p.hsa_id);
    let mut signing = certificate(0x11, 0x11, "9752000001", &p.hsa_id);
    signing.kind = CertKind::Signing;
    for c in [&auth, &signing] {
        sqlite
            .add_certificate(c, &event("certificate.issue", "x"))
            .await
            .unwrap();
    }
    sqlite
        .revoke_certificate(
            &signing.serial,
            RevocationReason::Superseded,
            T0,
            &event("certificate.revoke", "x"),
        )
        .await
        .unwrap();
    sqlite
        .use_once("nonce", b"abc", T0 + time::Duration::days(1))
        .await
        .unwrap();
    sqlite
        .add_order(&order(1), &event("order.start", "o1"))
        .await
        .unwrap();
    sqlite
        .add_client(&client("rp"), &event("oidc.client.add", "rp"))
        .await
        .unwrap();
    sqlite
        .add_session(&login(1, &p.hsa_id, "9752000001"))
        .await
        .unwrap();
    grant(&sqlite, 7, &p.hsa_id, 1).await;
    sqlite
        .add_portal_session(&portal(1, "9752000001"))
        .await
        .unwrap();
    let number = sqlite.allocate_crl_number().await.unwrap();
    sqlite
        .record_crl(&crl(number, 0), &event("crl.issue", "1"))
        .await
        .unwrap();
    sqlite
        .add_ocsp_responder(&responder(1, 0), None, &event("ocsp.responder", "1"))
        .await
        .unwrap();
    let key = audit::AuditKey::derive(&[9; 32]).unwrap();
    audit::sign_heads(&sqlite, &key, T0).await.unwrap();

    let database = PostgresDatabase::fresh().await;
    let pg = PostgresStore::connect(&database.url, "a", 4).await.unwrap();
    let migrated = crate::migrate::sqlite_to_postgres(&sqlite, &pg)
        .await
        .unwrap();

    // Every table has the rows it had.
    let source = rusqlite::Connection::open(sqlite.path()).unwrap();
    let (target, connection) = tokio_postgres::connect(&database.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let mut rows_seen = 0;
    for (table, copied) in &migrated.tables {
        let expected: i64 = source
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        let found: i64 = target
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!((found, *copied as i64), (expected, expected), "{table}");
        rows_seen += expected;
    }
    assert!(
        rows_seen >= 15,
        "the installation had rows in most tables: {migrated:?}"
    );

    // Read back through the store: the same records.
    assert_eq!(
        pg.organisations().await.unwrap(),
        sqlite.organisations().await.unwrap()
    );
    assert_eq!(
        pg.persons(None).await.unwrap(),
        sqlite.persons(None).await.unwrap()
    );
    assert_eq!(
        pg.cards(None).await.unwrap(),
        sqlite.cards(None).await.unwrap()
    );
    assert_eq!(
        pg.certificates_of_card("9752000001").await.unwrap(),
        sqlite.certificates_of_card("9752000001").await.unwrap()
    );
    assert_eq!(
        pg.order(&order(1).order_ref).await.unwrap(),
        sqlite.order(&order(1).order_ref).await.unwrap()
    );
    assert_eq!(
        pg.client("rp").await.unwrap(),
        sqlite.client("rp").await.unwrap()
    );
    assert_eq!(
        pg.session(&[1; 32]).await.unwrap(),
        sqlite.session(&[1; 32]).await.unwrap()
    );
    assert_eq!(
        pg.grant_by_jti("jti-7").await.unwrap(),
        sqlite.grant_by_jti("jti-7").await.unwrap()
    );
    assert_eq!(
        pg.portal_session(&[1; 32], T0).await.unwrap(),
        sqlite.portal_session(&[1; 32], T0).await.unwrap()
    );
    assert_eq!(
        pg.latest_crl().await.unwrap(),
        sqlite.latest_crl().await.unwrap()
    );
    assert_eq!(
        pg.current_ocsp_responder().await.unwrap(),
        sqlite.current_ocsp_responder().await.unwrap()
    );
    assert_eq!(
        pg.revocation_marker().await.unwrap(),
        sqlite.revocation_marker().await.unwrap()
    );
    assert_eq!(
        pg.use_once("nonce", b"abc", T0)
            .await
            .unwrap_err()
            .to_string(),
        sqlite
            .use_once("nonce", b"abc", T0)
            .await
            .unwrap_err()
            .to_string()
    );

    // The audit log: the same entries, and its signed head still verifies.
    let events = |entries: Vec<crate::model::AuditEntry>| {
        entries
            .into_iter()
            .map(|e| (e.seq, e.event, e.hash))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events(pg.audit_entries(0, 1000).await.unwrap()),
        events(sqlite.audit_entries(0, 1000).await.unwrap())
    );
    let report = audit::verify(&pg, Some(&key)).await.unwrap();
    assert_eq!(report.signed_heads, 1);
    assert_eq!(report.entries, migrated.audit_entries);
    // The nodes write chains of their own beside it.
    pg.append_audit(&event("after", "x")).await.unwrap();
    audit::verify(&pg, Some(&key)).await.unwrap();

    // Not into a store that holds an installation.
    let before = pg.organisations().await.unwrap();
    let err = crate::migrate::sqlite_to_postgres(&sqlite, &pg)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(pg.organisations().await.unwrap(), before);
}
