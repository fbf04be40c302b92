//! [`Store::revoke_card`](crate::Store::revoke_card) and
//! [`Store::revoke_undelivered`](crate::Store::revoke_undelivered) on PostgreSQL: each runs
//! inside the caller's serializable transaction, so a failure anywhere changes nothing, and
//! two nodes never revoke one certificate twice. Certificates are revoked by updating
//! `certificates`, which moves the revocation marker (the schema's triggers) in the same
//! transaction.

use deadpool_postgres::GenericClient;

use super::{Failure, PostgresStore, all, card_row, execute, rows};
use crate::lifecycle::{
    CardRevocation, CardRevoked, UndeliveredRevocation, card_revoked_event, certificate_event,
};
use crate::model::{CardState, CertKind, CertStatus, CertificateRecord, tag};
use crate::{Missing, StoreError};

/// The card's sessions of the identity provider that are still live at `$2`.
const LIVE_SESSIONS: &str = "SELECT id_sha256 FROM oidc_sessions WHERE card_number = $1 \
                             AND ended_at IS NULL AND expires_at > $2";

pub(super) async fn revoke_card<C: GenericClient>(
    store: &PostgresStore,
    tx: &C,
    r: &CardRevocation,
) -> Result<CardRevoked, Failure> {
    let card = card_row(tx, &r.card_number)
        .await?
        .ok_or(StoreError::NotFound(Missing::Card))?;
    if card.state == CardState::Revoked {
        return Err(StoreError::Refused("the card is already revoked".into()).into());
    }
    let at = rows::truncate(r.at);
    execute(
        tx,
        "UPDATE cards SET state = $2 WHERE card_number = $1",
        &[&r.card_number, &tag(&CardState::Revoked)],
    )
    .await?;
    let valid = all(
        tx,
        &format!(
            "SELECT {} FROM certificates WHERE card_number = $1 AND revoked_at IS NULL \
             ORDER BY issued_at, serial",
            rows::CERTIFICATE
        ),
        &[&r.card_number],
        rows::certificate,
    )
    .await?;
    execute(
        tx,
        "UPDATE certificates SET revoked_at = $2, revocation_reason = $3 \
         WHERE card_number = $1 AND revoked_at IS NULL",
        &[&r.card_number, &at, &tag(&r.reason)],
    )
    .await?;
    // The grants first: they are found through the sessions that are about to end.
    let grants = execute(
        tx,
        &format!(
            "UPDATE oidc_grants SET revoked_at = $2 WHERE revoked_at IS NULL \
             AND session_sha256 IN ({LIVE_SESSIONS})"
        ),
        &[&r.card_number, &at],
    )
    .await?;
    let login_sessions = execute(
        tx,
        &format!("UPDATE oidc_sessions SET ended_at = $2 WHERE id_sha256 IN ({LIVE_SESSIONS})"),
        &[&r.card_number, &at],
    )
    .await?;
    let portal_sessions = execute(
        tx,
        "DELETE FROM portal_sessions WHERE card_number = $1",
        &[&r.card_number],
    )
    .await?;
    let outcome = CardRevoked {
        certificates: valid.iter().map(|c| c.serial.clone()).collect(),
        login_sessions,
        grants,
        portal_sessions,
    };
    store.append(tx, &card_revoked_event(r, &outcome)).await?;
    for cert in &valid {
        store
            .append(tx, &certificate_event(&r.certificate_audit, cert, r.reason))
            .await?;
    }
    Ok(outcome)
}

pub(super) async fn revoke_undelivered<C: GenericClient>(
    store: &PostgresStore,
    tx: &C,
    r: &UndeliveredRevocation,
) -> Result<Vec<CertificateRecord>, Failure> {
    let at = rows::truncate(r.at);
    // A certificate of a card that an unexpired fetch holds may be on its way to the card
    // right now (a resumed fetch writes the same certificate again): the next pass decides.
    let undelivered = all(
        tx,
        &format!(
            "SELECT {} FROM certificates c \
             WHERE c.kind = $1 AND c.revoked_at IS NULL AND c.card_number IS NOT NULL \
             AND c.issued_at < $2 AND c.not_after > $3 \
             AND NOT EXISTS (SELECT 1 FROM certificate_deliveries d WHERE d.serial = c.serial) \
             AND NOT EXISTS (SELECT 1 FROM card_enrollments e \
                             WHERE e.card_number = c.card_number AND e.until > $3) \
             ORDER BY c.issued_at, c.serial",
            rows::CERTIFICATE
        ),
        &[&tag(&CertKind::Signing), &r.issued_before, &at],
        rows::certificate,
    )
    .await?;
    let mut revoked = Vec::with_capacity(undelivered.len());
    for mut cert in undelivered {
        execute(
            tx,
            "UPDATE certificates SET revoked_at = $2, revocation_reason = $3 \
             WHERE serial = $1 AND revoked_at IS NULL",
            &[&cert.serial.as_bytes(), &at, &tag(&r.reason)],
        )
        .await?;
        store
            .append(tx, &certificate_event(&r.audit, &cert, r.reason))
            .await?;
        cert.status = CertStatus::Revoked {
            at,
            reason: r.reason,
        };
        revoked.push(cert);
    }
    Ok(revoked)
}
