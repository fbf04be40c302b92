//! Checking a card's attestation of a key: the X.509 certificate that the card's F9 key
//! signs for a slot (`docs/card.md`, "ATTEST"), proving that the slot's key was generated
//! on that card and says which PIN guards it.
//!
//! Who vouches for the F9 key depends on the card:
//! - an eID card: the platform. Its F9 key's certificate was issued by this CA at
//!   personalisation and recorded in the store for the card (kind attestation), so the
//!   trust anchor is the store's record, not anything the app sends. The slot attestation
//!   must be signed by that key, name that card and slot, carry exactly the key being
//!   certified, and say the key is guarded by the right PIN with policy *always*.
//! - a plain PIV card (a YubiKey, enrolled with `eid admin card enroll`): its maker
//!   (`yubikey`), through the F9 certificate the app sends, checked against the operator's
//!   [`VendorAttestationRoots`].

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use eid_store::{Card, CardKind, CertKind, CertStatus, CertificateRecord};

use crate::CertificateAuthority;
use crate::asn1::Oid;

mod yubikey;

pub use yubikey::{VendorAttestationRoots, VendorRootsError};

/// The card arc of the project's X.667 OID (`docs/card.md`): `.1` card number, `.2` slot,
/// `.3` PIN policy, `.4` product number.
const CARD_ARC: &str = "2.25.335355927546609564506616252023372769.2";

/// PIV slot of the signing key.
pub const SLOT_SIGNING: u8 = 0x9C;
/// PIN policy *always* (a fresh verification before every signature).
const POLICY_ALWAYS: u8 = 0x03;
/// PIV references of PIN1 and PIN2.
const REF_PIN1: u8 = 0x80;
const REF_PIN2: u8 = 0x88;

/// What the app sends about the key in slot 9C.
#[derive(Debug, Clone, Copy)]
pub struct KeyAttestation<'a> {
    /// The card's attestation of the key (DER X.509, signed by the card's F9 key).
    pub attestation: &'a [u8],
    /// The F9 key's certificate as the card holds it (object `5FFF01`), if the app sent
    /// it. Needed for a plain PIV card, whose F9 key the card's maker certified; ignored
    /// for an eID card, whose F9 certificate the store holds.
    pub attestation_key_certificate: Option<&'a [u8]>,
}

/// What a verified attestation says about the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedKey {
    /// The card the key was generated on.
    pub card_number: String,
    /// The slot it is in.
    pub slot: u8,
    /// The PIN reference that guards it (`80` PIN1, `88` PIN2).
    pub pin_reference: u8,
    /// The serial of the F9 certificate that anchors the attestation (upper-case hex).
    pub attestation_key_serial: String,
}

/// Why an attestation was not accepted. Nothing changes in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// Not a DER X.509 certificate, or an extension is malformed.
    #[error("the attestation is malformed: {0}")]
    Malformed(String),
    /// The card has no valid attestation-key certificate of this CA in the store.
    #[error("card {0} has no attestation key certified by this CA")]
    NoAttestationKey(String),
    /// Not signed by the card's certified attestation key.
    #[error("the attestation is not signed by the attestation key of card {0}")]
    NotFromCard(String),
    /// A plain PIV card's attestation cannot be checked: no card maker's roots are
    /// configured. The key counts as unattested (the organisation decides).
    #[error(
        "the card's attestation key is its maker's, and no card maker's attestation roots are \
         configured ([cards] vendor_attestation_roots)"
    )]
    NoVendorRoots,
    /// A plain PIV card's attestation key is not vouched for by a configured maker's root.
    #[error("the card maker's attestation is not trusted: {0}")]
    UntrustedMaker(String),
    /// It names another card or slot.
    #[error("the attestation is for card {card} slot {slot:02X}, not for this card's signing slot")]
    WrongCardOrSlot {
        /// The card it names.
        card: String,
        /// The slot it names.
        slot: u8,
    },
    /// It attests another key than the one to certify.
    #[error("the attestation is for another key than the one in the certificate request")]
    WrongKey,
    /// The key is not guarded by the card's signing PIN with policy *always*.
    #[error(
        "the attested key is not guarded by the card's signing code before every signature \
         (policy {policy:02X}, PIN {pin:02X})"
    )]
    WrongPinPolicy {
        /// The policy byte.
        policy: u8,
        /// The PIN reference.
        pin: u8,
    },
}

/// Checks the card's attestation of the key in slot 9C against whoever vouches for the
/// card's F9 key: for an eID card, the attestation-key certificate that `ca` issued for it
/// (among `card_certificates`, the store's records of the card's certificates); for a card
/// without one, the card maker's certificate the app sent, against `roots`. The
/// attestation must be of `spki_der` (a DER SubjectPublicKeyInfo), guarded by PIN2 on a
/// two-PIN card or PIN1 on a one-PIN card, with PIN policy *always*.
pub fn verify_signing_key_attestation(
    ca: &CertificateAuthority,
    roots: &VendorAttestationRoots,
    card: &Card,
    card_certificates: &[CertificateRecord],
    spki_der: &[u8],
    evidence: &KeyAttestation<'_>,
    now: OffsetDateTime,
) -> Result<AttestedKey, AttestationError> {
    let card_number = card.card_number.as_str();
    let certified_by_platform = card_certificates
        .iter()
        .any(|r| r.kind == CertKind::Attestation && r.card_number.as_deref() == Some(card_number));
    match evidence.attestation_key_certificate {
        Some(f9) if !certified_by_platform && card.kind == CardKind::OnePin => {
            yubikey::verify(roots, card_number, spki_der, evidence.attestation, f9, now)
        }
        _ => verify_platform_attestation(
            ca,
            card_certificates,
            card_number,
            card.kind,
            spki_der,
            evidence.attestation,
            now,
        ),
    }
}

/// A certificate in DER with nothing after it.
fn parse(der: &[u8]) -> Result<X509Certificate<'_>, AttestationError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(AttestationError::Malformed(
            "bytes follow the certificate".into(),
        )),
        Err(e) => Err(AttestationError::Malformed(e.to_string())),
    }
}

/// An eID card's attestation, anchored in the store's record of its F9 certificate.
fn verify_platform_attestation(
    ca: &CertificateAuthority,
    card_certificates: &[CertificateRecord],
    card_number: &str,
    card_kind: CardKind,
    spki_der: &[u8],
    attestation_der: &[u8],
    now: OffsetDateTime,
) -> Result<AttestedKey, AttestationError> {
    let malformed = |e: &dyn std::fmt::Display| AttestationError::Malformed(e.to_string());
    let cert = parse(attestation_der)?;
    let (_, issuing) = X509Certificate::from_der(ca.issuing_der()).map_err(|e| malformed(&e))?;

    // The anchor: a valid attestation-key certificate of this card, issued by this CA.
    let mut anchor = None;
    for record in card_certificates {
        if record.card_number.as_deref() != Some(card_number) {
            continue;
        }
        if record.kind != CertKind::Attestation
            || record.status != CertStatus::Valid
            || now < record.not_before
            || now > record.not_after
        {
            continue;
        }
        let Ok((_, f9)) = X509Certificate::from_der(&record.der) else {
            continue;
        };
        if f9.issuer().as_raw() != issuing.subject().as_raw()
            || f9.verify_signature(Some(issuing.public_key())).is_err()
        {
            continue;
        }
        if cert.issuer().as_raw() == f9.subject().as_raw()
            && cert.verify_signature(Some(f9.public_key())).is_ok()
        {
            anchor = Some(record.serial.to_string());
            break;
        }
        // A card has one attestation key; remember that one existed.
        anchor = anchor.or(Some(String::new()));
    }
    let anchor = match anchor {
        None => return Err(AttestationError::NoAttestationKey(card_number.into())),
        Some(s) if s.is_empty() => return Err(AttestationError::NotFromCard(card_number.into())),
        Some(s) => s,
    };

    let arc = |n: u8| {
        Oid::parse(&format!("{CARD_ARC}.{n}"))
            .map(|o| o.content().to_vec())
            .map_err(|e| AttestationError::Malformed(format!("the card arc: {e}")))
    };
    let (card_oid, slot_oid, policy_oid) = (arc(1)?, arc(2)?, arc(3)?);
    let mut card = None;
    let mut slot = None;
    let mut policy = None;
    for ext in cert.extensions() {
        let oid = ext.oid.as_bytes();
        let value = ext.value;
        if oid == card_oid.as_slice() {
            card = Some(der_content(value, 0x0C)?);
        } else if oid == slot_oid.as_slice() {
            slot = Some(der_content(value, 0x04)?);
        } else if oid == policy_oid.as_slice() {
            policy = Some(der_content(value, 0x04)?);
        }
    }
    let missing = |what: &str| AttestationError::Malformed(format!("no {what} extension"));
    let card = String::from_utf8(card.ok_or_else(|| missing("card number"))?)
        .map_err(|_| AttestationError::Malformed("the card number is not UTF-8".into()))?;
    let slot = match slot.ok_or_else(|| missing("slot"))?.as_slice() {
        [s] => *s,
        _ => {
            return Err(AttestationError::Malformed(
                "the slot is not one byte".into(),
            ));
        }
    };
    if card != card_number || slot != SLOT_SIGNING {
        return Err(AttestationError::WrongCardOrSlot { card, slot });
    }
    let (policy, pin) = match policy.ok_or_else(|| missing("PIN policy"))?.as_slice() {
        [p, r] => (*p, *r),
        _ => {
            return Err(AttestationError::Malformed(
                "the PIN policy is not two bytes".into(),
            ));
        }
    };
    let wanted_pin = match card_kind {
        CardKind::TwoPin => REF_PIN2,
        CardKind::OnePin => REF_PIN1,
    };
    if policy != POLICY_ALWAYS || pin != wanted_pin {
        return Err(AttestationError::WrongPinPolicy { policy, pin });
    }
    if !same_key(cert.public_key().raw, spki_der) {
        return Err(AttestationError::WrongKey);
    }
    Ok(AttestedKey {
        card_number: card,
        slot,
        pin_reference: pin,
        attestation_key_serial: anchor,
    })
}

/// The content of a DER TLV with `tag` that fills `value` exactly (short or long form).
fn der_content(value: &[u8], tag: u8) -> Result<Vec<u8>, AttestationError> {
    let bad = || AttestationError::Malformed("an attestation extension is not DER".into());
    let (&t, rest) = value.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    if t != tag {
        return Err(bad());
    }
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 2 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() != len {
        return Err(bad());
    }
    Ok(rest.to_vec())
}

/// Whether two DER SubjectPublicKeyInfos carry the same key (same algorithm and bits).
fn same_key(a: &[u8], b: &[u8]) -> bool {
    use x509_parser::x509::SubjectPublicKeyInfo;
    match (
        SubjectPublicKeyInfo::from_der(a),
        SubjectPublicKeyInfo::from_der(b),
    ) {
        (Ok((ra, ka)), Ok((rb, kb))) => {
            ra.is_empty()
                && rb.is_empty()
                && ka.algorithm.algorithm == kb.algorithm.algorithm
                && ka.algorithm.parameters.as_ref().map(|p| p.as_bytes())
                    == kb.algorithm.parameters.as_ref().map(|p| p.as_bytes())
                && ka.subject_public_key.data == kb.subject_public_key.data
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_contents_are_exact() {
        assert_eq!(
            der_content(&[0x04, 0x01, 0x9C], 0x04).ok(),
            Some(vec![0x9C])
        );
        assert!(der_content(&[0x04, 0x02, 0x9C], 0x04).is_err());
        assert!(der_content(&[0x0C, 0x01, 0x9C], 0x04).is_err());
        assert!(der_content(&[0x04], 0x04).is_err());
        let long = [&[0x0C, 0x81, 0x80][..], &[b'a'; 0x80]].concat();
        assert_eq!(der_content(&long, 0x0C).map(|v| v.len()).ok(), Some(0x80));
    }
}
