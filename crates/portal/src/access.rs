//! The `mypages.api` resource server's check of an access token: a JWT access token of the
//! identity provider (RFC 9068), checked as its §4 says, with `now` as an input.
//!
//! - header `typ` is `at+jwt` (or `application/at+jwt`): an ID token never passes;
//! - an asymmetric algorithm (never `none`, never a shared-secret one), a key the provider
//!   publishes (by `kid`), the signature;
//! - `iss` is the provider, `aud` contains `mypages.api`, `exp` not passed and `iat` not in
//!   the future (with [`LEEWAY`]), `sub` and `client_id` present.

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{ApiError, CLAIM_CARD_NUMBER, CLAIM_HSA_ID};

/// Clock skew tolerated between the provider and us, in seconds.
pub const LEEWAY: i64 = 30;

const ACCEPTED: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Where the provider's public keys come from: in `eid serve` the provider in the same
/// process; elsewhere its `jwks_uri`.
#[async_trait]
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// The provider's published keys at `now`.
    async fn keys(&self, now: OffsetDateTime) -> Result<JwkSet, String>;
}

/// The keys of a provider found by discovery: its `jwks_uri`, fetched over HTTP (no
/// redirects, bounded time) and kept for [`DiscoveredKeys::CACHE`]; an unreachable provider
/// is an error, never an empty key set.
pub struct DiscoveredKeys {
    http: reqwest::Client,
    issuer: String,
    cached: tokio::sync::Mutex<Option<(JwkSet, OffsetDateTime)>>,
}

impl std::fmt::Debug for DiscoveredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveredKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl DiscoveredKeys {
    /// How long fetched keys are used before they are fetched again. A provider publishes a
    /// new key well before it signs with it (ours: a day), so a minute is plenty.
    pub const CACHE: time::Duration = time::Duration::seconds(60);

    /// The keys of the provider `issuer`.
    pub fn new(issuer: &str) -> Result<Self, crate::PortalError> {
        Ok(Self {
            http: eid_rp::RelyingParty::http_client()?,
            issuer: issuer.to_owned(),
            cached: tokio::sync::Mutex::new(None),
        })
    }
}

#[async_trait]
impl KeySource for DiscoveredKeys {
    async fn keys(&self, now: OffsetDateTime) -> Result<JwkSet, String> {
        let mut cached = self.cached.lock().await;
        if let Some((keys, fetched)) = cached.as_ref()
            && now < *fetched + Self::CACHE
            && now >= *fetched
        {
            return Ok(keys.clone());
        }
        let metadata = eid_rp::Metadata::discover(&self.http, &self.issuer)
            .await
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the JWKS answered HTTP {}", response.status()));
        }
        let keys: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        *cached = Some((keys.clone(), now));
        Ok(keys)
    }
}

/// What an accepted access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// `sub`.
    pub subject: String,
    /// `client_id`: the client the token was issued to.
    pub client_id: String,
    /// `scope`, space-separated.
    pub scope: String,
    /// `employeeHsaId`, present with the `profile` scope.
    pub hsa_id: Option<String>,
    /// The card the login was made with ([`CLAIM_CARD_NUMBER`]), when the provider says.
    pub card_number: Option<String>,
    /// `auth_time`.
    pub auth_time: Option<OffsetDateTime>,
    /// `exp`.
    pub expires_at: OffsetDateTime,
}

/// What a token must say to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct AccessExpectations<'a> {
    /// The provider's issuer.
    pub issuer: &'a str,
    /// This resource server's audience (`mypages.api`).
    pub audience: &'a str,
    /// Now.
    pub now: OffsetDateTime,
}

fn bad(reason: impl Into<String>) -> ApiError {
    ApiError::InvalidToken(reason.into())
}

/// Checks `token` against `jwks` and `expect`; the claims when it is accepted.
pub fn verify_access_token(
    token: &str,
    jwks: &JwkSet,
    expect: &AccessExpectations<'_>,
) -> Result<AccessClaims, ApiError> {
    let (header, claims) = eid_rp::verify_signature(token, jwks, &ACCEPTED).map_err(bad)?;
    let typ = header.typ.as_deref().unwrap_or_default();
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(bad(format!("type {typ:?} is not an access token (at+jwt)")));
    }
    check_claims(&claims, expect)
}

fn check_claims(
    claims: &Map<String, Value>,
    expect: &AccessExpectations<'_>,
) -> Result<AccessClaims, ApiError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(expect.issuer) {
        return Err(bad("iss is not the identity provider"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expect.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expect.audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(bad(format!("aud does not contain {}", expect.audience)));
    }
    let now = expect.now.unix_timestamp();
    let exp = number("exp").ok_or_else(|| bad("no exp"))?;
    if exp + LEEWAY <= now {
        return Err(bad("expired"));
    }
    let iat = number("iat").ok_or_else(|| bad("no iat"))?;
    if iat > now + LEEWAY {
        return Err(bad("issued in the future"));
    }
    let subject = text("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("no sub"))?;
    let client_id = text("client_id").ok_or_else(|| bad("no client_id"))?;
    let time = |t: i64| OffsetDateTime::from_unix_timestamp(t).map_err(|_| bad("a bad time"));
    Ok(AccessClaims {
        subject: subject.to_owned(),
        client_id: client_id.to_owned(),
        scope: text("scope").unwrap_or_default().to_owned(),
        hsa_id: text(CLAIM_HSA_ID).map(str::to_owned),
        card_number: text(CLAIM_CARD_NUMBER).map(str::to_owned),
        auth_time: number("auth_time").map(time).transpose()?,
        expires_at: time(exp)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    pub(crate) const NOW: i64 = 1_800_000_000;
    pub(crate) const ISSUER: &str = "https://idp.example";

    pub(crate) fn es256_key() -> EncodingKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        EncodingKey::from_ec_der(pkcs8.as_ref())
    }

    pub(crate) fn jwks(key: &EncodingKey, kid: &str) -> JwkSet {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        JwkSet { keys: vec![jwk] }
    }

    pub(crate) fn claims() -> Value {
        json!({
            "iss": ISSUER, "sub": "s-1", "aud": "mypages.api", "exp": NOW + 300, "iat": NOW,
            "auth_time": NOW - 10, "client_id": "mypages",
            "scope": "openid profile mypages.api", "jti": "j",
            "employeeHsaId": "SE2321000016-A1B2", "eidCardNumber": "9752000001",
        })
    }

    pub(crate) fn sign(key: &EncodingKey, kid: &str, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn expect(now: i64) -> AccessExpectations<'static> {
        AccessExpectations {
            issuer: ISSUER,
            audience: "mypages.api",
            now: OffsetDateTime::from_unix_timestamp(now).unwrap(),
        }
    }

    #[test]
    fn a_good_token_passes_with_its_claims() {
        let key = es256_key();
        let token = sign(&key, "k1", "at+jwt", &claims());
        let c = verify_access_token(&token, &jwks(&key, "k1"), &expect(NOW + 5)).unwrap();
        assert_eq!(c.subject, "s-1");
        assert_eq!(c.client_id, "mypages");
        assert_eq!(c.hsa_id.as_deref(), Some("SE2321000016-A1B2"));
        assert_eq!(c.card_number.as_deref(), Some("9752000001"));
        assert_eq!(c.expires_at.unix_timestamp(), NOW + 300);
        let array = {
            let mut c = claims();
            c["aud"] = json!(["other.api", "mypages.api"]);
            c
        };
        let token = sign(&key, "k1", "application/at+jwt", &array);
        assert!(verify_access_token(&token, &jwks(&key, "k1"), &expect(NOW)).is_ok());
    }

    #[test]
    fn every_check_refuses() {
        let key = es256_key();
        let keys = jwks(&key, "k1");
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            sign(&key, "k1", "at+jwt", &c)
        };
        let cases: Vec<(&str, String, i64)> = vec![
            ("iss", edit(&|c| c["iss"] = json!("https://evil")), NOW),
            ("aud", edit(&|c| c["aud"] = json!("mypages")), NOW),
            ("aud array", edit(&|c| c["aud"] = json!(["a", "b"])), NOW),
            ("expired", edit(&|_| {}), NOW + 300 + LEEWAY),
            (
                "no exp",
                edit(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
                NOW,
            ),
            ("future", edit(&|c| c["iat"] = json!(NOW + 100)), NOW),
            ("sub", edit(&|c| c["sub"] = json!("")), NOW),
            (
                "client_id",
                edit(&|c| drop(c.as_object_mut().unwrap().remove("client_id"))),
                NOW,
            ),
            ("an ID token", sign(&key, "k1", "JWT", &claims()), NOW),
            ("unknown kid", sign(&key, "k2", "at+jwt", &claims()), NOW),
            ("forged", sign(&es256_key(), "k1", "at+jwt", &claims()), NOW),
            ("garbage", "a.b.c".into(), NOW),
        ];
        for (what, token, now) in cases {
            let e = verify_access_token(&token, &keys, &expect(now));
            assert!(
                matches!(e, Err(ApiError::InvalidToken(_))),
                "{what} passed: {e:?}"
            );
        }
        // A shared-secret algorithm is never accepted, even with the right claims.
        let shared = EncodingKey::from_secret(b"secret").unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        header.typ = Some("at+jwt".into());
        let hs = jsonwebtoken::encode(&header, &claims(), &shared).unwrap();
        assert!(verify_access_token(&hs, &keys, &expect(NOW)).is_err());
    }
}
