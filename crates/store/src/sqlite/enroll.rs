//! [`EnrollStore`] on SQLite (migrations `0005_enroll.sql`, `0006_enroll_supersede.sql`):
//! each decision is one job on the single writer, so of two orders claiming one card exactly
//! one wins, and a newer order superseding an older one cannot interleave with the older
//! one's claim. A delivery revokes the card's older signing certificates in its own
//! transaction, so no reader ever sees a card with two valid ones after a renewal, nor
//! none before the new one is on the card.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::rows::{micros, tag};
use super::{SqliteStore, append, backend_error, exec, read_error, select_row};
use crate::enroll::{CardClaim, ClaimOutcome, Delivery, EnrollStore, NewEnrollment, Supersede};
use crate::model::{CertKind, RevocationReason, Serial};
use crate::orders::OrderState;
use crate::{StoreError, StoreResult};

/// The order kind this module's rows are about.
const ENROLL_SIGN: &str = "enrollSign";

/// Fails the pending order `order_ref` as `how` says, drops its claim on `card` and appends
/// its audit entry; nothing if it is no longer pending.
fn supersede(conn: &Connection, order_ref: &str, card: &str, how: &Supersede) -> StoreResult<()> {
    let changed = exec(
        conn,
        "UPDATE orders SET state = 'failed', hint = ?2, purge_after = ?3, \
         return_secret_sha256 = NULL WHERE order_ref = ?1 AND state = 'pending'",
        params![order_ref, how.hint, micros(how.purge_after)],
    )
    .map_err(backend_error)?;
    exec(
        conn,
        "DELETE FROM card_enrollments WHERE card_number = ?1 AND order_ref = ?2",
        params![card, order_ref],
    )
    .map_err(backend_error)?;
    if changed == 1 {
        let mut audit = how.audit.clone();
        audit.subject = order_ref.to_owned();
        append(conn, &audit)?;
    }
    Ok(())
}

/// The card's other pending, unsigned, unexpired `enrollSign` orders (index
/// `orders_by_card`).
fn unsigned_orders(
    conn: &Connection,
    card: &str,
    except: &str,
    now: OffsetDateTime,
) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "SELECT order_ref FROM orders WHERE card_number = ?1 AND state = 'pending' \
         AND kind = ?2 AND signed_at IS NULL AND expires_at > ?3 AND order_ref <> ?4 \
         ORDER BY created_at, order_ref",
    )
    .and_then(|mut s| {
        s.query_map(params![card, ENROLL_SIGN, micros(now), except], |r| {
            r.get(0)
        })?
        .collect()
    })
    .map_err(read_error)
}

/// Revokes the card's other signing certificates that are still in force at the delivery
/// as `superseded`, each with its audit entry (the revocation marker of migration 0007
/// moves by its trigger).
fn supersede_signing(conn: &Connection, d: &Delivery) -> StoreResult<()> {
    let older: Vec<Vec<u8>> = conn
        .prepare_cached(
            "SELECT serial FROM certificates WHERE card_number = ?1 AND kind = ?2 \
             AND revoked_at IS NULL AND not_after > ?3 AND serial <> ?4 \
             ORDER BY issued_at, serial",
        )
        .and_then(|mut s| {
            s.query_map(
                params![
                    d.card_number,
                    tag(&CertKind::Signing),
                    micros(d.at),
                    d.serial.as_bytes()
                ],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(read_error)?;
    for serial in older {
        exec(
            conn,
            "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3 \
             WHERE serial = ?1 AND revoked_at IS NULL",
            params![serial, micros(d.at), tag(&RevocationReason::Superseded)],
        )
        .map_err(backend_error)?;
        let serial = Serial::from_be_bytes(&serial)
            .ok_or_else(|| StoreError::Corrupt("a zero certificate serial".into()))?;
        let mut audit = d.superseded_audit.clone();
        audit.subject = serial.to_string();
        append(conn, &audit)?;
    }
    Ok(())
}

/// The order holding a card: its reference, the claim's end, its state, and the key it
/// approved if it is signed.
type Holder = (String, i64, Option<String>, Option<Vec<u8>>);

#[async_trait]
impl EnrollStore for SqliteStore {
    async fn start_enrollment(&self, start: &NewEnrollment) -> StoreResult<Vec<String>> {
        let new_order = start.order.order_ref.clone();
        let start = start.clone();
        let superseded = self
            .write(move |conn| {
                let o = &start.order;
                let card = match (&o.card_number, o.kind.as_str(), o.state) {
                    (Some(card), ENROLL_SIGN, OrderState::Pending) => card.clone(),
                    _ => {
                        return Err(StoreError::Refused(
                            "only a pending enrollSign order for a card starts an enrollment"
                                .into(),
                        ));
                    }
                };
                super::orders::insert(conn, o)?;
                append(conn, &start.audit)?;
                let older = unsigned_orders(conn, &card, &o.order_ref, o.created_at)?;
                for order_ref in &older {
                    supersede(conn, order_ref, &card, &start.supersede)?;
                }
                Ok(older)
            })
            .await?;
        for order_ref in std::iter::once(&new_order).chain(&superseded) {
            self.order_changed(order_ref);
        }
        Ok(superseded)
    }

    async fn claim_card(&self, claim: &CardClaim) -> StoreResult<ClaimOutcome> {
        let claim = claim.clone();
        // The holder this claim took the card from, if it did: its order failed.
        let (outcome, superseded) = self
            .write(move |conn| {
                let mut superseded = None;
                let now = micros(claim.now);
                let own: Option<(String, i64)> = select_row(
                    conn,
                    "SELECT state, expires_at FROM orders WHERE order_ref = ?1",
                    [&claim.order_ref],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(read_error)?;
                if !own.is_some_and(|(state, expires)| state == "pending" && expires > now) {
                    return Ok((ClaimOutcome::Ended, None));
                }
                let held: Option<Holder> = select_row(
                    conn,
                    "SELECT e.order_ref, e.until, o.state, o.approved_key_sha256 \
                 FROM card_enrollments e LEFT JOIN orders o ON o.order_ref = e.order_ref \
                 WHERE e.card_number = ?1",
                    [&claim.card_number],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(read_error)?;
                if let Some((order, until, state, approved)) = held
                    && order != claim.order_ref
                    && until > now
                    && state.as_deref() == Some("pending")
                {
                    // `approved_key_sha256` is set only on a signed order: its certificate is
                    // issued. A completion for that same key delivers that certificate again,
                    // so it may take the card over; anything else waits.
                    match &claim.resume {
                        Some(r) if approved.as_deref() == Some(r.key_sha256.as_slice()) => {
                            supersede(conn, &order, &claim.card_number, &r.supersede)?;
                            superseded = Some(order);
                        }
                        _ => return Ok((ClaimOutcome::Busy { order_ref: order }, None)),
                    }
                }
                let steps: i64 = select_row(
                    conn,
                    "SELECT steps FROM enrollment_steps WHERE order_ref = ?1",
                    [&claim.order_ref],
                    |r| r.get(0),
                )
                .optional()
                .map_err(read_error)?
                .unwrap_or(0);
                let steps = if claim.counts { steps + 1 } else { steps };
                if steps > i64::from(claim.max) {
                    return Ok((ClaimOutcome::Exhausted, superseded));
                }
                exec(
                    conn,
                    "INSERT INTO card_enrollments (card_number, order_ref, until) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (card_number) DO UPDATE SET \
                 order_ref = excluded.order_ref, until = excluded.until",
                    params![claim.card_number, claim.order_ref, micros(claim.until)],
                )
                .map_err(backend_error)?;
                exec(
                    conn,
                    "INSERT INTO enrollment_steps (order_ref, steps) VALUES (?1, ?2) \
                 ON CONFLICT (order_ref) DO UPDATE SET steps = excluded.steps",
                    params![claim.order_ref, steps],
                )
                .map_err(backend_error)?;
                append(conn, &claim.audit)?;
                let granted = ClaimOutcome::Granted(u32::try_from(steps).unwrap_or(u32::MAX));
                Ok((granted, superseded))
            })
            .await?;
        if let Some(order_ref) = &superseded {
            self.order_changed(order_ref);
        }
        Ok(outcome)
    }

    async fn confirm_delivery(&self, delivery: &Delivery) -> StoreResult<bool> {
        let d = delivery.clone();
        self.write(move |conn| {
            let added = exec(
                conn,
                "INSERT INTO certificate_deliveries (serial, card_number, order_ref, delivered_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (serial) DO NOTHING",
                params![
                    d.serial.as_bytes(),
                    d.card_number,
                    d.order_ref,
                    micros(d.at)
                ],
            )
            .map_err(backend_error)?;
            // The card's work for this order is done: another fetch may have the card.
            exec(
                conn,
                "DELETE FROM card_enrollments WHERE card_number = ?1 AND order_ref = ?2",
                params![d.card_number, d.order_ref],
            )
            .map_err(backend_error)?;
            if added == 0 {
                return Ok(false);
            }
            append(conn, &d.audit)?;
            supersede_signing(conn, &d)?;
            Ok(true)
        })
        .await
    }

    async fn delivered_at(&self, serial: &Serial) -> StoreResult<Option<OffsetDateTime>> {
        let serial = serial.as_bytes().to_vec();
        let at: Option<i64> = self
            .read(move |conn| {
                select_row(
                    conn,
                    "SELECT delivered_at FROM certificate_deliveries WHERE serial = ?1",
                    [serial],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        at.map(|us| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
                .map_err(|e| crate::StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }
}
