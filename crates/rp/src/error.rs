/// Why a login could not be completed. No variant carries a secret (a code, a token, a
/// client secret or a PKCE verifier).
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    #[error("could not reach the identity provider at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the identity provider's {what} is unusable: {reason}")]
    BadMetadata { what: &'static str, reason: String },
    #[error("the login response does not belong to a login started here (state)")]
    StateMismatch,
    #[error("the login response names issuer {found:?}, expected {expected:?} (RFC 9207)")]
    IssuerMismatch {
        expected: String,
        found: Option<String>,
    },
    #[error("the identity provider refused the login: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        error: String,
        description: Option<String>,
    },
    #[error("the login response has no code")]
    NoCode,
    #[error("the token endpoint refused the code: HTTP {status} {error}")]
    TokenRefused { status: u16, error: String },
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
}
