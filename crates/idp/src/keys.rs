//! Signing keys: generation (aws-lc-rs; ES256 on P-256 by default, RS256 with RSA-2048),
//! encryption at rest, rotation with overlap, the JWKS document, and the in-memory cache of
//! decrypted keys.
//!
//! A private key exists in the clear only in memory: it is stored as its PKCS#8 encrypted
//! with AES-256-GCM under the [`KeyEncryptionKey`] (a random 96-bit nonce per key, the `kid`
//! as associated data, so a ciphertext cannot be moved to another key's row). The `kid` is
//! the key's RFC 7638 JWK thumbprint. Never logs or returns a private key.
//!
//! Rotation: a new key is published in the JWKS `key_publish_ahead` before it signs; the key
//! it replaces stops signing then, and stays published until every token it signed has
//! expired (token lifetime + leeway + cache time); after that it is deleted.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use eid_store::AuditEvent;
use eid_store::oidc::{KeyState, SigningAlg, SigningKeyRecord};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::params::{b64url, sha256};
use crate::{Backend, IdpError, KeyEncryptionKey, Provider};

/// Version byte of the encrypted-key format: `1 || nonce (12) || ciphertext || tag (16)`.
const FORMAT_V1: u8 = 1;

/// A published key, decrypted when it may still sign.
pub(crate) struct LoadedKey {
    pub(crate) kid: String,
    pub(crate) alg: SigningAlg,
    /// Present unless the key is retired (it will never sign again). Parsed once when the
    /// key set is loaded, not per token.
    pub(crate) signing: Option<SigningKey>,
    pub(crate) decoding: DecodingKey,
    pub(crate) jwk: serde_json::Value,
    pub(crate) record: SigningKeyRecord,
}

/// A decrypted private key, parsed (and checked against its public key) once.
pub(crate) enum SigningKey {
    /// P-256, signing fixed-length `r || s` as JWS wants.
    Es256(EcdsaKeyPair),
    /// RSA, signing RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(aws_lc_rs::rsa::KeyPair),
}

impl SigningKey {
    /// The JWS signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IdpError> {
        let rng = SystemRandom::new();
        match self {
            Self::Es256(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| IdpError::Crypto("JWT signing")),
            Self::Rs256(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| IdpError::Crypto("JWT signing"))?;
                Ok(signature)
            }
        }
    }
}

/// The keys loaded at one instant.
pub(crate) struct KeySet {
    pub(crate) loaded_at: OffsetDateTime,
    pub(crate) keys: Vec<LoadedKey>,
}

impl KeySet {
    /// The key that signs `alg` tokens at `now`: the active one that became active last.
    pub(crate) fn signer(&self, alg: SigningAlg, now: OffsetDateTime) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .filter(|k| {
                k.alg == alg && k.signing.is_some() && k.record.state_at(now) == KeyState::Active
            })
            .max_by_key(|k| k.record.active_from)
    }

    /// A published key by `kid`.
    pub(crate) fn by_kid(&self, kid: &str, now: OffsetDateTime) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.record.state_at(now) != KeyState::Deleted)
    }

    fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys
            .iter()
            .filter(|k| k.record.state_at(now) != KeyState::Deleted)
            .map(|k| k.jwk.clone())
            .collect();
        json!({ "keys": keys })
    }
}

/// Makes a new key pair, encrypts it, and returns its record.
pub(crate) fn generate<R: CryptoRng + ?Sized>(
    alg: SigningAlg,
    kek: &KeyEncryptionKey,
    now: OffsetDateTime,
    active_from: OffsetDateTime,
    rng: &mut R,
) -> Result<SigningKeyRecord, IdpError> {
    let (pkcs8, thumbprint_input, mut jwk) = match alg {
        SigningAlg::ES256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| IdpError::Crypto("P-256 key generation"))?;
            let pkcs8 = pair
                .to_pkcs8v1()
                .map_err(|_| IdpError::Crypto("P-256 key encoding"))?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(IdpError::Crypto("unexpected P-256 public key encoding"));
            }
            let (x, y) = (b64url(&point[1..33]), b64url(&point[33..65]));
            (
                Zeroizing::new(pkcs8.as_ref().to_vec()),
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            )
        }
        SigningAlg::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| IdpError::Crypto("RSA key generation"))?;
            let pkcs8: Pkcs8V1Der<'static> =
                AsDer::as_der(&pair).map_err(|_| IdpError::Crypto("RSA key encoding"))?;
            let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let (n, e) = (b64url(&public.n), b64url(&public.e));
            (
                Zeroizing::new(pkcs8.as_ref().to_vec()),
                format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
                json!({ "kty": "RSA", "n": n, "e": e }),
            )
        }
    };
    let kid = b64url(&sha256(thumbprint_input.as_bytes()));
    if let Some(members) = jwk.as_object_mut() {
        members.insert("kid".into(), json!(kid));
        members.insert("use".into(), json!("sig"));
        members.insert("alg".into(), json!(alg.as_str()));
    }
    let encrypted_private_key = encrypt(kek, &kid, &pkcs8, rng)?;
    Ok(SigningKeyRecord {
        kid,
        alg,
        encrypted_private_key,
        public_jwk: jwk.to_string(),
        created_at: now,
        active_from,
        retire_at: None,
        delete_at: None,
    })
}

fn aes_key(kek: &KeyEncryptionKey) -> Result<LessSafeKey, IdpError> {
    UnboundKey::new(&AES_256_GCM, kek.as_bytes())
        .map(LessSafeKey::new)
        .map_err(|_| IdpError::Crypto("AES-256-GCM key"))
}

fn aad(kid: &str) -> Vec<u8> {
    format!("eid-idp signing key v1 {kid}").into_bytes()
}

fn encrypt<R: CryptoRng + ?Sized>(
    kek: &KeyEncryptionKey,
    kid: &str,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, IdpError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut sealed = plaintext.to_vec();
    aes_key(kek)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(kid)),
            &mut sealed,
        )
        .map_err(|_| IdpError::Crypto("AES-256-GCM encryption"))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The PKCS#8 of a stored key. Fails for a wrong key-encryption key or a moved ciphertext.
pub(crate) fn decrypt(
    kek: &KeyEncryptionKey,
    record: &SigningKeyRecord,
) -> Result<Zeroizing<Vec<u8>>, IdpError> {
    let bad = |reason| IdpError::Key {
        kid: record.kid.clone(),
        reason,
    };
    let blob = &record.encrypted_private_key;
    if blob.first() != Some(&FORMAT_V1) || blob.len() < 1 + NONCE_LEN + 16 {
        return Err(bad("unknown encrypted-key format"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&blob[1..1 + NONCE_LEN]);
    let mut buf = Zeroizing::new(blob[1 + NONCE_LEN..].to_vec());
    let plain = aes_key(kek)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(&record.kid)),
            buf.as_mut_slice(),
        )
        .map_err(|_| bad("cannot decrypt: wrong key-encryption key or altered data"))?;
    Ok(Zeroizing::new(plain.to_vec()))
}

/// Loads a record: its public key always, its private key unless it is retired at `now`.
fn load(
    kek: &KeyEncryptionKey,
    record: SigningKeyRecord,
    now: OffsetDateTime,
) -> Result<LoadedKey, IdpError> {
    let bad = |reason| IdpError::Key {
        kid: record.kid.clone(),
        reason,
    };
    let jwk_value: serde_json::Value =
        serde_json::from_str(&record.public_jwk).map_err(|_| bad("public JWK is not JSON"))?;
    let jwk: Jwk =
        serde_json::from_value(jwk_value.clone()).map_err(|_| bad("public JWK is invalid"))?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| bad("public JWK is unusable"))?;
    let signing = match record.state_at(now) {
        KeyState::Retired | KeyState::Deleted => None,
        KeyState::Next | KeyState::Active => {
            let pkcs8 = decrypt(kek, &record)?;
            Some(match record.alg {
                SigningAlg::ES256 => SigningKey::Es256(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                        .map_err(|_| bad("private key is not a P-256 PKCS#8"))?,
                ),
                SigningAlg::RS256 => SigningKey::Rs256(
                    aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
                        .map_err(|_| bad("private key is not an RSA PKCS#8"))?,
                ),
            })
        }
    };
    Ok(LoadedKey {
        kid: record.kid.clone(),
        alg: record.alg,
        signing,
        decoding,
        jwk: jwk_value,
        record,
    })
}

fn key_event(
    actor: &str,
    action: &str,
    kid: &str,
    now: OffsetDateTime,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: actor.into(),
        action: action.into(),
        subject: kid.into(),
        details,
    }
}

impl<S: Backend> Provider<S> {
    /// The keys as of `now`, from the cache while it is fresh.
    pub(crate) async fn keys(&self, now: OffsetDateTime) -> Result<Arc<KeySet>, IdpError> {
        if let Ok(cache) = self.keys.lock()
            && let Some(set) = cache.as_ref()
            && set.loaded_at <= now
            && now - set.loaded_at < self.config.key_cache_ttl
        {
            return Ok(Arc::clone(set));
        }
        self.reload_keys(now).await
    }

    /// Loads the keys from the store, replacing the cache.
    pub(crate) async fn reload_keys(&self, now: OffsetDateTime) -> Result<Arc<KeySet>, IdpError> {
        let records = self.store.signing_keys(now).await?;
        let keys = records
            .into_iter()
            .map(|r| load(&self.kek, r, now))
            .collect::<Result<Vec<_>, _>>()?;
        let set = Arc::new(KeySet {
            loaded_at: now,
            keys,
        });
        if let Ok(mut cache) = self.keys.lock() {
            *cache = Some(Arc::clone(&set));
        }
        Ok(set)
    }

    /// The signing key for `alg` at `now` (reloading once if the cache has none).
    pub(crate) async fn signer(
        &self,
        alg: SigningAlg,
        now: OffsetDateTime,
    ) -> Result<(Arc<KeySet>, String), IdpError> {
        let set = self.keys(now).await?;
        if let Some(key) = set.signer(alg, now) {
            let kid = key.kid.clone();
            return Ok((set, kid));
        }
        let set = self.reload_keys(now).await?;
        let kid = set
            .signer(alg, now)
            .map(|k| k.kid.clone())
            .ok_or(IdpError::NoSigningKey(alg.as_str()))?;
        Ok((set, kid))
    }

    /// Makes sure a key signs right now for the default algorithm and every algorithm a
    /// registered client uses; creates (and audits) what is missing. Returns the new kids.
    pub async fn ensure_signing_keys<R: CryptoRng + ?Sized>(
        &self,
        now: OffsetDateTime,
        rng: &mut R,
        actor: &str,
    ) -> Result<Vec<String>, IdpError> {
        let mut algs = vec![self.config.default_alg];
        for client in self.store.clients().await? {
            if !algs.contains(&client.id_token_alg) {
                algs.push(client.id_token_alg);
            }
        }
        let set = self.reload_keys(now).await?;
        let mut created = Vec::new();
        for alg in algs {
            if set.signer(alg, now).is_none() {
                let record = generate(alg, &self.kek, now, now, rng)?;
                let event = key_event(
                    actor,
                    "oidc.key.create",
                    &record.kid,
                    now,
                    json!({ "alg": alg.as_str() }),
                );
                self.store.add_signing_key(&record, &event).await?;
                created.push(record.kid);
            }
        }
        if !created.is_empty() {
            self.reload_keys(now).await?;
        }
        Ok(created)
    }

    /// Starts a rotation for `alg`: a new key, published now and signing from
    /// `now + key_publish_ahead`; the keys it replaces stop signing then and stay published
    /// for the overlap. Returns the new kid.
    pub async fn rotate_signing_key<R: CryptoRng + ?Sized>(
        &self,
        alg: SigningAlg,
        now: OffsetDateTime,
        rng: &mut R,
        actor: &str,
    ) -> Result<String, IdpError> {
        let switch_at = now + self.config.key_publish_ahead;
        let delete_at = switch_at + self.config.key_overlap();
        let current = self.store.signing_keys(now).await?;
        let record = generate(alg, &self.kek, now, switch_at, rng)?;
        let event = key_event(
            actor,
            "oidc.key.rotate",
            &record.kid,
            now,
            json!({ "alg": alg.as_str(), "active_from": switch_at.unix_timestamp() }),
        );
        self.store.add_signing_key(&record, &event).await?;
        for old in current.iter().filter(|k| {
            k.alg == alg && k.retire_at.is_none_or(|at| at > switch_at) && k.active_from < switch_at
        }) {
            let event = key_event(
                actor,
                "oidc.key.retire",
                &old.kid,
                now,
                json!({ "retire_at": switch_at.unix_timestamp(), "delete_at": delete_at.unix_timestamp() }),
            );
            self.store
                .retire_signing_key(&old.kid, switch_at, delete_at, &event)
                .await?;
        }
        self.reload_keys(now).await?;
        Ok(record.kid)
    }

    /// The JWKS document at `now`: every published key (next, active, retired), public
    /// members only, each with `kid`, `use: sig` and `alg`.
    pub async fn jwks(&self, now: OffsetDateTime) -> Result<serde_json::Value, IdpError> {
        Ok(self.keys(now).await?.jwks(now))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use rand::SeedableRng;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    #[test]
    fn keys_round_trip_through_encryption_and_refuse_a_wrong_kek_or_moved_row() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let kek = KeyEncryptionKey::generate(&mut rng);
        for alg in [SigningAlg::ES256, SigningAlg::RS256] {
            let record = generate(alg, &kek, T, T, &mut rng).unwrap();
            let loaded = load(&kek, record.clone(), T).unwrap();
            assert!(loaded.signing.is_some());
            assert_eq!(loaded.jwk["kid"], json!(record.kid));
            assert!(loaded.jwk.get("d").is_none());
            let other = KeyEncryptionKey::generate(&mut rng);
            assert!(matches!(
                decrypt(&other, &record),
                Err(IdpError::Key { .. })
            ));
            let mut moved = record.clone();
            moved.kid = "another".into();
            assert!(decrypt(&kek, &moved).is_err());
            assert!(!format!("{record:?}").contains(&hex::encode(&record.encrypted_private_key)));
        }
    }
}
