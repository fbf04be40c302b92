//! ATTEST (vendor `F9`, as YubiKey): an X.509 certificate, signed by the F9 key, saying
//! that a slot's key was generated on this card, with the card number and slot in
//! extensions.
//!
//! Written here with a small DER writer rather than rcgen, because the extensions live
//! under the project's X.667 arc (`2.25.<UUID>`), whose 128-bit arc rcgen's `u64` OID
//! components cannot express. The F9 certificate is read with an equally small DER reader
//! (only to copy its subject and validity); the host wrote it, so it is untrusted input.

use aws_lc_rs::rand::{self, SystemRandom};

use super::state::PinId;
use super::{Answer, VirtualCard};
use crate::apdu::Command;
use crate::piv::{self, p256_spki, policy};
use crate::status::Sw;
use crate::tlv;

/// `2.25.335355927546609564506616252023372769` (see eid-pki's settings) `.2`: the card arc.
const CARD_ARC: [u128; 3] = [2, 25, 335_355_927_546_609_564_506_616_252_023_372_769];
const ECDSA_WITH_SHA256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
impl VirtualCard {
    pub(super) fn attest(&mut self, cmd: &Command<'_>) -> Answer {
        let slot = cmd.p1;
        if !matches!(slot, piv::SLOT_AUTHENTICATION | piv::SLOT_SIGNING) || cmd.p2 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        let key = self.keys.get(&slot).ok_or(Sw::NO_REFERENCE)?;
        let attestation = self
            .keys
            .get(&piv::SLOT_ATTESTATION)
            .ok_or(Sw::NO_REFERENCE)?;
        let point = aws_lc_rs::signature::KeyPair::public_key(key).as_ref();
        let spki = p256_spki(point).ok_or(Sw::INTERNAL)?;

        let (issuer, validity) = self
            .state
            .attestation_certificate
            .as_deref()
            .and_then(issuer_and_validity)
            .unwrap_or_else(|| {
                (
                    name("eID virtual card attestation"),
                    der(
                        0x30,
                        &[der(0x17, b"000101000000Z"), der(0x18, b"99991231235959Z")].concat(),
                    ),
                )
            });
        let profile = &self.state.profile;
        let subject = name(&format!(
            "eID attestation {} {:02X}",
            profile.card_number, slot
        ));
        let (pin_policy, guard) = if slot == piv::SLOT_SIGNING {
            let guard = match self.state.signing_pin() {
                PinId::Pin2 => piv::REF_PIN2,
                _ => piv::REF_PIN1,
            };
            (policy::ALWAYS, guard)
        } else {
            (policy::ONCE, piv::REF_PIN1)
        };
        let extensions = [
            extension(1, &der(0x0C, profile.card_number.as_bytes())),
            extension(2, &der(0x04, &[slot])),
            extension(3, &der(0x04, &[pin_policy, guard])),
            extension(4, &der(0x0C, profile.product_number.as_bytes())),
        ]
        .concat();

        let mut serial = [0u8; 16];
        rand::fill(&mut serial).map_err(|_| Sw::INTERNAL)?;
        serial[0] = (serial[0] & 0x7F) | 0x40; // positive, 16 bytes, no leading zero
        let algorithm = der(0x30, &ECDSA_WITH_SHA256);
        let tbs = der(
            0x30,
            &[
                der(0xA0, &der(0x02, &[2])),
                der(0x02, &serial),
                algorithm.clone(),
                issuer,
                validity,
                subject,
                spki,
                der(0xA3, &der(0x30, &extensions)),
            ]
            .concat(),
        );
        let signature = attestation
            .sign(&SystemRandom::new(), &tbs)
            .map_err(|_| Sw::INTERNAL)?;
        let mut bits = vec![0u8];
        bits.extend_from_slice(signature.as_ref());
        Ok(der(0x30, &[tbs, algorithm, der(0x03, &bits)].concat()))
    }
}

/// One DER TLV (definite length, any size).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
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

/// An OBJECT IDENTIFIER from arcs (the first two folded as X.690 says).
fn oid(arcs: &[u128]) -> Vec<u8> {
    let mut content = Vec::new();
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut groups = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7F) as u8 | 0x80);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    der(0x06, &content)
}

/// A Name with one CN (UTF8String).
fn name(common_name: &str) -> Vec<u8> {
    let cn = [oid(&[2, 5, 4, 3]), der(0x0C, common_name.as_bytes())].concat();
    der(0x30, &der(0x31, &der(0x30, &cn)))
}

/// A non-critical extension `CARD_ARC.2.<n>` with a DER value.
fn extension(n: u128, value: &[u8]) -> Vec<u8> {
    let mut arcs = CARD_ARC.to_vec();
    arcs.extend_from_slice(&[2, n]);
    der(0x30, &[oid(&arcs), der(0x04, value)].concat())
}

/// The raw subject and validity of a certificate object (`70 <DER> …`), if it is one.
fn issuer_and_validity(object: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let items = tlv::parse_all(object).ok()?;
    let certificate = tlv::find(&items, 0x70)?;
    let (0x30, cert, _) = read(certificate)? else {
        return None;
    };
    let (0x30, tbs, _) = read(cert.1)? else {
        return None;
    };
    let mut rest = tbs.1;
    let mut fields = Vec::new();
    while !rest.is_empty() && fields.len() < 6 {
        let (tag, value, next) = read(rest)?;
        if tag != 0xA0 || !fields.is_empty() {
            fields.push((tag, value.0));
        }
        rest = next;
    }
    // serial, signature algorithm, issuer, validity, subject
    match fields.as_slice() {
        [
            (0x02, _),
            (0x30, _),
            (0x30, _),
            (0x30, validity),
            (0x30, subject),
            ..,
        ] => Some((subject.to_vec(), validity.to_vec())),
        _ => None,
    }
}

/// One DER TLV read: `(tag, (whole TLV, content), rest)`.
type DerItem<'a> = (u8, (&'a [u8], &'a [u8]), &'a [u8]);

/// Reads one DER TLV (definite length of at most 4 length bytes).
fn read(input: &[u8]) -> Option<DerItem<'_>> {
    let [tag, first, after @ ..] = input else {
        return None;
    };
    let (len, header) = if *first < 0x80 {
        (usize::from(*first), 2)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 {
            return None;
        }
        let bytes = after.get(..count)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((*tag, (whole, &whole[header..]), &input[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_arc_encodes_and_decodes() {
        // 2.25 folds to 105 (0x69); the UUID arc decodes back from its base-128 groups.
        let encoded = oid(&CARD_ARC);
        assert_eq!(
            (encoded[0], usize::from(encoded[1]), encoded[2]),
            (0x06, encoded.len() - 2, 0x69)
        );
        let mut value: u128 = 0;
        for b in &encoded[3..] {
            value = (value << 7) | u128::from(b & 0x7F);
        }
        assert_eq!(value, CARD_ARC[2]);
        assert_eq!(oid(&[2, 5, 4, 3]), [0x06, 0x03, 0x55, 0x04, 0x03]);
    }

    #[test]
    fn long_lengths_read_back() {
        let tlv = der(0x30, &vec![7; 300]);
        let (tag, (whole, content), rest) = read(&tlv).unwrap();
        assert_eq!(
            (tag, whole.len(), content.len(), rest.len()),
            (0x30, 304, 300, 0)
        );
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(read(&[0x30, 0x82, 1]).is_none());
    }
}
