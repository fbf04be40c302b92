//! The claims of ID tokens, access tokens and userinfo, and the subject identifier.
//!
//! `sub` is public (the same for every client), stable and opaque: base64url(HMAC-SHA256(
//! subject secret, "eid sub v1 " + HSA-id)), 43 characters. It never changes for a person,
//! does not reveal the HSA-id (that is `employeeHsaId`, under the `profile` scope), and
//! cannot be computed without the installation's secret. Documented in `docs/oidc.md`.

use aws_lc_rs::hmac;
use eid_store::{Organisation, Person};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::params::b64url;

/// `acr` of every login: the Swedish eID framework's LoA 3.
pub const ACR_LOA3: &str = "http://id.elegnamnden.se/loa/1.0/loa3";

/// `amr` of a card login (RFC 8176): hardware key, smart card, PIN.
pub const AMR_CARD: [&str; 3] = ["hwk", "sc", "pin"];

/// Claim names for the organisation (the Swedish eID framework's OIDC claims).
pub const CLAIM_ORG_NAME: &str = "https://id.oidc.se/claim/orgName";
/// The organisation number claim.
pub const CLAIM_ORG_NUMBER: &str = "https://id.oidc.se/claim/orgNumber";

/// The card the login was made with (its card number), in ID and access tokens: My Pages
/// marks that card and offers the signing-certificate fetch only for it. A property of the
/// authentication, like `amr`, so it needs no scope.
pub const CLAIM_CARD_NUMBER: &str = "eidCardNumber";

/// Every claim the provider can issue (for discovery).
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "at_hash",
    "name",
    "given_name",
    "family_name",
    "employeeHsaId",
    CLAIM_ORG_NAME,
    CLAIM_ORG_NUMBER,
    CLAIM_CARD_NUMBER,
];

/// The opaque, stable subject of a person.
pub(crate) fn subject(key: &hmac::Key, hsa_id: &str) -> String {
    let tag = hmac::sign(key, format!("eid sub v1 {hsa_id}").as_bytes());
    b64url(tag.as_ref())
}

/// The `profile` claims of a person.
pub(crate) fn profile(person: &Person, org: Option<&Organisation>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("name".into(), json!(person.common_name()));
    claims.insert("given_name".into(), json!(person.given_name));
    claims.insert("family_name".into(), json!(person.surname));
    claims.insert("employeeHsaId".into(), json!(person.hsa_id));
    claims.insert(CLAIM_ORG_NUMBER.into(), json!(person.org_number));
    if let Some(org) = org {
        claims.insert(CLAIM_ORG_NAME.into(), json!(org.name));
    }
    claims
}

/// An ID token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdTokenClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
    pub(crate) acr: String,
    pub(crate) amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) at_hash: Option<String>,
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// An access token's claims (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessTokenClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: Value,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) auth_time: i64,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) jti: String,
    pub(crate) acr: String,
    pub(crate) amr: Vec<String>,
    /// The login's card ([`CLAIM_CARD_NUMBER`]) and, with `profile`, `employeeHsaId`
    /// (RFC 9068 §2.2.2 identity claims, for the API to find the person).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// `at_hash`: base64url of the left half of SHA-256 over the access token (ES256, RS256).
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = crate::params::sha256(access_token.as_bytes());
    b64url(&digest[..16])
}
