//! Random values of the order protocol and their hashes. Every token is 32 random bytes,
//! base64url without padding (43 characters); the store sees only SHA-256 of it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::CryptoRng;

/// SHA-256 of `data` (how tokens, session ids and secrets are stored and looked up).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

/// A new token: 32 random bytes, base64url without padding.
pub(crate) fn token<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new order reference: 16 random bytes in the form of a version-4 UUID.
pub(crate) fn order_ref<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h =
        |r: std::ops::Range<usize>| -> String { b[r].iter().map(|x| format!("{x:02x}")).collect() };
    format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_references_have_their_forms() {
        let mut rng = rand::rng();
        let t = token(&mut rng);
        assert_eq!(t.len(), 43);
        assert!(eid_protocol::LaunchLink::token_is_well_formed(&t));
        assert_ne!(t, token(&mut rng));
        let r = order_ref(&mut rng);
        assert_eq!(r.len(), 36);
        assert_eq!(&r[14..15], "4");
        assert!(r.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    }
}
