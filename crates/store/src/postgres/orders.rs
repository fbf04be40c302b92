//! [`OrderStore`] on PostgreSQL: orders and browser sessions.
//!
//! Every state change is one serializable transaction that checks the order's state and
//! changes it, so of concurrent callers exactly one wins (the others are run again and then
//! find the order changed). Each transaction that adds or changes an order announces it
//! with `pg_notify('eid_orders', <order_ref>)`, delivered at commit. This module never
//! stores a raw token: callers hand in hashes.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{Failure, PostgresStore, execute, query_opt, rows};
use crate::model::{AuditEvent, CertKind, Serial, tag};
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

fn corrupt(what: &str) -> Failure {
    Failure::Store(StoreError::Corrupt(what.to_owned()))
}

/// A nullable `BYTEA` column of 32 bytes.
fn opt_hash(row: &Row, col: usize) -> Result<Option<[u8; 32]>, Failure> {
    let bytes: Option<Vec<u8>> = rows::get(row, col)?;
    bytes
        .map(|b| {
            b.try_into()
                .map_err(|_| corrupt(&format!("column {col} is not 32 bytes")))
        })
        .transpose()
}

/// An order from the columns of [`ORDER`].
fn order_row(row: &Row) -> Result<OrderRecord, Failure> {
    let signed_at: Option<OffsetDateTime> = rows::get(row, 19)?;
    let signature = match signed_at {
        None => None,
        Some(signed_at) => {
            let serial: Vec<u8> = rows::get(row, 22)?;
            Some(OrderSignature {
                signed_at,
                hsa_id: rows::get(row, 20)?,
                card_number: rows::get(row, 21)?,
                certificate_serial: Serial::from_be_bytes(&serial)
                    .ok_or_else(|| corrupt("a zero signer certificate serial"))?,
                signature: rows::get(row, 23)?,
                approved_key_sha256: opt_hash(row, 24)?,
            })
        }
    };
    Ok(OrderRecord {
        order_ref: rows::get(row, 0)?,
        kind: rows::get(row, 1)?,
        state: rows::untag(row, 2)?,
        hint: rows::get(row, 3)?,
        autostart_token_sha256: rows::hash32(row, 4)?,
        autostart_used: rows::get(row, 5)?,
        app_token_sha256: opt_hash(row, 6)?,
        qr_start_token: rows::get(row, 7)?,
        qr_start_secret: rows::get(row, 8)?,
        server_nonce: rows::get(row, 9)?,
        browser_session_sha256: rows::hash32(row, 10)?,
        requester_id: rows::get(row, 11)?,
        requester_name: rows::get(row, 12)?,
        return_url: rows::get(row, 13)?,
        text: rows::get(row, 14)?,
        card_number: rows::get(row, 15)?,
        created_at: rows::get(row, 16)?,
        expires_at: rows::get(row, 17)?,
        purge_after: rows::get(row, 18)?,
        signature,
        return_secret_sha256: opt_hash(row, 25)?,
        returned: rows::get(row, 26)?,
    })
}

/// The unique constraints of `table` hold random values only: a violation is a one-time
/// value taken ([`Conflict::OneTimeValue`]). Any other error stays the database's (so a
/// serialization failure is still run again).
pub(super) fn one_time_value(table: &str) -> impl Fn(tokio_postgres::Error) -> Failure + '_ {
    move |e| match e.as_db_error() {
        Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION && db.table() == Some(table) => {
            Failure::Store(StoreError::Conflict(Conflict::OneTimeValue))
        }
        _ => Failure::Db(e),
    }
}

/// Announces a change to the order `order_ref` (delivered when the transaction commits).
pub(super) async fn wake<C: GenericClient>(c: &C, order_ref: &str) -> Result<(), Failure> {
    execute(c, "SELECT pg_notify('eid_orders', $1)", &[&order_ref]).await?;
    Ok(())
}

async fn load<C: GenericClient>(c: &C, order_ref: &str) -> Result<Option<OrderRecord>, Failure> {
    query_opt(
        c,
        &format!("SELECT {ORDER} FROM orders WHERE order_ref = $1"),
        &[&order_ref],
    )
    .await?
    .map(|r| order_row(&r))
    .transpose()
}

fn refused(why: &str) -> Failure {
    Failure::Store(StoreError::Refused(why.to_owned()))
}

/// Inserts a new order and announces it (the caller appends its audit event in the same
/// transaction). [`Conflict::OneTimeValue`] when a unique value is taken.
pub(super) async fn insert<C: GenericClient>(c: &C, o: &OrderRecord) -> Result<(), Failure> {
    let sig = o.signature.as_ref();
    execute(
        c,
        &format!(
            "INSERT INTO orders ({ORDER}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
             $24, $25, $26, $27)"
        ),
        &[
            &o.order_ref,
            &o.kind,
            &tag(&o.state),
            &o.hint,
            &o.autostart_token_sha256.as_slice(),
            &o.autostart_used,
            &o.app_token_sha256.as_ref().map(|h| h.as_slice()),
            &o.qr_start_token,
            &o.qr_start_secret,
            &o.server_nonce,
            &o.browser_session_sha256.as_slice(),
            &o.requester_id,
            &o.requester_name,
            &o.return_url,
            &o.text,
            &o.card_number,
            &rows::truncate(o.created_at),
            &rows::truncate(o.expires_at),
            &rows::truncate(o.purge_after),
            &sig.map(|s| rows::truncate(s.signed_at)),
            &sig.map(|s| s.hsa_id.as_str()),
            &sig.map(|s| s.card_number.as_str()),
            &sig.map(|s| s.certificate_serial.as_bytes()),
            &sig.map(|s| s.signature.as_slice()),
            &sig.and_then(|s| s.approved_key_sha256.as_ref().map(|h| h.as_slice())),
            &o.return_secret_sha256.as_ref().map(|h| h.as_slice()),
            &o.returned,
        ],
    )
    .await
    .map_err(one_time_value("orders"))?;
    wake(c, &o.order_ref).await
}

/// The checks of [`OrderStore::sign_order`] on certificate, card and person, inside the
/// transaction. Returns whether the card is not activated yet.
async fn signer_still_valid<C: GenericClient>(
    c: &C,
    sig: &OrderSignature,
) -> Result<bool, Failure> {
    let Some(cert) = query_opt(
        c,
        "SELECT revoked_at, card_number, hsa_id, kind FROM certificates WHERE serial = $1",
        &[&sig.certificate_serial.as_bytes()],
    )
    .await?
    else {
        return Err(refused("the certificate is not in the store"));
    };
    let revoked_at: Option<OffsetDateTime> = rows::get(&cert, 0)?;
    let card: Option<String> = rows::get(&cert, 1)?;
    let hsa_id: Option<String> = rows::get(&cert, 2)?;
    let kind: String = rows::get(&cert, 3)?;
    if revoked_at.is_some() {
        return Err(refused("the certificate is revoked"));
    }
    if kind != tag(&CertKind::Authentication)
        || card.as_deref() != Some(sig.card_number.as_str())
        || hsa_id.as_deref() != Some(sig.hsa_id.as_str())
    {
        return Err(refused(
            "the certificate is not this card holder's authentication certificate",
        ));
    }
    let Some(card) = query_opt(
        c,
        "SELECT state, holder FROM cards WHERE card_number = $1",
        &[&sig.card_number],
    )
    .await?
    else {
        return Err(refused("the card is not in the store"));
    };
    let state: String = rows::get(&card, 0)?;
    let holder: String = rows::get(&card, 1)?;
    if holder != sig.hsa_id {
        return Err(refused("the card belongs to someone else"));
    }
    let not_activated = match state.as_str() {
        "active" => false,
        "not-activated" => true,
        _ => return Err(refused("the card is revoked or dead")),
    };
    let active: Option<bool> = query_opt(
        c,
        "SELECT active FROM persons WHERE hsa_id = $1",
        &[&sig.hsa_id],
    )
    .await?
    .map(|r| rows::get(&r, 0))
    .transpose()?;
    if active != Some(true) {
        return Err(refused("the card holder is not active"));
    }
    Ok(not_activated)
}

async fn sign<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    s: &SignOrder,
) -> Result<bool, Failure> {
    let Some(order) = load(c, &s.order_ref).await? else {
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
    let not_activated = signer_still_valid(c, &s.signature).await?;
    let sig = &s.signature;
    execute(
        c,
        "UPDATE orders SET hint = 'userSign', signed_at = $2, signer_hsa_id = $3, \
         signer_card_number = $4, signer_cert_serial = $5, signature = $6, \
         approved_key_sha256 = $7, return_secret_sha256 = $8 \
         WHERE order_ref = $1 AND signed_at IS NULL",
        &[
            &s.order_ref,
            &rows::truncate(sig.signed_at),
            &sig.hsa_id,
            &sig.card_number,
            &sig.certificate_serial.as_bytes(),
            &sig.signature,
            &sig.approved_key_sha256.as_ref().map(|h| h.as_slice()),
            &s.return_secret_sha256.as_slice(),
        ],
    )
    .await?;
    wake(c, &s.order_ref).await?;
    store.append(c, &s.audit).await?;
    if let (true, Some(activation)) = (not_activated, &s.activation) {
        execute(
            c,
            "UPDATE cards SET state = 'active' WHERE card_number = $1 AND state = 'not-activated'",
            &[&sig.card_number],
        )
        .await?;
        store.append(c, activation).await?;
    }
    Ok(true)
}

async fn return_to<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    r: &ReturnToOrder,
) -> Result<ReturnOutcome, Failure> {
    let Some(order) = load(c, &r.order_ref).await? else {
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
        execute(
            c,
            "UPDATE orders SET state = 'failed', hint = $2, return_secret_sha256 = NULL, \
             purge_after = $3 WHERE order_ref = $1",
            &[
                &r.order_ref,
                &RELAYED_HINT,
                &rows::truncate(r.failed_purge_after),
            ],
        )
        .await?;
        wake(c, &r.order_ref).await?;
        store.append(c, &r.on_relay).await?;
        return Ok(ReturnOutcome::Relayed);
    }
    execute(
        c,
        "UPDATE orders SET state = 'complete', returned = TRUE, return_secret_sha256 = NULL, \
         purge_after = $2 WHERE order_ref = $1",
        &[&r.order_ref, &rows::truncate(r.complete_purge_after)],
    )
    .await?;
    wake(c, &r.order_ref).await?;
    store.append(c, &r.on_complete).await?;
    let order = load(c, &r.order_ref)
        .await?
        .ok_or_else(|| refused("the order vanished"))?;
    Ok(ReturnOutcome::Completed(Box::new(order)))
}

#[async_trait]
impl OrderStore for PostgresStore {
    fn order_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.subscribe_order_changes())
    }

    async fn add_order(&self, order: &OrderRecord, audit: &AuditEvent) -> StoreResult<()> {
        super::transaction!(self, |tx| {
            insert(&tx, order).await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn order(&self, order_ref: &str) -> StoreResult<Option<OrderRecord>> {
        super::read!(self, |c| load(c, order_ref).await)
    }

    async fn order_by_app_token(
        &self,
        app_token_sha256: &[u8; 32],
    ) -> StoreResult<Option<OrderRecord>> {
        super::read!(self, |c| {
            query_opt(
                c,
                &format!("SELECT {ORDER} FROM orders WHERE app_token_sha256 = $1"),
                &[&app_token_sha256.as_slice()],
            )
            .await?
            .map(|r| order_row(&r))
            .transpose()
        })
    }

    async fn claim_order(
        &self,
        autostart_token_sha256: &[u8; 32],
        app_token_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<OrderRecord>> {
        let now = rows::truncate(now);
        super::transaction!(self, unaudited, |tx| {
            let claimed = query_opt(
                &tx,
                &format!(
                    "UPDATE orders SET autostart_used = TRUE, app_token_sha256 = $2, \
                     hint = 'started' WHERE autostart_token_sha256 = $1 \
                     AND autostart_used = FALSE AND state = 'pending' AND expires_at > $3 \
                     RETURNING {ORDER}"
                ),
                &[
                    &autostart_token_sha256.as_slice(),
                    &app_token_sha256.as_slice(),
                    &now,
                ],
            )
            .await
            .map_err(one_time_value("orders"))?
            .map(|r| order_row(&r))
            .transpose()?;
            if let Some(order) = &claimed {
                wake(&tx, &order.order_ref).await?;
            }
            claimed
        })
    }

    async fn set_order_hint(
        &self,
        order_ref: &str,
        hint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let now = rows::truncate(now);
        super::transaction!(self, unaudited, |tx| {
            let changed = execute(
                &tx,
                "UPDATE orders SET hint = $2 WHERE order_ref = $1 AND state = 'pending' \
                 AND signed_at IS NULL AND expires_at > $3",
                &[&order_ref, &hint, &now],
            )
            .await?;
            if changed == 1 {
                wake(&tx, order_ref).await?;
            }
            changed == 1
        })
    }

    async fn fail_order(
        &self,
        order_ref: &str,
        hint: &str,
        purge_after: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let purge_after = rows::truncate(purge_after);
        super::transaction!(self, |tx| {
            let changed = execute(
                &tx,
                "UPDATE orders SET state = 'failed', hint = $2, purge_after = $3, \
                 return_secret_sha256 = NULL WHERE order_ref = $1 AND state = 'pending'",
                &[&order_ref, &hint, &purge_after],
            )
            .await?;
            if changed == 1 {
                wake(&tx, order_ref).await?;
                self.append(&tx, audit).await?;
            }
            changed == 1
        })
    }

    async fn sign_order(&self, sign_order: &SignOrder) -> StoreResult<bool> {
        super::transaction!(self, |tx| sign(self, &tx, sign_order).await?)
    }

    async fn return_to_order(&self, ret: &ReturnToOrder) -> StoreResult<ReturnOutcome> {
        super::transaction!(self, |tx| return_to(self, &tx, ret).await?)
    }

    async fn add_browser_session(&self, session: &BrowserSession) -> StoreResult<()> {
        let s = session;
        super::transaction!(self, unaudited, |tx| {
            execute(
                &tx,
                "INSERT INTO order_browser_sessions (id_sha256, created_at, expires_at) \
                 VALUES ($1, $2, $3)",
                &[
                    &s.id_sha256.as_slice(),
                    &rows::truncate(s.created_at),
                    &rows::truncate(s.expires_at),
                ],
            )
            .await
            .map_err(one_time_value("order_browser_sessions"))?;
        })
    }

    async fn browser_session(
        &self,
        id_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<BrowserSession>> {
        let now = rows::truncate(now);
        super::read!(self, |c| {
            query_opt(
                c,
                "SELECT id_sha256, created_at, expires_at FROM order_browser_sessions \
                 WHERE id_sha256 = $1 AND expires_at > $2",
                &[&id_sha256.as_slice(), &now],
            )
            .await?
            .map(|r| {
                Ok(BrowserSession {
                    id_sha256: rows::hash32(&r, 0)?,
                    created_at: rows::get(&r, 1)?,
                    expires_at: rows::get(&r, 2)?,
                })
            })
            .transpose()
        })
    }

    async fn purge_expired_orders(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        let now = rows::truncate(now);
        super::transaction!(self, unaudited, |tx| {
            let orders = execute(&tx, "DELETE FROM orders WHERE purge_after < $1", &[&now]).await?;
            let browser_sessions = execute(
                &tx,
                "DELETE FROM order_browser_sessions WHERE expires_at < $1",
                &[&now],
            )
            .await?;
            // Enrollment claims that lapsed, and the step counts of orders that are gone.
            execute(
                &tx,
                "DELETE FROM card_enrollments WHERE until < $1",
                &[&now],
            )
            .await?;
            execute(
                &tx,
                "DELETE FROM enrollment_steps e \
                 WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_ref = e.order_ref)",
                &[],
            )
            .await?;
            Purged {
                orders,
                browser_sessions,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    crate::order_conformance_tests!(super::super::tests::PostgresHarness::default());
}
