//! ATTEST (vendor `F9`, as YubiKey): an X.509 certificate, signed by the F9 key, saying
//! that a slot's key was generated on this card and which PIN policy guards it.
//!
//! Two formats, as the two kinds of card give them:
//! - an eID card's: the card number, slot, PIN policy and product in extensions under the
//!   project's card arc; its F9 key is certified by the platform at personalisation;
//! - a plain PIV card's (`CardProfile::piv_only`): YubiKey's, the subject
//!   `CN=YubiKey PIV Attestation <slot>` and Yubico's extensions (firmware, serial, PIN and
//!   touch policy, form factor); its F9 key and certificate are the maker's, installed by
//!   [`VirtualCard::install_factory_attestation`].
//!
//! Written here with a small DER writer rather than rcgen, because the extensions live
//! under the project's X.667 arc (`2.25.<UUID>`), whose 128-bit arc rcgen's `u64` OID
//! components cannot express. The F9 certificate is read with an equally small DER reader
//! (only to copy its subject and validity); the host wrote it, so it is untrusted input.

use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

use super::state::{KeyState, PinId, Secret};
use super::{Answer, VirtualCard, file};
use crate::apdu::Command;
use crate::error::CardFileError;
use crate::piv::{self, p256_spki, policy};
use crate::status::Sw;
use crate::tlv;

/// `2.25.335355927546609564506616252023372769` (see eid-pki's settings) `.2`: the card arc.
const CARD_ARC: [u128; 3] = [2, 25, 335_355_927_546_609_564_506_616_252_023_372_769];
/// Yubico's PIV attestation arc, `1.3.6.1.4.1.41482.3`: `.3` firmware version (3 bytes),
/// `.7` serial number (DER INTEGER), `.8` PIN and touch policy (2 bytes), `.9` form factor.
const YUBICO_ARC: [u128; 8] = [1, 3, 6, 1, 4, 1, 41482, 3];
/// The firmware a plain PIV card says it runs (the YubiKey 5.7 generation: AES-192
/// factory management key and metadata).
const PLAIN_PIV_FIRMWARE: [u8; 3] = [5, 7, 4];
/// Touch policy *never* (a virtual card has no button).
const TOUCH_NEVER: u8 = 0x01;
/// Form factor: USB-A keychain.
const FORM_FACTOR_USB_A: u8 = 0x01;
const ECDSA_WITH_SHA256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];

impl VirtualCard {
    /// The maker's step for a plain PIV card, as Yubico's factory does for each YubiKey: a
    /// new attestation key in F9 and, in object `5FFF01`, the certificate the maker's CA
    /// gives it. `certify` gets the key's SubjectPublicKeyInfo (DER) and answers that
    /// certificate (DER). Written to the card file before it is the card's.
    ///
    /// Refused for an eID card (personalisation makes its F9 key, certified by the
    /// platform) and for a card that has an attestation key already.
    pub fn install_factory_attestation(
        &mut self,
        certify: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> Result<(), CardFileError> {
        let refuse = |why: &str| Err(CardFileError::InvalidProfile(why.into()));
        if !self.state.profile.piv_only {
            return refuse("only a plain PIV card comes with a maker's attestation key");
        }
        if self.state.attestation_key.is_some() {
            return refuse("the card has an attestation key already");
        }
        let internal = |what: &str| CardFileError::InvalidProfile(format!("{what} failed"));
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| internal("key generation"))?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| internal("key encoding"))?;
        let spki = p256_spki(pair.public_key().as_ref()).ok_or_else(|| internal("SPKI"))?;
        let mut object = tlv::encode(0x70, &certify(&spki));
        tlv::put(&mut object, 0x71, &[0x00]);
        tlv::put(&mut object, 0xFE, &[]);

        let mut next = self.state.clone();
        next.attestation_key = Some(KeyState {
            pkcs8: Secret::new(pkcs8.as_ref()),
        });
        next.attestation_certificate = Some(object);
        if let Some(path) = &self.path {
            file::write(path, &next, false)?;
        }
        self.state = next;
        self.keys.insert(piv::SLOT_ATTESTATION, pair);
        Ok(())
    }

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
        let (pin_policy, guard) = if slot == piv::SLOT_SIGNING {
            let guard = match self.state.signing_pin() {
                PinId::Pin2 => piv::REF_PIN2,
                _ => piv::REF_PIN1,
            };
            (policy::ALWAYS, guard)
        } else {
            (policy::ONCE, piv::REF_PIN1)
        };
        let (subject, extensions) = if profile.piv_only {
            // A plain PIV card's number is its serial (`CardProfile::plain_piv`).
            let serial: u32 = profile.card_number.parse().map_err(|_| Sw::INTERNAL)?;
            let extensions = [
                yubico_extension(3, &PLAIN_PIV_FIRMWARE),
                yubico_extension(7, &der_unsigned(serial)),
                yubico_extension(8, &[pin_policy, TOUCH_NEVER]),
                yubico_extension(9, &[FORM_FACTOR_USB_A]),
            ];
            (
                name(&format!("YubiKey PIV Attestation {slot:02x}")),
                extensions.concat(),
            )
        } else {
            let extensions = [
                extension(1, &der(0x0C, profile.card_number.as_bytes())),
                extension(2, &der(0x04, &[slot])),
                extension(3, &der(0x04, &[pin_policy, guard])),
                extension(4, &der(0x0C, profile.product_number.as_bytes())),
            ];
            (
                name(&format!(
                    "eID attestation {} {:02X}",
                    profile.card_number, slot
                )),
                extensions.concat(),
            )
        };

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

/// A non-critical extension `YUBICO_ARC.<n>` whose value is `value` as Yubico writes it
/// (raw bytes, or DER where the arc says so).
fn yubico_extension(n: u128, value: &[u8]) -> Vec<u8> {
    let mut arcs = YUBICO_ARC.to_vec();
    arcs.push(n);
    der(0x30, &[oid(&arcs), der(0x04, value)].concat())
}

/// A DER INTEGER of an unsigned number (minimal, with a leading zero where the top bit is
/// set).
fn der_unsigned(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut content = bytes[skip..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    der(0x02, &content)
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
