//! My Pages (*Mina sidor*) without HTTP: the engine that `crates/server` puts on the web at
//! `/mypages`.
//!
//! - [`Portal`]: the portal as an OpenID Connect relying party of the identity provider
//!   (any standards-compliant one, found by discovery, through `eid-rp`): *LOGGA IN*, the
//!   callback, silent renewal, logout; and its sessions, kept in the store
//!   ([`eid_store::PortalStore`]) so that any node serves them.
//! - [`MyPagesApi`]: the `mypages.api` resource server. It accepts the provider's JWT access
//!   tokens (RFC 9068; [`access`]) and answers who the card holder is and which cards and
//!   certificates they have, and whether a fetch may start for a card now
//!   ([`MyPagesApi::fetch_card`], the one check of the page and the API); the pages call it
//!   in-process with the session's access token.
//! - [`eligibility`]: whether a signing certificate may be fetched onto a card, and why not,
//!   in plain words (DESIGN.md "Policy").
//!
//! What it must never do: log, store or show a session id, token, code, client secret or PKCE
//! verifier (session ids are stored as SHA-256, tokens sealed under a key derived from the
//! session id, the pending login sealed in its cookie); trust the browser with anything it
//! could change; depend on a web framework.

pub mod access;
pub mod api;
pub mod config;
pub mod eligibility;
mod error;
mod seal;
mod session;

pub use access::{AccessClaims, DiscoveredKeys, KeySource, verify_access_token};
pub use api::{
    CardView, CardsView, CertificateStatus, CertificateView, FRESH_LOGIN, FetchDenied, MyPagesApi,
    PersonView,
};
pub use config::{API_AUDIENCE, BASE_PATH, CALLBACK_PATH, CLIENT_ID, PortalConfig, SCOPES};
pub use eid_rp::RpError;
pub use eligibility::{FetchFacts, FetchRefusal, may_fetch_signing_certificate};
pub use error::{ApiError, PortalError};
pub use jsonwebtoken::jwk::JwkSet;
pub use session::{
    ClientRegistration, LoginRedirect, LoginStart, Portal, Session, SessionId, SignedIn,
};

/// The claim of ID and access tokens that names the card the login was made with (our
/// provider issues it; another provider's logins simply mark no card).
pub const CLAIM_CARD_NUMBER: &str = "eidCardNumber";
/// The claim with the person's HSA-id (under the `profile` scope).
pub const CLAIM_HSA_ID: &str = "employeeHsaId";

/// The card holder's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// Swedish: the default.
    #[default]
    Swedish,
    /// English.
    English,
}
