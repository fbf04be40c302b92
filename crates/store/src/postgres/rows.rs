//! Conversions between records and PostgreSQL rows. A value that does not read back as the
//! record needs (an unknown tag, a hash of the wrong length) is [`StoreError::Corrupt`].

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use super::Failure;
use crate::StoreError;
use crate::audit::{AuditHead, SignedAuditHead};
use crate::model::*;

fn corrupt(what: String) -> Failure {
    Failure::Store(StoreError::Corrupt(what))
}

/// Column `col`, of the type asked for.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, col: usize) -> Result<T, Failure> {
    Ok(row.try_get(col)?)
}

/// Times are kept to the microsecond (as PostgreSQL's `timestamptz`), so a record reads
/// back equal to what was written.
pub(crate) fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    let micros = at.unix_timestamp_nanos() / 1000;
    OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).unwrap_or(at)
}

/// A `BIGINT` column as a non-negative number.
pub(crate) fn seq(row: &Row, col: usize) -> Result<u64, Failure> {
    let n: i64 = get(row, col)?;
    u64::try_from(n).map_err(|_| corrupt(format!("column {col} is negative")))
}

/// A number for a `BIGINT` column.
pub(crate) fn seq_sql(n: u64) -> Result<i64, Failure> {
    i64::try_from(n).map_err(|_| corrupt(format!("{n} is too large")))
}

/// A `BYTEA` column of 32 bytes.
pub(crate) fn hash32(row: &Row, col: usize) -> Result<[u8; 32], Failure> {
    let bytes: Vec<u8> = get(row, col)?;
    bytes
        .try_into()
        .map_err(|_| corrupt(format!("column {col} is not 32 bytes")))
}

/// A text column naming an enum value.
pub(crate) fn untag<T: serde::de::DeserializeOwned>(row: &Row, col: usize) -> Result<T, Failure> {
    let text: String = get(row, col)?;
    crate::model::untag(&text).map_err(corrupt)
}

pub(crate) const ORGANISATION: &str =
    "org_number, name, signing_policy, accept_unattested_keys, created_at";

pub(crate) fn organisation(row: &Row) -> Result<Organisation, Failure> {
    Ok(Organisation {
        org_number: get(row, 0)?,
        name: get(row, 1)?,
        signing_policy: untag(row, 2)?,
        accept_unattested_keys: get(row, 3)?,
        created_at: get(row, 4)?,
    })
}

pub(crate) const PERSON: &str =
    "hsa_id, given_name, surname, org_number, signing_entitled, active, created_at";

pub(crate) fn person(row: &Row) -> Result<Person, Failure> {
    Ok(Person {
        hsa_id: get(row, 0)?,
        given_name: get(row, 1)?,
        surname: get(row, 2)?,
        org_number: get(row, 3)?,
        signing_entitled: get(row, 4)?,
        active: get(row, 5)?,
        created_at: get(row, 6)?,
    })
}

pub(crate) const CARD: &str = "card_number, product_number, kind, state, holder, created_at";

pub(crate) fn card(row: &Row) -> Result<Card, Failure> {
    Ok(Card {
        card_number: get(row, 0)?,
        product_number: get(row, 1)?,
        kind: untag(row, 2)?,
        state: untag(row, 3)?,
        holder: get(row, 4)?,
        created_at: get(row, 5)?,
    })
}

pub(crate) const CERTIFICATE: &str = "serial, kind, card_number, hsa_id, revoked_at, \
     revocation_reason, der, not_before, not_after, public_key_sha256, issued_at";

pub(crate) fn certificate(row: &Row) -> Result<CertificateRecord, Failure> {
    let serial: Vec<u8> = get(row, 0)?;
    let revoked_at: Option<OffsetDateTime> = get(row, 4)?;
    let status = match revoked_at {
        None => CertStatus::Valid,
        Some(at) => CertStatus::Revoked {
            at,
            reason: untag(row, 5)?,
        },
    };
    Ok(CertificateRecord {
        serial: Serial::from_be_bytes(&serial).ok_or_else(|| corrupt("a zero serial".into()))?,
        kind: untag(row, 1)?,
        card_number: get(row, 2)?,
        hsa_id: get(row, 3)?,
        status,
        der: get(row, 6)?,
        not_before: get(row, 7)?,
        not_after: get(row, 8)?,
        public_key_sha256: hash32(row, 9)?,
        issued_at: get(row, 10)?,
    })
}

pub(crate) const AUDIT: &str =
    "id, chain, seq, at, actor, action, subject, details, prev_hash, hash";

pub(crate) fn audit_entry(row: &Row) -> Result<AuditEntry, Failure> {
    let details: String = get(row, 7)?;
    Ok(AuditEntry {
        id: seq(row, 0)?,
        chain: get(row, 1)?,
        seq: seq(row, 2)?,
        event: AuditEvent {
            at: get(row, 3)?,
            actor: get(row, 4)?,
            action: get(row, 5)?,
            subject: get(row, 6)?,
            details: serde_json::from_str(&details)
                .map_err(|_| corrupt("audit details are not JSON".into()))?,
        },
        prev_hash: hash32(row, 8)?,
        hash: hash32(row, 9)?,
    })
}

/// `chain, seq, hash`.
pub(crate) fn audit_head(row: &Row) -> Result<AuditHead, Failure> {
    Ok(AuditHead {
        chain: get(row, 0)?,
        seq: seq(row, 1)?,
        hash: hash32(row, 2)?,
    })
}

/// `chain, seq, hash, signed_at, signature`.
pub(crate) fn signed_head(row: &Row) -> Result<SignedAuditHead, Failure> {
    Ok(SignedAuditHead {
        head: audit_head(row)?,
        signed_at: get(row, 3)?,
        signature: get(row, 4)?,
    })
}
