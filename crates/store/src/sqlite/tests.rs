//! The conformance suite on SQLite, plus what only SQLite has: files, kill -9, migrations.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use tempfile::TempDir;

use super::{Durability, SqliteStore};
use crate::audit::entry_hash;
use crate::conformance::{Harness, T0, Tamper, organisation};
use crate::model::AuditEvent;
use crate::{Store, StoreError, audit};

/// Fresh stores in temporary folders that live as long as the harness.
#[derive(Default)]
struct SqliteHarness {
    dirs: Mutex<Vec<TempDir>>,
}

impl SqliteHarness {
    fn new_path(&self) -> PathBuf {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eid.db");
        self.dirs.lock().unwrap().push(dir);
        path
    }
}

impl Harness for SqliteHarness {
    type Store = SqliteStore;

    async fn fresh(&self) -> Arc<SqliteStore> {
        Arc::new(
            SqliteStore::open(&self.new_path(), Durability::Process)
                .await
                .unwrap(),
        )
    }

    async fn tamper(&self, store: &SqliteStore, tamper: Tamper) {
        let conn = Connection::open(store.path()).unwrap();
        conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .unwrap();
        let main = |chain: &str| assert_eq!(chain, crate::audit::MAIN_CHAIN);
        match tamper {
            Tamper::Change { chain, seq } => {
                main(&chain);
                conn.execute(
                    "UPDATE audit_log SET details = '{\"tampered\":true}' WHERE seq = ?1",
                    [seq as i64],
                )
                .unwrap();
            }
            Tamper::Remove { chain, seq } => {
                main(&chain);
                conn.execute("DELETE FROM audit_log WHERE seq = ?1", [seq as i64])
                    .unwrap();
            }
            Tamper::Insert { chain, after } => {
                main(&chain);
                let prev: Vec<u8> = conn
                    .query_row(
                        "SELECT hash FROM audit_log WHERE seq = ?1",
                        [after as i64],
                        |r| r.get(0),
                    )
                    .unwrap();
                conn.execute_batch(&format!(
                    "UPDATE audit_log SET seq = seq + 1000000 WHERE seq > {after};
                     UPDATE audit_log SET seq = seq - 999999 WHERE seq > 1000000;
                     UPDATE audit_head SET seq = seq + 1;"
                ))
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
                conn.execute(
                    "INSERT INTO audit_log (seq, at, actor, action, subject, details, \
                     prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        seq as i64,
                        super::micros(T0),
                        forged.actor,
                        forged.action,
                        forged.subject,
                        "{}",
                        prev.as_slice(),
                        hash.as_slice()
                    ],
                )
                .unwrap();
            }
            Tamper::DropNewest { chain } => {
                main(&chain);
                conn.execute(
                    "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
                    [],
                )
                .unwrap();
            }
            Tamper::Rewrite { chain, seq } => {
                main(&chain);
                conn.execute(
                    "UPDATE audit_log SET details = '{\"rewritten\":true}' WHERE seq = ?1",
                    [seq as i64],
                )
                .unwrap();
                // Every hash from there on, and the head, recomputed.
                let entries = entries_after(store, seq - 1);
                let mut prev = entries.first().map(|e| e.prev_hash).unwrap();
                for mut entry in entries {
                    entry.prev_hash = prev;
                    entry.hash = entry_hash(entry.seq, &prev, &entry.event);
                    conn.execute(
                        "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
                        params![
                            entry.prev_hash.as_slice(),
                            entry.hash.as_slice(),
                            entry.seq as i64
                        ],
                    )
                    .unwrap();
                    conn.execute(
                        "UPDATE audit_head SET hash = ?1 WHERE seq = ?2",
                        params![entry.hash.as_slice(), entry.seq as i64],
                    )
                    .unwrap();
                    prev = entry.hash;
                }
            }
        }
    }
}

/// The entries after `after`, read with a connection of their own (the rewrite reads what
/// it recomputes).
fn entries_after(store: &SqliteStore, after: u64) -> Vec<crate::model::AuditEntry> {
    let conn = Connection::open(store.path()).unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM audit_log WHERE seq > ?1 ORDER BY seq",
            super::rows::AUDIT
        ))
        .unwrap();
    stmt.query_map([after as i64], super::rows::audit_entry)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

crate::store_conformance_tests!(SqliteHarness::default());
crate::oidc_store_conformance_tests!(SqliteHarness::default());
crate::order_conformance_tests!(SqliteHarness::default());
crate::enroll_conformance_tests!(SqliteHarness::default());
crate::portal_store_conformance_tests!(SqliteHarness::default());
crate::revocation_store_conformance_tests!(SqliteHarness::default());
crate::lifecycle_conformance_tests!(SqliteHarness::default());

#[tokio::test]
async fn audit_log_refuses_update_and_delete_through_sql() {
    let harness = SqliteHarness::default();
    let store = harness.fresh().await;
    store
        .add_organisation(&organisation("2321000016"), &event())
        .await
        .unwrap();
    let conn = Connection::open(store.path()).unwrap();
    let err = conn
        .execute("UPDATE audit_log SET actor = 'x'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn.execute("DELETE FROM audit_log", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

fn event() -> AuditEvent {
    AuditEvent {
        at: T0,
        actor: "admin:test".into(),
        action: "organisation.add".into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eid.db");
    let junk = b"this is not an SQLite database, it is a text file of some length..........";
    std::fs::write(&path, junk).unwrap();
    let err = SqliteStore::open(&path, Durability::Process)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[tokio::test]
async fn another_programs_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY);")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path, Durability::Process)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another program"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eid.db");
    drop(SqliteStore::open(&path, Durability::Process).await.unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(&path, Durability::Process)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn reopening_keeps_everything_and_power_loss_mode_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eid.db");
    {
        let store = SqliteStore::open(&path, Durability::PowerLoss)
            .await
            .unwrap();
        store
            .add_organisation(&organisation("2321000016"), &event())
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path, Durability::Process).await.unwrap();
    assert!(store.organisation("2321000016").await.unwrap().is_some());
    assert_eq!(audit::verify(&store, None).await.unwrap().entries, 1);
}

const CHILD_DB: &str = "EID_STORE_TEST_CHILD_DB";

/// Run as a child process by `kill_9_loses_no_commit`: writes until killed, saying after
/// each commit which organisation it committed.
#[tokio::test]
#[ignore = "a helper process for kill_9_loses_no_commit"]
async fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path), Durability::Process)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..4u64 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0.. {
                let number = format!("{}", 1_000_000_000 + writer * 100_000_000 + i);
                store
                    .add_organisation(&organisation(&number), &event())
                    .await
                    .unwrap();
                println!("committed {number}");
            }
        });
    }
    tasks.join_all().await;
}

#[tokio::test]
async fn kill_9_loses_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eid.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sqlite::tests::child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(number) = line.strip_prefix("committed ") {
            committed.push(number.to_owned());
            if committed.len() == 500 {
                child.kill().unwrap(); // SIGKILL: no destructor, no flush, no checkpoint.
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(committed.len(), 500, "the child stopped early");
    let store = SqliteStore::open(&path, Durability::Process).await.unwrap();
    for number in &committed {
        assert!(
            store.organisation(number).await.unwrap().is_some(),
            "{number} was reported committed but is gone"
        );
    }
    let report = audit::verify(&store, None).await.unwrap();
    assert!(report.entries >= 500);
    assert_eq!(
        report.entries as usize,
        store.organisations().await.unwrap().len()
    );
}
