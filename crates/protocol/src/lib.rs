//! The wire types that the eID app and the server share, and nothing else: the order as
//! each side sees it ([`order`]), hint codes ([`HintCode`]), the canonical to-be-signed
//! structure the card signs ([`ToBeSigned`]), `eid://` launch links ([`LaunchLink`]) and
//! the enrollment exchange of a signing-certificate fetch ([`ManagementChallenge`],
//! [`EnrollmentEvidence`], [`DeliveryConfirmation`]).
//!
//! The eID app links this crate and no server code, so it holds only data, its JSON form
//! (camelCase, as the BankID relying-party API) and its byte encodings. The protocol end to
//! end is in `docs/protocol.md`.
//!
//! What this crate must never do:
//! - depend on a server crate (store, pki, orders, idp) or on HTTP;
//! - read the clock or a random source: it only shapes and checks data;
//! - hold a PIN, a private key or the QR start secret: no type here has a field for one.

mod b64;
mod enroll;
mod error;
mod hint;
mod launch;
pub mod order;
mod tbs;

pub use enroll::{
    DeliveryConfirmation, ENROLL_PROTOCOL_VERSION, EnrollmentEvidence, ErrorBody, MANAGEMENT_BLOCK,
    ManagementChallenge, ManagementResponse,
};
pub use error::ProtocolError;
pub use hint::HintCode;
pub use launch::LaunchLink;
pub use order::{
    AppCompleteResponse, AppCompletion, AppFetchResponse, AppOrder, AppReport, CollectResponse,
    CompletionData, CompletionUser, OrderKind, OrderStatus, StartResponse,
};
pub use tbs::{Enrollment, TBS_DOMAIN_TAG_V1, ToBeSigned};
