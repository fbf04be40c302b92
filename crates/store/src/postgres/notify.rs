//! The feed of changed orders across nodes: every transaction that changes an order runs
//! `pg_notify('eid_orders', <order_ref>)`, which PostgreSQL delivers at commit to every
//! connection that listens; each store handle keeps one such connection (outside the pool)
//! and passes the references on to its subscribers
//! ([`OrderStore::order_changes`](crate::OrderStore::order_changes)).
//!
//! A lost connection is made again after a pause; on every (re)connect subscribers hear the
//! empty reference, "any order may have changed", since notifications sent meanwhile are
//! lost. The task ends when the store handle is dropped.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel.
pub(crate) const CHANNEL: &str = "eid_orders";
/// How often an idle listener checks its connection (and whether its store is gone).
const IDLE_CHECK: Duration = Duration::from_secs(20);
/// The pause before connecting again.
const RECONNECT: Duration = Duration::from_secs(1);

/// Listens on [`CHANNEL`] for as long as `changes` (the store's sender) lives.
pub(crate) fn spawn(config: tokio_postgres::Config, changes: Weak<broadcast::Sender<String>>) {
    tokio::spawn(async move {
        loop {
            if changes.strong_count() == 0 {
                return;
            }
            if let Err(e) = listen(&config, &changes).await {
                tracing::warn!(error = %e, "the order feed's connection was lost; connecting again");
            }
            if changes.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(RECONNECT).await;
        }
    });
}

/// One connection's life: LISTEN, then pass notifications on until it fails or the store
/// is gone.
async fn listen(
    config: &tokio_postgres::Config,
    changes: &Weak<broadcast::Sender<String>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (forward, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    // The connection is driven here; its notifications go to the loop below.
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if forward.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        announce(changes, "");
        loop {
            tokio::select! {
                payload = received.recv() => match payload {
                    Some(order_ref) => {
                        if !announce(changes, &order_ref) {
                            return Ok(());
                        }
                    }
                    // The connection ended.
                    None => return client.simple_query("").await.map(drop),
                },
                () = tokio::time::sleep(IDLE_CHECK) => {
                    if changes.strong_count() == 0 {
                        return Ok(());
                    }
                    client.simple_query("").await?;
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

/// Passes `order_ref` on; `false` once the store is gone.
fn announce(changes: &Weak<broadcast::Sender<String>>, order_ref: &str) -> bool {
    match changes.upgrade() {
        Some(sender) => {
            let _ = sender.send(order_ref.to_owned());
            true
        }
        None => false,
    }
}
