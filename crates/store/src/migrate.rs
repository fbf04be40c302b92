//! Moving an installation from SQLite to PostgreSQL (`eid admin migrate-store`): every row
//! of every table, copied in one PostgreSQL transaction from one SQLite read transaction,
//! into an empty PostgreSQL store. Nothing is half-copied: a failure leaves the PostgreSQL
//! database as empty as it was (and the SQLite file is only read).
//!
//! The copy is by table, not by record type: the two schemas have the same tables and
//! columns, so each value is converted by the PostgreSQL column's type (SQLite keeps times
//! as Unix microseconds and flags as 0/1). The audit log keeps its entries, sequence
//! numbers and hashes as chain [`MAIN_CHAIN`] (a hash does not cover the chain's name), so
//! its history, and any signed head, verifies on PostgreSQL as it did on SQLite; the nodes
//! then write chains of their own beside it.

use rusqlite::types::Value;
use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

use crate::audit::MAIN_CHAIN;
use crate::postgres::{Failure, PostgresStore, execute, query, query_opt, transaction};
use crate::{SqliteStore, StoreError, StoreResult};

/// The tables in an order that keeps references valid (a row after the rows it names).
const TABLES: &[&str] = &[
    "organisations",
    "persons",
    "cards",
    "certificates",
    "used_once",
    "orders",
    "order_browser_sessions",
    "oidc_clients",
    "oidc_signing_keys",
    "oidc_sessions",
    "oidc_codes",
    "oidc_grants",
    "portal_sessions",
    "card_enrollments",
    "enrollment_steps",
    "certificate_deliveries",
    "crls",
    "ocsp_responders",
    "audit_signed_heads",
];

/// What was copied: rows per table, in copy order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    /// `(table, rows)`.
    pub tables: Vec<(String, u64)>,
    /// Audit entries copied (chain [`MAIN_CHAIN`]).
    pub audit_entries: u64,
}

/// One SQLite table's rows, read in one go.
struct Table {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Copies everything of `from` into `to`, which must hold no installation yet (no record
/// in any table, an empty audit log). Run it with every server stopped.
pub async fn sqlite_to_postgres(from: &SqliteStore, to: &PostgresStore) -> StoreResult<Migrated> {
    let path = from.path().to_path_buf();
    let (tables, audit, head, revocation) = tokio::task::spawn_blocking(move || {
        read_all(&path).map_err(|e| StoreError::Backend(format!("reading the SQLite store: {e}")))
    })
    .await
    .map_err(|e| StoreError::Backend(e.to_string()))??;

    transaction!(to, |tx| {
        // Empty, or nothing is copied.
        for table in TABLES.iter().chain(&["audit_log", "audit_heads"]) {
            let row = query_opt(&tx, &format!("SELECT 1 FROM {table} LIMIT 1"), &[]).await?;
            if row.is_some() {
                return Err(StoreError::Refused(format!(
                    "the PostgreSQL store is not empty (table {table} has rows): migrate into a \
                     new database"
                ))
                .into());
            }
        }
        let mut copied = Vec::new();
        for table in &tables {
            let types = column_types(&tx, &table.name).await?;
            let sql = insert_sql(&table.name, &table.columns);
            let statement = tx.prepare(&sql).await?;
            for row in &table.rows {
                let values = row
                    .iter()
                    .zip(&table.columns)
                    .map(|(value, column)| {
                        let ty = types.iter().find(|(c, _)| c == column).map(|(_, t)| t);
                        convert(&table.name, column, value, ty)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let params: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(&statement, &params).await?;
            }
            copied.push((table.name.clone(), table.rows.len() as u64));
        }
        // The audit log as chain `main`, in order, and its head.
        for entry in &audit {
            execute(
                &tx,
                "INSERT INTO audit_log (chain, seq, at, actor, action, subject, details, \
                 prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &MAIN_CHAIN,
                    &entry.0,
                    &micros_to_time(entry.1)?,
                    &entry.2,
                    &entry.3,
                    &entry.4,
                    &entry.5,
                    &entry.6,
                    &entry.7,
                ],
            )
            .await?;
        }
        if let Some((seq, hash)) = &head {
            execute(
                &tx,
                "INSERT INTO audit_heads (lane, chain, seq, hash) VALUES (0, $1, $2, $3)",
                &[&MAIN_CHAIN, seq, hash],
            )
            .await?;
        }
        let (revocations, allocated, latest) = revocation;
        execute(
            &tx,
            "UPDATE revocation_state SET revocations = $1, crl_allocated = $2, crl_latest = $3 \
             WHERE id = 1",
            &[&revocations, &allocated, &latest],
        )
        .await?;
        // Copied rows are no revocations: the marker is the source's.
        let marker = query(&tx, "SELECT revocations FROM revocation_state", &[]).await?;
        if marker.first().map(|r| r.get::<_, i64>(0)) != Some(revocations) {
            return Err(StoreError::Backend("the revocation marker was not copied".into()).into());
        }
        Migrated {
            tables: copied,
            audit_entries: audit.len() as u64,
        }
    })
}

/// An audit entry as SQLite keeps it: seq, at (µs), actor, action, subject, details,
/// prev_hash, hash.
type AuditRow = (i64, i64, String, String, String, String, Vec<u8>, Vec<u8>);

/// Everything of the SQLite store, in one read transaction.
#[allow(clippy::type_complexity)] // One tuple, read once.
fn read_all(
    path: &std::path::Path,
) -> rusqlite::Result<(
    Vec<Table>,
    Vec<AuditRow>,
    Option<(i64, Vec<u8>)>,
    (i64, i64, i64),
)> {
    let mut conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    let mut tables = Vec::new();
    for name in TABLES {
        let order = match *name {
            // A successor names the responder it replaces.
            "ocsp_responders" => " ORDER BY generation",
            _ => "",
        };
        let mut statement = tx.prepare(&format!("SELECT * FROM {name}{order}"))?;
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let rows = statement
            .query_map([], |row| {
                (0..columns.len())
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        tables.push(Table {
            name: (*name).to_owned(),
            columns,
            rows,
        });
    }
    let audit = tx
        .prepare(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             ORDER BY seq",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<AuditRow>>>()?;
    let head = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok();
    let revocation = tx.query_row(
        "SELECT revocations, crl_allocated, crl_latest FROM revocation_state WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok((tables, audit, head, revocation))
}

/// The columns of a PostgreSQL table and their types.
async fn column_types<C: deadpool_postgres::GenericClient>(
    c: &C,
    table: &str,
) -> Result<Vec<(String, Type)>, Failure> {
    let statement = c.prepare(&format!("SELECT * FROM {table} LIMIT 0")).await?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.type_().clone()))
        .collect())
}

fn insert_sql(table: &str, columns: &[String]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    )
}

/// An SQLite value as the PostgreSQL column `ty` takes it.
fn convert(
    table: &str,
    column: &str,
    value: &Value,
    ty: Option<&Type>,
) -> Result<Box<dyn ToSql + Sync + Send>, Failure> {
    let bad = || {
        Failure::Store(StoreError::Corrupt(format!(
            "{table}.{column}: the SQLite value {value:?} does not fit PostgreSQL's column"
        )))
    };
    let Some(ty) = ty else {
        return Err(Failure::Store(StoreError::Corrupt(format!(
            "{table}.{column}: no such PostgreSQL column"
        ))));
    };
    Ok(match (value, ty) {
        (Value::Null, &Type::TIMESTAMPTZ) => Box::new(None::<OffsetDateTime>),
        (Value::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::INT4) => Box::new(None::<i32>),
        (Value::Null, &Type::TEXT) => Box::new(None::<String>),
        (Value::Integer(us), &Type::TIMESTAMPTZ) => Box::new(micros_to_time(*us)?),
        (Value::Integer(n), &Type::BOOL) => Box::new(*n != 0),
        (Value::Integer(n), &Type::INT8) => Box::new(*n),
        (Value::Integer(n), &Type::INT4) => Box::new(i32::try_from(*n).map_err(|_| bad())?),
        (Value::Text(s), &Type::TEXT) => Box::new(s.clone()),
        (Value::Blob(b), &Type::BYTEA) => Box::new(b.clone()),
        _ => return Err(bad()),
    })
}

fn micros_to_time(us: i64) -> Result<OffsetDateTime, Failure> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| Failure::Store(StoreError::Corrupt(format!("a time: {e}"))))
}
