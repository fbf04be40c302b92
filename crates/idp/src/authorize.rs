//! The authorization endpoint: validates a request (GET query or POST form, already decoded
//! into pairs) and decides: show the login page, answer silently with a code, or send an
//! error to the client.
//!
//! Until the client and its exact redirect URI are known, every error is
//! [`AuthorizeError::Local`]: shown by the provider, never redirected (no open redirector).
//! After that, errors go to the redirect URI with `state` and `iss` (RFC 9207). Codes are 256
//! random bits, stored hashed, single use, valid `code_ttl`. Never logs a code.

use std::fmt;

use eid_store::oidc::{AuthCodeRecord, ClientAuth, LoginSession, OidcClient};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::claims::{IdTokenClaims, subject};
use crate::error::{AuthorizeError, ErrorCode, ErrorRedirect, OAuthError};
use crate::jwt::{self, TYP_ID_TOKEN};
use crate::params::{Params, append_query, b64url_decode, random_token, sha256};
use crate::sessions::NewSession;
use crate::{Backend, IdpError, Provider};

/// A validated authorization request, kept by the HTTP layer while the person logs in (it
/// holds nothing secret) and handed back to [`Provider::finish_login`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The client's display name, for the login page.
    pub client_name: String,
    /// The registered redirect URI the request named.
    pub redirect_uri: String,
    /// Requested scopes, each once, `openid` among them.
    pub scope: Vec<String>,
    /// Echoed unchanged.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge (S256), if sent.
    pub code_challenge: Option<String>,
    /// Whether the login must be new (`prompt=login`, `max_age` exceeded, another person
    /// hinted): then only a session that started after `received_at` will do.
    pub fresh_login: bool,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    /// `login_hint`, for the login page.
    pub login_hint: Option<String>,
    /// `ui_locales`, for the login page.
    pub ui_locales: Option<String>,
    /// `display`, for the login page.
    pub display: Option<String>,
    /// `acr_values` (we always reach LoA 3).
    pub acr_values: Option<String>,
    /// When the request arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// An authorization code. Never in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCode(String);

impl AuthCode {
    /// The code, for the redirect.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthCode(<hidden>)")
    }
}

/// A successful authorization response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// The code.
    pub code: AuthCode,
    /// The request's `state`.
    pub state: Option<String>,
    /// Our issuer (RFC 9207).
    pub iss: String,
}

impl AuthorizationResponse {
    /// The `Location` to send the browser to (HTTP 303).
    pub fn location(&self) -> String {
        let mut pairs = vec![("code", self.code.0.as_str())];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &self.iss));
        append_query(&self.redirect_uri, &pairs)
    }
}

/// What the HTTP layer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizeOutcome {
    /// Show the login page; after the card login, call [`Provider::finish_login`].
    Login(Box<AuthorizationRequest>),
    /// Redirect now with a code (an existing session sufficed).
    Code(AuthorizationResponse),
}

fn local(description: &'static str) -> AuthorizeError {
    AuthorizeError::Local(OAuthError::new(ErrorCode::InvalidRequest, description))
}

/// Host and path of a loopback `http` URI by IP literal, without its port.
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    for prefix in ["http://127.0.0.1", "http://[::1]"] {
        if let Some(rest) = uri.strip_prefix(prefix) {
            let path = match rest.strip_prefix(':') {
                Some(r) => {
                    let slash = r.find('/')?;
                    if slash == 0 || !r[..slash].bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    &r[slash..]
                }
                None => rest,
            };
            return path.starts_with('/').then_some((prefix, path));
        }
    }
    None
}

/// Exact match; for a loopback `http` redirect URI only the port may differ (RFC 8252 §7.3).
fn redirect_matches(registered: &str, given: &str) -> bool {
    registered == given
        || matches!((loopback_parts(registered), loopback_parts(given)), (Some(a), Some(b)) if a == b)
}

fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && b64url_decode(challenge).is_some_and(|b| b.len() == 32)
}

/// What the request says about prompting.
struct Prompt {
    none: bool,
    login: bool,
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, &'static str> {
    let mut prompt = Prompt {
        none: false,
        login: false,
    };
    for v in value
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match v {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            // No consent screen (clients are registered by the organisation) and one account
            // per card: these ask for nothing we would do differently.
            "consent" | "select_account" => {}
            _ => return Err("unsupported prompt value"),
        }
    }
    if prompt.none && value.is_some_and(|v| v.split(' ').filter(|v| !v.is_empty()).count() > 1) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(prompt)
}

impl<S: Backend> Provider<S> {
    /// Handles an authorization request. `session_id` is the browser's session cookie, if
    /// any.
    pub async fn authorize<R: CryptoRng + ?Sized>(
        &self,
        pairs: &[(String, String)],
        session_id: Option<&str>,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<AuthorizeOutcome, AuthorizeError> {
        let code = AuthCode(random_token(rng));
        let p = Params::new(pairs);
        let client_id = p
            .get("client_id")
            .map_err(|_| local("client_id is repeated"))?
            .ok_or_else(|| local("client_id is missing"))?;
        let client = self
            .store
            .client(client_id)
            .await
            .map_err(IdpError::from)?
            .ok_or_else(|| local("unknown client_id"))?;
        let redirect_uri = p
            .get("redirect_uri")
            .map_err(|_| local("redirect_uri is repeated"))?
            .ok_or_else(|| local("redirect_uri is missing"))?;
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, redirect_uri))
        {
            return Err(local("redirect_uri is not registered for this client"));
        }
        // From here on errors go back to the client.
        let (state, state_ok) = match p.get("state") {
            Ok(state) => (state.map(str::to_owned), true),
            Err(_) => (None, false),
        };
        let fail = |code, description| {
            AuthorizeError::Redirect(Box::new(ErrorRedirect {
                redirect_uri: redirect_uri.to_owned(),
                error: OAuthError::new(code, description),
                state: state.clone(),
                iss: self.config.issuer.clone(),
            }))
        };
        let invalid = |description| fail(ErrorCode::InvalidRequest, description);
        if !state_ok {
            return Err(invalid("state is repeated"));
        }
        if p.has("request") {
            return Err(fail(
                ErrorCode::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if p.has("request_uri") {
            return Err(fail(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        let get = |name| p.get(name).map_err(|_| invalid("a parameter is repeated"));
        match get("response_type")? {
            None => return Err(invalid("response_type is missing")),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code",
                ));
            }
        }
        if get("response_mode")?.is_some_and(|m| m != "query") {
            return Err(invalid("only response_mode=query"));
        }
        let mut scope: Vec<String> = Vec::new();
        for s in get("scope")?
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
        {
            if !scope.iter().any(|have| have == s) {
                scope.push(s.to_owned());
            }
        }
        if !scope.iter().any(|s| s == "openid") {
            return Err(fail(ErrorCode::InvalidScope, "scope must contain openid"));
        }
        if scope.iter().any(|s| !client.scopes.contains(s)) {
            return Err(fail(
                ErrorCode::InvalidScope,
                "a scope is not allowed for this client",
            ));
        }
        let challenge = get("code_challenge")?;
        match (challenge, get("code_challenge_method")?) {
            (Some(c), Some("S256")) => {
                if !valid_challenge(c) {
                    return Err(invalid("code_challenge is not a S256 challenge"));
                }
            }
            (Some(_), None) => return Err(invalid("code_challenge_method=S256 is required")),
            (Some(_), Some(_)) => return Err(invalid("only code_challenge_method=S256")),
            (None, Some(_)) => return Err(invalid("code_challenge_method without code_challenge")),
            (None, None) => {
                let may_skip =
                    client.pkce_optional && matches!(client.auth, ClientAuth::Confidential { .. });
                if !may_skip {
                    return Err(invalid("PKCE with S256 is required"));
                }
            }
        }
        let prompt = parse_prompt(get("prompt")?).map_err(invalid)?;
        let max_age = match get("max_age")? {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| invalid("max_age is not a number of seconds"))?,
            ),
        };
        let hint_sub = match get("id_token_hint")? {
            None => None,
            Some(hint) => Some(
                self.verify_id_token_hint(hint, Some(&client.client_id), now)
                    .await?
                    .ok_or_else(|| {
                        invalid("id_token_hint is not an ID token of ours for this client")
                    })?
                    .sub,
            ),
        };
        let mut request = AuthorizationRequest {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope,
            state: state.clone(),
            nonce: get("nonce")?.map(str::to_owned),
            code_challenge: challenge.map(str::to_owned),
            fresh_login: prompt.login,
            max_age: max_age.map(i64::from),
            hint_sub,
            login_hint: get("login_hint")?.map(str::to_owned),
            ui_locales: get("ui_locales")?.map(str::to_owned),
            display: get("display")?.map(str::to_owned),
            acr_values: get("acr_values")?.map(str::to_owned),
            received_at: now,
        };
        let session = self.session(session_id, now).await?;
        let usable = session.filter(|s| {
            let too_old = request
                .max_age
                .is_some_and(|max| max == 0 || (now - s.auth_time).whole_seconds() > max);
            let other_person = request
                .hint_sub
                .as_ref()
                .is_some_and(|sub| *sub != subject(&self.subject_key, &s.hsa_id));
            if too_old || other_person {
                request.fresh_login = true;
            }
            !too_old && !other_person && !prompt.login
        });
        match usable {
            Some(session) => Ok(AuthorizeOutcome::Code(
                self.issue_code(&request, &client, &session, code, now)
                    .await?,
            )),
            None if prompt.none => Err(fail(ErrorCode::LoginRequired, "the person must log in")),
            None => Ok(AuthorizeOutcome::Login(Box::new(request))),
        }
    }

    /// Answers a request that waited for a card login, with the session that login made.
    pub async fn finish_login<R: CryptoRng + ?Sized>(
        &self,
        request: &AuthorizationRequest,
        session_id: &str,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<AuthorizationResponse, AuthorizeError> {
        let session = self.session(Some(session_id), now).await?;
        self.finish_with(request, session, now, rng).await
    }

    /// [`Self::finish_login`] with the session [`Self::create_session`] has just recorded
    /// (in this request, at `now`): the same checks, without reading that session back.
    pub async fn finish_new_login<R: CryptoRng + ?Sized>(
        &self,
        request: &AuthorizationRequest,
        login: &NewSession,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<AuthorizationResponse, AuthorizeError> {
        let session = Some(login.session.clone()).filter(|s| s.is_live(now));
        self.finish_with(request, session, now, rng).await
    }

    async fn finish_with<R: CryptoRng + ?Sized>(
        &self,
        request: &AuthorizationRequest,
        session: Option<LoginSession>,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<AuthorizationResponse, AuthorizeError> {
        let code = AuthCode(random_token(rng));
        let client = self
            .store
            .client(&request.client_id)
            .await
            .map_err(IdpError::from)?
            .filter(|c| {
                c.redirect_uris
                    .iter()
                    .any(|r| redirect_matches(r, &request.redirect_uri))
            })
            .ok_or_else(|| local("the client or its redirect URI is no longer registered"))?;
        let session = session.filter(|s| {
            !(request.fresh_login && s.auth_time < request.received_at)
                && request
                    .max_age
                    .is_none_or(|max| (now - s.auth_time).whole_seconds() <= max.max(1))
        });
        match session {
            Some(session) => self.issue_code(request, &client, &session, code, now).await,
            None => Err(AuthorizeError::Redirect(Box::new(ErrorRedirect {
                redirect_uri: request.redirect_uri.clone(),
                error: OAuthError::new(ErrorCode::LoginRequired, "the login did not finish"),
                state: request.state.clone(),
                iss: self.config.issuer.clone(),
            }))),
        }
    }

    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        client: &OidcClient,
        session: &LoginSession,
        code: AuthCode,
        now: OffsetDateTime,
    ) -> Result<AuthorizationResponse, AuthorizeError> {
        let record = AuthCodeRecord {
            code_sha256: sha256(code.0.as_bytes()),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: request.code_challenge.as_ref().map(|_| "S256".to_owned()),
            nonce: request.nonce.clone(),
            scope: request.scope.join(" "),
            session_sha256: session.id_sha256,
            hsa_id: session.hsa_id.clone(),
            auth_time: session.auth_time,
            acr: session.acr.clone(),
            amr: session.amr.clone(),
            issued_at: now,
            expires_at: now + self.config.code_ttl,
            redeemed_at: None,
            grant_id: None,
        };
        self.store.add_code(&record).await.map_err(IdpError::from)?;
        Ok(AuthorizationResponse {
            redirect_uri: request.redirect_uri.clone(),
            code,
            state: request.state.clone(),
            iss: self.config.issuer.clone(),
        })
    }

    /// The `sub` of an ID token we issued (to `client_id`, when given); expired tokens are
    /// fine as hints. `None` if it is not one of ours.
    pub(crate) async fn verify_id_token_hint(
        &self,
        hint: &str,
        client_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<IdTokenClaims>, IdpError> {
        let keys = self.keys(now).await?;
        Ok(jwt::verify::<IdTokenClaims>(
            &keys,
            hint,
            TYP_ID_TOKEN,
            &self.config.issuer,
            client_id,
            now,
        )
        .ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_a_loopback_port() {
        assert!(redirect_matches("https://rp/cb", "https://rp/cb"));
        assert!(!redirect_matches("https://rp/cb", "https://rp/cb/"));
        assert!(!redirect_matches("https://rp/cb", "https://rp/cb?x=1"));
        assert!(!redirect_matches("https://rp/cb", "HTTPS://rp/cb"));
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53122/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53122/other"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:12@evil/cb"
        ));
    }

    #[test]
    fn prompt_values() {
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
        let p = parse_prompt(Some("login consent")).unwrap_or(Prompt {
            none: true,
            login: false,
        });
        assert!(p.login && !p.none);
    }
}
