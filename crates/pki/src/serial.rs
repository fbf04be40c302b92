//! Certificate serial numbers: random, from the RNG the caller passes in.

use rand::CryptoRng;

/// A random 16-byte serial: the top bit cleared (a positive INTEGER) and the next bit set
/// (so the encoding is always 16 bytes, never a shorter one with leading zeros dropped).
/// That leaves 126 random bits, well above the 64 the CA/Browser Forum asks for.
pub(crate) fn random_serial<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; 16] {
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn serials_are_positive_sixteen_bytes_and_differ() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = random_serial(&mut rng);
        let b = random_serial(&mut rng);
        assert_ne!(a, b);
        for s in [a, b] {
            assert_eq!(s[0] & 0xc0, 0x40);
        }
    }
}
