//! Orders and the browser sessions that start them: the records of the order protocol
//! (`docs/protocol.md`) and the [`OrderStore`] trait.
//!
//! The store keeps what the order engine needs to answer any step on any server node. It
//! never keeps a raw token: the autostart token, the app's session token, the browser
//! session id and the one-time return secret are kept as SHA-256 hashes, so a database dump
//! lets nobody fetch, complete or collect an order. (The QR start secret is kept as is: the
//! server needs it to compute the animated QR codes.) Kinds and hint codes are kept as
//! their wire names; the store does not interpret them.
//!
//! Every state change is one conditional update in one transaction, so under concurrency
//! exactly one caller wins: one fetch per autostart token, one signature per order, one use
//! of a return secret. A change that does not apply returns `false` / `None` /
//! [`ReturnOutcome::Refused`] and changes nothing. Start, signature, completion and failure
//! append their audit event in the same transaction.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreResult;
use crate::model::{AuditEvent, Serial};

/// Where an order is, as stored. The wire status of an order also depends on the time (a
/// pending order past its expiry is failed with `expiredTransaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderState {
    /// Going on (possibly signed, waiting for the browser to return).
    Pending,
    /// Signed, and the browser session that started it came back with the return secret.
    Complete,
    /// Ended without success; the hint says why.
    Failed,
}

/// An order as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order's reference (random, unguessable). The key.
    pub order_ref: String,
    /// What is asked: the wire name of the kind (`auth`, `enrollSign`, …).
    pub kind: String,
    /// Pending, complete or failed.
    pub state: OrderState,
    /// The current hint code's wire name (`outstandingTransaction`, `userSign`, …).
    pub hint: String,
    /// SHA-256 of the one-time autostart token; unique.
    pub autostart_token_sha256: [u8; 32],
    /// Whether the app has fetched the order with its autostart token.
    pub autostart_used: bool,
    /// SHA-256 of the app's session token, set when the app fetches the order; unique.
    pub app_token_sha256: Option<[u8; 32]>,
    /// Public part of the animated QR code; unique.
    pub qr_start_token: String,
    /// Key of the animated QR code's HMAC. Never leaves the server.
    pub qr_start_secret: String,
    /// The server's nonce for this order (signed by the card).
    pub server_nonce: String,
    /// SHA-256 of the id of the browser session that started the order.
    pub browser_session_sha256: [u8; 32],
    /// The requesting client's id.
    pub requester_id: String,
    /// The requesting client's display name (shown in the app).
    pub requester_name: String,
    /// Where the app sends the browser after signing (the return secret is appended).
    pub return_url: String,
    /// The text shown to the card holder (signed).
    pub text: String,
    /// For an enrollment: the card the order is for.
    pub card_number: Option<String>,
    /// When the order was started.
    pub created_at: OffsetDateTime,
    /// When it expires unless complete.
    pub expires_at: OffsetDateTime,
    /// When the store forgets it ([`OrderStore::purge_expired_orders`]).
    pub purge_after: OffsetDateTime,
    /// The card holder's signature, once the app completed the order.
    pub signature: Option<OrderSignature>,
    /// SHA-256 of the one-time return secret; set with the signature, cleared when used.
    pub return_secret_sha256: Option<[u8; 32]>,
    /// Whether the browser session that started the order came back with the secret.
    pub returned: bool,
}

/// What the app's completion established, after the engine verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSignature {
    /// When the card holder signed.
    pub signed_at: OffsetDateTime,
    /// The card holder (from the certificate's record).
    pub hsa_id: String,
    /// The card that signed.
    pub card_number: String,
    /// The authentication certificate that verified the signature.
    pub certificate_serial: Serial,
    /// The signature (DER ECDSA over SHA-256 of the to-be-signed bytes).
    pub signature: Vec<u8>,
    /// For an enrollment: SHA-256 of the new key's SubjectPublicKeyInfo that was approved.
    pub approved_key_sha256: Option<[u8; 32]>,
}

/// A change to record a verified signature ([`OrderStore::sign_order`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOrder {
    /// The order.
    pub order_ref: String,
    /// The app's session token hash: the order must have been fetched with it.
    pub app_token_sha256: [u8; 32],
    /// What was verified.
    pub signature: OrderSignature,
    /// SHA-256 of the one-time return secret handed to the app.
    pub return_secret_sha256: [u8; 32],
    /// The order is refused unless pending and unexpired at this time.
    pub now: OffsetDateTime,
    /// The audit event of the signature.
    pub audit: AuditEvent,
    /// If the card is `NotActivated`, it becomes `Active` with this audit event (a correct
    /// PIN1 signature proves the holder activated it).
    pub activation: Option<AuditEvent>,
}

/// A browser coming back to the return URL ([`OrderStore::return_to_order`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnToOrder {
    /// The order.
    pub order_ref: String,
    /// SHA-256 of the return secret presented.
    pub return_secret_sha256: [u8; 32],
    /// SHA-256 of the id of the browser session that came back.
    pub browser_session_sha256: [u8; 32],
    /// The time of the return: the order must not be expired.
    pub now: OffsetDateTime,
    /// When a completed order is forgotten.
    pub complete_purge_after: OffsetDateTime,
    /// When a failed order is forgotten.
    pub failed_purge_after: OffsetDateTime,
    /// The audit event when the order completes.
    pub on_complete: AuditEvent,
    /// The audit event when the secret is right but the session is not (a relayed order):
    /// the order fails with hint [`RELAYED_HINT`].
    pub on_relay: AuditEvent,
}

/// The hint an order fails with when its return secret comes back in another browser
/// session than the one that started it.
pub const RELAYED_HINT: &str = "startFailed";

/// What became of a browser's return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnOutcome {
    /// The secret and the session were right: the order is complete (the record after).
    Completed(Box<OrderRecord>),
    /// The secret was right but the browser session was not the one that started the
    /// order: the secret is spent and the order failed with [`RELAYED_HINT`].
    Relayed,
    /// No signed, pending, unexpired order with this reference and unused secret: nothing
    /// changed.
    Refused,
}

/// A browser session of the order flow: a random id in a cookie, kept as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// SHA-256 of the session id. The key.
    pub id_sha256: [u8; 32],
    /// When the session was opened.
    pub created_at: OffsetDateTime,
    /// When it ends.
    pub expires_at: OffsetDateTime,
}

/// What [`OrderStore::purge_expired_orders`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Orders forgotten.
    pub orders: u64,
    /// Browser sessions forgotten.
    pub browser_sessions: u64,
}

/// Storage of orders and browser sessions. Implemented by
/// [`SqliteStore`](crate::SqliteStore); tested by `order_conformance_tests!`.
#[async_trait]
pub trait OrderStore: Send + Sync + std::fmt::Debug {
    /// A feed of the references of orders whose change was just committed, by any node
    /// that shares this store; an empty reference means "any order may have changed" (the
    /// feed was interrupted and some changes may have been missed). Waiting for an order
    /// (the order engine's long-polling collect) subscribes here instead of reading the
    /// store again and again. `None`: the store has no feed; waiters poll.
    fn order_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// Records a new order with its audit event. [`Conflict::OneTimeValue`] when its
    /// reference, autostart token or QR token is taken (never, with random values).
    ///
    /// [`Conflict::OneTimeValue`]: crate::Conflict::OneTimeValue
    async fn add_order(&self, order: &OrderRecord, audit: &AuditEvent) -> StoreResult<()>;

    /// The order with this reference.
    async fn order(&self, order_ref: &str) -> StoreResult<Option<OrderRecord>>;

    /// The order fetched with this app token.
    async fn order_by_app_token(
        &self,
        app_token_sha256: &[u8; 32],
    ) -> StoreResult<Option<OrderRecord>>;

    /// The app's fetch: the pending, unexpired order with this autostart token that was
    /// not fetched before gets the app token and hint `started`; returns it. `None`, with
    /// nothing changed, for an unknown, used or expired token. Exactly one of concurrent
    /// callers gets the order.
    async fn claim_order(
        &self,
        autostart_token_sha256: &[u8; 32],
        app_token_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<OrderRecord>>;

    /// Sets the hint of a pending, unsigned, unexpired order; `false` (nothing changed)
    /// otherwise.
    async fn set_order_hint(
        &self,
        order_ref: &str,
        hint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Fails a pending order with `hint`, to be forgotten after `purge_after`, with its
    /// audit event; `false` (nothing changed) if it is not pending.
    async fn fail_order(
        &self,
        order_ref: &str,
        hint: &str,
        purge_after: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Records the card holder's verified signature on a pending, unsigned, unexpired order
    /// fetched with this app token, and the return secret's hash; hint `userSign` stays.
    /// `false` (nothing changed) if the order is not in that state. Inside the same
    /// transaction the certificate must still be valid, the card not revoked or dead and
    /// the person active, else [`StoreError::Refused`](crate::StoreError::Refused) and
    /// nothing changed. Exactly one of concurrent callers succeeds.
    async fn sign_order(&self, sign: &SignOrder) -> StoreResult<bool>;

    /// The browser's return with the one-time secret: see [`ReturnOutcome`]. Exactly one of
    /// concurrent returns with the right secret gets anything but `Refused`.
    async fn return_to_order(&self, ret: &ReturnToOrder) -> StoreResult<ReturnOutcome>;

    /// Opens a browser session. [`Conflict::OneTimeValue`](crate::Conflict::OneTimeValue)
    /// if the id is taken.
    async fn add_browser_session(&self, session: &BrowserSession) -> StoreResult<()>;

    /// The browser session with this id hash, if it exists and has not expired at `now`.
    async fn browser_session(
        &self,
        id_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<BrowserSession>>;

    /// Forgets orders whose `purge_after` and browser sessions whose `expires_at` is before
    /// `now`.
    async fn purge_expired_orders(&self, now: OffsetDateTime) -> StoreResult<Purged>;
}
