//! The audit log's hash chain: how an entry's hash is computed, and the check that finds a
//! changed, inserted or removed entry.
//!
//! Each entry's hash is SHA-256 over a domain tag, the sequence number, the previous entry's
//! hash and the event's fields, each length-prefixed so no two different events encode alike.
//! The store keeps the head (last sequence number and hash) beside the entries and updates it
//! in the same transaction, so removing the newest entries is found too. A database
//! administrator who rewrites entries *and* head is caught only by signed heads kept
//! elsewhere (planned with the PostgreSQL issue).

use aws_lc_rs::digest;

use crate::model::{AuditEntry, AuditEvent};
use crate::{Store, StoreError};

/// Domain separation for the chain's hashes; bump the version when the encoding changes.
const DOMAIN: &[u8] = b"eid-audit-v1\0";

/// The hash of entry `seq` with event `event` following an entry whose hash is `prev_hash`.
pub fn entry_hash(seq: u64, prev_hash: &[u8; 32], event: &AuditEvent) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(&seq.to_be_bytes());
    ctx.update(prev_hash);
    // Microseconds: the precision every store keeps.
    ctx.update(&(event.at.unix_timestamp_nanos() / 1000).to_be_bytes());
    let details = event.details.to_string();
    for field in [
        event.actor.as_bytes(),
        event.action.as_bytes(),
        event.subject.as_bytes(),
        details.as_bytes(),
    ] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The newest entry's position and hash, kept by the store beside the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// Sequence number of the newest entry.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// What a successful check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// Hash of the newest entry, hex.
    #[serde(with = "hex::serde")]
    pub head: [u8; 32],
}

/// How the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Sequence numbers skip or repeat: an entry was removed or inserted.
    #[error("audit log: entry {found} follows entry {previous}: an entry was removed or inserted")]
    Gap {
        /// The sequence number before.
        previous: u64,
        /// The one found after it.
        found: u64,
    },
    /// An entry's content does not match its hash: it was changed.
    #[error("audit log: entry {seq} was changed (its hash does not match its content)")]
    Changed {
        /// The entry.
        seq: u64,
    },
    /// An entry does not link to the hash of the one before: an entry was replaced or inserted.
    #[error("audit log: entry {seq} does not link to entry {prev}", prev = seq - 1)]
    Unlinked {
        /// The entry.
        seq: u64,
    },
    /// The chain ends before or after the recorded head: entries were removed or appended
    /// behind the store's back.
    #[error("audit log: the chain ends at entry {last} but the recorded head is entry {head}")]
    HeadMismatch {
        /// Last entry found.
        last: u64,
        /// Head recorded.
        head: u64,
    },
    /// The store could not be read.
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// Checks one entry against its predecessor's hash and sequence number.
pub fn check_link(prev: (u64, [u8; 32]), entry: &AuditEntry) -> Result<(), AuditError> {
    let (prev_seq, prev_hash) = prev;
    if entry.seq != prev_seq + 1 {
        return Err(AuditError::Gap {
            previous: prev_seq,
            found: entry.seq,
        });
    }
    if entry.prev_hash != prev_hash {
        return Err(AuditError::Unlinked { seq: entry.seq });
    }
    if entry_hash(entry.seq, &entry.prev_hash, &entry.event) != entry.hash {
        return Err(AuditError::Changed { seq: entry.seq });
    }
    Ok(())
}

/// Walks the whole chain in pages and checks every link and the head.
pub async fn verify(store: &dyn Store) -> Result<AuditReport, AuditError> {
    const PAGE: u32 = 1000;
    let mut prev = (0u64, [0u8; 32]);
    loop {
        let page = store.audit_entries(prev.0, PAGE).await?;
        for entry in &page {
            check_link(prev, entry)?;
            prev = (entry.seq, entry.hash);
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    let head = store.audit_head().await?;
    let (head_seq, head_hash) = head.map(|h| (h.seq, h.hash)).unwrap_or((0, [0; 32]));
    if head_seq != prev.0 || head_hash != prev.1 {
        return Err(AuditError::HeadMismatch {
            last: prev.0,
            head: head_seq,
        });
    }
    Ok(AuditReport {
        entries: prev.0,
        head: prev.1,
    })
}
