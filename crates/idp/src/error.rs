//! The provider's errors: [`IdpError`] for failures of the provider itself, [`OAuthError`]
//! for refusals with their RFC names, and one result type per endpoint that says how the HTTP
//! layer must answer (above all: [`AuthorizeError::Local`] is shown, never redirected).
//!
//! Descriptions are fixed texts: they never contain a code, token, secret or session id.

use std::fmt;

use eid_store::StoreError;

use crate::params::append_query;

/// A failure of the provider itself (not the client's fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A cryptographic operation failed (key generation, encryption, signing).
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
    /// A stored signing key cannot be decrypted or parsed (wrong key-encryption key?).
    #[error("signing key {kid}: {reason}")]
    Key {
        /// The key's id.
        kid: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No signing key for this algorithm is active (run key set-up first).
    #[error("no active {0} signing key")]
    NoSigningKey(&'static str),
    /// A setting or registration is invalid.
    #[error("{0}")]
    Config(String),
    /// The record asked for does not exist (client, session, card, person).
    #[error("{0}")]
    NotFound(&'static str),
}

/// The `error` values of RFC 6749, OpenID Connect Core, RFC 6750 and RFC 9101.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: the code is unknown, expired, used, or not this client's; PKCE failed.
    InvalidGrant,
    /// `unauthorized_client`: this client may not do this.
    UnauthorizedClient,
    /// `unsupported_grant_type`: only `authorization_code`.
    UnsupportedGrantType,
    /// `unsupported_response_type`: only `code`.
    UnsupportedResponseType,
    /// `invalid_scope`: no `openid`, or a scope the client may not ask for.
    InvalidScope,
    /// `login_required`: `prompt=none` but the person must log in.
    LoginRequired,
    /// `request_not_supported`: the `request` parameter.
    RequestNotSupported,
    /// `request_uri_not_supported`: the `request_uri` parameter.
    RequestUriNotSupported,
    /// `invalid_token` (RFC 6750): the bearer token is not valid.
    InvalidToken,
    /// `insufficient_scope` (RFC 6750): the token lacks `openid`.
    InsufficientScope,
    /// `server_error`: the provider failed.
    ServerError,
}

impl ErrorCode {
    /// The RFC name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::LoginRequired => "login_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: an RFC error code and a fixed description for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` value.
    pub code: ErrorCode,
    /// The `error_description` value (fixed text, never containing input secrets).
    pub description: &'static str,
}

impl OAuthError {
    pub(crate) const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self { code, description }
    }

    /// The JSON body of a token or userinfo error response.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code.as_str(), "error_description": self.description })
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

/// An error response to send to the client's (registered) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// The registered redirect URI the request named.
    pub redirect_uri: String,
    /// The refusal.
    pub error: OAuthError,
    /// The request's `state`, echoed unchanged.
    pub state: Option<String>,
    /// Our issuer (RFC 9207).
    pub iss: String,
}

impl ErrorRedirect {
    /// The `Location` to send the browser to (HTTP 303).
    pub fn location(&self) -> String {
        let mut pairs = vec![
            ("error", self.error.code.as_str()),
            ("error_description", self.error.description),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &self.iss));
        append_query(&self.redirect_uri, &pairs)
    }
}

/// Why an authorization request was not answered with a code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// The client or redirect URI could not be trusted: show an error page, NEVER redirect.
    #[error("{0}")]
    Local(OAuthError),
    /// Send the error to the client's registered redirect URI.
    #[error("{}", .0.error)]
    Redirect(Box<ErrorRedirect>),
    /// The provider failed: show an error page (HTTP 500).
    #[error(transparent)]
    Internal(#[from] IdpError),
}

/// Why a token request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A refusal: answer with [`TokenError::status`] and the JSON of [`OAuthError::to_json`].
    #[error("{0}")]
    Refused(OAuthError),
    /// The provider failed: HTTP 500 with `server_error`.
    #[error(transparent)]
    Internal(#[from] IdpError),
}

impl TokenError {
    pub(crate) const fn refused(code: ErrorCode, description: &'static str) -> Self {
        Self::Refused(OAuthError::new(code, description))
    }

    /// The HTTP status: 401 for `invalid_client` (with `WWW-Authenticate: Basic`), 500 for
    /// an internal failure, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::Refused(e) if e.code == ErrorCode::InvalidClient => 401,
            Self::Refused(_) => 400,
            Self::Internal(_) => 500,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Refused(e) => e.to_json(),
            Self::Internal(_) => {
                OAuthError::new(ErrorCode::ServerError, "the provider failed").to_json()
            }
        }
    }
}

/// Why a userinfo request was refused (RFC 6750).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserinfoError {
    /// A refusal: HTTP [`UserinfoError::status`] with [`UserinfoError::www_authenticate`].
    #[error("{0}")]
    Refused(OAuthError),
    /// The provider failed: HTTP 500.
    #[error(transparent)]
    Internal(#[from] IdpError),
}

impl UserinfoError {
    pub(crate) const fn invalid_token(description: &'static str) -> Self {
        Self::Refused(OAuthError::new(ErrorCode::InvalidToken, description))
    }

    /// 401 for `invalid_token`, 403 for `insufficient_scope`, 400 for `invalid_request`.
    pub fn status(&self) -> u16 {
        match self {
            Self::Refused(e) => match e.code {
                ErrorCode::InsufficientScope => 403,
                ErrorCode::InvalidRequest => 400,
                _ => 401,
            },
            Self::Internal(_) => 500,
        }
    }

    /// The `WWW-Authenticate` header value.
    pub fn www_authenticate(&self) -> String {
        match self {
            Self::Refused(e) => format!(
                "Bearer error=\"{}\", error_description=\"{}\"",
                e.code, e.description
            ),
            Self::Internal(_) => "Bearer".into(),
        }
    }
}

/// Why a logout request was refused: show an error page, never redirect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// A refusal (a bad `id_token_hint`, `client_id` not matching it).
    #[error("{0}")]
    Refused(OAuthError),
    /// The provider failed.
    #[error(transparent)]
    Internal(#[from] IdpError),
}
