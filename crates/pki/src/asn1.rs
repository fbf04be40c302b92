//! A minimal DER *writer* for the few structures rcgen does not write itself
//! (certificatePolicies, authorityInfoAccess, subjectKeyIdentifier, a canonical
//! SubjectPublicKeyInfo) and dotted object identifiers.
//!
//! Writing only: every parser of untrusted input in this crate is x509-parser. What is
//! written here is checked by parsing it back with x509-parser and OpenSSL in the tests.

/// Universal tags used here.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// `[6] IMPLICIT IA5String`: a GeneralName's uniformResourceIdentifier.
    pub(crate) const GENERAL_NAME_URI: u8 = 0x86;
}

/// One TLV: `tag`, the DER length of `content`, `content`.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded elements.
pub(crate) fn sequence(elements: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &elements.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped, a zero
/// byte added when the top bit is set, as DER requires).
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[start..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(tag::INTEGER, &content)
}

/// A BIT STRING with no unused bits.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(tag::BIT_STRING, &content)
}

/// An object identifier, parsed from its dotted form and kept with its DER encoding.
///
/// Arcs may be as large as `u128`, so the `2.25.<UUID>` arc (X.667) fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Oid {
    /// The content octets (without tag and length).
    content: Vec<u8>,
}

impl Oid {
    /// Parses `1.2.3` form. The error says what is wrong, for the caller to put in context.
    pub(crate) fn parse(dotted: &str) -> Result<Self, &'static str> {
        let mut arcs = Vec::new();
        for part in dotted.split('.') {
            if part.is_empty() {
                return Err("it has an empty arc");
            }
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err("arcs must be decimal numbers separated by dots");
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err("an arc has a leading zero");
            }
            let arc: u128 = part.parse().map_err(|_| "an arc is too large")?;
            arcs.push(arc);
        }
        let (first, second) = match arcs.as_slice() {
            [first, second, ..] => (*first, *second),
            _ => return Err("it needs at least two arcs"),
        };
        if first > 2 {
            return Err("the first arc must be 0, 1 or 2");
        }
        if first < 2 && second >= 40 {
            return Err("the second arc must be below 40 under arcs 0 and 1");
        }
        let head = first
            .checked_mul(40)
            .and_then(|v| v.checked_add(second))
            .ok_or("an arc is too large")?;
        let mut content = Vec::new();
        for arc in std::iter::once(head).chain(arcs[2..].iter().copied()) {
            push_base128(&mut content, arc);
        }
        Ok(Self { content })
    }

    /// The content octets of the DER encoding (what x509-parser's `Oid::as_bytes` returns).
    pub(crate) fn content(&self) -> &[u8] {
        &self.content
    }

    /// The full DER encoding (tag, length, content).
    pub(crate) fn der(&self) -> Vec<u8> {
        tlv(tag::OID, &self.content)
    }
}

/// Base-128, most significant group first, continuation bit on all but the last.
fn push_base128(out: &mut Vec<u8>, mut value: u128) {
    let mut groups = [0u8; 19];
    let mut n = 0;
    loop {
        groups[n] = (value & 0x7f) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(if i == 0 { groups[i] } else { groups[i] | 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_encodings_match_known_values() {
        // id-ad-ocsp
        let oid = Oid::parse("1.3.6.1.5.5.7.48.1").unwrap();
        assert_eq!(oid.der(), [0x06, 0x08, 0x2b, 6, 1, 5, 5, 7, 0x30, 1]);
        // 2.25.<uuid>: multi-byte head and a 128-bit arc; bytes from
        // `openssl asn1parse -genstr OID:2.25.329800735698586629295641978511506172918`.
        let oid = Oid::parse("2.25.329800735698586629295641978511506172918").unwrap();
        assert_eq!(
            hex::encode(oid.der()),
            "06146983f09da7ebcfdee0c7a1a7b2c0948cc8f9d776"
        );
    }

    #[test]
    fn bad_oids_are_refused() {
        for bad in [
            "", "1", "1.", ".1", "1..2", "3.1", "1.40", "1.2a", "1.02", "-1.2",
        ] {
            assert!(Oid::parse(bad).is_err(), "{bad}");
        }
        assert!(Oid::parse("2.999.1").is_ok());
        assert!(Oid::parse("2.25.340282366920938463463374607431768211456").is_err()); // 2^128
    }

    #[test]
    fn lengths_and_integers_are_der() {
        assert_eq!(tlv(0x04, &[0; 127])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[0; 128])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(unsigned_integer(&[0, 0, 0x7f]), [0x02, 1, 0x7f]);
        assert_eq!(unsigned_integer(&[0x80]), [0x02, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), [0x02, 1, 0]);
    }
}
