//! The order engine's errors. Each says what was refused; where a refusal also ends the
//! order, the variant says with which hint code.

use eid_pki::ValidationError;
use eid_protocol::ProtocolError;
use eid_store::StoreError;

/// Why an order step was refused. Nothing changed unless the variant says the order failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    /// The engine's configuration is not usable.
    #[error("the order configuration is not usable: {0}")]
    Config(String),
    /// A parameter is missing, malformed or not allowed here (BankID `invalidParameters`).
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// The browser session is unknown or has expired: open a new one.
    #[error("the browser session is unknown or has expired")]
    NoBrowserSession,
    /// No order has this reference (or it has been forgotten) (BankID `notFound`).
    #[error("no such order")]
    NotFound,
    /// The order was started by another browser session: only that one may collect,
    /// cancel or complete it.
    #[error("the order belongs to another browser session")]
    WrongBrowserSession,
    /// The autostart or app token is unknown, or (autostart) already used, or its order is
    /// no longer pending.
    #[error("the token is unknown or already used")]
    TokenRefused,
    /// The order has expired (collect reports `expiredTransaction`).
    #[error("the order has expired")]
    Expired,
    /// The order is already signed, complete or failed: this step no longer applies.
    #[error("the order is no longer pending")]
    NotPending,
    /// The presented certificate is not a valid authentication certificate of this
    /// platform (or its card or person is not usable). The order failed with
    /// `certificateErr`.
    #[error("the certificate was refused: {0}")]
    Certificate(ValidationError),
    /// The signature does not verify over this order's to-be-signed bytes with the
    /// certificate's key (another card, another order, another server). The order failed
    /// with `certificateErr`.
    #[error("the signature does not match this order")]
    BadSignature,
    /// The certificate, card or person changed while the completion was verified (revoked,
    /// left). The order failed with `certificateErr`.
    #[error("the card holder can no longer be accepted: {0}")]
    SignerNoLongerValid(String),
    /// The order is for another card than the one that signed. The order failed with
    /// `wrongCard`.
    #[error("the order is for card {expected}, but card {found} signed")]
    WrongCard {
        /// The card the order is for.
        expected: String,
        /// The card that signed.
        found: String,
    },
    /// The return secret is wrong or spent, or the order is not signed, pending and
    /// unexpired.
    #[error("the return is refused")]
    ReturnRefused,
    /// The return secret came back in another browser session than the one that started
    /// the order (a relayed order). The order failed with `startFailed`.
    #[error("the order was started in another browser session; it has been stopped")]
    Relayed,
    /// Another `enrollSign` order holds the card (one fetch per card at a time). This
    /// order failed with `alreadyInProgress`.
    #[error("another fetch for this card is already in progress")]
    AlreadyInProgress,
    /// The signing certificate was not issued (request, key, attestation or policy); the
    /// reason in plain words. The order failed with `certificateErr`.
    #[error("the signing certificate was refused: {details}")]
    EnrollmentRefused {
        /// A stable name of the refusal ([`eid_pki::EnrollError::reason`]).
        reason: &'static str,
        /// The reason in plain words.
        details: String,
    },
    /// No management-key response for this order (its budget is spent).
    #[error("no management-key response: {0}")]
    ManagementRefused(String),
    /// The to-be-signed structure could not be built (an inconsistent stored order).
    #[error("the to-be-signed structure: {0}")]
    Protocol(#[from] ProtocolError),
    /// The store failed, or holds inconsistent data.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}
