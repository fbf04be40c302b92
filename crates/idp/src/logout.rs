//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): validates `id_token_hint`,
//! `client_id` and `post_logout_redirect_uri`, ends the browser's login session, and says
//! where (if anywhere) to send the browser. Never redirects to a URI that is not registered
//! exactly for the client. Never logs a token or session id.

use time::OffsetDateTime;

use crate::error::{ErrorCode, LogoutError, OAuthError};
use crate::params::{Params, append_query};
use crate::sessions::session_hash;
use crate::{Backend, IdpError, Provider};

/// What the HTTP layer does after a logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutOutcome {
    /// Whether a live session was ended (the HTTP layer also clears the cookie).
    pub session_ended: bool,
    /// Where to send the browser (the registered `post_logout_redirect_uri` with `state`);
    /// `None`: show a "you are logged out" page.
    pub redirect: Option<String>,
    /// Whether the request carried a valid `id_token_hint` (without one, the HTTP layer may
    /// ask the person to confirm before calling [`Provider::end_session`]).
    pub hint_verified: bool,
}

fn refused(description: &'static str) -> LogoutError {
    LogoutError::Refused(OAuthError::new(ErrorCode::InvalidRequest, description))
}

impl<S: Backend> Provider<S> {
    /// Handles a logout request (GET query or POST form pairs) from the browser whose session
    /// cookie is `session_id`.
    pub async fn end_session(
        &self,
        pairs: &[(String, String)],
        session_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<LogoutOutcome, LogoutError> {
        let p = Params::new(pairs);
        let get = |name| p.get(name).map_err(|_| refused("a parameter is repeated"));
        let hint = match get("id_token_hint")? {
            None => None,
            Some(token) => Some(
                self.verify_id_token_hint(token, None, now)
                    .await?
                    .ok_or_else(|| refused("id_token_hint is not an ID token of ours"))?,
            ),
        };
        let client_id = match (get("client_id")?, &hint) {
            (Some(id), Some(h)) if id != h.aud => {
                return Err(refused("client_id does not match the id_token_hint"));
            }
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(h)) => Some(h.aud.clone()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => self.store.client(id).await.map_err(IdpError::from)?,
            None => None,
        };
        let redirect = match (get("post_logout_redirect_uri")?, &client) {
            (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                let state = get("state")?;
                let pairs: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
                Some(append_query(uri, &pairs))
            }
            _ => None,
        };
        let session_ended = match session_id {
            Some(id) => self
                .store
                .end_session(&session_hash(id), now)
                .await
                .map_err(IdpError::from)?,
            None => false,
        };
        Ok(LogoutOutcome {
            session_ended,
            redirect,
            hint_verified: hint.is_some(),
        })
    }
}
