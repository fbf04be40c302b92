//! What My Pages (the portal, `crates/portal`) keeps: its login sessions, and the
//! [`PortalStore`] trait over them.
//!
//! A portal session is a random 256-bit id in the browser's cookie; the store keeps its
//! SHA-256 only. The session's tokens (the ID token for logout, the access token for the
//! `mypages.api` calls) are kept sealed by the portal under a key derived from the session id,
//! so a database dump holds neither a usable session id nor a usable token. Records here are
//! plain data; the rules live in `crates/portal`.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreResult;

/// A portal login session as the store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSessionRecord {
    /// SHA-256 of the session id. The key.
    pub id_sha256: [u8; 32],
    /// The ID token's `sub`.
    pub subject: String,
    /// The person's HSA-id, when the provider released it.
    pub hsa_id: Option<String>,
    /// The card the login was made with, when the provider said.
    pub card_number: Option<String>,
    /// When the card holder last authenticated at the provider.
    pub auth_time: Option<OffsetDateTime>,
    /// The session's tokens, sealed by the portal.
    pub sealed_tokens: Vec<u8>,
    /// When the access token expires (the portal then renews the login silently).
    pub tokens_expire_at: OffsetDateTime,
    /// When the session was opened.
    pub created_at: OffsetDateTime,
    /// When the session ends at the latest.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for PortalSessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSessionRecord")
            .field("card_number", &self.card_number)
            .field("tokens_expire_at", &self.tokens_expire_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// New tokens for a session after a silent renewal of the login
/// ([`PortalStore::renew_portal_session`]).
#[derive(Clone, PartialEq, Eq)]
pub struct PortalRenewal {
    /// The renewed login's `sub`: it must be the session's.
    pub subject: String,
    /// The card of the renewed login.
    pub card_number: Option<String>,
    /// Its `auth_time`.
    pub auth_time: Option<OffsetDateTime>,
    /// The new tokens, sealed.
    pub sealed_tokens: Vec<u8>,
    /// When the new access token expires.
    pub tokens_expire_at: OffsetDateTime,
}

impl fmt::Debug for PortalRenewal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalRenewal")
            .field("card_number", &self.card_number)
            .field("tokens_expire_at", &self.tokens_expire_at)
            .finish_non_exhaustive()
    }
}

/// Storage of portal sessions. Implemented by [`SqliteStore`](crate::SqliteStore); tested by
/// `portal_store_conformance_tests!`.
#[async_trait]
pub trait PortalStore: Send + Sync + std::fmt::Debug {
    /// Opens a session. [`Conflict::OneTimeValue`](crate::Conflict::OneTimeValue) if the id
    /// is taken (never, with random ids).
    async fn add_portal_session(&self, session: &PortalSessionRecord) -> StoreResult<()>;

    /// The session with this id hash, if it exists and has not expired at `now`.
    async fn portal_session(
        &self,
        id_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<PortalSessionRecord>>;

    /// Replaces the tokens (and card, `auth_time`) of the unexpired session with this id
    /// hash whose subject is `renewal.subject`; `false` (nothing changed) otherwise.
    async fn renew_portal_session(
        &self,
        id_sha256: &[u8; 32],
        renewal: &PortalRenewal,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Ends (forgets) a session; `false` if there was none.
    async fn end_portal_session(&self, id_sha256: &[u8; 32]) -> StoreResult<bool>;

    /// Forgets sessions that expired before `now`; returns how many.
    async fn purge_portal_sessions(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
