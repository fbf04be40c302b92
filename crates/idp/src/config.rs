//! The provider's settings and its two installation secrets.
//!
//! The secrets ([`KeyEncryptionKey`], [`SubjectSecret`]) are 32 random bytes each, kept in
//! files in the data folder (never in the database, never in the configuration file); the
//! binary reads them and hands them in. They never appear in `Debug` output or logs.

use std::fmt;

use eid_store::oidc::SigningAlg;
use rand::CryptoRng;
use time::Duration;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::IdpError;

/// The longest an access token may live (DESIGN.md: at most 5 minutes).
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::minutes(5);

/// The largest clock-skew leeway accepted when checking our own tokens.
pub const MAX_LEEWAY: Duration = Duration::seconds(60);

macro_rules! secret32 {
    ($name:ident, $what:literal) => {
        #[doc = $what]
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// From exactly 32 bytes (e.g. a file's content).
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdpError> {
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                    IdpError::Config(concat!(stringify!($name), " must be exactly 32 bytes").into())
                })?;
                Ok(Self(bytes))
            }

            /// A fresh random one (to be written to its file at installation).
            pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
                let mut bytes = [0u8; 32];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The bytes, to write to the file.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<hidden>)"))
            }
        }
    };
}

secret32!(
    KeyEncryptionKey,
    "The AES-256-GCM key that encrypts the signing keys' private parts at rest."
);
secret32!(
    SubjectSecret,
    "The per-installation HMAC-SHA256 key that turns an HSA-id into the opaque `sub`."
);

/// The endpoints' absolute URLs, published in discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `authorization_endpoint`
    pub authorization: String,
    /// `token_endpoint`
    pub token: String,
    /// `userinfo_endpoint`
    pub userinfo: String,
    /// `jwks_uri`
    pub jwks: String,
    /// `end_session_endpoint`
    pub end_session: String,
}

/// The provider's settings, validated by [`ProviderConfig::new`] and the setters' callers.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The issuer identifier, exactly as published and put in `iss` (no trailing slash).
    pub issuer: String,
    /// Endpoint URLs (by default `<issuer>/oidc/authorize` and so on).
    pub endpoints: Endpoints,
    /// API scopes: asking for one puts it in the access token's `aud` (`mypages.api`).
    pub api_scopes: Vec<String>,
    /// How long a code can be redeemed.
    pub code_ttl: Duration,
    /// ID token lifetime.
    pub id_token_ttl: Duration,
    /// Access token lifetime (at most [`MAX_ACCESS_TOKEN_TTL`]).
    pub access_token_ttl: Duration,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Clock-skew leeway when checking tokens (at most [`MAX_LEEWAY`]).
    pub leeway: Duration,
    /// ID token algorithm for clients that do not ask for another.
    pub default_alg: SigningAlg,
    /// How long a new key is published before it signs.
    pub key_publish_ahead: Duration,
    /// How long loaded signing keys are reused before the store is asked again.
    pub key_cache_ttl: Duration,
}

impl ProviderConfig {
    /// Defaults for `issuer`: 60 s codes, 5-minute tokens, 8-hour sessions, 30 s leeway,
    /// ES256, keys published a day ahead. The issuer must be an `https` URL (or `http` on a
    /// loopback host) without query, fragment or trailing slash.
    pub fn new(issuer: &str) -> Result<Self, IdpError> {
        let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
            .iter()
            .any(|p| {
                issuer
                    .strip_prefix(p)
                    .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
            });
        if !(issuer.starts_with("https://") || loopback)
            || issuer.ends_with('/')
            || issuer.contains(['?', '#', ' '])
        {
            return Err(IdpError::Config(format!(
                "issuer `{issuer}` must be an https URL without query, fragment or trailing slash"
            )));
        }
        let at = |path: &str| format!("{issuer}/oidc/{path}");
        Ok(Self {
            issuer: issuer.to_owned(),
            endpoints: Endpoints {
                authorization: at("authorize"),
                token: at("token"),
                userinfo: at("userinfo"),
                jwks: at("jwks"),
                end_session: at("logout"),
            },
            api_scopes: vec!["mypages.api".into()],
            code_ttl: Duration::seconds(60),
            id_token_ttl: Duration::minutes(5),
            access_token_ttl: MAX_ACCESS_TOKEN_TTL,
            session_ttl: Duration::hours(8),
            leeway: Duration::seconds(30),
            default_alg: SigningAlg::ES256,
            key_publish_ahead: Duration::days(1),
            key_cache_ttl: Duration::seconds(60),
        })
    }

    /// Checks the limits the setters cannot express.
    pub fn validate(&self) -> Result<(), IdpError> {
        let bad = |what: &str| Err(IdpError::Config(what.into()));
        if self.access_token_ttl > MAX_ACCESS_TOKEN_TTL || !self.access_token_ttl.is_positive() {
            return bad("access tokens live more than 0 and at most 5 minutes");
        }
        if self.leeway > MAX_LEEWAY || self.leeway.is_negative() {
            return bad("the leeway is 0 to 60 seconds");
        }
        if !self.code_ttl.is_positive() || self.code_ttl > Duration::minutes(10) {
            return bad("codes live more than 0 and at most 10 minutes");
        }
        if !self.id_token_ttl.is_positive() || !self.session_ttl.is_positive() {
            return bad("ID tokens and sessions must live a positive time");
        }
        if self.key_publish_ahead.is_negative() || self.key_cache_ttl.is_negative() {
            return bad("key publication and cache times cannot be negative");
        }
        Ok(())
    }

    /// How long a retired key stays published: until every token it signed has expired.
    pub(crate) fn key_overlap(&self) -> Duration {
        self.id_token_ttl.max(self.access_token_ttl) + self.leeway + self.key_cache_ttl
    }
}
