//! The PostgreSQL implementation of [`Store`]: for installations of several server nodes
//! on one database (with PostgreSQL's own replication and failover).
//!
//! - **Connections**: a pool (deadpool) of tokio-postgres connections, statements prepared
//!   once per connection.
//! - **Writes**: each method is one `SERIALIZABLE` transaction, run again from the start
//!   when PostgreSQL reports a serialization failure or a deadlock (`transaction!`, a few
//!   attempts with a short random pause). So every check a method makes before it writes
//!   ("the card is active", "the code is unused", "the order is pending") still holds when
//!   it commits, whichever node wrote meanwhile: what the SQLite store's single writer gives
//!   by construction. Unique things are unique by constraint; a violation becomes the
//!   [`Conflict`] the trait names.
//! - **Audit log**: one hash chain per node and lane (`<node>.<lane>`). A write transaction
//!   takes, with its first statement, a lane that no other transaction holds (a
//!   transaction-scoped advisory lock; `PostgresStore::take_lane`), so concurrent writers
//!   of one node do not meet on a chain head, and those of different nodes never do; a
//!   chain's head row is updated in the appending transaction, so a chain never forks (two
//!   appends meeting on one head: one is run again).
//! - **Migrations** run at connect, under an advisory lock, so nodes starting together
//!   migrate once; a database with tables that are not ours is refused.
//! - **Wake-ups**: a change to an order is announced with `NOTIFY eid_orders` in its
//!   transaction (delivered at commit), for long-polling `collect` on every node.

mod enroll;
mod lifecycle;
mod notify;
mod oidc;
mod orders;
mod portal;
mod revocation;
mod rows;
mod schema;

#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::audit::{AuditHead, SignedAuditHead, entry_hash};
use crate::lifecycle::{CardRevocation, CardRevoked, UndeliveredRevocation};
use crate::model::*;
use crate::{Conflict, Missing, Store, StoreError, StoreResult};

/// Connections kept by default (per node).
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Audit chains per node; the schema has one `audit_heads` partition per lane.
const LANES: usize = 16;
/// Attempts of a write transaction that meets concurrent ones. Serializable transactions
/// lock what they read by index page, so under load they also meet transactions that
/// touched other rows of the same page, and are run again; the pauses between attempts
/// grow to spread them out.
pub(crate) const ATTEMPTS: u32 = 30;
/// The advisory lock class of the audit lanes (`eidA`).
const LANE_LOCK_CLASS: i32 = 0x6569_6441;

/// A [`Store`] in a PostgreSQL database, shared by the installation's nodes.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    /// What the audit chains of this handle are named after.
    node: String,
    /// Where the next append starts looking for a free lane.
    next_lane: AtomicUsize,
    /// The database's address without a password, for messages.
    shown: String,
    /// The feed of changed orders ([`notify`]).
    changes: Arc<tokio::sync::broadcast::Sender<String>>,
}

/// What went wrong inside a transaction: the database's own error (which may call for the
/// transaction to be run again) or the store's verdict.
#[derive(Debug)]
pub(crate) enum Failure {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Store(StoreError::Backend(format!("no database connection: {e}")))
    }
}

impl Failure {
    /// Whether running the transaction again may succeed: it met a concurrent one.
    pub(crate) fn retryable(&self) -> bool {
        let Self::Db(e) = self else {
            return false;
        };
        let Some(db) = e.as_db_error() else {
            return false;
        };
        *db.code() == SqlState::T_R_SERIALIZATION_FAILURE
            || *db.code() == SqlState::T_R_DEADLOCK_DETECTED
            // Two appends that took one chain's head: the chain stays linear, one retries.
            || (*db.code() == SqlState::UNIQUE_VIOLATION
                && db.constraint() == Some("audit_log_chain_seq_key"))
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Self::Store(e) => e,
            Self::Db(e) => db_error(e),
        }
    }
}

/// The store's reading of a database error: unique constraints become [`Conflict`]s.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            let conflict = match db.constraint() {
                Some("organisations_pkey") => Some(Conflict::OrgNumber),
                Some("persons_pkey") => Some(Conflict::HsaId),
                Some("cards_pkey") => Some(Conflict::CardNumber),
                Some("certificates_pkey") => Some(Conflict::Serial),
                Some("certificates_public_key_unique") => Some(Conflict::PublicKey),
                Some("used_once_pkey") => Some(Conflict::OneTimeValue),
                _ => None,
            };
            if let Some(conflict) = conflict {
                return StoreError::Conflict(conflict);
            }
        }
        if *db.code() == SqlState::T_R_SERIALIZATION_FAILURE
            || *db.code() == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Backend(
                "the database is too busy: the change met concurrent ones on every attempt".into(),
            );
        }
        return StoreError::Backend(format!("{}: {}", db.code().code(), db.message()));
    }
    StoreError::Backend(e.to_string())
}

/// Runs `$body` (an expression using the transaction `$tx`, whose `?` takes database errors
/// and [`StoreError`]s) in a `SERIALIZABLE` transaction and commits it; runs it again from
/// the start when it met a concurrent transaction. The transaction takes an audit lane with
/// its first statement (see `take_lane`); `transaction!(store, unaudited, |tx| …)`, for a
/// change that appends no audit entry, skips that round trip.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::transaction!(@run $store, true, |$tx| $body)
    };
    ($store:expr, unaudited, |$tx:ident| $body:expr) => {
        $crate::postgres::transaction!(@run $store, false, |$tx| $body)
    };
    (@run $store:expr, $audited:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result: Result<_, $crate::postgres::Failure> = async {
                let mut client = $store.pooled().await?;
                let $tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::Serializable)
                    .start()
                    .await?;
                // The audit lane first, before the snapshot can grow old (see `append`).
                let lane = if $audited {
                    $store.take_lane(&$tx).await?
                } else {
                    None
                };
                let value = $crate::postgres::LANE
                    .scope(lane, async { Ok::<_, $crate::postgres::Failure>($body) })
                    .await?;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(failure) if failure.retryable() && attempt < $crate::postgres::ATTEMPTS => {
                    $crate::postgres::pause(attempt).await;
                }
                Err(failure) => break Err(failure.into_store()),
            }
        }
    }};
}
#[allow(unused_imports)] // For the trait modules.
pub(crate) use transaction;

/// Runs `$body` (an expression of type `Result<_, Failure>` using the pooled connection
/// `$c`, whose `?` takes database errors and [`StoreError`]s) outside any transaction: reads of one statement, or of
/// several where each is consistent on its own.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {{
        let client = $store.pooled().await?;
        let $c = &client;
        let result: Result<_, $crate::postgres::Failure> = async { $body }.await;
        result.map_err($crate::postgres::Failure::into_store)
    }};
}
#[allow(unused_imports)] // For the trait modules.
pub(crate) use read;

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        f.into_store()
    }
}

tokio::task_local! {
    /// The audit lane the running transaction took at its start, if it got one.
    pub(crate) static LANE: Option<usize>;
}

/// A short random pause before attempt `attempt + 1`, growing with the attempts.
pub(crate) async fn pause(attempt: u32) {
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    let millis = u64::from(byte[0] % 8 + 1) * u64::from(attempt.min(8));
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// Runs `sql` through the connection's statement cache.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

/// The one row `sql` answers, if any.
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

/// Rows changed by `sql`.
pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// any libpq key–value string too), brings its schema up to date, and names this
    /// handle's audit chains after `node`. A database holding tables that are not an eid
    /// store's is refused ([`StoreError::Corrupt`]) and left as it is.
    pub async fn connect(url: &str, node: &str, pool_size: usize) -> StoreResult<Self> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Backend(format!("the PostgreSQL address is not valid: {e}"))
        })?;
        let shown = show(&config);
        let changes = Arc::new(tokio::sync::broadcast::channel(crate::sqlite::CHANGES).0);
        notify::spawn(config.clone(), Arc::downgrade(&changes));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Backend(format!("{shown}: {e}")))?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                node: node.to_owned(),
                next_lane: AtomicUsize::new(0),
                shown,
                changes,
            }),
        };
        let mut client = store.pooled().await.map_err(Failure::into_store)?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    /// The node this handle's audit chains are named after.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The database's address, without its password.
    pub fn shown(&self) -> &str {
        &self.inner.shown
    }

    /// A subscription to the feed of changed orders (for `OrderStore::order_changes`).
    pub(crate) fn subscribe_order_changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.changes.subscribe()
    }

    /// A pooled connection.
    pub(crate) async fn pooled(&self) -> Result<deadpool_postgres::Object, Failure> {
        self.inner.pool.get().await.map_err(|e| {
            Failure::Store(StoreError::Backend(format!(
                "no connection to {}: {e}",
                self.inner.shown
            )))
        })
    }

    /// Appends `event` to one of this node's chains, inside the caller's transaction.
    pub(crate) async fn append<C: GenericClient>(
        &self,
        tx: &C,
        event: &AuditEvent,
    ) -> Result<AuditEntry, Failure> {
        // The lane this transaction took at its start; else the first free one now, or
        // wait for one.
        let lane = match LANE.try_with(|lane| *lane).ok().flatten() {
            Some(lane) => lane,
            None => match self.take_lane(tx).await? {
                Some(lane) => lane,
                None => {
                    let lane = self.inner.next_lane.fetch_add(1, Ordering::Relaxed) % LANES;
                    execute(
                        tx,
                        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                        &[&LANE_LOCK_CLASS, &format!("{}.{lane}", self.inner.node)],
                    )
                    .await?;
                    lane
                }
            },
        };
        let chain = format!("{}.{lane}", self.inner.node);
        let lane_sql = lane as i32;
        let head = query_opt(
            tx,
            "SELECT seq, hash FROM audit_heads WHERE lane = $1 AND chain = $2",
            &[&lane_sql, &chain],
        )
        .await?;
        let (prev_seq, prev_hash) = match head {
            None => (0u64, [0u8; 32]),
            Some(row) => (rows::seq(&row, 0)?, rows::hash32(&row, 1)?),
        };
        let mut event = event.clone();
        event.at = rows::truncate(event.at);
        let seq = prev_seq + 1;
        let hash = entry_hash(seq, &prev_hash, &event);
        let seq_sql = rows::seq_sql(seq)?;
        // The head first: of two appends that met on this chain one waits here and then
        // fails to serialize, and is run again.
        execute(
            tx,
            "INSERT INTO audit_heads (lane, chain, seq, hash) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (lane, chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            &[&lane_sql, &chain, &seq_sql, &hash.as_slice()],
        )
        .await?;
        let details = event.details.to_string();
        let row = query_opt(
            tx,
            "INSERT INTO audit_log (chain, seq, at, actor, action, subject, details, \
             prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &chain,
                &seq_sql,
                &event.at,
                &event.actor,
                &event.action,
                &event.subject,
                &details,
                &prev_hash.as_slice(),
                &hash.as_slice(),
            ],
        )
        .await?;
        let id = match row {
            Some(row) => rows::seq(&row, 0)?,
            None => return Err(StoreError::Backend("the audit entry got no id".into()).into()),
        };
        Ok(AuditEntry {
            id,
            chain,
            seq,
            event,
            prev_hash,
            hash,
        })
    }

    /// Takes one of this node's audit lanes that no other transaction holds (a
    /// transaction-scoped advisory lock keyed by the chain's name), trying them in turn
    /// from a rotating start, in one statement: `None` when all are held.
    ///
    /// A transaction takes its lane with its first statement, so the lane's previous
    /// holder has committed before this transaction's snapshot: reading the chain's head
    /// then sees that commit, and the append does not conflict with it. (Taken at the
    /// append, late in a transaction, a lane's previous holder would often have committed
    /// after the snapshot, and the append fail to serialize.)
    pub(crate) async fn take_lane<C: GenericClient>(
        &self,
        tx: &C,
    ) -> Result<Option<usize>, Failure> {
        let start = (self.inner.next_lane.fetch_add(1, Ordering::Relaxed) % LANES) as i32;
        let row = query_opt(
            tx,
            "SELECT s % $4 FROM generate_series($3::int, $3::int + $4 - 1) AS g(s) \
             WHERE pg_try_advisory_xact_lock($1, hashtext($2 || '.' || (s % $4)::text)) \
             LIMIT 1",
            &[&LANE_LOCK_CLASS, &self.inner.node, &start, &(LANES as i32)],
        )
        .await?;
        Ok(row.map(|r| r.get::<_, i32>(0) as usize))
    }
}

/// `host:port/database` of a configuration, for messages (never the password).
fn show(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("postgres");
    format!("postgres://{host}:{port}/{database}")
}

/// Fails with `missing` unless exactly one row changed.
fn changed_one(changed: u64, missing: Missing) -> Result<(), Failure> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(missing).into())
    }
}

/// Fails with `missing` unless `sql` (taking one key) finds a row.
async fn require<C: GenericClient>(
    c: &C,
    sql: &str,
    key: &str,
    missing: Missing,
) -> Result<(), Failure> {
    if query_opt(c, sql, &[&key]).await?.is_some() {
        Ok(())
    } else {
        Err(StoreError::NotFound(missing).into())
    }
}

const ORG_EXISTS: &str = "SELECT 1 FROM organisations WHERE org_number = $1";
const CARD_EXISTS: &str = "SELECT 1 FROM cards WHERE card_number = $1";

async fn person_row<C: GenericClient>(c: &C, hsa_id: &str) -> Result<Option<Person>, Failure> {
    query_opt(
        c,
        &format!("SELECT {} FROM persons WHERE hsa_id = $1", rows::PERSON),
        &[&hsa_id],
    )
    .await?
    .map(|r| rows::person(&r))
    .transpose()
}

async fn card_row<C: GenericClient>(c: &C, card_number: &str) -> Result<Option<Card>, Failure> {
    query_opt(
        c,
        &format!("SELECT {} FROM cards WHERE card_number = $1", rows::CARD),
        &[&card_number],
    )
    .await?
    .map(|r| rows::card(&r))
    .transpose()
}

async fn organisation_row<C: GenericClient>(
    c: &C,
    org_number: &str,
) -> Result<Option<Organisation>, Failure> {
    query_opt(
        c,
        &format!(
            "SELECT {} FROM organisations WHERE org_number = $1",
            rows::ORGANISATION
        ),
        &[&org_number],
    )
    .await?
    .map(|r| rows::organisation(&r))
    .transpose()
}

async fn certificate_row<C: GenericClient>(
    c: &C,
    serial: &Serial,
) -> Result<Option<CertificateRecord>, Failure> {
    query_opt(
        c,
        &format!(
            "SELECT {} FROM certificates WHERE serial = $1",
            rows::CERTIFICATE
        ),
        &[&serial.as_bytes()],
    )
    .await?
    .map(|r| rows::certificate(&r))
    .transpose()
}

/// Every row of `sql` through `map`.
async fn all<C: GenericClient, T>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: fn(&Row) -> Result<T, Failure>,
) -> Result<Vec<T>, Failure> {
    query(c, sql, params).await?.iter().map(map).collect()
}

#[async_trait]
impl Store for PostgresStore {
    async fn add_organisation(&self, org: &Organisation, audit: &AuditEvent) -> StoreResult<()> {
        transaction!(self, |tx| {
            execute(
                &tx,
                "INSERT INTO organisations (org_number, name, signing_policy, \
                 accept_unattested_keys, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &org.org_number,
                    &org.name,
                    &tag(&org.signing_policy),
                    &org.accept_unattested_keys,
                    &rows::truncate(org.created_at),
                ],
            )
            .await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn organisation(&self, org_number: &str) -> StoreResult<Option<Organisation>> {
        read!(self, |c| organisation_row(c, org_number).await)
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM organisations ORDER BY org_number",
                    rows::ORGANISATION
                ),
                &[],
                rows::organisation,
            )
            .await
        })
    }

    async fn set_organisation_policy(
        &self,
        org_number: &str,
        policy: SigningPolicy,
        accept_unattested_keys: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let changed = execute(
                &tx,
                "UPDATE organisations SET signing_policy = $2, accept_unattested_keys = $3 \
                 WHERE org_number = $1",
                &[&org_number, &tag(&policy), &accept_unattested_keys],
            )
            .await?;
            changed_one(changed, Missing::Organisation)?;
            self.append(&tx, audit).await?;
        })
    }

    async fn add_person(&self, person: &Person, audit: &AuditEvent) -> StoreResult<()> {
        let p = person;
        transaction!(self, |tx| {
            require(&tx, ORG_EXISTS, &p.org_number, Missing::Organisation).await?;
            execute(
                &tx,
                "INSERT INTO persons (hsa_id, given_name, surname, org_number, \
                 signing_entitled, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &p.hsa_id,
                    &p.given_name,
                    &p.surname,
                    &p.org_number,
                    &p.signing_entitled,
                    &p.active,
                    &rows::truncate(p.created_at),
                ],
            )
            .await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn person(&self, hsa_id: &str) -> StoreResult<Option<Person>> {
        read!(self, |c| person_row(c, hsa_id).await)
    }

    async fn persons(&self, org_number: Option<&str>) -> StoreResult<Vec<Person>> {
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM persons WHERE $1::text IS NULL OR org_number = $1 \
                     ORDER BY hsa_id",
                    rows::PERSON
                ),
                &[&org_number],
                rows::person,
            )
            .await
        })
    }

    async fn set_signing_entitlement(
        &self,
        hsa_id: &str,
        entitled: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let changed = execute(
                &tx,
                "UPDATE persons SET signing_entitled = $2 WHERE hsa_id = $1",
                &[&hsa_id, &entitled],
            )
            .await?;
            changed_one(changed, Missing::Person)?;
            self.append(&tx, audit).await?;
        })
    }

    async fn add_card(&self, card: &Card, audit: &AuditEvent) -> StoreResult<()> {
        let c = card;
        transaction!(self, |tx| {
            require(
                &tx,
                "SELECT 1 FROM persons WHERE hsa_id = $1",
                &c.holder,
                Missing::Person,
            )
            .await?;
            execute(
                &tx,
                "INSERT INTO cards (card_number, product_number, kind, state, holder, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &c.card_number,
                    &c.product_number,
                    &tag(&c.kind),
                    &tag(&c.state),
                    &c.holder,
                    &rows::truncate(c.created_at),
                ],
            )
            .await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn card(&self, card_number: &str) -> StoreResult<Option<Card>> {
        read!(self, |c| card_row(c, card_number).await)
    }

    async fn cards(&self, holder: Option<&str>) -> StoreResult<Vec<Card>> {
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM cards WHERE $1::text IS NULL OR holder = $1 \
                     ORDER BY card_number",
                    rows::CARD
                ),
                &[&holder],
                rows::card,
            )
            .await
        })
    }

    async fn set_card_state(
        &self,
        card_number: &str,
        state: CardState,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let changed = execute(
                &tx,
                "UPDATE cards SET state = $2 WHERE card_number = $1",
                &[&card_number, &tag(&state)],
            )
            .await?;
            changed_one(changed, Missing::Card)?;
            self.append(&tx, audit).await?;
        })
    }

    async fn add_certificate(
        &self,
        cert: &CertificateRecord,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let c = cert;
        let (revoked_at, reason) = match c.status {
            CertStatus::Valid => (None, None),
            CertStatus::Revoked { at, reason } => (Some(rows::truncate(at)), Some(tag(&reason))),
        };
        transaction!(self, |tx| {
            if let Some(card) = &c.card_number {
                require(&tx, CARD_EXISTS, card, Missing::Card).await?;
            }
            execute(
                &tx,
                "INSERT INTO certificates (serial, kind, card_number, hsa_id, revoked_at, \
                 revocation_reason, der, not_before, not_after, public_key_sha256, issued_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &c.serial.as_bytes(),
                    &tag(&c.kind),
                    &c.card_number,
                    &c.hsa_id,
                    &revoked_at,
                    &reason,
                    &c.der,
                    &rows::truncate(c.not_before),
                    &rows::truncate(c.not_after),
                    &c.public_key_sha256.as_slice(),
                    &rows::truncate(c.issued_at),
                ],
            )
            .await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn certificate(&self, serial: &Serial) -> StoreResult<Option<CertificateRecord>> {
        read!(self, |c| certificate_row(c, serial).await)
    }

    async fn certificate_with_subject(
        &self,
        serial: &Serial,
    ) -> StoreResult<Option<CertificateSubject>> {
        // One round trip: the certificate with its card and person, each if it exists.
        read!(self, |c| {
            let Some(certificate) = certificate_row(c, serial).await? else {
                return Ok(None);
            };
            let card = match &certificate.card_number {
                Some(number) => card_row(c, number).await?,
                None => None,
            };
            let person = match &certificate.hsa_id {
                Some(hsa_id) => person_row(c, hsa_id).await?,
                None => None,
            };
            Ok(Some(CertificateSubject {
                certificate,
                card,
                person,
            }))
        })
    }

    async fn person_with_organisation(
        &self,
        hsa_id: &str,
    ) -> StoreResult<Option<(Person, Option<Organisation>)>> {
        read!(self, |c| {
            let Some(person) = person_row(c, hsa_id).await? else {
                return Ok(None);
            };
            let org = organisation_row(c, &person.org_number).await?;
            Ok(Some((person, org)))
        })
    }

    async fn card_with_holder(
        &self,
        card_number: &str,
    ) -> StoreResult<Option<(Card, Option<Person>)>> {
        read!(self, |c| {
            let Some(card) = card_row(c, card_number).await? else {
                return Ok(None);
            };
            let holder = person_row(c, &card.holder).await?;
            Ok(Some((card, holder)))
        })
    }

    async fn certificate_by_public_key(
        &self,
        public_key_sha256: &[u8; 32],
    ) -> StoreResult<Option<CertificateRecord>> {
        read!(self, |c| {
            query_opt(
                c,
                &format!(
                    "SELECT {} FROM certificates WHERE public_key_sha256 = $1",
                    rows::CERTIFICATE
                ),
                &[&public_key_sha256.as_slice()],
            )
            .await?
            .map(|r| rows::certificate(&r))
            .transpose()
        })
    }

    async fn certificates_of_card(&self, card_number: &str) -> StoreResult<Vec<CertificateRecord>> {
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM certificates WHERE card_number = $1 \
                     ORDER BY issued_at, serial",
                    rows::CERTIFICATE
                ),
                &[&card_number],
                rows::certificate,
            )
            .await
        })
    }

    async fn certificates_of_person(&self, hsa_id: &str) -> StoreResult<Vec<CertificateRecord>> {
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM certificates WHERE hsa_id = $1 ORDER BY issued_at, serial",
                    rows::CERTIFICATE
                ),
                &[&hsa_id],
                rows::certificate,
            )
            .await
        })
    }

    async fn revoke_certificate(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let row = query_opt(
                &tx,
                "SELECT revoked_at IS NOT NULL FROM certificates WHERE serial = $1",
                &[&serial.as_bytes()],
            )
            .await?;
            match row.map(|r| r.get::<_, bool>(0)) {
                None => return Err(StoreError::NotFound(Missing::Certificate).into()),
                Some(true) => {
                    return Err(
                        StoreError::Refused("the certificate is already revoked".into()).into(),
                    );
                }
                Some(false) => {}
            }
            execute(
                &tx,
                "UPDATE certificates SET revoked_at = $2, revocation_reason = $3 \
                 WHERE serial = $1",
                &[&serial.as_bytes(), &rows::truncate(at), &tag(&reason)],
            )
            .await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn revoke_card(&self, revocation: &CardRevocation) -> StoreResult<CardRevoked> {
        transaction!(self, |tx| lifecycle::revoke_card(self, &tx, revocation)
            .await?)
    }

    async fn revoke_undelivered(
        &self,
        revocation: &UndeliveredRevocation,
    ) -> StoreResult<Vec<CertificateRecord>> {
        transaction!(self, |tx| {
            lifecycle::revoke_undelivered(self, &tx, revocation).await?
        })
    }

    async fn use_once(
        &self,
        purpose: &str,
        value: &[u8],
        keep_until: OffsetDateTime,
    ) -> StoreResult<()> {
        transaction!(self, unaudited, |tx| {
            execute(
                &tx,
                "INSERT INTO used_once (purpose, value, keep_until) VALUES ($1, $2, $3)",
                &[&purpose, &value, &rows::truncate(keep_until)],
            )
            .await?;
        })
    }

    async fn purge_used_once(&self, now: OffsetDateTime) -> StoreResult<u64> {
        transaction!(self, unaudited, |tx| {
            execute(&tx, "DELETE FROM used_once WHERE keep_until < $1", &[&now]).await?
        })
    }

    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<AuditEntry> {
        transaction!(self, |tx| self.append(&tx, event).await?)
    }

    async fn audit_entries(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                    rows::AUDIT
                ),
                &[&after, &limit],
                rows::audit_entry,
            )
            .await
        })
    }

    async fn audit_chain(
        &self,
        chain: &str,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {} FROM audit_log WHERE chain = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3",
                    rows::AUDIT
                ),
                &[&chain, &after, &limit],
                rows::audit_entry,
            )
            .await
        })
    }

    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>> {
        read!(self, |c| {
            all(
                c,
                "SELECT chain, seq, hash FROM audit_heads ORDER BY chain",
                &[],
                rows::audit_head,
            )
            .await
        })
    }

    async fn add_signed_audit_head(&self, signed: &SignedAuditHead) -> StoreResult<()> {
        let seq = rows::seq_sql(signed.head.seq).map_err(Failure::into_store)?;
        transaction!(self, unaudited, |tx| {
            execute(
                &tx,
                "INSERT INTO audit_signed_heads (chain, seq, hash, signed_at, signature) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain, seq) DO NOTHING",
                &[
                    &signed.head.chain,
                    &seq,
                    &signed.head.hash.as_slice(),
                    &signed.signed_at,
                    &signed.signature,
                ],
            )
            .await?;
        })
    }

    async fn signed_audit_heads(&self) -> StoreResult<Vec<SignedAuditHead>> {
        read!(self, |c| {
            all(
                c,
                "SELECT chain, seq, hash, signed_at, signature FROM audit_signed_heads \
                 ORDER BY chain, seq",
                &[],
                rows::signed_head,
            )
            .await
        })
    }
}
