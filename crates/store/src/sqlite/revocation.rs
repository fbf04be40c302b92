//! [`RevocationStore`] on SQLite (migration `0007_revocation.sql`).
//!
//! The marker lives in the one-row table `revocation_state`; triggers on `certificates` move
//! it in the transaction of every revocation, so a revocation by another process on the same
//! file (`eid admin`) moves it too. Reading it is the one read here that does not go through
//! a blocking task: a server reads it before every OCSP answer, and a point read of one row
//! in WAL mode takes a few microseconds, less than handing the work to another thread would.
//! A WAL reader never waits for the writer; for the rare moments it must (recovery after a
//! crash), it waits at most [`MARKER_BUSY_TIMEOUT`] and then fails, and the caller answers
//! without its cache.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::rows::micros;
use super::{
    BUSY_TIMEOUT, SqliteStore, append, backend_error, connect, exec, read_error, select_row,
};
use crate::model::{AuditEvent, CertStatus, RevocationReason, Serial};
use crate::revocation::{
    CrlRecord, ResponderRecord, RevocationMarker, RevocationStore, RevokedCertificate,
};
use crate::{StoreError, StoreResult};

/// How long a marker read waits for a lock before failing (see the module docs).
const MARKER_BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// CRLs whose validity ended this long before a newly recorded one began are forgotten
/// (each one's number and hash stay in the audit log).
const KEEP_OLD_CRLS: time::Duration = time::Duration::days(30);

const RESPONDER: &str = "serial, der, sealed_key, not_before, not_after, issued_at";

fn from_micros(col: usize, us: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Integer, Box::new(e)))
}

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Blob, what.to_owned().into())
}

fn serial_at(row: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Serial> {
    let bytes: Vec<u8> = row.get(col)?;
    Serial::from_be_bytes(&bytes).ok_or_else(|| bad(col, "zero serial"))
}

fn reason_at(row: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<RevocationReason> {
    let text: String = row.get(col)?;
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|_| bad(col, "unknown revocation reason"))
}

fn count(col: usize, value: i64) -> rusqlite::Result<u64> {
    u64::try_from(value).map_err(|_| bad(col, "negative counter"))
}

fn responder(row: &rusqlite::Row<'_>) -> rusqlite::Result<ResponderRecord> {
    Ok(ResponderRecord {
        serial: serial_at(row, 0)?,
        der: row.get(1)?,
        sealed_key: row.get(2)?,
        not_before: from_micros(3, row.get(3)?)?,
        not_after: from_micros(4, row.get(4)?)?,
        issued_at: from_micros(5, row.get(5)?)?,
    })
}

fn marker_row(conn: &Connection) -> rusqlite::Result<RevocationMarker> {
    select_row(
        conn,
        "SELECT revocations, crl_latest FROM revocation_state WHERE id = 1",
        [],
        |r| {
            Ok(RevocationMarker {
                revocations: count(0, r.get(0)?)?,
                crl_number: count(1, r.get(1)?)?,
            })
        },
    )
}

impl SqliteStore {
    /// Reads the marker on a pooled read connection in this thread (see the module docs).
    fn read_marker_now(&self) -> StoreResult<RevocationMarker> {
        let inner = &self.inner;
        let pooled = inner.readers.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => connect(&inner.path, inner.durability, false)?,
        };
        let result = conn
            .busy_timeout(MARKER_BUSY_TIMEOUT)
            .and_then(|()| marker_row(&conn))
            .map_err(read_error);
        // Back to the pool only with the pool's usual patience restored.
        if conn.busy_timeout(BUSY_TIMEOUT).is_ok()
            && let Ok(mut pool) = inner.readers.lock()
            && pool.len() < super::READ_POOL
        {
            pool.push(conn);
        }
        result
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revocation_marker(&self) -> StoreResult<RevocationMarker> {
        self.read_marker_now()
    }

    async fn revocation_status(&self, serial: &Serial) -> StoreResult<Option<CertStatus>> {
        let key = serial.as_bytes().to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                "SELECT revoked_at, revocation_reason FROM certificates WHERE serial = ?1",
                [key],
                |r| {
                    let at: Option<i64> = r.get(0)?;
                    Ok(match at {
                        None => CertStatus::Valid,
                        Some(us) => CertStatus::Revoked {
                            at: from_micros(0, us)?,
                            reason: reason_at(r, 1)?,
                        },
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn revoked_certificates(
        &self,
        expired_since: OffsetDateTime,
    ) -> StoreResult<Vec<RevokedCertificate>> {
        let since = micros(expired_since);
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT serial, revoked_at, revocation_reason, not_after FROM certificates \
                 WHERE revoked_at IS NOT NULL AND not_after >= ?1 ORDER BY serial",
            )?
            .query_map([since], |r| {
                Ok(RevokedCertificate {
                    serial: serial_at(r, 0)?,
                    revoked_at: from_micros(1, r.get(1)?)?,
                    reason: reason_at(r, 2)?,
                    not_after: from_micros(3, r.get(3)?)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn allocate_crl_number(&self) -> StoreResult<u64> {
        self.write(|conn| {
            let number: i64 = select_row(
                conn,
                "UPDATE revocation_state SET crl_allocated = crl_allocated + 1 WHERE id = 1 \
                 RETURNING crl_allocated",
                [],
                |r| r.get(0),
            )
            .map_err(backend_error)?;
            u64::try_from(number).map_err(|_| StoreError::Corrupt("CRL number".into()))
        })
        .await
    }

    async fn record_crl(&self, crl: &CrlRecord, audit: &AuditEvent) -> StoreResult<()> {
        let (crl, audit) = (crl.clone(), audit.clone());
        self.write(move |conn| {
            let number = i64::try_from(crl.number)
                .map_err(|_| StoreError::Refused("the CRL number is too large".into()))?;
            let allocated: i64 = select_row(
                conn,
                "SELECT crl_allocated FROM revocation_state WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .map_err(read_error)?;
            if number < 1 || number > allocated {
                return Err(StoreError::Refused(format!(
                    "CRL number {} was never allocated",
                    crl.number
                )));
            }
            let added = exec(
                conn,
                "INSERT INTO crls (number, this_update, next_update, der) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (number) DO NOTHING",
                params![
                    number,
                    micros(crl.this_update),
                    micros(crl.next_update),
                    crl.der
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Refused("a CRL's next update must be after its this update".into())
                }
                _ => backend_error(e),
            })?;
            if added == 0 {
                return Err(StoreError::Refused(format!(
                    "CRL number {} is recorded already",
                    crl.number
                )));
            }
            exec(
                conn,
                "UPDATE revocation_state SET crl_latest = max(crl_latest, ?1) WHERE id = 1",
                [number],
            )
            .map_err(backend_error)?;
            exec(
                conn,
                "DELETE FROM crls WHERE next_update < ?1 AND number < ?2",
                params![micros(crl.this_update - KEEP_OLD_CRLS), number],
            )
            .map_err(backend_error)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn latest_crl(&self) -> StoreResult<Option<CrlRecord>> {
        self.read(|conn| {
            select_row(
                conn,
                "SELECT number, this_update, next_update, der FROM crls \
                 ORDER BY number DESC LIMIT 1",
                [],
                |r| {
                    Ok(CrlRecord {
                        number: count(0, r.get(0)?)?,
                        this_update: from_micros(1, r.get(1)?)?,
                        next_update: from_micros(2, r.get(2)?)?,
                        der: r.get(3)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn add_ocsp_responder(
        &self,
        responder: &ResponderRecord,
        replaces: Option<&Serial>,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let (r, audit) = (responder.clone(), audit.clone());
        let replaces = replaces.map(|s| s.as_bytes().to_vec());
        self.write(move |conn| {
            let current: Option<(Vec<u8>, i64)> = select_row(
                conn,
                "SELECT serial, generation FROM ocsp_responders \
                 ORDER BY generation DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(read_error)?;
            let generation = match (&current, &replaces) {
                (None, None) => 1,
                (Some((serial, generation)), Some(expected)) if serial == expected => {
                    generation + 1
                }
                _ => return Ok(false),
            };
            exec(
                conn,
                "INSERT INTO ocsp_responders (serial, generation, der, sealed_key, not_before, \
                 not_after, issued_at, replaces) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.serial.as_bytes(),
                    generation,
                    r.der,
                    r.sealed_key,
                    micros(r.not_before),
                    micros(r.not_after),
                    micros(r.issued_at),
                    replaces
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Refused(
                    "a responder with this serial, or an empty validity, is refused".into(),
                ),
                _ => backend_error(e),
            })?;
            append(conn, &audit)?;
            Ok(true)
        })
        .await
    }

    async fn current_ocsp_responder(&self) -> StoreResult<Option<ResponderRecord>> {
        self.read(|conn| {
            select_row(
                conn,
                &format!(
                    "SELECT {RESPONDER} FROM ocsp_responders ORDER BY generation DESC LIMIT 1"
                ),
                [],
                responder,
            )
            .optional()
        })
        .await
    }

    async fn ocsp_responders(&self) -> StoreResult<Vec<ResponderRecord>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {RESPONDER} FROM ocsp_responders ORDER BY generation"
            ))?
            .query_map([], responder)?
            .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    //! What only SQLite shows: another handle on the same file (as another process, e.g.
    //! `eid admin`) and a plain SQL revocation move the marker that this handle reads.
    #![allow(clippy::unwrap_used)]

    use rusqlite::Connection;

    use super::*;
    use crate::conformance::{T0, card, certificate, organisation, person};
    use crate::{Durability, Store};

    fn event(action: &str) -> AuditEvent {
        AuditEvent {
            at: T0,
            actor: "test".into(),
            action: action.into(),
            subject: "x".into(),
            details: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn another_handle_and_plain_sql_move_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eid.db");
        let server = SqliteStore::open(&path, Durability::Process).await.unwrap();
        let admin = SqliteStore::open(&path, Durability::Process).await.unwrap();
        server
            .add_organisation(&organisation("2321000016"), &event("o"))
            .await
            .unwrap();
        let p = person("2321000016", "A1");
        server.add_person(&p, &event("p")).await.unwrap();
        server
            .add_card(&card("9752000001", &p.hsa_id), &event("c"))
            .await
            .unwrap();
        for (serial, key) in [(1, 1), (2, 2)] {
            server
                .add_certificate(
                    &certificate(serial, key, "9752000001", &p.hsa_id),
                    &event("i"),
                )
                .await
                .unwrap();
        }
        let before = server.revocation_marker().await.unwrap();
        let one = Serial::from_be_bytes(&[1]).unwrap();
        admin
            .revoke_certificate(&one, RevocationReason::KeyCompromise, T0, &event("r"))
            .await
            .unwrap();
        let after = server.revocation_marker().await.unwrap();
        assert!(after.revocations > before.revocations);
        assert!(matches!(
            server.revocation_status(&one).await.unwrap(),
            Some(CertStatus::Revoked { .. })
        ));

        // An older program revoking with plain SQL moves it too.
        let raw = Connection::open(&path).unwrap();
        raw.execute(
            "UPDATE certificates SET revoked_at = 1, revocation_reason = 'superseded' \
             WHERE serial = x'02'",
            [],
        )
        .unwrap();
        let last = server.revocation_marker().await.unwrap();
        assert!(last.revocations > after.revocations);
        // Reading the marker leaves the pooled connection as patient as before.
        assert!(server.revocation_marker().await.is_ok());
    }
}
