//! [`EnrollStore`] on SQLite (migration `0005_enroll.sql`): each decision is one job on the
//! single writer, so of two orders claiming one card exactly one wins.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::rows::micros;
use super::{SqliteStore, append, backend_error, exec, read_error, select_row};
use crate::StoreResult;
use crate::enroll::{CardClaim, ClaimOutcome, Delivery, EnrollStore};
use crate::model::Serial;

#[async_trait]
impl EnrollStore for SqliteStore {
    async fn claim_card(&self, claim: &CardClaim) -> StoreResult<ClaimOutcome> {
        let claim = claim.clone();
        self.write(move |conn| {
            let now = micros(claim.now);
            let held: Option<(String, i64, Option<String>)> = select_row(
                conn,
                "SELECT e.order_ref, e.until, o.state FROM card_enrollments e \
                 LEFT JOIN orders o ON o.order_ref = e.order_ref WHERE e.card_number = ?1",
                [&claim.card_number],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(read_error)?;
            if let Some((order, until, state)) = held
                && order != claim.order_ref
                && until > now
                && state.as_deref() == Some("pending")
            {
                return Ok(ClaimOutcome::Busy { order_ref: order });
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
                return Ok(ClaimOutcome::Exhausted);
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
            Ok(ClaimOutcome::Granted(
                u32::try_from(steps).unwrap_or(u32::MAX),
            ))
        })
        .await
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
