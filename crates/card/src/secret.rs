//! Secrets as types: [`Pin`] (a PIN, PUK or transport code on its way to the card) and
//! [`ManagementKey`] (the card's management key: AES-128, or what a real card comes with), both zeroized when dropped, and
//! never printed.

use std::fmt;

use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, EncryptingKey, UnboundCipherKey};
use des::cipher::{BlockEncrypt, KeyInit};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// A PIN, PUK or transport code, as the holder typed it. Zeroized on drop; `Debug` shows
/// nothing of it.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps the digits. The form is checked when the PIN is used (6–8 digits for a PIN,
    /// exactly 8 for a PUK).
    pub fn new(digits: impl Into<Zeroizing<String>>) -> Self {
        Pin(digits.into())
    }

    /// PIV's on-the-wire form: the digits padded with `FF` to 8 bytes, if the value is
    /// 1 to 8 ASCII digits.
    pub(crate) fn padded(&self) -> Option<Zeroizing<[u8; 8]>> {
        padded(self.0.as_bytes())
    }
}

impl From<&str> for Pin {
    fn from(digits: &str) -> Self {
        Pin::new(Zeroizing::new(digits.to_owned()))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(..)")
    }
}

/// `digits` padded with `FF` to 8 bytes, if they are 1 to 8 ASCII digits.
pub(crate) fn padded(digits: &[u8]) -> Option<Zeroizing<[u8; 8]>> {
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = Zeroizing::new([0xFF; 8]);
    out[..digits.len()].copy_from_slice(digits);
    Some(out)
}

/// The length of a padded PIN's digits if it is well formed: digits, then only `FF`.
pub(crate) fn digits_len(padded: &[u8; 8]) -> Option<usize> {
    let len = padded.iter().position(|b| *b == 0xFF).unwrap_or(8);
    (padded[..len].iter().all(u8::is_ascii_digit) && padded[len..].iter().all(|b| *b == 0xFF))
        .then_some(len)
}

/// The algorithm of a PIV management key (key reference `9B`). The platform sets AES-128
/// keys; the others are what real cards come with (a YubiKey's default key is 3DES before
/// firmware 5.7 and AES-192 from 5.7), needed for the first authentication only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManagementAlgorithm {
    /// `03`: three-key 3DES (24-byte key, 8-byte challenge).
    #[serde(rename = "3des")]
    TripleDes,
    /// `08`: AES-128 (16-byte key, 16-byte challenge): what the platform sets.
    #[default]
    Aes128,
    /// `0A`: AES-192 (24-byte key, 16-byte challenge).
    Aes192,
    /// `0C`: AES-256 (32-byte key, 16-byte challenge).
    Aes256,
}

impl ManagementAlgorithm {
    /// The PIV algorithm byte.
    pub fn byte(self) -> u8 {
        match self {
            ManagementAlgorithm::TripleDes => 0x03,
            ManagementAlgorithm::Aes128 => 0x08,
            ManagementAlgorithm::Aes192 => 0x0A,
            ManagementAlgorithm::Aes256 => 0x0C,
        }
    }

    /// The algorithm a PIV algorithm byte names, if it is a management-key algorithm.
    pub fn from_byte(byte: u8) -> Option<Self> {
        [
            ManagementAlgorithm::TripleDes,
            ManagementAlgorithm::Aes128,
            ManagementAlgorithm::Aes192,
            ManagementAlgorithm::Aes256,
        ]
        .into_iter()
        .find(|a| a.byte() == byte)
    }

    /// The key's length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ManagementAlgorithm::Aes128 => 16,
            ManagementAlgorithm::TripleDes | ManagementAlgorithm::Aes192 => 24,
            ManagementAlgorithm::Aes256 => 32,
        }
    }

    /// The challenge's length in bytes: one block of the cipher.
    pub fn challenge_len(self) -> usize {
        match self {
            ManagementAlgorithm::TripleDes => 8,
            _ => 16,
        }
    }
}

impl fmt::Display for ManagementAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ManagementAlgorithm::TripleDes => "3DES",
            ManagementAlgorithm::Aes128 => "AES-128",
            ManagementAlgorithm::Aes192 => "AES-192",
            ManagementAlgorithm::Aes256 => "AES-256",
        })
    }
}

/// The PIV default management key's bytes: `01 02 … 08` repeated to 32 bytes.
const PIV_DEFAULT: [u8; 32] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// A card management key (PIV key reference `9B`): AES-128 (algorithm `08`) as the
/// platform sets it, or 3DES, AES-192 or AES-256 as a card may come. Zeroized on drop;
/// `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagementKey {
    algorithm: ManagementAlgorithm,
    bytes: Zeroizing<Vec<u8>>,
}

impl ManagementKey {
    /// The blank-card key: `01 02 … 08` twice, the PIV/YubiKey default pattern, as AES-128.
    pub fn blank_card() -> Self {
        Self::piv_default(ManagementAlgorithm::Aes128)
    }

    /// The PIV default key (`01 02 … 08` repeated to the key's length) of `algorithm`: what
    /// a factory card whose management key has that algorithm answers to.
    pub fn piv_default(algorithm: ManagementAlgorithm) -> Self {
        ManagementKey {
            algorithm,
            bytes: Zeroizing::new(PIV_DEFAULT[..algorithm.key_len()].to_vec()),
        }
    }

    /// An AES-128 key from its 16 bytes (e.g. diversified from a master key by the server).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let key = ManagementKey {
            algorithm: ManagementAlgorithm::Aes128,
            bytes: Zeroizing::new(bytes.to_vec()),
        };
        let mut bytes = bytes;
        bytes.zeroize();
        key
    }

    /// A key of `algorithm` from its bytes; `None` if their length is not the algorithm's.
    pub fn new(algorithm: ManagementAlgorithm, bytes: &[u8]) -> Option<Self> {
        (bytes.len() == algorithm.key_len()).then(|| ManagementKey {
            algorithm,
            bytes: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> ManagementAlgorithm {
        self.algorithm
    }

    /// The key's bytes (to put into SET MANAGEMENT KEY, or into the card file).
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// The answer to an AES management challenge: `AES-ECB(key, challenge)`. This is what
    /// a server computes with the diversified key and the app relays to the card. `None`
    /// for a 3DES key (see [`ManagementKey::respond_to`]), or if the AES implementation
    /// fails, which it does not for one block.
    pub fn respond(&self, challenge: &[u8; 16]) -> Option<[u8; 16]> {
        self.respond_to(challenge)?.try_into().ok()
    }

    /// The answer to a challenge of this key's algorithm: the challenge enciphered as one
    /// ECB block. `None` if the challenge is not one block of the algorithm.
    pub fn respond_to(&self, challenge: &[u8]) -> Option<Vec<u8>> {
        if challenge.len() != self.algorithm.challenge_len() {
            return None;
        }
        let mut block = challenge.to_vec();
        let aes = match self.algorithm {
            ManagementAlgorithm::TripleDes => {
                let cipher = des::TdesEde3::new_from_slice(&self.bytes).ok()?;
                cipher.encrypt_block(des::cipher::generic_array::GenericArray::from_mut_slice(
                    &mut block,
                ));
                return Some(block);
            }
            ManagementAlgorithm::Aes128 => &AES_128,
            ManagementAlgorithm::Aes192 => &AES_192,
            ManagementAlgorithm::Aes256 => &AES_256,
        };
        let key = UnboundCipherKey::new(aes, &self.bytes).ok()?;
        EncryptingKey::ecb(key).ok()?.encrypt(&mut block).ok()?;
        Some(block)
    }
}

impl fmt::Debug for ManagementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ManagementKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_pad_as_piv() {
        assert_eq!(
            *Pin::from("123456").padded().unwrap(),
            [b'1', b'2', b'3', b'4', b'5', b'6', 0xFF, 0xFF]
        );
        assert!(Pin::from("12a456").padded().is_none());
        assert!(Pin::from("123456789").padded().is_none());
        assert!(Pin::from("").padded().is_none());
        assert_eq!(digits_len(&Pin::from("1234567").padded().unwrap()), Some(7));
        assert_eq!(
            digits_len(&[b'1', 0xFF, b'2', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            None
        );
        assert_eq!(format!("{:?}", Pin::from("123456")), "Pin(..)");
    }

    #[test]
    fn management_response_is_aes_128_ecb() {
        // FIPS-197 appendix C.1 test vector.
        let key = ManagementKey::from_bytes(
            hex::decode("000102030405060708090a0b0c0d0e0f")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let plain: [u8; 16] = hex::decode("00112233445566778899aabbccddeeff")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex::encode(key.respond(&plain).unwrap()),
            "69c4e0d86a7b0430d8cdb78070b4c55a"
        );
    }

    #[test]
    fn other_algorithms_answer_one_block() {
        // FIPS-197 appendix C.2 and C.3.
        let plain = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        let aes192 = ManagementKey::new(
            ManagementAlgorithm::Aes192,
            &hex::decode("000102030405060708090a0b0c0d0e0f1011121314151617").unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(aes192.respond_to(&plain).unwrap()),
            "dda97ca4864cdfe06eaf70a0ec0d7191"
        );
        let aes256 = ManagementKey::new(
            ManagementAlgorithm::Aes256,
            &hex::decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(aes256.respond_to(&plain).unwrap()),
            "8ea2b7ca516745bfeafc49904b496089"
        );
        // 3DES with three equal keys is single DES: FIPS 81's example.
        let des = ManagementKey::new(
            ManagementAlgorithm::TripleDes,
            &hex::decode("0123456789abcdef".repeat(3)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(
                des.respond_to(&hex::decode("4e6f772069732074").unwrap())
                    .unwrap()
            ),
            "3fa40e8a984d4815"
        );
        assert!(des.respond_to(&plain).is_none(), "3DES blocks are 8 bytes");
        assert!(des.respond(&[0; 16]).is_none());
        assert_eq!(
            ManagementKey::piv_default(ManagementAlgorithm::TripleDes).expose(),
            hex::decode("010203040506070801020304050607080102030405060708").unwrap()
        );
        assert_eq!(
            ManagementAlgorithm::from_byte(0x0A),
            Some(ManagementAlgorithm::Aes192)
        );
        assert_eq!(ManagementAlgorithm::from_byte(0x11), None);
        assert!(ManagementKey::new(ManagementAlgorithm::Aes128, &[0; 24]).is_none());
    }
}
