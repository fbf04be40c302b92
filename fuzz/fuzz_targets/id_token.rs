//! The relying party's ID token check on arbitrary input, two ways: the bytes as a compact
//! JWS (never a panic; never accepted, as nothing here signed it), and the bytes as the
//! claims of a token correctly signed with a published key (never a panic; accepted only
//! when every claim check holds).
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use eid_rp::{IdTokenExpectations, verify_id_token};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use time::OffsetDateTime;

struct Keys {
    signing: EncodingKey,
    published: JwkSet,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let signing = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::ES256).expect("a JWK");
        jwk.common.key_id = Some("k1".into());
        Keys {
            signing,
            published: JwkSet { keys: vec![jwk] },
        }
    })
}

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let expect = IdTokenExpectations {
        issuer: "https://idp.example",
        client_id: "mypages",
        nonce: "n-1",
        max_age: Some(600),
        algorithms: &[Algorithm::ES256],
        now: OffsetDateTime::from_unix_timestamp(NOW).expect("a time"),
    };
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(verify_id_token(text, &keys.published, &expect).is_err());
    }
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    let Ok(token) = jsonwebtoken::encode(&header, &claims, &keys.signing) else {
        return;
    };
    if let Ok(accepted) = verify_id_token(&token, &keys.published, &expect) {
        assert_eq!(accepted["iss"], "https://idp.example");
        assert_eq!(accepted["nonce"], "n-1");
        let exp = accepted["exp"].as_i64().expect("an accepted token has exp");
        assert!(exp + 60 > NOW);
    }
});
