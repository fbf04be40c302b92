//! What a signing-certificate fetch (`enrollSign` order) keeps beyond the order and the
//! certificate: which order holds a card's enrollment (one at a time per card), how many
//! management-key responses it has had, and which issued certificates the card holder's app
//! has confirmed written to the card. `docs/protocol.md`, "Fetching a signing certificate".
//!
//! A newer fetch for a card supersedes an older one that a closed app left behind, so that
//! trying again never waits for the older order's expiry: [`EnrollStore::start_enrollment`]
//! ends the card's older *unsigned* orders as it adds the new one, and a completion that
//! approves the key of a *signed* holder (its certificate issued, not yet confirmed on the
//! card) takes the card over from it ([`CardClaim::resume`]). Both happen in the same
//! transaction as the check, so of two racing steps one wins and the other is refused.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreResult;
use crate::model::{AuditEvent, Serial};
use crate::orders::OrderRecord;

/// How an older `enrollSign` order ends when a newer one supersedes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supersede {
    /// The hint the superseded order fails with (`cancelled`, as when its page cancels it).
    pub hint: String,
    /// Until when the superseded order stays collectable.
    pub purge_after: OffsetDateTime,
    /// `order.fail`, appended once per superseded order with `subject` set to that order's
    /// reference (the rest as given: actor, time, details naming the newer order).
    pub audit: AuditEvent,
}

/// A new `enrollSign` order, added by [`EnrollStore::start_enrollment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnrollment {
    /// The order (kind `enrollSign`, with its card; `created_at` is now).
    pub order: OrderRecord,
    /// `order.start`, appended with the order.
    pub audit: AuditEvent,
    /// How the card's older unsigned orders end.
    pub supersede: Supersede,
}

/// A completion's claim that may take the card over from a signed holder: the resume path
/// of a certificate issued but not yet on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// SHA-256 of the public key the completion approves.
    pub key_sha256: [u8; 32],
    /// How the holder ends if it is signed for this same key.
    pub supersede: Supersede,
}

/// An order's step on a card that needs the card to itself: a relayed management-key
/// response, or the completion that issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardClaim {
    /// The card.
    pub card_number: String,
    /// The `enrollSign` order asking; it must be pending and unexpired at `now`.
    pub order_ref: String,
    /// Whether this step counts against the order's budget (a management response does).
    pub counts: bool,
    /// The most counted steps an order may take.
    pub max: u32,
    /// When the claim lapses if the order does not end first (the order's expiry).
    pub until: OffsetDateTime,
    /// Now.
    pub now: OffsetDateTime,
    /// For a completion: the approved key, with which it takes the card over from a holder
    /// signed for the same key (that holder fails). `None` for a management response: it may
    /// change the card, so it never takes the card from another order.
    pub resume: Option<Resume>,
    /// Appended with the claim when it is granted (never secret: no challenge, no
    /// response).
    pub audit: AuditEvent,
}

/// How a [`CardClaim`] was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Granted; the order's counted steps so far (this one included).
    Granted(u32),
    /// Another pending, unexpired `enrollSign` order holds the card.
    Busy {
        /// That order.
        order_ref: String,
    },
    /// The order has taken its `max` counted steps.
    Exhausted,
    /// The claiming order is not pending (it failed, was superseded or completed) or has
    /// expired: nothing changed.
    Ended,
}

/// A certificate the app wrote to the card and read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The certificate.
    pub serial: Serial,
    /// The card it was written to.
    pub card_number: String,
    /// The order that delivered it.
    pub order_ref: String,
    /// When the app confirmed.
    pub at: OffsetDateTime,
    /// `certificate.deliver`, appended when the delivery is new.
    pub audit: AuditEvent,
    /// `certificate.revoke`, appended once per certificate the delivery supersedes (see
    /// [`EnrollStore::confirm_delivery`]) with `subject` set to its serial (the rest as
    /// given).
    pub superseded_audit: AuditEvent,
}

/// The store side of fetching signing certificates.
#[async_trait]
pub trait EnrollStore: Send + Sync {
    /// Adds a new `enrollSign` order (as [`OrderStore::add_order`](crate::OrderStore::add_order),
    /// same errors) and, in the same transaction, supersedes every other pending, unsigned,
    /// unexpired `enrollSign` order for its card: each fails with `supersede.hint`, loses
    /// its claim on the card and gets its `order.fail` entry. A signed order (its
    /// certificate issued) is left alone. Returns the superseded orders' references.
    /// [`StoreError::Refused`](crate::StoreError::Refused) for an order that is not an
    /// `enrollSign` order with a card.
    async fn start_enrollment(&self, start: &NewEnrollment) -> StoreResult<Vec<String>>;

    /// Decides a [`CardClaim`] in one transaction: [`ClaimOutcome::Ended`] unless the
    /// claiming order is pending and unexpired; [`ClaimOutcome::Busy`] while another
    /// pending, unexpired order holds the card, unless the claim resumes the holder's
    /// approved key (the holder is signed for it: it then fails as
    /// [`Resume::supersede`] says); then granted if the order's budget allows (the order
    /// holds the card until `until`). The claim's audit event is appended only when
    /// granted.
    async fn claim_card(&self, claim: &CardClaim) -> StoreResult<ClaimOutcome>;

    /// Records that a certificate is on its card, and releases the card's claim by the
    /// delivering order (the card's part is done); `false` if the delivery was recorded
    /// before. The caller checks that the certificate is the order's.
    ///
    /// A new delivery also revokes, in the same transaction, every other signing
    /// certificate of the card that is neither revoked nor expired at `at`, as
    /// `superseded` at `at` (each with its [`Delivery::superseded_audit`] entry): a renewal
    /// revokes the old certificate only once the new one is on the card, and a card holds
    /// exactly one valid signing certificate afterwards.
    async fn confirm_delivery(&self, delivery: &Delivery) -> StoreResult<bool>;

    /// When the certificate was confirmed on its card; `None` while it is issued but not
    /// (yet) confirmed: a fetch to resume.
    async fn delivered_at(&self, serial: &Serial) -> StoreResult<Option<OffsetDateTime>>;
}
