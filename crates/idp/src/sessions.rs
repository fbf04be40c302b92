//! Login sessions: the browser's single sign-on after a card login.
//!
//! The session id is 256 random bits, handed to the HTTP layer for the cookie; the store
//! keeps only its SHA-256. Revoking a card ends its sessions and revokes the grants they
//! issued. Never logs a session id.

use std::fmt;

use eid_store::oidc::LoginSession;
use eid_store::{AuditEvent, CardState};
use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;

use crate::claims::{ACR_LOA3, AMR_CARD};
use crate::params::{random_token, sha256};
use crate::{Backend, IdpError, Provider};

/// A session id: the cookie value. Never in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<hidden>)")
    }
}

/// A new session: the id for the cookie and what was stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value.
    pub id: SessionId,
    /// The stored session.
    pub session: LoginSession,
}

/// The stored key of a session id.
pub(crate) fn session_hash(id: &str) -> [u8; 32] {
    sha256(id.as_bytes())
}

impl<S: Backend> Provider<S> {
    /// Records a session after a finished card login of `hsa_id` with `card_number` at
    /// `now` (the order engine verified the signature and certificate). Refused unless the
    /// person is active and the card is theirs and active.
    pub async fn create_session<R: CryptoRng + ?Sized>(
        &self,
        hsa_id: &str,
        card_number: &str,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<NewSession, IdpError> {
        let id = SessionId(random_token(rng));
        // The card and its holder in one read (both from the store, every time).
        let (card, person) = match self.store.card_with_holder(card_number).await? {
            Some((card, Some(holder))) if holder.hsa_id == hsa_id => (card, holder),
            // Not this person's card, or no card: the same answers as reading the person
            // first and then the card.
            found => {
                let person = self
                    .store
                    .person(hsa_id)
                    .await?
                    .ok_or(IdpError::NotFound("no such person"))?;
                let (card, _) = found.ok_or(IdpError::NotFound("no such card"))?;
                (card, person)
            }
        };
        if !person.active || card.holder != person.hsa_id || card.state != CardState::Active {
            return Err(IdpError::Config("the person or card may not log in".into()));
        }
        let session = LoginSession {
            id_sha256: session_hash(&id.0),
            hsa_id: hsa_id.into(),
            card_number: card_number.into(),
            auth_time: now,
            acr: ACR_LOA3.into(),
            amr: AMR_CARD.iter().map(|s| (*s).to_owned()).collect(),
            expires_at: now + self.config.session_ttl,
            ended_at: None,
        };
        self.store.add_session(&session).await?;
        Ok(NewSession { id, session })
    }

    /// The live session of a cookie value, if any.
    pub async fn session(
        &self,
        id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<LoginSession>, IdpError> {
        let Some(id) = id else { return Ok(None) };
        Ok(self
            .store
            .session(&session_hash(id))
            .await?
            .filter(|s| s.is_live(now)))
    }

    /// Ends every session of a card and revokes their grants (call when a card is revoked).
    pub async fn revoke_sessions_of_card(
        &self,
        card_number: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<u64, IdpError> {
        let event = AuditEvent {
            at: now,
            actor: actor.into(),
            action: "oidc.sessions.revoke".into(),
            subject: card_number.into(),
            details: json!({ "reason": "card revoked" }),
        };
        Ok(self
            .store
            .end_sessions_of_card(card_number, now, &event)
            .await?)
    }
}
