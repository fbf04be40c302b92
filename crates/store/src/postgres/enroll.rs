//! [`EnrollStore`] on PostgreSQL: each decision is one serializable transaction, so of two
//! orders claiming one card exactly one wins (the other is run again and finds the card
//! held), and a newer order superseding an older one cannot interleave with the older
//! one's claim. A delivery revokes the card's older signing certificates in its own
//! transaction, so no reader ever sees a card with two valid ones after a renewal, nor
//! none before the new one is on the card. Every order failed here is announced on
//! `eid_orders`, as is the new order.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use super::orders::{insert, wake};
use super::{Failure, PostgresStore, execute, query, query_opt, rows};
use crate::enroll::{CardClaim, ClaimOutcome, Delivery, EnrollStore, NewEnrollment, Supersede};
use crate::model::{CertKind, RevocationReason, Serial, tag};
use crate::orders::OrderState;
use crate::{StoreError, StoreResult};

/// The order kind this module's rows are about.
const ENROLL_SIGN: &str = "enrollSign";

/// Fails the pending order `order_ref` as `how` says, drops its claim on `card` and appends
/// its audit entry; nothing but the claim if it is no longer pending.
async fn supersede<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    order_ref: &str,
    card: &str,
    how: &Supersede,
) -> Result<(), Failure> {
    let changed = execute(
        c,
        "UPDATE orders SET state = 'failed', hint = $2, purge_after = $3, \
         return_secret_sha256 = NULL WHERE order_ref = $1 AND state = 'pending'",
        &[&order_ref, &how.hint, &rows::truncate(how.purge_after)],
    )
    .await?;
    execute(
        c,
        "DELETE FROM card_enrollments WHERE card_number = $1 AND order_ref = $2",
        &[&card, &order_ref],
    )
    .await?;
    if changed == 1 {
        wake(c, order_ref).await?;
        let mut audit = how.audit.clone();
        audit.subject = order_ref.to_owned();
        store.append(c, &audit).await?;
    }
    Ok(())
}

/// The card's other pending, unsigned, unexpired `enrollSign` orders (index
/// `orders_by_card`).
async fn unsigned_orders<C: GenericClient>(
    c: &C,
    card: &str,
    except: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, Failure> {
    query(
        c,
        "SELECT order_ref FROM orders WHERE card_number = $1 AND state = 'pending' \
         AND kind = $2 AND signed_at IS NULL AND expires_at > $3 AND order_ref <> $4 \
         ORDER BY created_at, order_ref",
        &[&card, &ENROLL_SIGN, &rows::truncate(now), &except],
    )
    .await?
    .iter()
    .map(|r| rows::get(r, 0))
    .collect()
}

/// Revokes the card's other signing certificates that are still in force at the delivery
/// as `superseded`, each with its audit entry (the revocation marker moves by the schema's
/// trigger).
async fn supersede_signing<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    d: &Delivery,
) -> Result<(), Failure> {
    let at = rows::truncate(d.at);
    let older: Vec<Vec<u8>> = query(
        c,
        "SELECT serial FROM certificates WHERE card_number = $1 AND kind = $2 \
         AND revoked_at IS NULL AND not_after > $3 AND serial <> $4 \
         ORDER BY issued_at, serial",
        &[
            &d.card_number,
            &tag(&CertKind::Signing),
            &at,
            &d.serial.as_bytes(),
        ],
    )
    .await?
    .iter()
    .map(|r| rows::get(r, 0))
    .collect::<Result<_, _>>()?;
    for serial in older {
        execute(
            c,
            "UPDATE certificates SET revoked_at = $2, revocation_reason = $3 \
             WHERE serial = $1 AND revoked_at IS NULL",
            &[&serial, &at, &tag(&RevocationReason::Superseded)],
        )
        .await?;
        let serial = Serial::from_be_bytes(&serial)
            .ok_or_else(|| StoreError::Corrupt("a zero certificate serial".into()))?;
        let mut audit = d.superseded_audit.clone();
        audit.subject = serial.to_string();
        store.append(c, &audit).await?;
    }
    Ok(())
}

async fn start<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    start: &NewEnrollment,
    card: &str,
) -> Result<Vec<String>, Failure> {
    let o = &start.order;
    insert(c, o).await?;
    store.append(c, &start.audit).await?;
    let older = unsigned_orders(c, card, &o.order_ref, o.created_at).await?;
    for order_ref in &older {
        supersede(store, c, order_ref, card, &start.supersede).await?;
    }
    Ok(older)
}

async fn claim<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    claim: &CardClaim,
) -> Result<ClaimOutcome, Failure> {
    let now = rows::truncate(claim.now);
    let own = query_opt(
        c,
        "SELECT state, expires_at FROM orders WHERE order_ref = $1",
        &[&claim.order_ref],
    )
    .await?;
    let pending = match own {
        None => false,
        Some(row) => {
            let state: String = rows::get(&row, 0)?;
            let expires_at: OffsetDateTime = rows::get(&row, 1)?;
            state == tag(&OrderState::Pending) && expires_at > now
        }
    };
    if !pending {
        return Ok(ClaimOutcome::Ended);
    }
    let held = query_opt(
        c,
        "SELECT e.order_ref, e.until, o.state, o.approved_key_sha256 \
         FROM card_enrollments e LEFT JOIN orders o ON o.order_ref = e.order_ref \
         WHERE e.card_number = $1",
        &[&claim.card_number],
    )
    .await?;
    if let Some(row) = held {
        let order: String = rows::get(&row, 0)?;
        let until: OffsetDateTime = rows::get(&row, 1)?;
        let state: Option<String> = rows::get(&row, 2)?;
        let approved: Option<Vec<u8>> = rows::get(&row, 3)?;
        if order != claim.order_ref && until > now && state.as_deref() == Some("pending") {
            // `approved_key_sha256` is set only on a signed order: its certificate is
            // issued. A completion for that same key delivers that certificate again, so
            // it may take the card over; anything else waits.
            match &claim.resume {
                Some(r) if approved.as_deref() == Some(r.key_sha256.as_slice()) => {
                    supersede(store, c, &order, &claim.card_number, &r.supersede).await?;
                }
                _ => return Ok(ClaimOutcome::Busy { order_ref: order }),
            }
        }
    }
    let steps: i64 = query_opt(
        c,
        "SELECT steps FROM enrollment_steps WHERE order_ref = $1",
        &[&claim.order_ref],
    )
    .await?
    .map(|r| rows::get::<i32>(&r, 0))
    .transpose()?
    .map_or(0, i64::from);
    let steps = if claim.counts { steps + 1 } else { steps };
    if steps > i64::from(claim.max) {
        return Ok(ClaimOutcome::Exhausted);
    }
    let steps_sql = i32::try_from(steps)
        .map_err(|_| StoreError::Corrupt(format!("{steps} enrollment steps")))?;
    execute(
        c,
        "INSERT INTO card_enrollments (card_number, order_ref, until) \
         VALUES ($1, $2, $3) ON CONFLICT (card_number) DO UPDATE SET \
         order_ref = excluded.order_ref, until = excluded.until",
        &[
            &claim.card_number,
            &claim.order_ref,
            &rows::truncate(claim.until),
        ],
    )
    .await?;
    execute(
        c,
        "INSERT INTO enrollment_steps (order_ref, steps) VALUES ($1, $2) \
         ON CONFLICT (order_ref) DO UPDATE SET steps = excluded.steps",
        &[&claim.order_ref, &steps_sql],
    )
    .await?;
    store.append(c, &claim.audit).await?;
    Ok(ClaimOutcome::Granted(
        u32::try_from(steps).unwrap_or(u32::MAX),
    ))
}

async fn deliver<C: GenericClient>(
    store: &PostgresStore,
    c: &C,
    d: &Delivery,
) -> Result<bool, Failure> {
    let added = execute(
        c,
        "INSERT INTO certificate_deliveries (serial, card_number, order_ref, delivered_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (serial) DO NOTHING",
        &[
            &d.serial.as_bytes(),
            &d.card_number,
            &d.order_ref,
            &rows::truncate(d.at),
        ],
    )
    .await?;
    // The card's work for this order is done: another fetch may have the card.
    execute(
        c,
        "DELETE FROM card_enrollments WHERE card_number = $1 AND order_ref = $2",
        &[&d.card_number, &d.order_ref],
    )
    .await?;
    if added == 0 {
        return Ok(false);
    }
    store.append(c, &d.audit).await?;
    supersede_signing(store, c, d).await?;
    Ok(true)
}

#[async_trait]
impl EnrollStore for PostgresStore {
    async fn start_enrollment(&self, start_: &NewEnrollment) -> StoreResult<Vec<String>> {
        let o = &start_.order;
        let card = match (&o.card_number, o.kind.as_str(), o.state) {
            (Some(card), ENROLL_SIGN, OrderState::Pending) => card,
            _ => {
                return Err(StoreError::Refused(
                    "only a pending enrollSign order for a card starts an enrollment".into(),
                ));
            }
        };
        super::transaction!(self, |tx| start(self, &tx, start_, card).await?)
    }

    async fn claim_card(&self, card_claim: &CardClaim) -> StoreResult<ClaimOutcome> {
        super::transaction!(self, |tx| claim(self, &tx, card_claim).await?)
    }

    async fn confirm_delivery(&self, delivery: &Delivery) -> StoreResult<bool> {
        super::transaction!(self, |tx| deliver(self, &tx, delivery).await?)
    }

    async fn delivered_at(&self, serial: &Serial) -> StoreResult<Option<OffsetDateTime>> {
        super::read!(self, |c| {
            query_opt(
                c,
                "SELECT delivered_at FROM certificate_deliveries WHERE serial = $1",
                &[&serial.as_bytes()],
            )
            .await?
            .map(|r| rows::get(&r, 0))
            .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    crate::enroll_conformance_tests!(super::super::tests::PostgresHarness::default());
}
