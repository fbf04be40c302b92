//! [`Store::revoke_card`](crate::Store::revoke_card) and
//! [`Store::revoke_undelivered`](crate::Store::revoke_undelivered) on SQLite: each runs inside
//! the writer's one transaction, so a failure anywhere changes nothing. Certificates are
//! revoked by updating `certificates`, which moves the revocation marker (migration 0007's
//! triggers) in the same transaction.

use rusqlite::{Connection, params};

use super::rows::{self, micros, tag};
use super::{append, backend_error, card_row, exec, read_error};
use crate::lifecycle::{
    CardRevocation, CardRevoked, UndeliveredRevocation, card_revoked_event, certificate_event,
};
use crate::model::{CardState, CertKind, CertStatus, CertificateRecord};
use crate::{Missing, StoreError, StoreResult};

/// The card's sessions of the identity provider that are still live at `?2`.
const LIVE_SESSIONS: &str = "SELECT id_sha256 FROM oidc_sessions WHERE card_number = ?1 \
                             AND ended_at IS NULL AND expires_at > ?2";

pub(super) fn revoke_card(conn: &Connection, r: &CardRevocation) -> StoreResult<CardRevoked> {
    let card = card_row(conn, &r.card_number)
        .map_err(read_error)?
        .ok_or(StoreError::NotFound(Missing::Card))?;
    if card.state == CardState::Revoked {
        return Err(StoreError::Refused("the card is already revoked".into()));
    }
    let at = micros(r.at);
    exec(
        conn,
        "UPDATE cards SET state = ?2 WHERE card_number = ?1",
        params![r.card_number, tag(&CardState::Revoked)],
    )
    .map_err(backend_error)?;

    let valid: Vec<CertificateRecord> = conn
        .prepare_cached(&format!(
            "SELECT {} FROM certificates WHERE card_number = ?1 AND revoked_at IS NULL \
             ORDER BY issued_at, serial",
            rows::CERTIFICATE
        ))
        .and_then(|mut s| {
            s.query_map([&r.card_number], rows::certificate)?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(read_error)?;
    exec(
        conn,
        "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3 \
         WHERE card_number = ?1 AND revoked_at IS NULL",
        params![r.card_number, at, tag(&r.reason)],
    )
    .map_err(backend_error)?;

    // The grants first: they are found through the sessions that are about to end.
    let grants = exec(
        conn,
        &format!(
            "UPDATE oidc_grants SET revoked_at = ?2 WHERE revoked_at IS NULL \
             AND session_sha256 IN ({LIVE_SESSIONS})"
        ),
        params![r.card_number, at],
    )
    .map_err(backend_error)?;
    let login_sessions = exec(
        conn,
        &format!("UPDATE oidc_sessions SET ended_at = ?2 WHERE id_sha256 IN ({LIVE_SESSIONS})"),
        params![r.card_number, at],
    )
    .map_err(backend_error)?;
    let portal_sessions = exec(
        conn,
        "DELETE FROM portal_sessions WHERE card_number = ?1",
        [&r.card_number],
    )
    .map_err(backend_error)?;

    let outcome = CardRevoked {
        certificates: valid.iter().map(|c| c.serial.clone()).collect(),
        login_sessions: login_sessions as u64,
        grants: grants as u64,
        portal_sessions: portal_sessions as u64,
    };
    let card_event = card_revoked_event(r, &outcome);
    append(conn, &card_event)?;
    for cert in &valid {
        append(
            conn,
            &certificate_event(&r.certificate_audit, cert, r.reason),
        )?;
    }
    Ok(outcome)
}

pub(super) fn revoke_undelivered(
    conn: &Connection,
    r: &UndeliveredRevocation,
) -> StoreResult<Vec<CertificateRecord>> {
    let at = micros(r.at);
    // A certificate of a card that an unexpired fetch holds may be on its way to the card
    // right now (a resumed fetch writes the same certificate again): the next pass decides.
    let undelivered: Vec<CertificateRecord> = conn
        .prepare_cached(&format!(
            "SELECT {} FROM certificates c \
             WHERE c.kind = ?1 AND c.revoked_at IS NULL AND c.card_number IS NOT NULL \
             AND c.issued_at < ?2 AND c.not_after > ?3 \
             AND NOT EXISTS (SELECT 1 FROM certificate_deliveries d WHERE d.serial = c.serial) \
             AND NOT EXISTS (SELECT 1 FROM card_enrollments e \
                             WHERE e.card_number = c.card_number AND e.until > ?3) \
             ORDER BY c.issued_at, c.serial",
            rows::CERTIFICATE
        ))
        .and_then(|mut s| {
            s.query_map(
                params![tag(&CertKind::Signing), micros(r.issued_before), at],
                rows::certificate,
            )?
            .collect::<rusqlite::Result<_>>()
        })
        .map_err(read_error)?;
    let mut revoked = Vec::with_capacity(undelivered.len());
    for mut cert in undelivered {
        exec(
            conn,
            "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3 \
             WHERE serial = ?1 AND revoked_at IS NULL",
            params![cert.serial.as_bytes(), at, tag(&r.reason)],
        )
        .map_err(backend_error)?;
        append(conn, &certificate_event(&r.audit, &cert, r.reason))?;
        cert.status = CertStatus::Revoked {
            at: super::truncate(r.at),
            reason: r.reason,
        };
        revoked.push(cert);
    }
    Ok(revoked)
}
