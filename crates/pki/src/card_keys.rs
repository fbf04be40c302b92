//! Card management keys (PIV slot 9B) and the PUKs of one-PIN cards: each is diversified
//! from one master key that only the server holds (later: its HSM), so a card file, a
//! database dump or one card's key reveals nothing about another card's.
//!
//! Diversification is HKDF-SHA256 (RFC 5869) with a fixed salt per purpose and the card
//! number as `info`: the master key never leaves this type, and the same card number always
//! gives the same key, so nothing per card needs storing.

use std::fmt;
use std::path::Path;

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

/// Length of the master key in bytes.
const MASTER_LEN: usize = 32;

/// Salts separate the purposes: a PUK can never equal a management key's bytes.
const MANAGEMENT_SALT: &[u8] = b"eid card management key v1";
const PUK_SALT: &[u8] = b"eid one-pin card puk v1";

/// Why a master key cannot be made or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardKeyError {
    /// The file could not be read or written.
    #[error("card master key {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The file does not hold 32 bytes in hex.
    #[error("card master key {0}: not 64 hexadecimal digits")]
    Malformed(String),
    /// The system's random generator failed.
    #[error("the random generator failed")]
    Random,
}

/// The master key from which every card's management key is diversified. A clone is
/// another zeroizing copy (for the server's state and its order engine).
#[derive(Clone)]
pub struct CardMasterKey(Zeroizing<[u8; MASTER_LEN]>);

impl fmt::Debug for CardMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardMasterKey(..)")
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl CardMasterKey {
    /// A new random master key.
    pub fn generate() -> Result<Self, CardKeyError> {
        let mut key = Zeroizing::new([0u8; MASTER_LEN]);
        aws_lc_rs::rand::fill(key.as_mut()).map_err(|_| CardKeyError::Random)?;
        Ok(Self(key))
    }

    /// Reads a master key file (64 hex digits).
    pub fn load(path: &Path) -> Result<Self, CardKeyError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| CardKeyError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?);
        let mut key = Zeroizing::new([0u8; MASTER_LEN]);
        hex::decode_to_slice(text.trim(), key.as_mut())
            .map_err(|_| CardKeyError::Malformed(path.display().to_string()))?;
        Ok(Self(key))
    }

    /// The file form: 64 hex digits and a newline. Write it with mode 0600.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", hex::encode(self.0.as_ref())))
    }

    fn derive<const N: usize>(&self, salt: &[u8], card_number: &str) -> Zeroizing<[u8; N]> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(self.0.as_ref());
        let mut out = Zeroizing::new([0u8; N]);
        let info = [card_number.as_bytes()];
        // HKDF-SHA256 can expand to 255 * 32 bytes; N is at most 16 here, so this cannot fail.
        if let Ok(okm) = prk.expand(&info, Len(N)) {
            let _ = okm.fill(out.as_mut());
        }
        out
    }

    /// The AES-128 management key (PIV 9B) of card `card_number`.
    pub fn management_key(&self, card_number: &str) -> Zeroizing<[u8; 16]> {
        self.derive(MANAGEMENT_SALT, card_number)
    }

    /// The answer to card `card_number`'s management-key challenge: AES-128-ECB of the
    /// 16-byte challenge under the card's diversified key (what the eID app relays to the
    /// card, `docs/card.md` "Security rules"). The key itself never leaves this type.
    /// `None` only if the AES implementation fails, which it does not for one block.
    pub fn management_response(&self, card_number: &str, challenge: &[u8; 16]) -> Option<[u8; 16]> {
        use aws_lc_rs::cipher::{AES_128, EncryptingKey, UnboundCipherKey};
        let key = self.management_key(card_number);
        let mut block = *challenge;
        let key = UnboundCipherKey::new(&AES_128, &key[..]).ok()?;
        EncryptingKey::ecb(key).ok()?.encrypt(&mut block).ok()?;
        Some(block)
    }

    /// The 8-digit PUK of one-PIN card `card_number`, which only the ID administrator uses.
    pub fn one_pin_puk(&self, card_number: &str) -> Zeroizing<String> {
        let bytes = self.derive::<8>(PUK_SALT, card_number);
        // 2^64 / 10^8: the modulo bias is below 10^-10.
        Zeroizing::new(format!("{:08}", u64::from_be_bytes(*bytes) % 100_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_card_and_purpose_and_are_stable() {
        let master = CardMasterKey::generate().unwrap();
        let a = master.management_key("9752000001");
        assert_eq!(*a, *master.management_key("9752000001"));
        assert_ne!(*a, *master.management_key("9752000002"));
        assert_ne!(*a, [0u8; 16]);
        let puk = master.one_pin_puk("9752000001");
        assert_eq!(puk.len(), 8);
        assert!(puk.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(*puk, *master.one_pin_puk("9752000001"));
        let other = CardMasterKey::generate().unwrap();
        assert_ne!(*a, *other.management_key("9752000001"));
    }

    #[test]
    fn the_management_response_is_aes_128_ecb_under_the_card_key() {
        use aws_lc_rs::cipher::{AES_128, DecryptingKey, UnboundCipherKey};
        let master = CardMasterKey::generate().unwrap();
        let challenge = [7u8; 16];
        let response = master
            .management_response("9752000001", &challenge)
            .unwrap();
        assert_ne!(response, challenge);
        assert_ne!(
            Some(response),
            master.management_response("9752000002", &challenge)
        );
        let key = master.management_key("9752000001");
        let key = DecryptingKey::ecb(UnboundCipherKey::new(&AES_128, &key[..]).unwrap()).unwrap();
        let mut block = response;
        key.decrypt(&mut block, aws_lc_rs::cipher::DecryptionContext::None)
            .unwrap();
        assert_eq!(block, challenge);
    }

    #[test]
    fn the_file_form_round_trips_and_junk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let master = CardMasterKey::generate().unwrap();
        std::fs::write(&path, master.to_file_text().as_bytes()).unwrap();
        let loaded = CardMasterKey::load(&path).unwrap();
        assert_eq!(*loaded.management_key("1"), *master.management_key("1"));
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            CardMasterKey::load(&path),
            Err(CardKeyError::Malformed(_))
        ));
        assert!(matches!(
            CardMasterKey::load(&dir.path().join("missing")),
            Err(CardKeyError::Io { .. })
        ));
    }
}
