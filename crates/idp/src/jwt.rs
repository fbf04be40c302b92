//! Compact JWS for ID tokens and access tokens, on aws-lc-rs (one crypto backend in the
//! workspace). Signing uses the key pairs parsed once when the key set is loaded
//! (`jsonwebtoken::encode` would parse and check the PKCS#8 again for every token);
//! verification goes through the `jsonwebtoken` crate on its aws-lc-rs backend.
//!
//! `jsonwebtoken` checks signatures, algorithm, issuer and audience; it reads the wall clock
//! for `exp`/`nbf`, so those checks are switched off here and done by the callers against
//! the `now` they were given (time is an input). Tokens are never logged.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::IdpError;
use crate::keys::{KeySet, LoadedKey};
use eid_store::oidc::SigningAlg;

/// `typ` of ID tokens.
pub(crate) const TYP_ID_TOKEN: &str = "JWT";
/// `typ` of access tokens (RFC 9068).
pub(crate) const TYP_ACCESS_TOKEN: &str = "at+jwt";

fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::RS256 => Algorithm::RS256,
    }
}

/// Signs `claims` with `key` (which must be able to sign), with `kid` and `typ` headers: a
/// compact JWS, `b64url(header) . b64url(claims) . b64url(signature)`. The key pair was
/// parsed when the key set was loaded, so signing costs one signature.
pub(crate) fn sign<T: Serialize>(
    key: &LoadedKey,
    typ: &str,
    claims: &T,
) -> Result<String, IdpError> {
    let signing = key
        .signing
        .as_ref()
        .ok_or(IdpError::NoSigningKey(key.alg.as_str()))?;
    let mut header = Header::new(algorithm(key.alg));
    header.kid = Some(key.kid.clone());
    header.typ = Some(typ.into());
    let header = serde_json::to_vec(&header).map_err(|_| IdpError::Crypto("JWT header"))?;
    let claims = serde_json::to_vec(claims).map_err(|_| IdpError::Crypto("JWT claims"))?;
    let mut jws = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(&header, &mut jws);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut jws);
    let signature = signing.sign(jws.as_bytes())?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
    Ok(jws)
}

/// Why a token did not verify (kept internal; callers map to an RFC error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Not a JWS of ours: bad syntax, unknown `kid`, wrong `typ` or algorithm.
    Malformed,
    /// The signature, issuer or audience is wrong.
    Invalid,
}

/// Verifies a token of ours: a published `kid`, the key's algorithm, `typ` (compared
/// case-insensitively, `application/` prefix allowed), signature, `iss`, and `aud` when
/// given. Expiry is the caller's check.
pub(crate) fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    typ: &str,
    issuer: &str,
    audience: Option<&str>,
    now: OffsetDateTime,
) -> Result<T, Rejected> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejected::Malformed)?;
    let kid = header.kid.as_deref().ok_or(Rejected::Malformed)?;
    let key = keys.by_kid(kid, now).ok_or(Rejected::Malformed)?;
    let got_typ = header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let got_typ = got_typ.strip_prefix("application/").unwrap_or(&got_typ);
    if got_typ != typ.to_ascii_lowercase() || header.alg != algorithm(key.alg) {
        return Err(Rejected::Malformed);
    }
    let mut validation = Validation::new(algorithm(key.alg));
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|_| Rejected::Invalid)
}
