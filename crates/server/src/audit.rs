//! Signing the audit log's chain heads (`eid_store::audit`): every node signs every chain
//! head that moved since it was last signed, every [`Settings::audit_signing_period`]
//! (default 5 minutes), with the installation's audit key (derived from the key-encryption
//! key, which the database does not hold). `eid admin audit verify` then finds history up
//! to a signed head rewritten in the database. Each signing is logged, so the newest signed
//! heads are also in the nodes' logs, outside the database.
//!
//! [`Settings::audit_signing_period`]: crate::Settings::audit_signing_period

use std::sync::{Arc, Weak};
use std::time::Duration;

use eid_clock::Clock;
use eid_store::{AuditKey, Store};

use crate::ServerStore;

/// The signer of one node: the store and the installation's audit key.
#[derive(Debug)]
pub struct AuditSigner<S> {
    store: Arc<S>,
    key: AuditKey,
}

impl<S: ServerStore> AuditSigner<S> {
    /// A signer with the audit key of the installation whose key-encryption key is `kek`.
    pub fn new(store: Arc<S>, kek: &[u8; 32]) -> Result<Self, eid_store::StoreError> {
        Ok(Self {
            store,
            key: AuditKey::derive(kek)?,
        })
    }

    /// Signs the heads that moved; logs each signature.
    pub async fn sign(&self, clock: &dyn Clock) {
        let store: &dyn Store = &*self.store;
        match eid_store::audit::sign_heads(store, &self.key, clock.now()).await {
            Ok(signed) => {
                for s in signed {
                    tracing::info!(
                        chain = %s.head.chain,
                        seq = s.head.seq,
                        hash = %hex::encode(s.head.hash),
                        "audit chain head signed"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "the audit chain heads could not be signed"),
        }
    }
}

/// Runs [`AuditSigner::sign`] every `every` (the first time after `every`: start-up signs)
/// until the signer is dropped.
pub fn spawn_signing<S: ServerStore>(
    signer: &Arc<AuditSigner<S>>,
    clock: Arc<dyn Clock>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<AuditSigner<S>> = Arc::downgrade(signer);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(signer) = weak.upgrade() else {
                break;
            };
            signer.sign(&*clock).await;
        }
    })
}
