//! Migrations, embedded in the binary and run at start-up; `PRAGMA user_version` records
//! the newest one applied.

use rusqlite::Connection;

use super::backend_error;
use crate::{StoreError, StoreResult};

/// Every migration in order; the position (from 1) is the schema version it produces.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_orders.sql"),
    include_str!("../../migrations/sqlite/0003_oidc.sql"),
    include_str!("../../migrations/sqlite/0004_mypages.sql"),
    include_str!("../../migrations/sqlite/0005_enroll.sql"),
    include_str!("../../migrations/sqlite/0006_enroll_supersede.sql"),
    include_str!("../../migrations/sqlite/0007_revocation.sql"),
    include_str!("../../migrations/sqlite/0008_audit_signed_heads.sql"),
];

/// Brings the schema up to date, each migration in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend_error)?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(backend_error)?;
        tx.execute_batch(sql).map_err(backend_error)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(backend_error)?;
        tx.commit().map_err(backend_error)?;
    }
    Ok(())
}
