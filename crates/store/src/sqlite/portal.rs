//! [`PortalStore`] on SQLite: My Pages' sessions (migration `0004_mypages.sql`). Never
//! stores a session id (its SHA-256 only) or a token in the clear (the portal seals them).

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{ErrorCode, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::rows::micros;
use super::{SqliteStore, backend_error, exec, select_row};
use crate::portal::{PortalRenewal, PortalSessionRecord, PortalStore};
use crate::{Conflict, StoreError, StoreResult};

fn from_micros(col: usize, us: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Integer, Box::new(e)))
}

const SESSION: &str = "id_sha256, subject, hsa_id, card_number, auth_time, sealed_tokens, \
                       tokens_expire_at, created_at, expires_at";

fn session(row: &Row<'_>) -> rusqlite::Result<PortalSessionRecord> {
    let id: Vec<u8> = row.get(0)?;
    let auth_time: Option<i64> = row.get(4)?;
    Ok(PortalSessionRecord {
        id_sha256: id
            .try_into()
            .map_err(|_| rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, "hash".into()))?,
        subject: row.get(1)?,
        hsa_id: row.get(2)?,
        card_number: row.get(3)?,
        auth_time: auth_time.map(|us| from_micros(4, us)).transpose()?,
        sealed_tokens: row.get(5)?,
        tokens_expire_at: from_micros(6, row.get(6)?)?,
        created_at: from_micros(7, row.get(7)?)?,
        expires_at: from_micros(8, row.get(8)?)?,
    })
}

#[async_trait]
impl PortalStore for SqliteStore {
    async fn add_portal_session(&self, s: &PortalSessionRecord) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |conn| {
            exec(
                conn,
                &format!(
                    "INSERT INTO portal_sessions ({SESSION}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    s.id_sha256.to_vec(),
                    s.subject,
                    s.hsa_id,
                    s.card_number,
                    s.auth_time.map(micros),
                    s.sealed_tokens,
                    micros(s.tokens_expire_at),
                    micros(s.created_at),
                    micros(s.expires_at),
                ],
            )
            .map_err(|e| {
                if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    StoreError::Conflict(Conflict::OneTimeValue)
                } else {
                    backend_error(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn portal_session(
        &self,
        id_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<PortalSessionRecord>> {
        let key = id_sha256.to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                &format!(
                    "SELECT {SESSION} FROM portal_sessions WHERE id_sha256 = ?1 AND expires_at > ?2"
                ),
                params![key, micros(now)],
                session,
            )
            .optional()
        })
        .await
    }

    async fn renew_portal_session(
        &self,
        id_sha256: &[u8; 32],
        r: &PortalRenewal,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let key = id_sha256.to_vec();
        let r = r.clone();
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE portal_sessions SET card_number = ?3, auth_time = ?4, sealed_tokens = ?5, \
                 tokens_expire_at = ?6 \
                 WHERE id_sha256 = ?1 AND subject = ?2 AND expires_at > ?7",
                params![
                    key,
                    r.subject,
                    r.card_number,
                    r.auth_time.map(micros),
                    r.sealed_tokens,
                    micros(r.tokens_expire_at),
                    micros(now),
                ],
            )
            .map(|n| n == 1)
            .map_err(backend_error)
        })
        .await
    }

    async fn end_portal_session(&self, id_sha256: &[u8; 32]) -> StoreResult<bool> {
        let key = id_sha256.to_vec();
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM portal_sessions WHERE id_sha256 = ?1",
                [key],
            )
            .map(|n| n == 1)
            .map_err(backend_error)
        })
        .await
    }

    async fn purge_portal_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM portal_sessions WHERE expires_at <= ?1",
                [micros(now)],
            )
            .map(|n| n as u64)
            .map_err(backend_error)
        })
        .await
    }
}
