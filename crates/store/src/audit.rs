//! The audit log's hash chains: how an entry's hash is computed, signed chain heads, and the
//! check that finds a changed, inserted or removed entry.
//!
//! The log is one or more chains (SQLite: one, [`MAIN_CHAIN`]; PostgreSQL: one per node and
//! lane). In a chain, each entry's hash is SHA-256 over a domain tag, the sequence number,
//! the previous entry's hash and the event's fields, each length-prefixed so no two
//! different events encode alike. The store keeps each chain's head (last sequence number
//! and hash) beside the entries and updates it in the same transaction, so removing the
//! newest entries is found too, and writers of one chain take its head in turn, so a chain
//! never forks.
//!
//! Whoever administers the database could still rewrite entries *and* heads consistently.
//! That is what signed heads are for: server nodes periodically sign every chain's head
//! with the installation's audit key ([`AuditKey`], derived from the key-encryption key,
//! which lives in the nodes' data folders, not in the database) and record the signature;
//! [`verify`] checks that every signed head is still in its chain. History up to the newest
//! signed head cannot be rewritten unseen without the key; removing signed heads themselves
//! is visible against the nodes' logs, where each signing is logged.

use std::collections::HashMap;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use aws_lc_rs::{digest, hkdf};
use time::OffsetDateTime;

use crate::model::{AuditEntry, AuditEvent};
use crate::{Store, StoreError};

/// Domain separation for the chain's hashes; bump the version when the encoding changes.
const DOMAIN: &[u8] = b"eid-audit-v1\0";
/// Domain separation for signed heads.
const SIGNED_DOMAIN: &[u8] = b"eid-audit-head-v1\0";
/// The one chain of a store that has one (SQLite).
pub const MAIN_CHAIN: &str = "main";

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

/// A chain's newest entry, kept by the store beside the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The chain.
    pub chain: String,
    /// Sequence number of the newest entry.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// A chain head signed with the installation's audit key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuditHead {
    /// The head signed.
    pub head: AuditHead,
    /// When it was signed (kept to the microsecond).
    pub signed_at: OffsetDateTime,
    /// Ed25519 over the head and the time (`signed_message`).
    pub signature: Vec<u8>,
}

/// The bytes an [`AuditKey`] signs for `head` at `signed_at`.
fn signed_message(head: &AuditHead, signed_at: OffsetDateTime) -> Vec<u8> {
    let mut message = SIGNED_DOMAIN.to_vec();
    message.extend_from_slice(&(head.chain.len() as u64).to_be_bytes());
    message.extend_from_slice(head.chain.as_bytes());
    message.extend_from_slice(&head.seq.to_be_bytes());
    message.extend_from_slice(&head.hash);
    message.extend_from_slice(&(signed_at.unix_timestamp_nanos() / 1000).to_be_bytes());
    message
}

/// The installation's audit key: Ed25519, derived from the key-encryption key (HKDF-SHA256),
/// so every node has it and the database does not.
pub struct AuditKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public", &hex::encode(self.public_key()))
            .finish()
    }
}

impl AuditKey {
    /// The audit key of the installation whose key-encryption key is `kek`.
    pub fn derive(kek: &[u8; 32]) -> Result<Self, StoreError> {
        let failed = || StoreError::Backend("the audit key cannot be derived".into());
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"eid-audit-key").extract(kek);
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        prk.expand(&[b"ed25519 seed v1"], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(seed.as_mut()))
            .map_err(|_| failed())?;
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).map_err(|_| failed())?;
        Ok(Self { pair })
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// `head`, signed now.
    pub fn sign(&self, head: &AuditHead, now: OffsetDateTime) -> SignedAuditHead {
        let signed_at = truncate(now);
        SignedAuditHead {
            head: head.clone(),
            signed_at,
            signature: self
                .pair
                .sign(&signed_message(head, signed_at))
                .as_ref()
                .to_vec(),
        }
    }

    /// Whether `signed` was signed with this key.
    pub fn verifies(&self, signed: &SignedAuditHead) -> bool {
        UnparsedPublicKey::new(&ED25519, self.public_key())
            .verify(
                &signed_message(&signed.head, signed.signed_at),
                &signed.signature,
            )
            .is_ok()
    }
}

/// Times are kept to the microsecond.
fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    let micros = at.unix_timestamp_nanos() / 1000;
    OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).unwrap_or(at)
}

/// What a check found of one chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    /// The chain.
    pub chain: String,
    /// Entries checked (the head's sequence number).
    pub entries: u64,
    /// Hash of the newest entry, hex.
    #[serde(with = "hex::serde")]
    pub head: [u8; 32],
    /// The newest signed head checked: its sequence number and when it was signed.
    #[serde(with = "signed_serde")]
    pub signed: Option<(u64, OffsetDateTime)>,
}

mod signed_serde {
    use serde::Serializer;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<(u64, OffsetDateTime)>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some((seq, at)) => s.serialize_some(&serde_json::json!({
                "seq": seq,
                "at": at.format(&Rfc3339).unwrap_or_default(),
            })),
        }
    }
}

/// What a successful check saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditReport {
    /// Entries checked, in all chains.
    pub entries: u64,
    /// Each chain, by name.
    pub chains: Vec<ChainReport>,
    /// Signed heads checked (0 when no key was given).
    pub signed_heads: u64,
}

/// How a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Sequence numbers skip or repeat: an entry was removed or inserted.
    #[error(
        "audit log, chain {chain}: entry {found} follows entry {previous}: an entry was removed or inserted"
    )]
    Gap {
        /// The chain.
        chain: String,
        /// The sequence number before.
        previous: u64,
        /// The one found after it.
        found: u64,
    },
    /// An entry's content does not match its hash: it was changed.
    #[error(
        "audit log, chain {chain}: entry {seq} was changed (its hash does not match its content)"
    )]
    Changed {
        /// The chain.
        chain: String,
        /// The entry.
        seq: u64,
    },
    /// An entry does not link to the hash of the one before: an entry was replaced or inserted.
    #[error("audit log, chain {chain}: entry {seq} does not link to entry {prev}", prev = seq - 1)]
    Unlinked {
        /// The chain.
        chain: String,
        /// The entry.
        seq: u64,
    },
    /// The chain ends before or after the recorded head: entries were removed or appended
    /// behind the store's back.
    #[error(
        "audit log, chain {chain}: the chain ends at entry {last} but the recorded head is entry {head}"
    )]
    HeadMismatch {
        /// The chain.
        chain: String,
        /// Last entry found.
        last: u64,
        /// Head recorded.
        head: u64,
    },
    /// A signed head's signature does not verify with the audit key: forged.
    #[error(
        "audit log, chain {chain}: the signed head at entry {seq} is not signed with this installation's audit key"
    )]
    BadSignature {
        /// The chain.
        chain: String,
        /// The signed head's entry.
        seq: u64,
    },
    /// A signed head is no longer in its chain: history up to it was rewritten.
    #[error(
        "audit log, chain {chain}: entry {seq} is not the entry whose head was signed: history was rewritten"
    )]
    SignedHeadMismatch {
        /// The chain.
        chain: String,
        /// The signed head's entry.
        seq: u64,
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

/// Checks one entry against its predecessor's hash and sequence number in its chain.
pub fn check_link(prev: (u64, [u8; 32]), entry: &AuditEntry) -> Result<(), AuditError> {
    let (prev_seq, prev_hash) = prev;
    let chain = || entry.chain.clone();
    if entry.seq != prev_seq + 1 {
        return Err(AuditError::Gap {
            chain: chain(),
            previous: prev_seq,
            found: entry.seq,
        });
    }
    if entry.prev_hash != prev_hash {
        return Err(AuditError::Unlinked {
            chain: chain(),
            seq: entry.seq,
        });
    }
    if entry_hash(entry.seq, &entry.prev_hash, &entry.event) != entry.hash {
        return Err(AuditError::Changed {
            chain: chain(),
            seq: entry.seq,
        });
    }
    Ok(())
}

/// Walks every chain in pages, checks every link and each chain's head, and, given the
/// installation's audit `key`, every signed head: its signature and that its entry is still
/// in the chain with the signed hash.
///
/// A chain is walked before its head is read: entries of one chain become visible in order
/// with their head, so a head behind the last entry seen means entries were appended behind
/// the store's back, and a head ahead of it means more were written meanwhile (walked
/// next, a few rounds) or entries were removed.
pub async fn verify(store: &dyn Store, key: Option<&AuditKey>) -> Result<AuditReport, AuditError> {
    /// Rounds of catching up with writers before a head still ahead counts as a removal.
    const ROUNDS: usize = 5;
    let mut signed: HashMap<(String, u64), SignedAuditHead> = HashMap::new();
    if let Some(key) = key {
        for s in store.signed_audit_heads().await? {
            if !key.verifies(&s) {
                return Err(AuditError::BadSignature {
                    chain: s.head.chain,
                    seq: s.head.seq,
                });
            }
            signed.insert((s.head.chain.clone(), s.head.seq), s);
        }
    }
    let signed_heads = signed.len() as u64;
    let chains: Vec<String> = store
        .audit_heads()
        .await?
        .into_iter()
        .map(|h| h.chain)
        .collect();
    let mut reports = Vec::new();
    let mut entries = 0;
    for chain in chains {
        let mut walk = ChainWalk {
            chain: &chain,
            last: (0, [0; 32]),
            newest_signed: None,
        };
        let mut rounds = 0;
        let head = loop {
            walk.walk(store, &mut signed).await?;
            let head = store
                .audit_heads()
                .await?
                .into_iter()
                .find(|h| h.chain == chain);
            let (head_seq, head_hash) = head.map_or((0, [0; 32]), |h| (h.seq, h.hash));
            let (seq, hash) = walk.last;
            if head_seq == seq && head_hash == hash {
                break (seq, hash);
            }
            rounds += 1;
            if head_seq < seq || rounds == ROUNDS {
                return Err(AuditError::HeadMismatch {
                    chain,
                    last: seq,
                    head: head_seq,
                });
            }
        };
        entries += head.0;
        reports.push(ChainReport {
            chain: chain.clone(),
            entries: head.0,
            head: head.1,
            signed: walk.newest_signed,
        });
    }
    // A signed head whose entry was never met: its chain was cut short or removed.
    if let Some(((chain, seq), _)) = signed.into_iter().min_by(|a, b| a.0.cmp(&b.0)) {
        return Err(AuditError::SignedHeadMismatch { chain, seq });
    }
    Ok(AuditReport {
        entries,
        chains: reports,
        signed_heads,
    })
}

/// The walk of one chain so far.
struct ChainWalk<'a> {
    chain: &'a str,
    /// The last entry checked: sequence number and hash.
    last: (u64, [u8; 32]),
    /// The newest signed head met: its sequence number and when it was signed.
    newest_signed: Option<(u64, OffsetDateTime)>,
}

impl ChainWalk<'_> {
    /// Checks the chain's entries after the last one checked, in pages, and the signed heads
    /// among them (taken out of `signed`).
    async fn walk(
        &mut self,
        store: &dyn Store,
        signed: &mut HashMap<(String, u64), SignedAuditHead>,
    ) -> Result<(), AuditError> {
        const PAGE: u32 = 1000;
        loop {
            let page = store.audit_chain(self.chain, self.last.0, PAGE).await?;
            for entry in &page {
                check_link(self.last, entry)?;
                self.last = (entry.seq, entry.hash);
                if let Some(s) = signed.remove(&(entry.chain.clone(), entry.seq)) {
                    if s.head.hash != entry.hash {
                        return Err(AuditError::SignedHeadMismatch {
                            chain: entry.chain.clone(),
                            seq: entry.seq,
                        });
                    }
                    self.newest_signed = Some((entry.seq, s.signed_at));
                }
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }
}

/// Signs every chain head that has no signature at its current entry yet, records the
/// signatures, and returns them. Any node may do it for every chain; two nodes signing the
/// same head at once record one signature.
pub async fn sign_heads(
    store: &dyn Store,
    key: &AuditKey,
    now: OffsetDateTime,
) -> Result<Vec<SignedAuditHead>, StoreError> {
    let signed: std::collections::HashSet<(String, u64)> = store
        .signed_audit_heads()
        .await?
        .into_iter()
        .map(|s| (s.head.chain, s.head.seq))
        .collect();
    let mut made = Vec::new();
    for head in store.audit_heads().await? {
        if signed.contains(&(head.chain.clone(), head.seq)) {
            continue;
        }
        let s = key.sign(&head, now);
        store.add_signed_audit_head(&s).await?;
        made.push(s);
    }
    Ok(made)
}
