//! The SQLite implementation of [`Store`]: the embedded default.
//!
//! WAL journal; one writer thread with group commit ([`writer`]); a small pool of read
//! connections used from blocking tasks. Migrations run at open. Durability: a committed
//! change survives a killed process ([`Durability::Process`], `synchronous=NORMAL`) or also
//! power loss ([`Durability::PowerLoss`], `synchronous=FULL`).

mod enroll;
mod lifecycle;
mod oidc;
mod orders;
mod portal;
mod revocation;
mod rows;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use self::rows::{micros, tag};
use self::writer::Writer;
use crate::audit::{AuditHead, MAIN_CHAIN, SignedAuditHead, entry_hash};
use crate::lifecycle::{CardRevocation, CardRevoked, UndeliveredRevocation};
use crate::model::*;
use crate::{Conflict, Missing, Store, StoreError, StoreResult};

/// How much a commit survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Survives the process being killed (the OS still has the data): the default.
    #[default]
    Process,
    /// Survives power loss too: every commit waits for the disk.
    PowerLoss,
}

/// How long a connection waits for another process's lock (e.g. `eid admin` while
/// `eid serve` runs on the same file) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections kept open for reuse. Above the blocking pool's usual concurrency, so
/// that a busy server reuses its connections (and their prepared statements) instead of
/// opening and closing one per read.
const READ_POOL: usize = 64;

/// Changed orders the feed holds for a subscriber that is behind (it then hears "any order
/// may have changed").
pub(crate) const CHANGES: usize = 1024;

/// Prepared statements each connection keeps (more than the store has distinct statements,
/// so none is parsed twice).
const STATEMENT_CACHE: usize = 128;

/// A [`Store`] in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    durability: Durability,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// The feed of changed orders ([`crate::OrderStore::order_changes`]): one process
    /// writes the file's orders, so announcing its own commits is the whole feed.
    changes: tokio::sync::broadcast::Sender<String>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// A file that is not an eid database gives [`StoreError::Corrupt`] and is not changed.
    pub async fn open(path: &Path, durability: Durability) -> StoreResult<Self> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            let mut conn = connect(&opened, durability, true)?;
            check_foreign(&conn)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(open_error)?;
            schema::migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                durability,
                writer: Writer::start(conn)?,
                readers: Mutex::new(Vec::new()),
                changes: tokio::sync::broadcast::channel(CHANGES).0,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Announces that the order `order_ref` changed (after its change is committed).
    fn order_changed(&self, order_ref: &str) {
        // No one listening is no error.
        let _ = self.inner.changes.send(order_ref.to_owned());
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner.writer.write(work).await
    }

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut pool| pool.pop());
            let conn = match pooled {
                Some(conn) => conn,
                None => connect(&inner.path, inner.durability, false)?,
            };
            let result = work(&conn).map_err(read_error);
            if let Ok(mut pool) = inner.readers.lock()
                && pool.len() < READ_POOL
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

fn connect(path: &Path, durability: Durability, create: bool) -> StoreResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let synchronous = match durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(open_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// `execute` through the connection's statement cache (SQL is parsed once per connection).
pub(super) fn exec<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the connection's statement cache.
pub(super) fn select_row<T, P, F>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: F,
) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// Refuses a database that holds tables but not ours (another program's file).
fn check_foreign(conn: &Connection) -> StoreResult<()> {
    let tables: i64 = select_row(
        conn,
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |r| r.get(0),
    )
    .map_err(open_error)?;
    let version: i64 =
        select_row(conn, "PRAGMA user_version", [], |r| r.get(0)).map_err(open_error)?;
    let ours: i64 = select_row(
        conn,
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'audit_head'",
        [],
        |r| r.get(0),
    )
    .map_err(open_error)?;
    if tables > 0 && (version == 0 || ours == 0) {
        return Err(StoreError::Corrupt(
            "the file is an SQLite database of another program, not an eid store".into(),
        ));
    }
    Ok(())
}

fn open_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            StoreError::Corrupt("the file is not an SQLite database".into())
        }
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(e.to_string()),
        _ => backend_error(e),
    }
}

fn read_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt(e.to_string())
        }
        e => open_error(e),
    }
}

pub(super) fn backend_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps a failed insert: unique constraints become [`Conflict`]s.
fn insert_error(e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
        let msg = e.to_string();
        let conflict = [
            ("organisations.org_number", Conflict::OrgNumber),
            ("persons.hsa_id", Conflict::HsaId),
            ("cards.card_number", Conflict::CardNumber),
            ("certificates.serial", Conflict::Serial),
            ("certificates.public_key_sha256", Conflict::PublicKey),
            ("used_once.", Conflict::OneTimeValue),
        ]
        .into_iter()
        .find(|(column, _)| msg.contains(column));
        if let Some((_, conflict)) = conflict {
            return StoreError::Conflict(conflict);
        }
    }
    read_error(e)
}

fn exists(conn: &Connection, sql: &str, key: &str) -> StoreResult<bool> {
    select_row(conn, sql, [key], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
        .map_err(read_error)
}

fn require(conn: &Connection, sql: &str, key: &str, missing: Missing) -> StoreResult<()> {
    if exists(conn, sql, key)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(missing))
    }
}

const ORG_EXISTS: &str = "SELECT 1 FROM organisations WHERE org_number = ?1";
const PERSON_EXISTS: &str = "SELECT 1 FROM persons WHERE hsa_id = ?1";
const CARD_EXISTS: &str = "SELECT 1 FROM cards WHERE card_number = ?1";

/// Fails with `missing` unless the statement changed exactly one row.
fn changed_one(changed: usize, missing: Missing) -> StoreResult<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(missing))
    }
}

/// Appends `event` to the chain inside the caller's transaction.
fn append(conn: &Connection, event: &AuditEvent) -> StoreResult<AuditEntry> {
    let head: Option<(i64, Vec<u8>)> = select_row(
        conn,
        "SELECT seq, hash FROM audit_head WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(read_error)?;
    let (prev_seq, prev_hash) = match head {
        None => (0u64, [0u8; 32]),
        Some((seq, hash)) => (
            u64::try_from(seq).map_err(|_| StoreError::Corrupt("audit head seq".into()))?,
            hash.try_into()
                .map_err(|_| StoreError::Corrupt("audit head hash".into()))?,
        ),
    };
    let mut event = event.clone();
    event.at = truncate(event.at);
    let seq = prev_seq + 1;
    let hash = entry_hash(seq, &prev_hash, &event);
    let seq_sql = i64::try_from(seq).map_err(|_| StoreError::Corrupt("audit seq".into()))?;
    exec(
        conn,
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq_sql,
            micros(event.at),
            event.actor,
            event.action,
            event.subject,
            event.details.to_string(),
            prev_hash.as_slice(),
            hash.as_slice()
        ],
    )
    .map_err(backend_error)?;
    exec(
        conn,
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![seq_sql, hash.as_slice()],
    )
    .map_err(backend_error)?;
    Ok(AuditEntry {
        id: seq,
        chain: MAIN_CHAIN.into(),
        seq,
        event,
        prev_hash,
        hash,
    })
}

/// Times are kept to the microsecond.
fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros(at)) * 1000).unwrap_or(at)
}

fn person_row(conn: &Connection, hsa_id: &str) -> rusqlite::Result<Option<Person>> {
    select_row(
        conn,
        &format!("SELECT {} FROM persons WHERE hsa_id = ?1", rows::PERSON),
        [hsa_id],
        rows::person,
    )
    .optional()
}

fn card_row(conn: &Connection, card_number: &str) -> rusqlite::Result<Option<Card>> {
    select_row(
        conn,
        &format!("SELECT {} FROM cards WHERE card_number = ?1", rows::CARD),
        [card_number],
        rows::card,
    )
    .optional()
}

fn organisation_row(conn: &Connection, org_number: &str) -> rusqlite::Result<Option<Organisation>> {
    select_row(
        conn,
        &format!(
            "SELECT {} FROM organisations WHERE org_number = ?1",
            rows::ORGANISATION
        ),
        [org_number],
        rows::organisation,
    )
    .optional()
}

#[async_trait]
impl Store for SqliteStore {
    async fn add_organisation(&self, org: &Organisation, audit: &AuditEvent) -> StoreResult<()> {
        let (org, audit) = (org.clone(), audit.clone());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO organisations (org_number, name, signing_policy, \
                 accept_unattested_keys, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    org.org_number,
                    org.name,
                    tag(&org.signing_policy),
                    org.accept_unattested_keys,
                    micros(org.created_at)
                ],
            )
            .map_err(insert_error)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn organisation(&self, org_number: &str) -> StoreResult<Option<Organisation>> {
        let key = org_number.to_owned();
        self.read(move |conn| {
            select_row(
                conn,
                &format!(
                    "SELECT {} FROM organisations WHERE org_number = ?1",
                    rows::ORGANISATION
                ),
                [key],
                rows::organisation,
            )
            .optional()
        })
        .await
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM organisations ORDER BY org_number",
                rows::ORGANISATION
            ))?
            .query_map([], rows::organisation)?
            .collect()
        })
        .await
    }

    async fn set_organisation_policy(
        &self,
        org_number: &str,
        policy: SigningPolicy,
        accept_unattested_keys: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (key, audit) = (org_number.to_owned(), audit.clone());
        self.write(move |conn| {
            let changed = exec(
                conn,
                "UPDATE organisations SET signing_policy = ?2, accept_unattested_keys = ?3 \
                     WHERE org_number = ?1",
                params![key, tag(&policy), accept_unattested_keys],
            )
            .map_err(backend_error)?;
            changed_one(changed, Missing::Organisation)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn add_person(&self, person: &Person, audit: &AuditEvent) -> StoreResult<()> {
        let (p, audit) = (person.clone(), audit.clone());
        self.write(move |conn| {
            require(conn, ORG_EXISTS, &p.org_number, Missing::Organisation)?;
            exec(
                conn,
                "INSERT INTO persons (hsa_id, given_name, surname, org_number, \
                 signing_entitled, active, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    p.hsa_id,
                    p.given_name,
                    p.surname,
                    p.org_number,
                    p.signing_entitled,
                    p.active,
                    micros(p.created_at)
                ],
            )
            .map_err(insert_error)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn person(&self, hsa_id: &str) -> StoreResult<Option<Person>> {
        let key = hsa_id.to_owned();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {} FROM persons WHERE hsa_id = ?1", rows::PERSON),
                [key],
                rows::person,
            )
            .optional()
        })
        .await
    }

    async fn persons(&self, org_number: Option<&str>) -> StoreResult<Vec<Person>> {
        let org = org_number.map(str::to_owned);
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM persons WHERE ?1 IS NULL OR org_number = ?1 ORDER BY hsa_id",
                rows::PERSON
            ))?
            .query_map([org], rows::person)?
            .collect()
        })
        .await
    }

    async fn set_signing_entitlement(
        &self,
        hsa_id: &str,
        entitled: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (key, audit) = (hsa_id.to_owned(), audit.clone());
        self.write(move |conn| {
            let changed = exec(
                conn,
                "UPDATE persons SET signing_entitled = ?2 WHERE hsa_id = ?1",
                params![key, entitled],
            )
            .map_err(backend_error)?;
            changed_one(changed, Missing::Person)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn add_card(&self, card: &Card, audit: &AuditEvent) -> StoreResult<()> {
        let (c, audit) = (card.clone(), audit.clone());
        self.write(move |conn| {
            require(conn, PERSON_EXISTS, &c.holder, Missing::Person)?;
            exec(
                conn,
                "INSERT INTO cards (card_number, product_number, kind, state, holder, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    c.card_number,
                    c.product_number,
                    tag(&c.kind),
                    tag(&c.state),
                    c.holder,
                    micros(c.created_at)
                ],
            )
            .map_err(insert_error)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn card(&self, card_number: &str) -> StoreResult<Option<Card>> {
        let key = card_number.to_owned();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {} FROM cards WHERE card_number = ?1", rows::CARD),
                [key],
                rows::card,
            )
            .optional()
        })
        .await
    }

    async fn cards(&self, holder: Option<&str>) -> StoreResult<Vec<Card>> {
        let holder = holder.map(str::to_owned);
        self.read(move |conn| match holder {
            // Two statements: `?1 IS NULL OR holder = ?1` would scan every card.
            Some(holder) => conn
                .prepare_cached(&format!(
                    "SELECT {} FROM cards WHERE holder = ?1 ORDER BY card_number",
                    rows::CARD
                ))?
                .query_map([holder], rows::card)?
                .collect(),
            None => conn
                .prepare_cached(&format!(
                    "SELECT {} FROM cards ORDER BY card_number",
                    rows::CARD
                ))?
                .query_map([], rows::card)?
                .collect(),
        })
        .await
    }

    async fn set_card_state(
        &self,
        card_number: &str,
        state: CardState,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (key, audit) = (card_number.to_owned(), audit.clone());
        self.write(move |conn| {
            let changed = exec(
                conn,
                "UPDATE cards SET state = ?2 WHERE card_number = ?1",
                params![key, tag(&state)],
            )
            .map_err(backend_error)?;
            changed_one(changed, Missing::Card)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn add_certificate(
        &self,
        cert: &CertificateRecord,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (c, audit) = (cert.clone(), audit.clone());
        self.write(move |conn| {
            if let Some(card) = &c.card_number {
                require(conn, CARD_EXISTS, card, Missing::Card)?;
            }
            let (revoked_at, reason) = match c.status {
                CertStatus::Valid => (None, None),
                CertStatus::Revoked { at, reason } => (Some(micros(at)), Some(tag(&reason))),
            };
            exec(
                conn,
                "INSERT INTO certificates (serial, kind, card_number, hsa_id, revoked_at, \
                 revocation_reason, der, not_before, not_after, public_key_sha256, issued_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    c.serial.as_bytes(),
                    tag(&c.kind),
                    c.card_number,
                    c.hsa_id,
                    revoked_at,
                    reason,
                    c.der,
                    micros(c.not_before),
                    micros(c.not_after),
                    c.public_key_sha256.as_slice(),
                    micros(c.issued_at)
                ],
            )
            .map_err(insert_error)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn certificate(&self, serial: &Serial) -> StoreResult<Option<CertificateRecord>> {
        let key = serial.as_bytes().to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                &format!(
                    "SELECT {} FROM certificates WHERE serial = ?1",
                    rows::CERTIFICATE
                ),
                [key],
                rows::certificate,
            )
            .optional()
        })
        .await
    }

    async fn certificate_with_subject(
        &self,
        serial: &Serial,
    ) -> StoreResult<Option<CertificateSubject>> {
        let key = serial.as_bytes().to_vec();
        self.read(move |conn| {
            let Some(certificate) = select_row(
                conn,
                &format!(
                    "SELECT {} FROM certificates WHERE serial = ?1",
                    rows::CERTIFICATE
                ),
                [key],
                rows::certificate,
            )
            .optional()?
            else {
                return Ok(None);
            };
            let card = match &certificate.card_number {
                Some(number) => card_row(conn, number)?,
                None => None,
            };
            let person = match &certificate.hsa_id {
                Some(hsa_id) => person_row(conn, hsa_id)?,
                None => None,
            };
            Ok(Some(CertificateSubject {
                certificate,
                card,
                person,
            }))
        })
        .await
    }

    async fn person_with_organisation(
        &self,
        hsa_id: &str,
    ) -> StoreResult<Option<(Person, Option<Organisation>)>> {
        let key = hsa_id.to_owned();
        self.read(move |conn| {
            let Some(person) = person_row(conn, &key)? else {
                return Ok(None);
            };
            let org = organisation_row(conn, &person.org_number)?;
            Ok(Some((person, org)))
        })
        .await
    }

    async fn card_with_holder(
        &self,
        card_number: &str,
    ) -> StoreResult<Option<(Card, Option<Person>)>> {
        let key = card_number.to_owned();
        self.read(move |conn| {
            let Some(card) = card_row(conn, &key)? else {
                return Ok(None);
            };
            let holder = person_row(conn, &card.holder)?;
            Ok(Some((card, holder)))
        })
        .await
    }

    async fn certificate_by_public_key(
        &self,
        public_key_sha256: &[u8; 32],
    ) -> StoreResult<Option<CertificateRecord>> {
        let key = public_key_sha256.to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                &format!(
                    "SELECT {} FROM certificates WHERE public_key_sha256 = ?1",
                    rows::CERTIFICATE
                ),
                [key],
                rows::certificate,
            )
            .optional()
        })
        .await
    }

    async fn certificates_of_card(&self, card_number: &str) -> StoreResult<Vec<CertificateRecord>> {
        let key = card_number.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM certificates WHERE card_number = ?1 ORDER BY issued_at, serial",
                rows::CERTIFICATE
            ))?
            .query_map([key], rows::certificate)?
            .collect()
        })
        .await
    }

    async fn certificates_of_person(&self, hsa_id: &str) -> StoreResult<Vec<CertificateRecord>> {
        let key = hsa_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM certificates WHERE hsa_id = ?1 ORDER BY issued_at, serial",
                rows::CERTIFICATE
            ))?
            .query_map([key], rows::certificate)?
            .collect()
        })
        .await
    }

    async fn revoke_certificate(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (key, audit) = (serial.as_bytes().to_vec(), audit.clone());
        self.write(move |conn| {
            let revoked: Option<Option<i64>> = select_row(
                conn,
                "SELECT revoked_at FROM certificates WHERE serial = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()
            .map_err(read_error)?;
            match revoked {
                None => return Err(StoreError::NotFound(Missing::Certificate)),
                Some(Some(_)) => {
                    return Err(StoreError::Refused(
                        "the certificate is already revoked".into(),
                    ));
                }
                Some(None) => {}
            }
            exec(
                conn,
                "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3 \
                 WHERE serial = ?1",
                params![key, micros(at), tag(&reason)],
            )
            .map_err(backend_error)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn revoke_card(&self, revocation: &CardRevocation) -> StoreResult<CardRevoked> {
        let revocation = revocation.clone();
        self.write(move |conn| lifecycle::revoke_card(conn, &revocation))
            .await
    }

    async fn revoke_undelivered(
        &self,
        revocation: &UndeliveredRevocation,
    ) -> StoreResult<Vec<CertificateRecord>> {
        let revocation = revocation.clone();
        self.write(move |conn| lifecycle::revoke_undelivered(conn, &revocation))
            .await
    }

    async fn use_once(
        &self,
        purpose: &str,
        value: &[u8],
        keep_until: OffsetDateTime,
    ) -> StoreResult<()> {
        let (purpose, value) = (purpose.to_owned(), value.to_vec());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO used_once (purpose, value, keep_until) VALUES (?1, ?2, ?3)",
                params![purpose, value, micros(keep_until)],
            )
            .map_err(insert_error)
            .map(drop)
        })
        .await
    }

    async fn purge_used_once(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM used_once WHERE keep_until < ?1",
                [micros(now)],
            )
            .map(|n| n as u64)
            .map_err(backend_error)
        })
        .await
    }

    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<AuditEntry> {
        let event = event.clone();
        self.write(move |conn| append(conn, &event)).await
    }

    async fn audit_entries(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        // One chain: an entry's position in the log is its position in the chain.
        self.audit_chain(MAIN_CHAIN, after, limit).await
    }

    async fn audit_chain(
        &self,
        chain: &str,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        if chain != MAIN_CHAIN {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                rows::AUDIT
            ))?
            .query_map(params![after, limit], rows::audit_entry)?
            .collect()
        })
        .await
    }

    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>> {
        let head: Option<(i64, Vec<u8>)> = self
            .read(|conn| {
                select_row(
                    conn,
                    "SELECT seq, hash FROM audit_head WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        head.map(|(seq, hash)| {
            Ok(AuditHead {
                chain: MAIN_CHAIN.into(),
                seq: u64::try_from(seq)
                    .map_err(|_| StoreError::Corrupt("audit head seq".into()))?,
                hash: hash
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("audit head hash".into()))?,
            })
        })
        .into_iter()
        .collect()
    }

    async fn add_signed_audit_head(&self, signed: &SignedAuditHead) -> StoreResult<()> {
        let signed = signed.clone();
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO audit_signed_heads (chain, seq, hash, signed_at, signature) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (chain, seq) DO NOTHING",
                params![
                    signed.head.chain,
                    i64::try_from(signed.head.seq).unwrap_or(i64::MAX),
                    signed.head.hash.as_slice(),
                    micros(signed.signed_at),
                    signed.signature
                ],
            )
            .map(drop)
            .map_err(backend_error)
        })
        .await
    }

    async fn signed_audit_heads(&self) -> StoreResult<Vec<SignedAuditHead>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT chain, seq, hash, signed_at, signature FROM audit_signed_heads \
                 ORDER BY chain, seq",
            )?
            .query_map([], rows::signed_head)?
            .collect()
        })
        .await
    }
}
