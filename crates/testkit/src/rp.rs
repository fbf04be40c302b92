//! A relying party: its registration, authorization request, token exchange, ID token
//! check and userinfo call.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_idp::ClientSpec;
use serde_json::Value;

use crate::browser::{encode, query};

/// The `client_id` of the suites' usual client.
pub const RP: &str = "rp";
/// Its redirect URI.
pub const RP_REDIRECT: &str = "https://rp.example/cb";

/// A confidential client "Testtjänsten" with one redirect URI, scopes `openid profile`,
/// PKCE required and no post-logout redirect URI.
pub fn rp_client(client_id: &str, redirect_uri: &str) -> ClientSpec {
    ClientSpec {
        client_id: client_id.into(),
        name: "Testtjänsten".into(),
        confidential: true,
        redirect_uris: vec![redirect_uri.into()],
        post_logout_redirect_uris: vec![],
        scopes: vec!["openid".into(), "profile".into()],
        pkce_optional: false,
        id_token_alg: None,
    }
}

/// `n` random bytes, base64url without padding.
pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 PKCE challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// A registered client as its relying party knows it.
#[derive(Debug, Clone)]
pub struct Rp {
    /// The provider's issuer (the server's base URL).
    pub issuer: String,
    /// Where this relying party's requests go: the issuer, or one node of several behind
    /// it ([`Rp::via`]).
    pub endpoint: String,
    pub client_id: String,
    /// The client secret (`None` for a public client).
    pub secret: Option<String>,
    /// The first registered redirect URI, which the requests here use.
    pub redirect_uri: String,
    /// The registered scopes, space-separated.
    pub scope: String,
}

/// A relying party's authorization request.
pub struct AuthRequest {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub url: String,
}

impl Rp {
    pub(crate) fn new(issuer: &str, spec: &ClientSpec, secret: Option<String>) -> Self {
        Self {
            issuer: issuer.to_owned(),
            endpoint: issuer.to_owned(),
            client_id: spec.client_id.clone(),
            secret,
            redirect_uri: spec.redirect_uris[0].clone(),
            scope: spec.scopes.join(" "),
        }
    }

    /// The same client sending its requests to `node` (one of several nodes behind the
    /// issuer) while still expecting the issuer's name in what comes back.
    pub fn via(&self, node: &str) -> Rp {
        Rp {
            endpoint: node.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    /// An authorization URL with state, nonce and PKCE (S256), plus `extra`.
    pub fn auth_request(&self, extra: &[(&str, &str)]) -> AuthRequest {
        let (state, nonce, verifier) = (random(16), random(16), random(32));
        let c = challenge(&verifier);
        let mut pairs = vec![
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", "code"),
            ("scope", &self.scope),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &c),
            ("code_challenge_method", "S256"),
        ];
        pairs.extend_from_slice(extra);
        let url = format!("{}/oidc/authorize?{}", self.endpoint, encode(&pairs));
        AuthRequest {
            state,
            nonce,
            verifier,
            url,
        }
    }

    /// The code of a redirect to this client, after checking `state` and `iss`.
    pub fn code(&self, location: &str, request: &AuthRequest) -> String {
        assert!(location.starts_with(&self.redirect_uri), "{location}");
        let q = query(location);
        assert_eq!(q["state"], request.state);
        assert_eq!(q["iss"], self.issuer);
        q.get("code")
            .unwrap_or_else(|| panic!("{location}"))
            .clone()
    }

    /// Redeems `code` (with the PKCE `verifier`, if any) with `client_secret_basic`.
    pub async fn token(&self, code: &str, verifier: Option<&str>) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token_with(&form, true).await
    }

    /// Posts `form` to the token endpoint, authenticated with `client_secret_basic` if
    /// `basic`, else `client_secret_post`. A 200 must not be cached.
    pub async fn token_with(&self, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
        let secret = self.secret.as_deref().unwrap_or_default();
        let mut form = form.to_vec();
        let mut request = reqwest::Client::new()
            .post(format!("{}/oidc/token", self.endpoint))
            .header("content-type", "application/x-www-form-urlencoded");
        if basic {
            let user = encode(&[("a", &self.client_id)]);
            let pass = encode(&[("a", secret)]);
            let creds = format!("{}:{}", &user[2..], &pass[2..]);
            request = request.header("authorization", format!("Basic {}", STANDARD.encode(creds)));
        } else {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", secret));
        }
        let r = request.body(encode(&form)).send().await.unwrap();
        let status = r.status().as_u16();
        if status == 200 {
            assert_eq!(r.headers()["cache-control"], "no-store");
            assert_eq!(r.headers()["pragma"], "no-cache");
        }
        (status, r.json().await.unwrap())
    }

    /// The claims of `id_token`, verified against the provider's JWKS by its `kid`, with
    /// this client as the audience.
    pub async fn verify(&self, id_token: &str) -> Value {
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        let kid = header.kid.clone().unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{}/oidc/jwks", self.endpoint))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwk = jwks.find(&kid).expect("the kid is published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&[&self.issuer]);
        jsonwebtoken::decode::<Value>(id_token, &key, &validation)
            .unwrap()
            .claims
    }

    /// `GET /oidc/userinfo` with `access_token` in the `Authorization` header.
    pub async fn userinfo(&self, access_token: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .get(format!("{}/oidc/userinfo", self.endpoint))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}
