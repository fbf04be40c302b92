//! What the OpenID Connect provider keeps: registered clients, signing keys, login sessions,
//! authorization codes and grants, and the [`OidcStore`] trait over them.
//!
//! The store never sees a client secret, an authorization code, a session id or a private key
//! in the clear: secrets, codes and session ids are kept as SHA-256 hashes (they are 256-bit
//! random values, so a plain hash is enough), and private keys only encrypted under a
//! key-encryption key that lives outside the database. Records here are plain data; the
//! protocol rules live in `crates/idp`.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreResult;
use crate::model::AuditEvent;

/// A JWS algorithm the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256: the default.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA-2048).
    RS256,
}

impl SigningAlg {
    /// The JOSE name (`ES256`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// Parses a JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum ClientAuth {
    /// A confidential client with a high-entropy secret; only its SHA-256 is kept.
    Confidential {
        /// SHA-256 of the secret.
        #[serde(with = "hex::serde")]
        secret_sha256: [u8; 32],
    },
    /// A public client (a browser or native app): no secret, PKCE always.
    Public,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Confidential { .. } => f.write_str("Confidential { secret_sha256: <hidden> }"),
            Self::Public => f.write_str("Public"),
        }
    }
}

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcClient {
    /// The `client_id`. The key.
    pub client_id: String,
    /// Shown to the card holder on the login page.
    pub name: String,
    /// Confidential (with a secret hash) or public.
    pub auth: ClientAuth,
    /// Redirect URIs, compared by exact string.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser, compared by exact string.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may ask for (`openid` included).
    pub scopes: Vec<String>,
    /// Whether the client may leave out PKCE. Only ever true for a confidential client, by
    /// explicit setting; the store refuses it for a public one.
    pub pkce_optional: bool,
    /// The algorithm of this client's ID tokens.
    pub id_token_alg: SigningAlg,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One of the provider's signing keys.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (`kid`). The key.
    pub kid: String,
    /// Its algorithm.
    pub alg: SigningAlg,
    /// PKCS#8 private key, AES-256-GCM-encrypted under the key-encryption key (see
    /// `crates/idp`); never in the clear here.
    pub encrypted_private_key: Vec<u8>,
    /// The public JWK (`kty`, `kid`, `use`, `alg` and the public members), as JSON text.
    pub public_jwk: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// From when it signs (it is published in the JWKS from `created_at`).
    pub active_from: OffsetDateTime,
    /// From when it no longer signs (a successor took over).
    pub retire_at: Option<OffsetDateTime>,
    /// From when it is no longer published (every token it signed has expired).
    pub delete_at: Option<OffsetDateTime>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("encrypted_private_key", &"<encrypted>")
            .field("created_at", &self.created_at)
            .field("active_from", &self.active_from)
            .field("retire_at", &self.retire_at)
            .field("delete_at", &self.delete_at)
            .finish()
    }
}

/// Where a signing key is in its life at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Published and signing.
    Active,
    /// Published so that tokens it signed still verify; no longer signing.
    Retired,
    /// No longer published.
    Deleted,
}

impl SigningKeyRecord {
    /// The key's state at `now`.
    pub fn state_at(&self, now: OffsetDateTime) -> KeyState {
        if self.delete_at.is_some_and(|at| at <= now) {
            KeyState::Deleted
        } else if self.retire_at.is_some_and(|at| at <= now) {
            KeyState::Retired
        } else if self.active_from > now {
            KeyState::Next
        } else {
            KeyState::Active
        }
    }
}

/// A browser's single-sign-on session after a card login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    /// SHA-256 of the session id (the cookie value). The key.
    #[serde(with = "hex::serde")]
    pub id_sha256: [u8; 32],
    /// The person who logged in.
    pub hsa_id: String,
    /// The card they logged in with.
    pub card_number: String,
    /// When the card login finished.
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    /// Authentication context class reached.
    pub acr: String,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// When the session ends by itself.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was ended (logout, card revoked), if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

impl fmt::Debug for LoginSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginSession")
            .field("hsa_id", &self.hsa_id)
            .field("card_number", &self.card_number)
            .field("auth_time", &self.auth_time)
            .field("expires_at", &self.expires_at)
            .field("ended_at", &self.ended_at)
            .finish_non_exhaustive()
    }
}

impl LoginSession {
    /// Whether the session can still be used at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

/// An authorization code, as issued (by hash).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCodeRecord {
    /// SHA-256 of the code. The key.
    pub code_sha256: [u8; 32],
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request (the token request must repeat it).
    pub redirect_uri: String,
    /// PKCE challenge, if one was sent.
    pub code_challenge: Option<String>,
    /// PKCE method (`S256`), if a challenge was sent.
    pub code_challenge_method: Option<String>,
    /// The request's `nonce`, if any.
    pub nonce: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// SHA-256 of the login session's id.
    pub session_sha256: [u8; 32],
    /// The person.
    pub hsa_id: String,
    /// When the person logged in.
    pub auth_time: OffsetDateTime,
    /// Authentication context class of the login.
    pub acr: String,
    /// Authentication methods of the login.
    pub amr: Vec<String>,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops being redeemable.
    pub expires_at: OffsetDateTime,
    /// When it was redeemed, if it was.
    pub redeemed_at: Option<OffsetDateTime>,
    /// The grant its redemption created, if redeemed.
    pub grant_id: Option<String>,
}

impl fmt::Debug for AuthCodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCodeRecord")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("hsa_id", &self.hsa_id)
            .field("expires_at", &self.expires_at)
            .field("redeemed_at", &self.redeemed_at)
            .field("grant_id", &self.grant_id)
            .finish_non_exhaustive()
    }
}

/// What a redeemed code issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// Random id. The key.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The person.
    pub hsa_id: String,
    /// SHA-256 of the login session it came from.
    pub session_sha256: [u8; 32],
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The `jti` of the access token issued with it; unique.
    pub access_jti: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When the last token it issued expires (the store forgets it after that).
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// The outcome of [`OidcStore::redeem_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption {
    /// This call redeemed the code and recorded the grant.
    Redeemed(Box<AuthCodeRecord>),
    /// The code had been redeemed before: its grant is now revoked (in the same transaction)
    /// and the new grant was not recorded.
    Reused {
        /// The revoked grant.
        grant_id: String,
    },
    /// The code had expired; nothing changed.
    Expired,
    /// No such code; nothing changed.
    Unknown,
}

/// Storage for the OpenID Connect provider. Same rules as [`crate::Store`]: a method returns
/// after its change is committed, a failed call changes nothing, and audit events are
/// appended in the same transaction.
#[async_trait]
pub trait OidcStore: Send + Sync + fmt::Debug {
    // --- clients ---

    /// Registers a client. [`crate::StoreError::Refused`] if the id is taken or a public
    /// client asks to skip PKCE.
    async fn add_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()>;

    /// Registers or replaces a client (configuration-driven registration).
    async fn put_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()>;

    /// The client with this id.
    async fn client(&self, client_id: &str) -> StoreResult<Option<OidcClient>>;

    /// All clients, by id.
    async fn clients(&self) -> StoreResult<Vec<OidcClient>>;

    // --- signing keys ---

    /// Records a new signing key. [`crate::StoreError::Refused`] if the kid is taken.
    async fn add_signing_key(&self, key: &SigningKeyRecord, audit: &AuditEvent) -> StoreResult<()>;

    /// Sets when a key stops signing and when it stops being published.
    async fn retire_signing_key(
        &self,
        kid: &str,
        retire_at: OffsetDateTime,
        delete_at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    /// Every key not yet deleted at `now`, oldest `active_from` first.
    async fn signing_keys(&self, now: OffsetDateTime) -> StoreResult<Vec<SigningKeyRecord>>;

    // --- login sessions ---

    /// Records a login session. [`crate::StoreError::NotFound`] if the person or card is
    /// unknown; [`crate::StoreError::Refused`] if the id is taken.
    async fn add_session(&self, session: &LoginSession) -> StoreResult<()>;

    /// The session with this id hash (live or not).
    async fn session(&self, id_sha256: &[u8; 32]) -> StoreResult<Option<LoginSession>>;

    /// Ends a session (logout); false if it was unknown or already ended.
    async fn end_session(&self, id_sha256: &[u8; 32], at: OffsetDateTime) -> StoreResult<bool>;

    /// Ends every live session of a card and revokes the grants they issued (revoking a card
    /// ends its sessions). Returns how many sessions were ended.
    async fn end_sessions_of_card(
        &self,
        card_number: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<u64>;

    // --- codes and grants ---

    /// Records an issued code. [`crate::StoreError::Refused`] if its hash exists (never, for
    /// random codes) or the client is unknown.
    async fn add_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;

    /// The code with this hash (redeemed or not).
    async fn code(&self, code_sha256: &[u8; 32]) -> StoreResult<Option<AuthCodeRecord>>;

    /// The code with this hash and the login session it was issued in (if that session is
    /// still recorded), read in one go. The default reads them one after the other; a
    /// backend may read them in one round trip.
    async fn code_with_session(
        &self,
        code_sha256: &[u8; 32],
    ) -> StoreResult<Option<(AuthCodeRecord, Option<LoginSession>)>> {
        let Some(code) = self.code(code_sha256).await? else {
            return Ok(None);
        };
        let session = self.session(&code.session_sha256).await?;
        Ok(Some((code, session)))
    }

    /// Redeems a code atomically: of concurrent calls exactly one gets
    /// [`Redemption::Redeemed`] and records `grant` (whose `grant_id` is then the code's);
    /// every later call gets [`Redemption::Reused`] and revokes that grant, with `audit`
    /// appended.
    async fn redeem_code(
        &self,
        code_sha256: &[u8; 32],
        now: OffsetDateTime,
        grant: &GrantRecord,
        audit: &AuditEvent,
    ) -> StoreResult<Redemption>;

    /// The grant that issued the access token with this `jti`.
    async fn grant_by_jti(&self, access_jti: &str) -> StoreResult<Option<GrantRecord>>;

    /// Revokes a grant; false if it was unknown or revoked already (then nothing is appended).
    async fn revoke_grant(
        &self,
        grant_id: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Forgets expired sessions, grants, and codes whose grant (if any) has expired, and
    /// signing keys past `delete_at`. Returns how many records went.
    async fn purge_oidc(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
