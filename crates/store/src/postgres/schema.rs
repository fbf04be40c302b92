//! Migrations, embedded in the binary and run at connect. `eid_schema` records the newest
//! one applied; a transaction-scoped advisory lock makes nodes that start together migrate
//! one after the other (the second finds nothing left to do).

use deadpool_postgres::Object;
use tokio_postgres::IsolationLevel;

use super::{Failure, execute, query_opt};
use crate::{StoreError, StoreResult};

/// Every migration in order; the position (from 1) is the schema version it produces.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];

/// The advisory lock of migrations (`eidM`).
const MIGRATION_LOCK: i64 = 0x6569_644D;

/// Brings the schema up to date, all pending migrations in one transaction.
pub(super) async fn migrate(client: &mut Object) -> StoreResult<()> {
    let run = async {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await?;
        execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        let ours = query_opt(
            &tx,
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() \
             AND tablename = 'eid_schema'",
            &[],
        )
        .await?
        .is_some();
        let found: i64 = if ours {
            query_opt(&tx, "SELECT version FROM eid_schema", &[])
                .await?
                .map(|r| r.get(0))
                .unwrap_or(0)
        } else {
            let tables = query_opt(
                &tx,
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .await?
            .map_or(0, |r| r.get::<_, i64>(0));
            if tables > 0 {
                return Err(Failure::Store(StoreError::Corrupt(
                    "the database holds tables of another program, not an eid store".into(),
                )));
            }
            tx.batch_execute(
                "CREATE TABLE eid_schema (version BIGINT NOT NULL); \
                              INSERT INTO eid_schema (version) VALUES (0);",
            )
            .await?;
            0
        };
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(Failure::Store(StoreError::SchemaTooNew { found, known }));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(sql).await?;
            execute(
                &tx,
                "UPDATE eid_schema SET version = $1",
                &[&(index as i64 + 1)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    };
    run.await.map_err(Failure::into_store)
}
