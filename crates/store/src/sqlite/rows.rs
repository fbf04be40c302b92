//! Conversions between records and SQLite rows.

use rusqlite::Row;
use rusqlite::types::Type;
use time::OffsetDateTime;

use crate::audit::{AuditHead, MAIN_CHAIN, SignedAuditHead};
use crate::model::*;

/// Unix microseconds: the stored form of every time.
pub(super) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn from_micros(col: usize, us: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Integer, Box::new(e)))
}

fn time_at(row: &Row<'_>, col: usize) -> rusqlite::Result<OffsetDateTime> {
    from_micros(col, row.get(col)?)
}

fn bad(col: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, what.into())
}

pub(super) use crate::model::tag;

fn untag<T: serde::de::DeserializeOwned>(row: &Row<'_>, col: usize) -> rusqlite::Result<T> {
    let text: String = row.get(col)?;
    crate::model::untag(&text).map_err(|e| bad(col, e))
}

pub(super) const ORGANISATION: &str =
    "org_number, name, signing_policy, accept_unattested_keys, created_at";

pub(super) fn organisation(row: &Row<'_>) -> rusqlite::Result<Organisation> {
    Ok(Organisation {
        org_number: row.get(0)?,
        name: row.get(1)?,
        signing_policy: untag(row, 2)?,
        accept_unattested_keys: row.get(3)?,
        created_at: time_at(row, 4)?,
    })
}

pub(super) const PERSON: &str =
    "hsa_id, given_name, surname, org_number, signing_entitled, active, created_at";

pub(super) fn person(row: &Row<'_>) -> rusqlite::Result<Person> {
    Ok(Person {
        hsa_id: row.get(0)?,
        given_name: row.get(1)?,
        surname: row.get(2)?,
        org_number: row.get(3)?,
        signing_entitled: row.get(4)?,
        active: row.get(5)?,
        created_at: time_at(row, 6)?,
    })
}

pub(super) const CARD: &str = "card_number, product_number, kind, state, holder, created_at";

pub(super) fn card(row: &Row<'_>) -> rusqlite::Result<Card> {
    Ok(Card {
        card_number: row.get(0)?,
        product_number: row.get(1)?,
        kind: untag(row, 2)?,
        state: untag(row, 3)?,
        holder: row.get(4)?,
        created_at: time_at(row, 5)?,
    })
}

pub(super) const CERTIFICATE: &str = "serial, kind, card_number, hsa_id, revoked_at, \
     revocation_reason, der, not_before, not_after, public_key_sha256, issued_at";

pub(super) fn certificate(row: &Row<'_>) -> rusqlite::Result<CertificateRecord> {
    let serial: Vec<u8> = row.get(0)?;
    let revoked_at: Option<i64> = row.get(4)?;
    let status = match revoked_at {
        None => CertStatus::Valid,
        Some(us) => CertStatus::Revoked {
            at: from_micros(4, us)?,
            reason: untag(row, 5)?,
        },
    };
    let key: Vec<u8> = row.get(9)?;
    Ok(CertificateRecord {
        serial: Serial::from_be_bytes(&serial).ok_or_else(|| bad(0, "zero serial".into()))?,
        kind: untag(row, 1)?,
        card_number: row.get(2)?,
        hsa_id: row.get(3)?,
        status,
        der: row.get(6)?,
        not_before: time_at(row, 7)?,
        not_after: time_at(row, 8)?,
        public_key_sha256: key
            .try_into()
            .map_err(|_| bad(9, "public key hash is not 32 bytes".into()))?,
        issued_at: time_at(row, 10)?,
    })
}

pub(super) const AUDIT: &str = "seq, at, actor, action, subject, details, prev_hash, hash";

pub(super) fn audit_entry(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let seq: i64 = row.get(0)?;
    let details: String = row.get(5)?;
    let hash32 = |col: usize| -> rusqlite::Result<[u8; 32]> {
        let bytes: Vec<u8> = row.get(col)?;
        bytes
            .try_into()
            .map_err(|_| bad(col, "hash is not 32 bytes".into()))
    };
    let seq = u64::try_from(seq).map_err(|_| bad(0, "negative sequence number".into()))?;
    Ok(AuditEntry {
        id: seq,
        chain: MAIN_CHAIN.into(),
        seq,
        event: AuditEvent {
            at: time_at(row, 1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            subject: row.get(4)?,
            details: serde_json::from_str(&details)
                .map_err(|_| bad(5, "details are not JSON".into()))?,
        },
        prev_hash: hash32(6)?,
        hash: hash32(7)?,
    })
}

pub(super) fn signed_head(row: &Row<'_>) -> rusqlite::Result<SignedAuditHead> {
    let seq: i64 = row.get(1)?;
    let hash: Vec<u8> = row.get(2)?;
    Ok(SignedAuditHead {
        head: AuditHead {
            chain: row.get(0)?,
            seq: u64::try_from(seq).map_err(|_| bad(1, "negative sequence number".into()))?,
            hash: hash
                .try_into()
                .map_err(|_| bad(2, "hash is not 32 bytes".into()))?,
        },
        signed_at: time_at(row, 3)?,
        signature: row.get(4)?,
    })
}
