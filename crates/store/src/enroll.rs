//! What a signing-certificate fetch (`enrollSign` order) keeps beyond the order and the
//! certificate: which order holds a card's enrollment (one at a time per card), how many
//! management-key responses it has had, and which issued certificates the card holder's app
//! has confirmed written to the card. `docs/protocol.md`, "Fetching a signing certificate".

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreResult;
use crate::model::{AuditEvent, Serial};

/// An order's step on a card that needs the card to itself: a relayed management-key
/// response, or the completion that issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardClaim {
    /// The card.
    pub card_number: String,
    /// The `enrollSign` order asking.
    pub order_ref: String,
    /// Whether this step counts against the order's budget (a management response does).
    pub counts: bool,
    /// The most counted steps an order may take.
    pub max: u32,
    /// When the claim lapses if the order does not end first (the order's expiry).
    pub until: OffsetDateTime,
    /// Now.
    pub now: OffsetDateTime,
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
}

/// The store side of fetching signing certificates.
#[async_trait]
pub trait EnrollStore: Send + Sync {
    /// Decides a [`CardClaim`] in one transaction: granted when no other pending,
    /// unexpired order holds the card (the order then holds it until `until`) and the
    /// order's budget allows; the audit event is appended only when granted.
    async fn claim_card(&self, claim: &CardClaim) -> StoreResult<ClaimOutcome>;

    /// Records that a certificate is on its card, and releases the card's claim by the
    /// delivering order (the card's part is done); `false` if the delivery was recorded
    /// before. The caller checks that the certificate is the order's.
    async fn confirm_delivery(&self, delivery: &Delivery) -> StoreResult<bool>;

    /// When the certificate was confirmed on its card; `None` while it is issued but not
    /// (yet) confirmed: a fetch to resume.
    async fn delivered_at(&self, serial: &Serial) -> StoreResult<Option<OffsetDateTime>>;
}
