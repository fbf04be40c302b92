//! [`RevocationStore`] on PostgreSQL.
//!
//! The marker lives in the one-row table `revocation_state`; the schema's triggers on
//! `certificates` move it in the transaction of every revocation, whichever node (or plain
//! SQL) makes it. CRL numbers are allocated and checked in that row too, in serializable
//! transactions, so no two nodes ever get one number. Reading the marker is one point read
//! of that row.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{Failure, PostgresStore, all, execute, query_opt, read, rows, transaction};
use crate::model::{AuditEvent, CertStatus, Serial};
use crate::revocation::{
    CrlRecord, ResponderRecord, RevocationMarker, RevocationStore, RevokedCertificate,
};
use crate::{StoreError, StoreResult};

/// CRLs whose validity ended this long before a newly recorded one began are forgotten
/// (each one's number and hash stay in the audit log).
const KEEP_OLD_CRLS: time::Duration = time::Duration::days(30);

const RESPONDER: &str = "serial, der, sealed_key, not_before, not_after, issued_at";

fn corrupt(what: String) -> Failure {
    Failure::Store(StoreError::Corrupt(what))
}

fn serial_at(row: &Row, col: usize) -> Result<Serial, Failure> {
    let bytes: Vec<u8> = rows::get(row, col)?;
    Serial::from_be_bytes(&bytes).ok_or_else(|| corrupt(format!("column {col}: a zero serial")))
}

/// A violated constraint (unique, foreign key, check) is a refusal saying `what`; anything
/// else stays the database's error (a serialization failure is then retried).
fn refused(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Failure {
    move |e| match e.as_db_error() {
        Some(db) if db.code().code().starts_with("23") => {
            Failure::Store(StoreError::Refused(what.into()))
        }
        _ => Failure::Db(e),
    }
}

fn responder(row: &Row) -> Result<ResponderRecord, Failure> {
    Ok(ResponderRecord {
        serial: serial_at(row, 0)?,
        der: rows::get(row, 1)?,
        sealed_key: rows::get(row, 2)?,
        not_before: rows::get(row, 3)?,
        not_after: rows::get(row, 4)?,
        issued_at: rows::get(row, 5)?,
    })
}

/// `serial, revoked_at, revocation_reason, not_after` of a revoked certificate.
fn revoked(row: &Row) -> Result<RevokedCertificate, Failure> {
    Ok(RevokedCertificate {
        serial: serial_at(row, 0)?,
        revoked_at: rows::get(row, 1)?,
        reason: rows::untag(row, 2)?,
        not_after: rows::get(row, 3)?,
    })
}

/// `number, this_update, next_update, der`.
fn crl(row: &Row) -> Result<CrlRecord, Failure> {
    Ok(CrlRecord {
        number: rows::seq(row, 0)?,
        this_update: rows::get(row, 1)?,
        next_update: rows::get(row, 2)?,
        der: rows::get(row, 3)?,
    })
}

/// The one row of `revocation_state`, which the schema creates.
fn state_missing() -> Failure {
    corrupt("the revocation state row is missing".into())
}

#[async_trait]
impl RevocationStore for PostgresStore {
    async fn revocation_marker(&self) -> StoreResult<RevocationMarker> {
        read!(self, |c| {
            let row = query_opt(
                c,
                "SELECT revocations, crl_latest FROM revocation_state WHERE id = 1",
                &[],
            )
            .await?
            .ok_or_else(state_missing)?;
            Ok(RevocationMarker {
                revocations: rows::seq(&row, 0)?,
                crl_number: rows::seq(&row, 1)?,
            })
        })
    }

    async fn revocation_status(&self, serial: &Serial) -> StoreResult<Option<CertStatus>> {
        read!(self, |c| {
            let Some(row) = query_opt(
                c,
                "SELECT revoked_at, revocation_reason FROM certificates WHERE serial = $1",
                &[&serial.as_bytes()],
            )
            .await?
            else {
                return Ok(None);
            };
            let at: Option<OffsetDateTime> = rows::get(&row, 0)?;
            Ok(Some(match at {
                None => CertStatus::Valid,
                Some(at) => CertStatus::Revoked {
                    at,
                    reason: rows::untag(&row, 1)?,
                },
            }))
        })
    }

    async fn revoked_certificates(
        &self,
        expired_since: OffsetDateTime,
    ) -> StoreResult<Vec<RevokedCertificate>> {
        let since = rows::truncate(expired_since);
        read!(self, |c| {
            all(
                c,
                "SELECT serial, revoked_at, revocation_reason, not_after FROM certificates \
                 WHERE revoked_at IS NOT NULL AND not_after >= $1 ORDER BY serial",
                &[&since],
                revoked,
            )
            .await
        })
    }

    async fn allocate_crl_number(&self) -> StoreResult<u64> {
        transaction!(self, unaudited, |tx| {
            let row = query_opt(
                &tx,
                "UPDATE revocation_state SET crl_allocated = crl_allocated + 1 WHERE id = 1 \
                 RETURNING crl_allocated",
                &[],
            )
            .await?
            .ok_or_else(state_missing)?;
            rows::seq(&row, 0)?
        })
    }

    async fn record_crl(&self, crl: &CrlRecord, audit: &AuditEvent) -> StoreResult<()> {
        let number = i64::try_from(crl.number)
            .map_err(|_| StoreError::Refused("the CRL number is too large".into()))?;
        let this_update = rows::truncate(crl.this_update);
        let next_update = rows::truncate(crl.next_update);
        transaction!(self, |tx| {
            let row = query_opt(
                &tx,
                "SELECT crl_allocated FROM revocation_state WHERE id = 1",
                &[],
            )
            .await?
            .ok_or_else(state_missing)?;
            let allocated: i64 = rows::get(&row, 0)?;
            if number < 1 || number > allocated {
                return Err(StoreError::Refused(format!(
                    "CRL number {} was never allocated",
                    crl.number
                ))
                .into());
            }
            let added = execute(
                &tx,
                "INSERT INTO crls (number, this_update, next_update, der) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO NOTHING",
                &[&number, &this_update, &next_update, &crl.der],
            )
            .await
            .map_err(refused("a CRL's next update must be after its this update"))?;
            if added == 0 {
                return Err(StoreError::Refused(format!(
                    "CRL number {} is recorded already",
                    crl.number
                ))
                .into());
            }
            execute(
                &tx,
                "UPDATE revocation_state SET crl_latest = GREATEST(crl_latest, $1) WHERE id = 1",
                &[&number],
            )
            .await?;
            execute(
                &tx,
                "DELETE FROM crls WHERE next_update < $1 AND number < $2",
                &[&(this_update - KEEP_OLD_CRLS), &number],
            )
            .await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn latest_crl(&self) -> StoreResult<Option<CrlRecord>> {
        read!(self, |c| {
            query_opt(
                c,
                "SELECT number, this_update, next_update, der FROM crls \
                 ORDER BY number DESC LIMIT 1",
                &[],
            )
            .await?
            .map(|r| crl(&r))
            .transpose()
        })
    }

    async fn add_ocsp_responder(
        &self,
        responder: &ResponderRecord,
        replaces: Option<&Serial>,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let r = responder;
        let replaces = replaces.map(|s| s.as_bytes().to_vec());
        transaction!(self, |tx| {
            let current = query_opt(
                &tx,
                "SELECT serial, generation FROM ocsp_responders \
                 ORDER BY generation DESC LIMIT 1",
                &[],
            )
            .await?;
            let current: Option<(Vec<u8>, i64)> = match current {
                Some(row) => Some((rows::get(&row, 0)?, rows::get(&row, 1)?)),
                None => None,
            };
            let generation = match (&current, &replaces) {
                (None, None) => Some(1),
                (Some((serial, generation)), Some(expected)) if serial == expected => {
                    Some(generation + 1)
                }
                _ => None,
            };
            match generation {
                None => false,
                Some(generation) => {
                    // A successor recorded meanwhile by another node holds this generation:
                    // its row is not in this transaction's snapshot, so PostgreSQL reports
                    // a serialization failure, and the run again finds it current (false).
                    let added = execute(
                        &tx,
                        "INSERT INTO ocsp_responders (serial, generation, der, sealed_key, \
                         not_before, not_after, issued_at, replaces) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (generation) DO NOTHING",
                        &[
                            &r.serial.as_bytes(),
                            &generation,
                            &r.der,
                            &r.sealed_key,
                            &rows::truncate(r.not_before),
                            &rows::truncate(r.not_after),
                            &rows::truncate(r.issued_at),
                            &replaces,
                        ],
                    )
                    .await
                    .map_err(refused(
                        "a responder with this serial, or an empty validity, is refused",
                    ))?;
                    if added == 1 {
                        self.append(&tx, audit).await?;
                    }
                    added == 1
                }
            }
        })
    }

    async fn current_ocsp_responder(&self) -> StoreResult<Option<ResponderRecord>> {
        read!(self, |c| {
            query_opt(
                c,
                &format!(
                    "SELECT {RESPONDER} FROM ocsp_responders ORDER BY generation DESC LIMIT 1"
                ),
                &[],
            )
            .await?
            .map(|r| responder(&r))
            .transpose()
        })
    }

    async fn ocsp_responders(&self) -> StoreResult<Vec<ResponderRecord>> {
        read!(self, |c| {
            all(
                c,
                &format!("SELECT {RESPONDER} FROM ocsp_responders ORDER BY generation"),
                &[],
                responder,
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    //! Beyond the conformance suite: two nodes on one database (two handles, as two server
    //! processes) and plain SQL move the marker that a node reads; CRL numbers and the
    //! responder rollover stay single across nodes.
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;
    use std::sync::Arc;

    use tokio_postgres::NoTls;

    use super::*;
    use crate::Store;
    use crate::conformance::postgres::PostgresDatabase;
    use crate::conformance::{T0, card, certificate, organisation, person};
    use crate::model::RevocationReason;

    crate::revocation_store_conformance_tests!(super::super::tests::PostgresHarness::default());

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
    async fn another_node_and_plain_sql_move_the_marker() {
        let database = PostgresDatabase::fresh().await;
        let server = PostgresStore::connect(&database.url, "a", 2).await.unwrap();
        let admin = PostgresStore::connect(&database.url, "b", 2).await.unwrap();
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

        // A program revoking with plain SQL moves it too.
        let (raw, connection) = tokio_postgres::connect(&database.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        raw.batch_execute(
            "UPDATE certificates SET revoked_at = now(), revocation_reason = 'superseded' \
             WHERE serial = '\\x02'::bytea",
        )
        .await
        .unwrap();
        let last = server.revocation_marker().await.unwrap();
        assert!(last.revocations > after.revocations);
        assert!(matches!(
            server
                .revocation_status(&Serial::from_be_bytes(&[2]).unwrap())
                .await
                .unwrap(),
            Some(CertStatus::Revoked {
                reason: RevocationReason::Superseded,
                ..
            })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nodes_never_share_a_crl_number_and_one_wins_a_rollover() {
        let database = PostgresDatabase::fresh().await;
        let a = Arc::new(PostgresStore::connect(&database.url, "a", 4).await.unwrap());
        let b = Arc::new(PostgresStore::connect(&database.url, "b", 4).await.unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { store.allocate_crl_number().await.unwrap() })
            })
            .collect();
        let mut numbers = BTreeSet::new();
        for task in tasks {
            assert!(numbers.insert(task.await.unwrap()));
        }
        assert_eq!(numbers, (1..=16).collect());
        // Each node records one; the newest number is the latest on both.
        let crl = |number: u64, hours: i64| CrlRecord {
            number,
            this_update: T0 + time::Duration::hours(hours),
            next_update: T0 + time::Duration::hours(hours + 24),
            der: vec![0x30, number as u8],
        };
        a.record_crl(&crl(16, 1), &event("crl")).await.unwrap();
        b.record_crl(&crl(15, 0), &event("crl")).await.unwrap();
        assert!(matches!(
            b.record_crl(&crl(16, 2), &event("crl")).await,
            Err(StoreError::Refused(_))
        ));
        assert_eq!(a.latest_crl().await.unwrap(), Some(crl(16, 1)));
        assert_eq!(b.revocation_marker().await.unwrap().crl_number, 16);

        let responder = |n: u64| ResponderRecord {
            serial: Serial::from_be_bytes(&(1000 + n).to_be_bytes()).unwrap(),
            der: vec![0x30, 0x00, n as u8],
            sealed_key: vec![1, n as u8],
            not_before: T0,
            not_after: T0 + time::Duration::days(30),
            issued_at: T0,
        };
        // Both nodes start with none: one first responder.
        let (one, two, audit) = (responder(1), responder(2), event("ocsp"));
        let (x, y) = tokio::join!(
            a.add_ocsp_responder(&one, None, &audit),
            b.add_ocsp_responder(&two, None, &audit)
        );
        assert!(x.unwrap() ^ y.unwrap());
        let first = a.current_ocsp_responder().await.unwrap().unwrap();
        // Both roll it over at once: one successor.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (next, replaces) = (responder(10 + i), first.serial.clone());
                tokio::spawn(async move {
                    store
                        .add_ocsp_responder(&next, Some(&replaces), &event("ocsp"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        assert_eq!(wins, 1);
        assert_eq!(b.ocsp_responders().await.unwrap().len(), 2);
    }
}
