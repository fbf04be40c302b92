use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::sync::RwLock;

use crate::id_token::{IdTokenExpectations, verify_id_token};
use crate::{Metadata, RpError};

/// Signature algorithms this relying party accepts in ID tokens, when the provider offers
/// them: asymmetric only.
const ACCEPTED: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];
/// Largest response body read from a provider.
const MAX_BODY: usize = 1 << 20;

/// How this relying party is registered with the provider.
#[derive(Clone)]
pub struct ClientConfig {
    pub client_id: String,
    /// `None` for a public client.
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    /// Without `openid`, which is always sent.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Optional authorization request parameters (OpenID Connect Core §3.1.2.1).
#[derive(Clone, Debug, Default)]
pub struct LoginOptions {
    /// `response_mode`: `query` is the code flow's default (OAuth 2.0 Multiple Response
    /// Types §2.1); some providers and profiles want it said.
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub acr_values: Option<String>,
}

/// What must be kept between [`RelyingParty::begin`] and [`RelyingParty::finish`]: secret
/// to the browser (seal it before putting it in a cookie).
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    nonce: String,
    verifier: String,
    max_age: Option<u64>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin").finish_non_exhaustive()
    }
}

/// A completed login.
#[derive(Clone)]
pub struct Login {
    /// The verified ID token's claims.
    pub claims: Map<String, Value>,
    /// The ID token as received, for `id_token_hint` at logout.
    pub id_token: String,
    pub access_token: String,
}

impl Login {
    pub fn subject(&self) -> &str {
        self.claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// A string claim, if present.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("sub", &self.subject())
            .finish_non_exhaustive()
    }
}

/// A relying party bound to one provider.
#[derive(Debug)]
pub struct RelyingParty {
    http: reqwest::Client,
    metadata: Metadata,
    client: ClientConfig,
    algorithms: Vec<Algorithm>,
    jwks: RwLock<JwkSet>,
}

fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) async fn get_json(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, RpError> {
    let unreachable = |reason: String| RpError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("HTTP {}", response.status())));
    }
    read_body(response).await.map_err(unreachable)
}

async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_BODY {
        return Err("the response is too large".into());
    }
    Ok(bytes.to_vec())
}

impl RelyingParty {
    /// Discovers `issuer`, fetches its keys, and binds `client` to it. `http` must not follow
    /// redirects (see [`RelyingParty::http_client`]).
    pub async fn discover(
        http: reqwest::Client,
        issuer: &str,
        client: ClientConfig,
    ) -> Result<Self, RpError> {
        let metadata = Metadata::discover(&http, issuer).await?;
        let offered = if metadata.id_token_signing_alg_values_supported.is_empty() {
            vec!["RS256".to_owned()] // Discovery §3: RS256 is the default.
        } else {
            metadata.id_token_signing_alg_values_supported.clone()
        };
        let algorithms: Vec<Algorithm> = ACCEPTED
            .into_iter()
            .filter(|a| offered.iter().any(|o| *o == format!("{a:?}")))
            .collect();
        if algorithms.is_empty() {
            return Err(RpError::BadMetadata {
                what: "discovery document",
                reason: format!("no ID token algorithm we accept among {offered:?}"),
            });
        }
        let jwks = Self::fetch_jwks(&http, &metadata.jwks_uri).await?;
        Ok(Self {
            http,
            metadata,
            client,
            algorithms,
            jwks: RwLock::new(jwks),
        })
    }

    /// An HTTP client fit for talking to a provider: no redirects, bounded time.
    pub fn http_client() -> Result<reqwest::Client, RpError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| RpError::Unreachable {
                url: String::new(),
                reason: e.to_string(),
            })
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    async fn fetch_jwks(http: &reqwest::Client, url: &str) -> Result<JwkSet, RpError> {
        let body = get_json(http, url).await?;
        serde_json::from_slice(&body).map_err(|e| RpError::BadMetadata {
            what: "JWKS",
            reason: e.to_string(),
        })
    }

    /// The URL to send the browser to, and what to keep until it comes back.
    pub fn begin<R: CryptoRng + ?Sized>(
        &self,
        options: &LoginOptions,
        rng: &mut R,
    ) -> (String, PendingLogin) {
        let pending = PendingLogin {
            state: random(rng),
            nonce: random(rng),
            verifier: random(rng),
            max_age: options.max_age,
        };
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, pending.verifier.as_bytes()));
        let scope = std::iter::once("openid")
            .chain(
                self.client
                    .scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| *s != "openid"),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let max_age = options.max_age.map(|m| m.to_string());
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client.client_id)
            .append_pair("redirect_uri", &self.client.redirect_uri)
            .append_pair("scope", &scope)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        for (name, value) in [
            ("response_mode", &options.response_mode),
            ("prompt", &options.prompt),
            ("max_age", &max_age),
            ("login_hint", &options.login_hint),
            ("ui_locales", &options.ui_locales),
            ("acr_values", &options.acr_values),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        let endpoint = &self.metadata.authorization_endpoint;
        let joiner = if endpoint.contains('?') { '&' } else { '?' };
        (format!("{endpoint}{joiner}{}", query.finish()), pending)
    }

    /// The callback: checks the authorization response in `query` (the raw query string)
    /// against `pending`, exchanges the code and verifies the ID token.
    pub async fn finish(
        &self,
        query: &str,
        pending: &PendingLogin,
        now: OffsetDateTime,
    ) -> Result<Login, RpError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let one = |name: &str| {
            let mut values = pairs.iter().filter(|(n, _)| n == name);
            match (values.next(), values.next()) {
                (Some((_, v)), None) => Some(v.as_str()),
                _ => None,
            }
        };
        if one("state") != Some(pending.state.as_str()) {
            return Err(RpError::StateMismatch);
        }
        // RFC 9207 §2.4: compare `iss` when present; require it when the provider says it
        // sends it.
        let iss = one("iss");
        if iss.is_some_and(|i| i != self.metadata.issuer)
            || (iss.is_none() && self.metadata.authorization_response_iss_parameter_supported)
        {
            return Err(RpError::IssuerMismatch {
                expected: self.metadata.issuer.clone(),
                found: iss.map(str::to_owned),
            });
        }
        if let Some(error) = one("error") {
            return Err(RpError::Refused {
                error: error.to_owned(),
                description: one("error_description").map(str::to_owned),
            });
        }
        let code = one("code").ok_or(RpError::NoCode)?;
        let tokens = self.exchange(code, &pending.verifier).await?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| RpError::IdToken("the token response has none".into()))?
            .to_owned();
        let access_token = tokens
            .get("access_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let expect = IdTokenExpectations {
            issuer: &self.metadata.issuer,
            client_id: &self.client.client_id,
            nonce: &pending.nonce,
            max_age: pending.max_age,
            algorithms: &self.algorithms,
            now,
        };
        let first = verify_id_token(&id_token, &*self.jwks.read().await, &expect);
        let claims = match first {
            Ok(claims) => claims,
            // The provider may have rotated its keys since we fetched them: fetch once more.
            Err(RpError::IdToken(reason)) if reason.contains("does not publish") => {
                let fresh = Self::fetch_jwks(&self.http, &self.metadata.jwks_uri).await?;
                let claims = verify_id_token(&id_token, &fresh, &expect)?;
                *self.jwks.write().await = fresh;
                claims
            }
            Err(e) => return Err(e),
        };
        Ok(Login {
            claims,
            id_token,
            access_token,
        })
    }

    /// The token request (RFC 6749 §4.1.3 with RFC 7636's verifier), authenticated with
    /// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-encoded first), or as a
    /// public client.
    async fn exchange(&self, code: &str, verifier: &str) -> Result<Map<String, Value>, RpError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &self.client.redirect_uri)
                .append_pair("code_verifier", verifier);
            if self.client.client_secret.is_none() {
                form.append_pair("client_id", &self.client.client_id);
            }
            form.finish()
        };
        let mut request = self
            .http
            .post(&self.metadata.token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some(secret) = &self.client.client_secret {
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = format!("{}:{}", encode(&self.client.client_id), encode(secret));
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(credentials)),
            );
        }
        let url = &self.metadata.token_endpoint;
        let unreachable = |reason: String| RpError::Unreachable {
            url: url.clone(),
            reason,
        };
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = read_body(response).await.map_err(unreachable)?;
        let json: Map<String, Value> = serde_json::from_slice(&body).unwrap_or_default();
        if status != 200 {
            return Err(RpError::TokenRefused {
                status,
                error: json
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no error code)")
                    .to_owned(),
            });
        }
        if !json
            .get("token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("Bearer"))
        {
            return Err(RpError::TokenRefused {
                status,
                error: "the token response is not a Bearer token response".into(),
            });
        }
        Ok(json)
    }

    /// The provider's userinfo for `login`; its `sub` must be the ID token's (Core §5.3.2).
    pub async fn userinfo(&self, login: &Login) -> Result<Map<String, Value>, RpError> {
        let url = self
            .metadata
            .userinfo_endpoint
            .as_deref()
            .ok_or(RpError::BadMetadata {
                what: "discovery document",
                reason: "no userinfo endpoint".into(),
            })?;
        let unreachable = |reason: String| RpError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let response = self
            .http
            .get(url)
            .bearer_auth(&login.access_token)
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status())));
        }
        let body = read_body(response).await.map_err(unreachable)?;
        let info: Map<String, Value> =
            serde_json::from_slice(&body).map_err(|e| RpError::BadMetadata {
                what: "userinfo response",
                reason: e.to_string(),
            })?;
        if info.get("sub").and_then(Value::as_str) != Some(login.subject()) {
            return Err(RpError::BadMetadata {
                what: "userinfo response",
                reason: "its sub is not the ID token's".into(),
            });
        }
        Ok(info)
    }

    /// RP-initiated logout: where to send the browser, if the provider offers it.
    pub fn logout_url(
        &self,
        login: &Login,
        post_logout_redirect_uri: Option<&str>,
    ) -> Option<String> {
        let endpoint = self.metadata.end_session_endpoint.as_deref()?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("id_token_hint", &login.id_token)
            .append_pair("client_id", &self.client.client_id);
        if let Some(uri) = post_logout_redirect_uri {
            query.append_pair("post_logout_redirect_uri", uri);
        }
        let joiner = if endpoint.contains('?') { '&' } else { '?' };
        Some(format!("{endpoint}{joiner}{}", query.finish()))
    }
}

/// Servers run handlers on a multi-threaded runtime: the callback's future must be `Send`.
/// Checked at compile time.
#[allow(dead_code)]
fn finish_is_send(rp: &RelyingParty, pending: &PendingLogin) {
    fn send<T: Send>(_: &T) {}
    send(&rp.finish("", pending, OffsetDateTime::UNIX_EPOCH));
}
