//! Secrets as types: [`Pin`] (a PIN, PUK or transport code on its way to the card) and
//! [`ManagementKey`] (the card's AES-128 management key), both zeroized when dropped, and
//! never printed.

use std::fmt;

use aws_lc_rs::cipher::{AES_128, EncryptingKey, UnboundCipherKey};
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

/// An AES-128 card management key (PIV key reference `9B`, algorithm `08`). Zeroized on
/// drop; `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagementKey(Zeroizing<[u8; 16]>);

impl ManagementKey {
    /// The blank-card key: `01 02 … 08` twice, the PIV/YubiKey default pattern.
    pub fn blank_card() -> Self {
        ManagementKey(Zeroizing::new([
            1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
        ]))
    }

    /// A key from its 16 bytes (e.g. diversified from a master key by the server).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let key = ManagementKey(Zeroizing::new(bytes));
        let mut bytes = bytes;
        bytes.zeroize();
        key
    }

    /// The key's bytes (to put into SET MANAGEMENT KEY, or into the card file).
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }

    /// The answer to a management challenge: `AES-128-ECB(key, challenge)`. This is what a
    /// server computes with the diversified key and the app relays to the card. `None` only
    /// if the AES implementation fails, which it does not for one block and a 16-byte key.
    pub fn respond(&self, challenge: &[u8; 16]) -> Option<[u8; 16]> {
        let mut block = *challenge;
        let key = UnboundCipherKey::new(&AES_128, &self.0[..]).ok()?;
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
}
