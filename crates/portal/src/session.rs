//! [`Portal`]: the login as a relying party of the identity provider, and the portal's
//! sessions.
//!
//! - *LOGGA IN* ([`Portal::begin_login`]): an authorization request by `eid-rp` (discovery,
//!   PKCE S256, `state`, `nonce`); the pending login (state, nonce, verifier) is sealed with
//!   AES-256-GCM into a cookie the browser cannot read or change, and expires.
//! - The callback ([`Portal::finish_login`]): `eid-rp` checks `state`, `iss` (RFC 9207),
//!   exchanges the code and verifies the ID token; the access token must pass the portal's
//!   own API check. A session is opened: a random 256-bit id for the cookie, its SHA-256 in
//!   the store, the tokens sealed under a key derived from the id (so the store alone holds
//!   nothing usable).
//! - Renewal: access tokens live minutes and there are no refresh tokens; when the session's
//!   token has expired the pages send the browser through a silent login (`prompt=none`),
//!   which the provider answers without the card while its own session lives, and
//!   [`Portal::finish_login`] puts the new tokens into the same session.
//! - Logout ([`Portal::logout`]): the session is forgotten and the browser sent to the
//!   provider's end-session endpoint with `id_token_hint`, back to `/mypages`.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_rp::{ClientConfig, Login, LoginOptions, PendingLogin, RelyingParty, RpError};
use eid_store::Store;
use eid_store::portal::{PortalRenewal, PortalSessionRecord, PortalStore};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio::sync::RwLock;

use crate::access::KeySource;
use crate::api::MyPagesApi;
use crate::config::{API_AUDIENCE, CLIENT_ID, PortalConfig, SCOPES};
use crate::seal::{Sealer, derive};
use crate::{CLAIM_CARD_NUMBER, CLAIM_HSA_ID, PortalError};

/// What the provider needs to register the portal as its client `mypages`.
#[derive(Clone)]
pub struct ClientRegistration {
    /// `mypages`.
    pub client_id: String,
    /// Shown on the provider's login page.
    pub name: String,
    /// `<public_url>/mypages/signin-oidc`.
    pub redirect_uri: String,
    /// `<public_url>/mypages`.
    pub post_logout_redirect_uri: String,
    /// `openid profile mypages.profile mypages.api`.
    pub scopes: Vec<String>,
    /// SHA-256 of the client secret (a confidential client).
    pub secret_sha256: [u8; 32],
}

impl fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// How to start a login.
#[derive(Debug, Clone, Default)]
pub struct LoginStart {
    /// A silent renewal (`prompt=none`): no login page if the provider has no session.
    pub silent: bool,
    /// A fresh card login however recent the provider's session (`prompt=login`,
    /// `max_age=0`): before the fetch of a signing certificate.
    pub fresh: bool,
    /// The card holder's language for the provider's pages (`ui_locales`).
    pub ui_locales: Option<String>,
}

/// Where to send the browser, and the sealed pending login for its cookie.
pub struct LoginRedirect {
    /// The authorization request URL.
    pub location: String,
    /// The cookie value: the pending login, sealed.
    pub pending: String,
}

impl fmt::Debug for LoginRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginRedirect(<hidden>)")
    }
}

/// A session id: the cookie's value. Never in `Debug` output.
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

/// The outcome of a completed callback.
#[derive(Debug)]
pub struct SignedIn {
    /// A new session's id for the cookie; `None` when the browser's session was renewed.
    pub new_session: Option<SessionId>,
    /// Whether the login was a silent renewal.
    pub silent: bool,
}

/// A live portal session.
#[derive(Clone)]
pub struct Session {
    id: SessionId,
    /// The ID token's `sub`.
    pub subject: String,
    /// `employeeHsaId`, when released.
    pub hsa_id: Option<String>,
    /// The card the login was made with, when the provider said.
    pub card_number: Option<String>,
    /// When the card holder authenticated.
    pub auth_time: Option<OffsetDateTime>,
    /// When the access token expires.
    pub tokens_expire_at: OffsetDateTime,
    /// When the session ends at the latest.
    pub expires_at: OffsetDateTime,
    id_token: String,
    access_token: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("card_number", &self.card_number)
            .field("tokens_expire_at", &self.tokens_expire_at)
            .finish_non_exhaustive()
    }
}

/// Renew this long before the access token expires, so a page's API calls do not race it.
const RENEW_AHEAD: Duration = Duration::seconds(20);

impl Session {
    /// The session's id (its cookie value).
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The access token for the `mypages.api` calls.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Whether the card holder authenticated with the card within `max_age` of `now`
    /// (unknown `auth_time`: no).
    pub fn authenticated_within(&self, max_age: Duration, now: OffsetDateTime) -> bool {
        self.auth_time.is_some_and(|t| now - t <= max_age)
    }

    /// Whether the access token has expired (or is about to): renew the login silently.
    pub fn needs_renewal(&self, now: OffsetDateTime) -> bool {
        now + RENEW_AHEAD >= self.tokens_expire_at
    }
}

#[derive(Serialize, Deserialize)]
struct Pending {
    login: PendingLogin,
    issued: i64,
    silent: bool,
}

#[derive(Serialize, Deserialize)]
struct Tokens {
    id_token: String,
    access_token: String,
}

const PENDING_AAD: &[u8] = b"eid-portal pending login v1";

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// The key that seals a session's tokens: derived from the session id, which only the
/// browser's cookie holds.
fn token_sealer(id: &SessionId) -> Result<Sealer, PortalError> {
    Sealer::new(&derive(id.0.as_bytes(), "eid-portal session tokens v1"))
}

/// My Pages without HTTP.
pub struct Portal<S> {
    store: Arc<S>,
    config: PortalConfig,
    client_secret: String,
    pending: Sealer,
    csrf: hmac::Key,
    rp: RwLock<Option<Arc<RelyingParty>>>,
    api: MyPagesApi<S>,
}

impl<S> fmt::Debug for Portal<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portal")
            .field("public_url", &self.config.public_url)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl<S: Store + PortalStore + 'static> Portal<S> {
    /// The portal over `store`. `secret` (32 bytes, the same on every node) derives the
    /// client secret, the pending-login sealing key and the CSRF key; `keys` are the
    /// provider's keys for the API's token check.
    pub fn new(
        store: Arc<S>,
        config: PortalConfig,
        secret: &[u8; 32],
        keys: Arc<dyn KeySource>,
    ) -> Result<Self, PortalError> {
        let client_secret =
            URL_SAFE_NO_PAD.encode(derive(secret, "eid-portal mypages client secret v1"));
        let api = MyPagesApi::new(store.clone(), keys, &config.issuer, API_AUDIENCE);
        Ok(Self {
            store,
            pending: Sealer::new(&derive(secret, "eid-portal pending login v1"))?,
            csrf: hmac::Key::new(hmac::HMAC_SHA256, &derive(secret, "eid-portal csrf v1")),
            config,
            client_secret,
            rp: RwLock::new(None),
            api,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PortalConfig {
        &self.config
    }

    /// The `mypages.api` resource server.
    pub fn api(&self) -> &MyPagesApi<S> {
        &self.api
    }

    /// What the provider must know of the `mypages` client. The secret is derived from the
    /// installation's secret, so every node agrees on it and nothing new needs backing up;
    /// the provider keeps only its SHA-256.
    pub fn client_registration(&self) -> ClientRegistration {
        ClientRegistration {
            client_id: CLIENT_ID.into(),
            name: self.config.client_name.clone(),
            redirect_uri: self.config.redirect_uri(),
            post_logout_redirect_uri: self.config.post_logout_redirect_uri(),
            scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            secret_sha256: sha256(self.client_secret.as_bytes()),
        }
    }

    /// The relying party, discovered at first use (the provider may be this very server,
    /// which is not listening yet when the portal is built).
    async fn rp(&self) -> Result<Arc<RelyingParty>, PortalError> {
        if let Some(rp) = self.rp.read().await.as_ref() {
            return Ok(rp.clone());
        }
        let mut slot = self.rp.write().await;
        if let Some(rp) = slot.as_ref() {
            return Ok(rp.clone());
        }
        let client = ClientConfig {
            client_id: CLIENT_ID.into(),
            client_secret: Some(self.client_secret.clone()),
            redirect_uri: self.config.redirect_uri(),
            scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let rp = Arc::new(
            RelyingParty::discover(RelyingParty::http_client()?, &self.config.issuer, client)
                .await?,
        );
        *slot = Some(rp.clone());
        Ok(rp)
    }

    /// *LOGGA IN* (or a silent renewal): the authorization request and the sealed pending
    /// login for the browser's cookie.
    #[tracing::instrument(skip_all)]
    pub async fn begin_login<R: CryptoRng + ?Sized>(
        &self,
        start: &LoginStart,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<LoginRedirect, PortalError> {
        let rp = self.rp().await?;
        let options = LoginOptions {
            response_mode: Some("query".to_owned()),
            prompt: if start.silent {
                Some("none".to_owned())
            } else if start.fresh {
                Some("login".to_owned())
            } else {
                None
            },
            max_age: start.fresh.then_some(0),
            ui_locales: start.ui_locales.clone(),
            ..LoginOptions::default()
        };
        let (location, login) = rp.begin(&options, rng);
        let pending = Pending {
            login,
            issued: now.unix_timestamp(),
            silent: start.silent,
        };
        let json =
            serde_json::to_vec(&pending).map_err(|e| PortalError::Internal(e.to_string()))?;
        let sealed = self.pending.seal(PENDING_AAD, &json, rng)?;
        Ok(LoginRedirect {
            location,
            pending: URL_SAFE_NO_PAD.encode(sealed),
        })
    }

    fn open_pending(&self, cookie: Option<&str>, now: OffsetDateTime) -> Option<Pending> {
        let sealed = URL_SAFE_NO_PAD.decode(cookie?).ok()?;
        let json = self.pending.open(PENDING_AAD, &sealed)?;
        let pending: Pending = serde_json::from_slice(&json).ok()?;
        let age = now.unix_timestamp() - pending.issued;
        (0..=self.config.pending_ttl.whole_seconds())
            .contains(&age)
            .then_some(pending)
    }

    /// The callback `/mypages/signin-oidc`: `query` is the raw query string, `pending` the
    /// pending-login cookie, `session` the browser's portal session cookie (renewed in place
    /// when it is the same person's).
    #[tracing::instrument(skip_all)]
    pub async fn finish_login<R: CryptoRng + ?Sized>(
        &self,
        query: &str,
        pending: Option<&str>,
        session: Option<&str>,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<SignedIn, PortalError> {
        let pending = self
            .open_pending(pending, now)
            .ok_or(PortalError::NoPendingLogin)?;
        let rp = self.rp().await?;
        let login = match rp.finish(query, &pending.login, now).await {
            Ok(login) => login,
            Err(RpError::Refused { error, .. })
                if pending.silent
                    && matches!(
                        error.as_str(),
                        "login_required" | "interaction_required" | "consent_required"
                    ) =>
            {
                return Err(PortalError::LoginRequired);
            }
            Err(e) => return Err(e.into()),
        };
        let access = self.api.verify(&login.access_token, now).await?;
        let subject = login.subject().to_owned();
        let card_number = login.claim(CLAIM_CARD_NUMBER).map(str::to_owned);
        let auth_time = login
            .claims
            .get("auth_time")
            .and_then(Value::as_i64)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let tokens_expire_at = access.expires_at;
        let tokens = |id: &SessionId, rng: &mut R| -> Result<Vec<u8>, PortalError> {
            let json = serde_json::to_vec(&Tokens {
                id_token: login.id_token.clone(),
                access_token: login.access_token.clone(),
            })
            .map_err(|e| PortalError::Internal(e.to_string()))?;
            token_sealer(id)?.seal(&sha256(id.0.as_bytes()), &json, rng)
        };
        if let Some(existing) = session {
            let id = SessionId(existing.to_owned());
            let renewal = PortalRenewal {
                subject: subject.clone(),
                card_number: card_number.clone(),
                auth_time,
                sealed_tokens: tokens(&id, rng)?,
                tokens_expire_at,
            };
            let key = sha256(id.0.as_bytes());
            if self.store.renew_portal_session(&key, &renewal, now).await? {
                return Ok(SignedIn {
                    new_session: None,
                    silent: pending.silent,
                });
            }
            // Another person's (or an ended) session: it goes, a new one opens.
            self.store.end_portal_session(&key).await?;
        }
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let id = SessionId(URL_SAFE_NO_PAD.encode(bytes));
        let record = PortalSessionRecord {
            id_sha256: sha256(id.0.as_bytes()),
            subject,
            hsa_id: login
                .claim(CLAIM_HSA_ID)
                .map(str::to_owned)
                .or(access.hsa_id),
            card_number,
            auth_time,
            sealed_tokens: tokens(&id, rng)?,
            tokens_expire_at,
            created_at: now,
            expires_at: now + self.config.session_ttl,
        };
        self.store.add_portal_session(&record).await?;
        tracing::info!(card = ?record.card_number, "my pages login");
        Ok(SignedIn {
            new_session: Some(id),
            silent: pending.silent,
        })
    }

    /// The live session of the cookie `cookie`, if any.
    #[tracing::instrument(skip_all)]
    pub async fn session(
        &self,
        cookie: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, PortalError> {
        let Some(cookie) = cookie else {
            return Ok(None);
        };
        let id = SessionId(cookie.to_owned());
        let key = sha256(id.0.as_bytes());
        let Some(record) = self.store.portal_session(&key, now).await? else {
            return Ok(None);
        };
        let Some(json) = token_sealer(&id)?.open(&key, &record.sealed_tokens) else {
            return Ok(None);
        };
        let tokens: Tokens =
            serde_json::from_slice(&json).map_err(|e| PortalError::Internal(e.to_string()))?;
        Ok(Some(Session {
            id,
            subject: record.subject,
            hsa_id: record.hsa_id,
            card_number: record.card_number,
            auth_time: record.auth_time,
            tokens_expire_at: record.tokens_expire_at,
            expires_at: record.expires_at,
            id_token: tokens.id_token,
            access_token: tokens.access_token,
        }))
    }

    /// Ends the session of `cookie` (if any) and returns where to send the browser: the
    /// provider's end-session endpoint with `id_token_hint`, back to `/mypages`; `None`
    /// when there was no session or the provider offers no logout.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        cookie: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<String>, PortalError> {
        let Some(session) = self.session(cookie, now).await? else {
            if let Some(cookie) = cookie {
                self.store
                    .end_portal_session(&sha256(cookie.as_bytes()))
                    .await?;
            }
            return Ok(None);
        };
        self.store
            .end_portal_session(&sha256(session.id.0.as_bytes()))
            .await?;
        let rp = match self.rp().await {
            Ok(rp) => rp,
            Err(e) => {
                tracing::warn!(error = %e, "logout at the provider skipped");
                return Ok(None);
            }
        };
        let login = Login {
            claims: serde_json::Map::new(),
            id_token: session.id_token,
            access_token: String::new(),
        };
        Ok(rp.logout_url(&login, Some(&self.config.post_logout_redirect_uri())))
    }

    /// Forgets the session of `cookie` here only (the provider's session ended already).
    pub async fn forget(&self, cookie: Option<&str>) -> Result<(), PortalError> {
        if let Some(cookie) = cookie {
            self.store
                .end_portal_session(&sha256(cookie.as_bytes()))
                .await?;
        }
        Ok(())
    }

    /// The CSRF token of the session's forms (a MAC of the session id).
    pub fn csrf_token(&self, session: &SessionId) -> String {
        let tag = hmac::sign(&self.csrf, session.0.as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `token` is the CSRF token of `session` (constant time).
    pub fn csrf_ok(&self, session: &SessionId, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|tag| hmac::verify(&self.csrf, session.0.as_bytes(), &tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use eid_store::{Durability, SqliteStore};
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    #[derive(Debug)]
    struct NoKeys;

    #[async_trait::async_trait]
    impl KeySource for NoKeys {
        async fn keys(&self, _now: OffsetDateTime) -> Result<jsonwebtoken::jwk::JwkSet, String> {
            Err("none".into())
        }
    }

    async fn portal(dir: &tempfile::TempDir, secret: u8) -> Portal<SqliteStore> {
        let store = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap();
        // A provider that refuses connections at once.
        let mut config = PortalConfig::new("https://eid.example");
        config.issuer = "http://127.0.0.1:1".into();
        Portal::new(Arc::new(store), config, &[secret; 32], Arc::new(NoKeys)).unwrap()
    }

    fn sealed(p: &Portal<SqliteStore>, issued: OffsetDateTime) -> String {
        let login: PendingLogin = serde_json::from_value(serde_json::json!({
            "state": "s", "nonce": "n", "verifier": "v", "max_age": null
        }))
        .unwrap();
        let pending = Pending {
            login,
            issued: issued.unix_timestamp(),
            silent: false,
        };
        let json = serde_json::to_vec(&pending).unwrap();
        URL_SAFE_NO_PAD.encode(
            p.pending
                .seal(PENDING_AAD, &json, &mut rand::rng())
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn the_pending_login_opens_only_untouched_unexpired_and_here() {
        let dir = tempfile::tempdir().unwrap();
        let p = portal(&dir, 1).await;
        let good = sealed(&p, NOW);
        assert!(
            p.open_pending(Some(&good), NOW + Duration::minutes(9))
                .is_some()
        );
        assert!(
            p.open_pending(Some(&good), NOW + Duration::minutes(11))
                .is_none()
        );
        assert!(
            p.open_pending(Some(&good), NOW - Duration::minutes(1))
                .is_none()
        );
        assert!(p.open_pending(None, NOW).is_none());
        assert!(p.open_pending(Some("not base64!"), NOW).is_none());
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[20] ^= 1;
        assert!(
            p.open_pending(Some(&URL_SAFE_NO_PAD.encode(bytes)), NOW)
                .is_none()
        );
        // Another installation's secret does not open it.
        let other_dir = tempfile::tempdir().unwrap();
        let other = portal(&other_dir, 2).await;
        assert!(other.open_pending(Some(&good), NOW).is_none());
    }

    #[tokio::test]
    async fn csrf_tokens_belong_to_their_session() {
        let dir = tempfile::tempdir().unwrap();
        let p = portal(&dir, 1).await;
        let a = SessionId("a".repeat(43));
        let b = SessionId("b".repeat(43));
        let token = p.csrf_token(&a);
        assert!(p.csrf_ok(&a, &token));
        assert!(!p.csrf_ok(&b, &token));
        assert!(!p.csrf_ok(&a, ""));
        assert!(!p.csrf_ok(&a, &token[1..]));
        assert_eq!(format!("{a:?}"), "SessionId(<hidden>)");
    }

    #[tokio::test]
    async fn a_session_opens_only_with_its_cookie() {
        let dir = tempfile::tempdir().unwrap();
        let p = portal(&dir, 1).await;
        let id = SessionId("c".repeat(43));
        let tokens = serde_json::to_vec(&Tokens {
            id_token: "id".into(),
            access_token: "at".into(),
        })
        .unwrap();
        let key = sha256(id.0.as_bytes());
        let record = PortalSessionRecord {
            id_sha256: key,
            subject: "sub".into(),
            hsa_id: None,
            card_number: Some("9752000001".into()),
            auth_time: Some(NOW),
            sealed_tokens: token_sealer(&id)
                .unwrap()
                .seal(&key, &tokens, &mut rand::rng())
                .unwrap(),
            tokens_expire_at: NOW + Duration::minutes(5),
            created_at: NOW,
            expires_at: NOW + Duration::hours(8),
        };
        p.store.add_portal_session(&record).await.unwrap();
        let s = p.session(Some(id.expose()), NOW).await.unwrap().unwrap();
        assert_eq!(s.access_token(), "at");
        assert_eq!(s.card_number.as_deref(), Some("9752000001"));
        assert!(!s.needs_renewal(NOW));
        assert!(s.needs_renewal(NOW + Duration::seconds(281)));
        assert!(
            p.session(Some(&"d".repeat(43)), NOW)
                .await
                .unwrap()
                .is_none()
        );
        assert!(p.session(None, NOW).await.unwrap().is_none());
        assert!(
            p.session(Some(id.expose()), NOW + Duration::hours(8))
                .await
                .unwrap()
                .is_none()
        );
        // Logout without a reachable provider still ends the session here.
        assert!(p.logout(Some(id.expose()), NOW).await.unwrap().is_none());
        assert!(p.session(Some(id.expose()), NOW).await.unwrap().is_none());
    }
}
