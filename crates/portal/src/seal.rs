//! Sealing small values (the pending login in a cookie, a session's tokens in the store)
//! with AES-256-GCM, and deriving the portal's keys from one secret.
//!
//! Format: `0x01 || 96-bit random nonce || ciphertext || tag`; the associated data names the
//! purpose (and, for a session's tokens, the session), so a sealed value moved elsewhere
//! does not open.

use aws_lc_rs::{aead, hmac};
use rand::CryptoRng;

use crate::PortalError;

const VERSION: u8 = 1;

/// `HMAC-SHA256(secret, label)`: a 32-byte key for one purpose.
pub(crate) fn derive(secret: &[u8], label: &str) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), label.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(&tag.as_ref()[..32]);
    key
}

/// An AES-256-GCM key.
pub(crate) struct Sealer {
    key: aead::LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<hidden>)")
    }
}

impl Sealer {
    pub(crate) fn new(key: &[u8; 32]) -> Result<Self, PortalError> {
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, key)
            .map_err(|_| PortalError::Internal("an unusable sealing key".into()))?;
        Ok(Self {
            key: aead::LessSafeKey::new(key),
        })
    }

    /// `plain` sealed, bound to `aad`.
    pub(crate) fn seal<R: CryptoRng + ?Sized>(
        &self,
        aad: &[u8],
        plain: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, PortalError> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut data,
            )
            .map_err(|_| PortalError::Internal("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + nonce.len() + data.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// The plain value, or `None` when `sealed` was not sealed by this key for `aad`.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < aead::NONCE_LEN + aead::AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, data) = rest.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, aead::Aad::from(aad), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let mut rng = rand::rng();
        let a = Sealer::new(&derive(b"secret", "a")).unwrap();
        let b = Sealer::new(&derive(b"secret", "b")).unwrap();
        let sealed = a.seal(b"purpose", b"hello", &mut rng).unwrap();
        assert_eq!(a.open(b"purpose", &sealed).unwrap(), b"hello");
        assert!(a.open(b"other", &sealed).is_none());
        assert!(b.open(b"purpose", &sealed).is_none());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(a.open(b"purpose", &flipped).is_none());
        assert!(a.open(b"purpose", &sealed[..10]).is_none());
        assert!(a.open(b"purpose", &[]).is_none());
        assert_ne!(derive(b"secret", "a"), derive(b"secret", "b"));
    }
}
