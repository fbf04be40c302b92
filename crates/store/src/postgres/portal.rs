//! [`PortalStore`] on PostgreSQL: My Pages' sessions. Never stores a session id (its
//! SHA-256 only) or a token in the clear (the portal seals them).

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::orders::one_time_value;
use super::{Failure, PostgresStore, execute, query_opt, rows};
use crate::StoreResult;
use crate::portal::{PortalRenewal, PortalSessionRecord, PortalStore};

const SESSION: &str = "id_sha256, subject, hsa_id, card_number, auth_time, sealed_tokens, \
                       tokens_expire_at, created_at, expires_at";

/// A session from the columns of [`SESSION`].
fn session(row: &Row) -> Result<PortalSessionRecord, Failure> {
    Ok(PortalSessionRecord {
        id_sha256: rows::hash32(row, 0)?,
        subject: rows::get(row, 1)?,
        hsa_id: rows::get(row, 2)?,
        card_number: rows::get(row, 3)?,
        auth_time: rows::get(row, 4)?,
        sealed_tokens: rows::get(row, 5)?,
        tokens_expire_at: rows::get(row, 6)?,
        created_at: rows::get(row, 7)?,
        expires_at: rows::get(row, 8)?,
    })
}

#[async_trait]
impl PortalStore for PostgresStore {
    async fn add_portal_session(&self, s: &PortalSessionRecord) -> StoreResult<()> {
        super::transaction!(self, unaudited, |tx| {
            execute(
                &tx,
                &format!(
                    "INSERT INTO portal_sessions ({SESSION}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    &s.id_sha256.as_slice(),
                    &s.subject,
                    &s.hsa_id,
                    &s.card_number,
                    &s.auth_time.map(rows::truncate),
                    &s.sealed_tokens,
                    &rows::truncate(s.tokens_expire_at),
                    &rows::truncate(s.created_at),
                    &rows::truncate(s.expires_at),
                ],
            )
            .await
            .map_err(one_time_value("portal_sessions"))?;
        })
    }

    async fn portal_session(
        &self,
        id_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<PortalSessionRecord>> {
        let now = rows::truncate(now);
        super::read!(self, |c| {
            query_opt(
                c,
                &format!(
                    "SELECT {SESSION} FROM portal_sessions WHERE id_sha256 = $1 AND expires_at > $2"
                ),
                &[&id_sha256.as_slice(), &now],
            )
            .await?
            .map(|r| session(&r))
            .transpose()
        })
    }

    async fn renew_portal_session(
        &self,
        id_sha256: &[u8; 32],
        r: &PortalRenewal,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let now = rows::truncate(now);
        super::transaction!(self, unaudited, |tx| {
            let changed = execute(
                &tx,
                "UPDATE portal_sessions SET card_number = $3, auth_time = $4, \
                 sealed_tokens = $5, tokens_expire_at = $6 \
                 WHERE id_sha256 = $1 AND subject = $2 AND expires_at > $7",
                &[
                    &id_sha256.as_slice(),
                    &r.subject,
                    &r.card_number,
                    &r.auth_time.map(rows::truncate),
                    &r.sealed_tokens,
                    &rows::truncate(r.tokens_expire_at),
                    &now,
                ],
            )
            .await?;
            changed == 1
        })
    }

    async fn end_portal_session(&self, id_sha256: &[u8; 32]) -> StoreResult<bool> {
        super::transaction!(self, unaudited, |tx| {
            let changed = execute(
                &tx,
                "DELETE FROM portal_sessions WHERE id_sha256 = $1",
                &[&id_sha256.as_slice()],
            )
            .await?;
            changed == 1
        })
    }

    async fn purge_portal_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let now = rows::truncate(now);
        super::transaction!(self, unaudited, |tx| {
            execute(
                &tx,
                "DELETE FROM portal_sessions WHERE expires_at <= $1",
                &[&now],
            )
            .await?
        })
    }
}

#[cfg(test)]
mod tests {
    crate::portal_store_conformance_tests!(super::super::tests::PostgresHarness::default());
}
