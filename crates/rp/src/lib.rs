//! An OpenID Connect relying party for the authorization code flow, as My Pages and the
//! browser tests use it against any provider found by discovery, ours or another.
//!
//! - [`Metadata`]: discovery (OpenID Connect Discovery 1.0 §4), checked: the document's
//!   `issuer` must equal the issuer asked for, and every endpoint must be HTTPS (or
//!   loopback HTTP, for tests and development).
//! - [`RelyingParty::begin`]: an authorization request with PKCE S256 (RFC 7636), a fresh
//!   `state` and `nonce`; the [`PendingLogin`] it returns is kept by the caller (a cookie
//!   sealed by the server, say) until the browser comes back.
//! - [`RelyingParty::finish`]: the callback. `state` must match; `iss` (RFC 9207) must name
//!   the provider, and must be present when the provider says it sends it; an error
//!   response becomes [`RpError::Refused`]; the code is exchanged with the PKCE verifier and
//!   the ID token checked as OpenID Connect Core §3.1.3.7 says.
//!
//! The checks are pure functions of their inputs (`now` included); only [`Metadata::discover`],
//! the JWKS fetch and the token exchange speak HTTP, with redirects never followed.
//!
//! Written here rather than taken from the `openidconnect` crate, which would bring a second
//! generation of the RustCrypto `der` stack into the workspace; the JOSE work is done by
//! `jsonwebtoken`, which the provider uses too.

mod error;
mod flow;
mod id_token;
mod metadata;

pub use error::RpError;
pub use flow::{ClientConfig, Login, LoginOptions, PendingLogin, RelyingParty};
pub use id_token::{IdTokenExpectations, verify_id_token, verify_signature};
pub use metadata::Metadata;
