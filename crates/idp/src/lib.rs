//! The OpenID Connect provider's engine, without HTTP.
//!
//! [`Provider`] answers every endpoint in plain Rust: the HTTP layer extracts the input
//! (decoded query or form pairs, the `Authorization` header, the session cookie), calls one
//! method with `now` and an RNG, and maps the result (see `docs/oidc.md`):
//!
//! | endpoint | method | result |
//! |---|---|---|
//! | authorization | [`Provider::authorize`], then [`Provider::finish_login`] after a card login | [`AuthorizeOutcome`] / [`AuthorizeError`] (`Local` is shown, never redirected) |
//! | token | [`Provider::token`] | [`TokenResponse`] / [`TokenError`] |
//! | userinfo | [`Provider::userinfo`] | claims / [`UserinfoError`] |
//! | JWKS | [`Provider::jwks`] | JSON |
//! | discovery | [`Provider::discovery`] | JSON |
//! | logout | [`Provider::end_session`] | [`LogoutOutcome`] / [`LogoutError`] |
//!
//! plus clients ([`Provider::register_client`], [`Provider::configure_client`]), sessions
//! ([`Provider::create_session`], [`Provider::revoke_sessions_of_card`]) and keys
//! ([`Provider::ensure_signing_keys`], [`Provider::rotate_signing_key`]).
//!
//! All state lives in the store ([`eid_store::OidcStore`]); the provider keeps only a cache
//! of decrypted signing keys. It never logs, stores or shows a code, token, client secret,
//! session id or private key: codes, secrets and session ids are stored as SHA-256 hashes,
//! private keys encrypted, and their types print `<hidden>` in `Debug`.

mod authorize;
mod claims;
mod clients;
mod config;
mod discovery;
mod error;
mod jwt;
mod keys;
mod logout;
mod params;
mod sessions;
mod token;
mod userinfo;

use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use eid_store::{OidcStore, Store};

pub use authorize::{AuthCode, AuthorizationRequest, AuthorizationResponse, AuthorizeOutcome};
pub use claims::{
    ACR_LOA3, AMR_CARD, CLAIM_CARD_NUMBER, CLAIM_ORG_NAME, CLAIM_ORG_NUMBER, CLAIMS_SUPPORTED,
};
pub use clients::{ClientSecret, ClientSpec, secret_hash};
pub use config::{
    Endpoints, KeyEncryptionKey, MAX_ACCESS_TOKEN_TTL, MAX_LEEWAY, ProviderConfig, SubjectSecret,
};
pub use error::{
    AuthorizeError, ErrorCode, ErrorRedirect, IdpError, LogoutError, OAuthError, TokenError,
    UserinfoError,
};
pub use logout::LogoutOutcome;
pub use sessions::{NewSession, SessionId};
pub use token::{TOKEN_RESPONSE_HEADERS, TokenResponse};

/// What the provider needs of a store: the platform's records and the OIDC records.
pub trait Backend: Store + OidcStore + 'static {}

impl<T: Store + OidcStore + 'static> Backend for T {}

/// The OpenID Connect provider. Cheap to share behind an `Arc`; every method takes `now`.
pub struct Provider<S> {
    store: Arc<S>,
    config: ProviderConfig,
    kek: KeyEncryptionKey,
    subject_key: hmac::Key,
    keys: Mutex<Option<Arc<keys::KeySet>>>,
}

impl<S> std::fmt::Debug for Provider<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl<S: Backend> Provider<S> {
    /// A provider over `store` with validated `config` and the installation's secrets.
    pub fn new(
        store: Arc<S>,
        config: ProviderConfig,
        kek: KeyEncryptionKey,
        subject_secret: &SubjectSecret,
    ) -> Result<Self, IdpError> {
        config.validate()?;
        Ok(Self {
            store,
            config,
            kek,
            subject_key: hmac::Key::new(hmac::HMAC_SHA256, subject_secret.as_bytes()),
            keys: Mutex::new(None),
        })
    }

    /// The settings.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The `sub` of a person (stable, opaque; see `docs/oidc.md`).
    pub fn subject_of(&self, hsa_id: &str) -> String {
        claims::subject(&self.subject_key, hsa_id)
    }
}
