//! [`OrderStore`] on SQLite: orders and browser sessions (migration `0002_orders.sql`).
//!
//! Every state change runs as one job on the single writer, checking the order's state and
//! changing it in the same transaction, so concurrent callers are decided one after the
//! other and exactly one wins. This module must never store a raw token: callers hand in
//! hashes.

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::rows::micros;
use super::{SqliteStore, append, backend_error, exec, read_error, select_row};
use crate::model::{AuditEvent, Serial};
use crate::orders::{
    BrowserSession, OrderRecord, OrderSignature, OrderState, OrderStore, Purged, RELAYED_HINT,
    ReturnOutcome, ReturnToOrder, SignOrder,
};
use crate::{Conflict, StoreError, StoreResult};

const ORDER: &str = "order_ref, kind, state, hint, autostart_token_sha256, autostart_used, \
     app_token_sha256, qr_start_token, qr_start_secret, server_nonce, browser_session_sha256, \
     requester_id, requester_name, return_url, text, card_number, created_at, expires_at, \
     purge_after, signed_at, signer_hsa_id, signer_card_number, signer_cert_serial, signature, \
     approved_key_sha256, return_secret_sha256, returned";

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Blob, what.to_owned().into())
}

fn time_at(row: &Row<'_>, col: usize) -> rusqlite::Result<OffsetDateTime> {
    let us: i64 = row.get(col)?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Integer, Box::new(e)))
}

fn hash(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<[u8; 32]>> {
    let bytes: Option<Vec<u8>> = row.get(col)?;
    bytes
        .map(|b| b.try_into().map_err(|_| bad(col, "hash is not 32 bytes")))
        .transpose()
}

fn required_hash(row: &Row<'_>, col: usize) -> rusqlite::Result<[u8; 32]> {
    hash(row, col)?.ok_or_else(|| bad(col, "hash missing"))
}

fn state_text(state: OrderState) -> &'static str {
    match state {
        OrderState::Pending => "pending",
        OrderState::Complete => "complete",
        OrderState::Failed => "failed",
    }
}

fn order_row(row: &Row<'_>) -> rusqlite::Result<OrderRecord> {
    let state = match row.get_ref(2)?.as_str()? {
        "pending" => OrderState::Pending,
        "complete" => OrderState::Complete,
        "failed" => OrderState::Failed,
        _ => return Err(bad(2, "unknown order state")),
    };
    let signature = match row.get::<_, Option<i64>>(19)? {
        None => None,
        Some(_) => {
            let serial: Vec<u8> = row.get(22)?;
            Some(OrderSignature {
                signed_at: time_at(row, 19)?,
                hsa_id: row.get(20)?,
                card_number: row.get(21)?,
                certificate_serial: Serial::from_be_bytes(&serial)
                    .ok_or_else(|| bad(22, "zero serial"))?,
                signature: row.get(23)?,
                approved_key_sha256: hash(row, 24)?,
            })
        }
    };
    Ok(OrderRecord {
        order_ref: row.get(0)?,
        kind: row.get(1)?,
        state,
        hint: row.get(3)?,
        autostart_token_sha256: required_hash(row, 4)?,
        autostart_used: row.get(5)?,
        app_token_sha256: hash(row, 6)?,
        qr_start_token: row.get(7)?,
        qr_start_secret: row.get(8)?,
        server_nonce: row.get(9)?,
        browser_session_sha256: required_hash(row, 10)?,
        requester_id: row.get(11)?,
        requester_name: row.get(12)?,
        return_url: row.get(13)?,
        text: row.get(14)?,
        card_number: row.get(15)?,
        created_at: time_at(row, 16)?,
        expires_at: time_at(row, 17)?,
        purge_after: time_at(row, 18)?,
        signature,
        return_secret_sha256: hash(row, 25)?,
        returned: row.get(26)?,
    })
}

/// Unique constraints of these tables are all random values: a clash is a one-time value
/// taken.
fn insert_error(e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
        && e.to_string().contains("UNIQUE")
    {
        StoreError::Conflict(Conflict::OneTimeValue)
    } else {
        backend_error(e)
    }
}

fn load(conn: &Connection, order_ref: &str) -> StoreResult<Option<OrderRecord>> {
    select_row(
        conn,
        &format!("SELECT {ORDER} FROM orders WHERE order_ref = ?1"),
        [order_ref],
        order_row,
    )
    .optional()
    .map_err(read_error)
}

fn refused(why: &str) -> StoreError {
    StoreError::Refused(why.to_owned())
}

/// A certificate's revocation time, card, HSA-id and kind.
type CertRow = (Option<i64>, Option<String>, Option<String>, String);

/// The checks of [`OrderStore::sign_order`] on certificate, card and person, inside the
/// transaction. Returns whether the card is not activated yet.
fn signer_still_valid(conn: &Connection, sig: &OrderSignature) -> StoreResult<bool> {
    let cert: Option<CertRow> = select_row(
        conn,
        "SELECT revoked_at, card_number, hsa_id, kind FROM certificates WHERE serial = ?1",
        [sig.certificate_serial.as_bytes()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .map_err(read_error)?;
    let Some((revoked_at, card, hsa_id, kind)) = cert else {
        return Err(refused("the certificate is not in the store"));
    };
    if revoked_at.is_some() {
        return Err(refused("the certificate is revoked"));
    }
    if kind != "authentication"
        || card.as_deref() != Some(sig.card_number.as_str())
        || hsa_id.as_deref() != Some(sig.hsa_id.as_str())
    {
        return Err(refused(
            "the certificate is not this card holder's authentication certificate",
        ));
    }
    let card: Option<(String, String)> = select_row(
        conn,
        "SELECT state, holder FROM cards WHERE card_number = ?1",
        [&sig.card_number],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(read_error)?;
    let Some((state, holder)) = card else {
        return Err(refused("the card is not in the store"));
    };
    if holder != sig.hsa_id {
        return Err(refused("the card belongs to someone else"));
    }
    let not_activated = match state.as_str() {
        "active" => false,
        "not-activated" => true,
        _ => return Err(refused("the card is revoked or dead")),
    };
    let active: Option<bool> = select_row(
        conn,
        "SELECT active FROM persons WHERE hsa_id = ?1",
        [&sig.hsa_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(read_error)?;
    if active != Some(true) {
        return Err(refused("the card holder is not active"));
    }
    Ok(not_activated)
}

fn sign(conn: &Connection, s: &SignOrder) -> StoreResult<bool> {
    let Some(order) = load(conn, &s.order_ref)? else {
        return Ok(false);
    };
    if order.state != OrderState::Pending
        || order.signature.is_some()
        || order.returned
        || order.app_token_sha256 != Some(s.app_token_sha256)
        || order.expires_at <= s.now
    {
        return Ok(false);
    }
    let not_activated = signer_still_valid(conn, &s.signature)?;
    let sig = &s.signature;
    exec(
        conn,
        "UPDATE orders SET hint = 'userSign', signed_at = ?2, signer_hsa_id = ?3, \
         signer_card_number = ?4, signer_cert_serial = ?5, signature = ?6, \
         approved_key_sha256 = ?7, return_secret_sha256 = ?8 \
         WHERE order_ref = ?1 AND signed_at IS NULL",
        params![
            s.order_ref,
            micros(sig.signed_at),
            sig.hsa_id,
            sig.card_number,
            sig.certificate_serial.as_bytes(),
            sig.signature,
            sig.approved_key_sha256.as_ref().map(|h| h.as_slice()),
            s.return_secret_sha256.as_slice(),
        ],
    )
    .map_err(backend_error)?;
    append(conn, &s.audit)?;
    if let (true, Some(activation)) = (not_activated, &s.activation) {
        exec(
            conn,
            "UPDATE cards SET state = 'active' WHERE card_number = ?1 AND state = 'not-activated'",
            [&sig.card_number],
        )
        .map_err(backend_error)?;
        append(conn, activation)?;
    }
    Ok(true)
}

fn return_to(conn: &Connection, r: &ReturnToOrder) -> StoreResult<ReturnOutcome> {
    let Some(order) = load(conn, &r.order_ref)? else {
        return Ok(ReturnOutcome::Refused);
    };
    if order.state != OrderState::Pending
        || order.signature.is_none()
        || order.returned
        || order.return_secret_sha256 != Some(r.return_secret_sha256)
        || order.expires_at <= r.now
    {
        return Ok(ReturnOutcome::Refused);
    }
    if order.browser_session_sha256 != r.browser_session_sha256 {
        exec(
            conn,
            "UPDATE orders SET state = 'failed', hint = ?2, return_secret_sha256 = NULL, \
             purge_after = ?3 WHERE order_ref = ?1",
            params![r.order_ref, RELAYED_HINT, micros(r.failed_purge_after)],
        )
        .map_err(backend_error)?;
        append(conn, &r.on_relay)?;
        return Ok(ReturnOutcome::Relayed);
    }
    exec(
        conn,
        "UPDATE orders SET state = 'complete', returned = 1, return_secret_sha256 = NULL, \
         purge_after = ?2 WHERE order_ref = ?1",
        params![r.order_ref, micros(r.complete_purge_after)],
    )
    .map_err(backend_error)?;
    append(conn, &r.on_complete)?;
    let order = load(conn, &r.order_ref)?.ok_or_else(|| refused("the order vanished"))?;
    Ok(ReturnOutcome::Completed(Box::new(order)))
}

/// Inserts a new order (the caller appends its audit event in the same transaction).
pub(super) fn insert(conn: &Connection, o: &OrderRecord) -> StoreResult<()> {
    let sig = o.signature.as_ref();
    exec(
        conn,
        &format!(
            "INSERT INTO orders ({ORDER}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
             ?24, ?25, ?26, ?27)"
        ),
        params![
            o.order_ref,
            o.kind,
            state_text(o.state),
            o.hint,
            o.autostart_token_sha256.as_slice(),
            o.autostart_used,
            o.app_token_sha256.as_ref().map(|h| h.as_slice()),
            o.qr_start_token,
            o.qr_start_secret,
            o.server_nonce,
            o.browser_session_sha256.as_slice(),
            o.requester_id,
            o.requester_name,
            o.return_url,
            o.text,
            o.card_number,
            micros(o.created_at),
            micros(o.expires_at),
            micros(o.purge_after),
            sig.map(|s| micros(s.signed_at)),
            sig.map(|s| s.hsa_id.as_str()),
            sig.map(|s| s.card_number.as_str()),
            sig.map(|s| s.certificate_serial.as_bytes()),
            sig.map(|s| s.signature.as_slice()),
            sig.and_then(|s| s.approved_key_sha256.as_ref().map(|h| h.as_slice())),
            o.return_secret_sha256.as_ref().map(|h| h.as_slice()),
            o.returned,
        ],
    )
    .map_err(insert_error)
    .map(drop)
}

#[async_trait]
impl OrderStore for SqliteStore {
    fn order_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.inner.changes.subscribe())
    }

    async fn add_order(&self, order: &OrderRecord, audit: &AuditEvent) -> StoreResult<()> {
        let (o, audit) = (order.clone(), audit.clone());
        self.write(move |conn| {
            insert(conn, &o)?;
            append(conn, &audit).map(drop)
        })
        .await?;
        self.order_changed(&order.order_ref);
        Ok(())
    }

    async fn order(&self, order_ref: &str) -> StoreResult<Option<OrderRecord>> {
        let key = order_ref.to_owned();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {ORDER} FROM orders WHERE order_ref = ?1"),
                [key],
                order_row,
            )
            .optional()
        })
        .await
    }

    async fn order_by_app_token(
        &self,
        app_token_sha256: &[u8; 32],
    ) -> StoreResult<Option<OrderRecord>> {
        let key = app_token_sha256.to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {ORDER} FROM orders WHERE app_token_sha256 = ?1"),
                [key],
                order_row,
            )
            .optional()
        })
        .await
    }

    async fn claim_order(
        &self,
        autostart_token_sha256: &[u8; 32],
        app_token_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<OrderRecord>> {
        let (token, app) = (autostart_token_sha256.to_vec(), app_token_sha256.to_vec());
        let claimed = self
            .write(move |conn| {
                select_row(
                    conn,
                    &format!(
                        "UPDATE orders SET autostart_used = 1, app_token_sha256 = ?2, \
                     hint = 'started' WHERE autostart_token_sha256 = ?1 AND autostart_used = 0 \
                     AND state = 'pending' AND expires_at > ?3 RETURNING {ORDER}"
                    ),
                    params![token, app, micros(now)],
                    order_row,
                )
                .optional()
                .map_err(insert_error)
            })
            .await?;
        if let Some(order) = &claimed {
            self.order_changed(&order.order_ref);
        }
        Ok(claimed)
    }

    async fn set_order_hint(
        &self,
        order_ref: &str,
        hint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (key, hint) = (order_ref.to_owned(), hint.to_owned());
        let changed = self
            .write(move |conn| {
                exec(
                    conn,
                    "UPDATE orders SET hint = ?2 WHERE order_ref = ?1 AND state = 'pending' \
                     AND signed_at IS NULL AND expires_at > ?3",
                    params![key, hint, micros(now)],
                )
                .map(|changed| changed == 1)
                .map_err(backend_error)
            })
            .await?;
        if changed {
            self.order_changed(order_ref);
        }
        Ok(changed)
    }

    async fn fail_order(
        &self,
        order_ref: &str,
        hint: &str,
        purge_after: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let (key, hint, audit) = (order_ref.to_owned(), hint.to_owned(), audit.clone());
        let failed = self
            .write(move |conn| {
                let changed = exec(
                    conn,
                    "UPDATE orders SET state = 'failed', hint = ?2, purge_after = ?3, \
                     return_secret_sha256 = NULL WHERE order_ref = ?1 AND state = 'pending'",
                    params![key, hint, micros(purge_after)],
                )
                .map_err(backend_error)?;
                if changed == 1 {
                    append(conn, &audit)?;
                }
                Ok(changed == 1)
            })
            .await?;
        if failed {
            self.order_changed(order_ref);
        }
        Ok(failed)
    }

    async fn sign_order(&self, sign_order: &SignOrder) -> StoreResult<bool> {
        let s = sign_order.clone();
        let signed = self.write(move |conn| sign(conn, &s)).await?;
        if signed {
            self.order_changed(&sign_order.order_ref);
        }
        Ok(signed)
    }

    async fn return_to_order(&self, ret: &ReturnToOrder) -> StoreResult<ReturnOutcome> {
        let r = ret.clone();
        let outcome = self.write(move |conn| return_to(conn, &r)).await?;
        if !matches!(outcome, ReturnOutcome::Refused) {
            self.order_changed(&ret.order_ref);
        }
        Ok(outcome)
    }

    async fn add_browser_session(&self, session: &BrowserSession) -> StoreResult<()> {
        let s = session.clone();
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO order_browser_sessions (id_sha256, created_at, expires_at) \
                 VALUES (?1, ?2, ?3)",
                params![
                    s.id_sha256.as_slice(),
                    micros(s.created_at),
                    micros(s.expires_at)
                ],
            )
            .map(drop)
            .map_err(|e| {
                if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    StoreError::Conflict(Conflict::OneTimeValue)
                } else {
                    backend_error(e)
                }
            })
        })
        .await
    }

    async fn browser_session(
        &self,
        id_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<BrowserSession>> {
        let key = id_sha256.to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                "SELECT id_sha256, created_at, expires_at FROM order_browser_sessions \
                 WHERE id_sha256 = ?1 AND expires_at > ?2",
                params![key, micros(now)],
                |r| {
                    Ok(BrowserSession {
                        id_sha256: required_hash(r, 0)?,
                        created_at: time_at(r, 1)?,
                        expires_at: time_at(r, 2)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn purge_expired_orders(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        self.write(move |conn| {
            let orders = exec(
                conn,
                "DELETE FROM orders WHERE purge_after < ?1",
                [micros(now)],
            )
            .map_err(backend_error)?;
            let browser_sessions = exec(
                conn,
                "DELETE FROM order_browser_sessions WHERE expires_at < ?1",
                [micros(now)],
            )
            .map_err(backend_error)?;
            // Enrollment claims that lapsed, and the step counts of orders that are gone
            // (`0005_enroll.sql`).
            exec(
                conn,
                "DELETE FROM card_enrollments WHERE until < ?1",
                [micros(now)],
            )
            .map_err(backend_error)?;
            exec(
                conn,
                "DELETE FROM enrollment_steps WHERE order_ref NOT IN (SELECT order_ref FROM orders)",
                [],
            )
            .map_err(backend_error)?;
            Ok(Purged {
                orders: orders as u64,
                browser_sessions: browser_sessions as u64,
            })
        })
        .await
    }
}
