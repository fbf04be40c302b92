//! Long-polling `collect`: the waiting page says what it knows (status and hint) and the
//! server answers as soon as the order differs from that, or after a while, instead of the
//! page asking every second or two.
//!
//! The waiter subscribes to the store's feed of changed orders
//! ([`OrderStore::order_changes`]) *before* it reads the order, so a change committed
//! between the read and the wait still wakes it; it wakes on its order's reference and on
//! the empty one ("any order may have changed"), then reads the order again. A pending order
//! also changes without a write, when it expires: the wait ends at the expiry. A store
//! without a feed is read again every [`POLL_WITHOUT_FEED`].

use std::time::Duration;

use eid_clock::Clock;
use eid_protocol::{CollectResponse, HintCode, OrderStatus};
use eid_store::enroll::EnrollStore;
use eid_store::{OrderStore, Store};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::engine::status_of;
use crate::{OrderError, Orders};

/// How often a waiter reads the order again when the store has no feed of changes.
pub const POLL_WITHOUT_FEED: Duration = Duration::from_millis(500);

impl<S: Store + OrderStore + EnrollStore + 'static> Orders<S> {
    /// [`Self::collect_status`], answered once the order's status or hint differs from
    /// `known` (what the caller has), or after `wait` with the same answer.
    #[tracing::instrument(skip_all, fields(order = %order_ref))]
    pub async fn collect_status_changed(
        &self,
        order_ref: &str,
        browser_session: &str,
        known: &(OrderStatus, Option<HintCode>),
        wait: Duration,
        clock: &dyn Clock,
    ) -> Result<CollectResponse, OrderError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let changes = self.store.order_changes();
            let now = clock.now();
            let order = self.own_order(order_ref, browser_session, now).await?;
            let expires_in = order.expires_at - now;
            let answer = status_of(order, now);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if (&answer.status, &answer.hint_code) != (&known.0, &known.1) || left.is_zero() {
                return Ok(answer);
            }
            // A pending order changes at its expiry without a write.
            let until_expiry = Duration::try_from(expires_in).unwrap_or(Duration::ZERO)
                + Duration::from_millis(10);
            let nap = left.min(until_expiry);
            match changes {
                Some(feed) => wait_for(feed, order_ref, nap).await,
                None => tokio::time::sleep(nap.min(POLL_WITHOUT_FEED)).await,
            }
        }
    }
}

/// Returns when `order_ref` (or "any order") is announced on `feed`, or after `nap`.
async fn wait_for(mut feed: Receiver<String>, order_ref: &str, nap: Duration) {
    let _ = tokio::time::timeout(nap, async {
        loop {
            match feed.recv().await {
                Ok(changed) if changed == order_ref || changed.is_empty() => return,
                Ok(_) => {}
                // Behind: some change may have been ours.
                Err(RecvError::Lagged(_)) => return,
                // No more announcements: only the timeout ends the wait.
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    })
    .await;
}
