//! The portal's errors. None carries a secret (a session id, a token, a code, a client
//! secret or a PKCE verifier).

use eid_rp::RpError;
use eid_store::StoreError;

/// Why a portal step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortalError {
    /// The browser came back without a pending login of ours, or with one that expired or
    /// was changed: start again.
    #[error("no pending login in this browser (or it expired)")]
    NoPendingLogin,
    /// A silent renewal (`prompt=none`) found no login at the provider: log in again.
    #[error("the identity provider needs a new login")]
    LoginRequired,
    /// The login could not be completed (state, issuer, the provider's refusal, the token
    /// exchange or the ID token).
    #[error("the login failed: {0}")]
    Login(#[from] RpError),
    /// The access token of a fresh login is not accepted by the API.
    #[error("the login's access token is not usable: {0}")]
    AccessToken(#[from] crate::ApiError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Something that should not happen.
    #[error("internal: {0}")]
    Internal(String),
}

/// Why an API request was refused. Maps onto RFC 6750 §3.1 at the HTTP edge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No token, or a token that is malformed, forged, expired, for another audience or from
    /// another issuer: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token is good but does not say what the API needs (the `profile` scope's
    /// `employeeHsaId`): 403 `insufficient_scope`.
    #[error("insufficient scope: {0}")]
    InsufficientScope(&'static str),
    /// The person the token names is unknown or inactive here: 403.
    #[error("the person may not use My Pages")]
    UnknownPerson,
    /// The identity provider's keys could not be read: 503.
    #[error("the identity provider's keys are not available: {0}")]
    Keys(String),
    /// The store failed: 500.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The RFC 6750 error code, if the refusal has one.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            _ => None,
        }
    }

    /// The HTTP status the edge answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidToken(_) => 401,
            Self::InsufficientScope(_) | Self::UnknownPerson => 403,
            Self::Keys(_) => 503,
            Self::Store(_) => 500,
        }
    }
}
