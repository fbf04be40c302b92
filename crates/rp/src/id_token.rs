//! ID token validation, OpenID Connect Core §3.1.3.7, with `now` as an input.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::RpError;

/// Clock skew tolerated between the provider and us, in seconds.
const LEEWAY: i64 = 60;

/// What an ID token must say for this login.
#[derive(Debug)]
pub struct IdTokenExpectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// `max_age` sent in the request: `auth_time` must then be present and recent enough.
    pub max_age: Option<u64>,
    /// Signature algorithms accepted (never `none`, never a shared-secret one).
    pub algorithms: &'a [Algorithm],
    pub now: OffsetDateTime,
}

fn bad(reason: impl Into<String>) -> RpError {
    RpError::IdToken(reason.into())
}

/// The claims of a compact JWS `token` whose signature verifies with a key of `jwks`
/// (by `kid`, or the only key) under one of `algorithms`, with its header. Nothing but
/// the signature is checked: times, audience and issuer are each caller's (ID tokens here,
/// access tokens in the `mypages.api` resource server).
pub fn verify_signature(
    token: &str,
    jwks: &JwkSet,
    algorithms: &[Algorithm],
) -> Result<(jsonwebtoken::Header, Map<String, Value>), String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if !algorithms.contains(&header.alg) {
        return Err(format!("signature algorithm {:?} not accepted", header.alg));
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| "signed by a key the provider does not publish".to_owned())?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable JWK: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| format!("signature: {e}"))?
        .claims;
    Ok((header, claims))
}

/// Checks `token`'s signature against `jwks` and its claims against `expect`; returns the
/// claims.
pub fn verify_id_token(
    token: &str,
    jwks: &JwkSet,
    expect: &IdTokenExpectations<'_>,
) -> Result<Map<String, Value>, RpError> {
    let (header, claims) = verify_signature(token, jwks, expect.algorithms).map_err(bad)?;
    // An access token (RFC 9068 `at+jwt`) must never pass as an ID token.
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
    {
        return Err(bad(format!("type {:?} is not an ID token", header.typ)));
    }
    check_claims(&claims, expect)?;
    Ok(claims)
}

fn check_claims(
    claims: &Map<String, Value>,
    expect: &IdTokenExpectations<'_>,
) -> Result<(), RpError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(expect.issuer) {
        return Err(bad(format!(
            "iss is {:?}, not {:?}",
            text("iss"),
            expect.issuer
        )));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&expect.client_id) {
        return Err(bad("aud does not contain this client"));
    }
    if (audiences.len() > 1 || claims.contains_key("azp")) && text("azp") != Some(expect.client_id)
    {
        return Err(bad("azp does not name this client"));
    }
    if !text("sub").is_some_and(|s| !s.is_empty() && s.len() <= 255) {
        return Err(bad("no usable sub"));
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
    if text("nonce") != Some(expect.nonce) {
        return Err(bad("nonce does not match the request's"));
    }
    if let Some(max_age) = expect.max_age {
        let auth_time = number("auth_time").ok_or_else(|| bad("max_age asked, no auth_time"))?;
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        if now.saturating_sub(auth_time) > max_age.saturating_add(LEEWAY) {
            return Err(bad("the login is older than max_age"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(now: i64) -> IdTokenExpectations<'static> {
        IdTokenExpectations {
            issuer: "https://idp.example",
            client_id: "mypages",
            nonce: "n-1",
            max_age: Some(300),
            algorithms: &[Algorithm::ES256],
            now: OffsetDateTime::from_unix_timestamp(now).unwrap(),
        }
    }

    fn claims(edit: impl FnOnce(&mut Map<String, Value>)) -> Map<String, Value> {
        let mut c = json!({
            "iss": "https://idp.example", "aud": "mypages", "sub": "s", "exp": 1_000_300,
            "iat": 1_000_000, "nonce": "n-1", "auth_time": 1_000_000,
        })
        .as_object()
        .unwrap()
        .clone();
        edit(&mut c);
        c
    }

    #[test]
    fn good_claims_pass() {
        assert!(check_claims(&claims(|_| {}), &expect(1_000_010)).is_ok());
    }

    #[test]
    fn every_claim_check_refuses() {
        type Edit = Box<dyn FnOnce(&mut Map<String, Value>)>;
        let cases: Vec<(&str, Edit, i64)> = vec![
            (
                "iss",
                Box::new(|c| {
                    c.insert("iss".into(), json!("https://evil"));
                }),
                1_000_010,
            ),
            (
                "aud",
                Box::new(|c| {
                    c.insert("aud".into(), json!("other"));
                }),
                1_000_010,
            ),
            (
                "azp",
                Box::new(|c| {
                    c.insert("aud".into(), json!(["mypages", "other"]));
                }),
                1_000_010,
            ),
            (
                "azp",
                Box::new(|c| {
                    c.insert("azp".into(), json!("other"));
                }),
                1_000_010,
            ),
            (
                "sub",
                Box::new(|c| {
                    c.remove("sub");
                }),
                1_000_010,
            ),
            ("expired", Box::new(|_| {}), 1_000_300 + LEEWAY),
            (
                "future",
                Box::new(|c| {
                    c.insert("iat".into(), json!(1_000_100));
                }),
                1_000_010,
            ),
            (
                "nonce",
                Box::new(|c| {
                    c.insert("nonce".into(), json!("n-2"));
                }),
                1_000_010,
            ),
            (
                "nonce",
                Box::new(|c| {
                    c.remove("nonce");
                }),
                1_000_010,
            ),
            (
                "auth_time",
                Box::new(|c| {
                    c.remove("auth_time");
                }),
                1_000_010,
            ),
            (
                "max_age",
                Box::new(|c| {
                    c.insert("exp".into(), json!(2_000_000));
                }),
                1_000_000 + 300 + LEEWAY + 1,
            ),
        ];
        for (what, edit, now) in cases {
            assert!(
                check_claims(&claims(edit), &expect(now)).is_err(),
                "{what} passed"
            );
        }
    }

    fn es256_key() -> jsonwebtoken::EncodingKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref())
    }

    fn jwks(key: &jsonwebtoken::EncodingKey, kid: &str) -> JwkSet {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        JwkSet { keys: vec![jwk] }
    }

    fn sign(key: &jsonwebtoken::EncodingKey, alg: Algorithm, kid: &str, typ: &str) -> String {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(kid.into());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, &claims(|_| {}), key).unwrap()
    }

    #[test]
    fn signatures_are_checked_against_the_published_keys() {
        let key = es256_key();
        let published = jwks(&key, "k1");
        let good = sign(&key, Algorithm::ES256, "k1", "JWT");
        assert!(verify_id_token(&good, &published, &expect(1_000_010)).is_ok());

        let other = es256_key();
        let forged = sign(&other, Algorithm::ES256, "k1", "JWT");
        assert!(verify_id_token(&forged, &published, &expect(1_000_010)).is_err());
        let unknown = sign(&key, Algorithm::ES256, "k2", "JWT");
        let e = verify_id_token(&unknown, &published, &expect(1_000_010)).unwrap_err();
        assert!(e.to_string().contains("does not publish"), "{e}");
        let access_token = sign(&key, Algorithm::ES256, "k1", "at+jwt");
        assert!(verify_id_token(&access_token, &published, &expect(1_000_010)).is_err());
        let shared = jsonwebtoken::EncodingKey::from_secret(b"client secret").unwrap();
        let hs256 = sign(&shared, Algorithm::HS256, "k1", "JWT");
        assert!(verify_id_token(&hs256, &published, &expect(1_000_010)).is_err());
        // alg "none": a token with an empty signature.
        let body = good.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.{body}.");
        assert!(verify_id_token(&none, &published, &expect(1_000_010)).is_err());
    }
}
