//! A plain PIV card's attestation in YubiKey's format: the card maker's key in slot F9,
//! certified by the maker's CA at the factory, signs a certificate for a slot's key
//! (subject `CN=YubiKey PIV Attestation <slot>`) with the card's serial number and the
//! key's PIN and touch policy in extensions under Yubico's arc `1.3.6.1.4.1.41482.3`.
//!
//! The platform did not certify the F9 key, so the anchor is the operator's choice: the
//! certificates in [`VendorAttestationRoots`] (Yubico's published PIV attestation roots and
//! intermediates). The app sends the F9 certificate (object `5FFF01`) beside the
//! attestation; it is untrusted until an anchor's signature on it verifies.

use std::path::Path;

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use super::{AttestationError, AttestedKey, der_content, same_key};
use crate::asn1::Oid;

/// Yubico's PIV attestation arc; `.7` is the serial number (DER INTEGER), `.8` the PIN and
/// touch policy (two bytes: PIN policy, touch policy).
const YUBICO_ARC: &str = "1.3.6.1.4.1.41482.3";
/// The subject common name of a slot attestation, before the slot in lower-case hex.
const SUBJECT_PREFIX: &str = "YubiKey PIV Attestation ";
/// A YubiKey has one PIN (PIV's card PIN, reference 80).
const REF_PIV_PIN: u8 = 0x80;

/// The certificates trusted to vouch for a card maker's attestation key (slot F9) on plain
/// PIV cards: Yubico's PIV attestation roots and intermediates, as the operator configures
/// them (`[cards] vendor_attestation_roots`). Every certificate here is a trust anchor.
/// Empty: no maker's attestation is trusted, and plain PIV cards' keys go unattested.
#[derive(Debug, Clone, Default)]
pub struct VendorAttestationRoots {
    anchors: Vec<Vec<u8>>,
}

/// Why a file of vendor attestation roots was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VendorRootsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The text is not PEM, holds something other than certificates, or none.
    #[error("{0}")]
    Invalid(String),
}

impl VendorAttestationRoots {
    /// Reads the PEM certificates (`-----BEGIN CERTIFICATE-----`) of `path`.
    pub fn load(path: &Path) -> Result<Self, VendorRootsError> {
        let text = std::fs::read(path).map_err(|source| VendorRootsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&text).map_err(|e| match e {
            VendorRootsError::Invalid(why) => {
                VendorRootsError::Invalid(format!("{}: {why}", path.display()))
            }
            other => other,
        })
    }

    /// The certificates of a PEM text: at least one, each a CA certificate (basic
    /// constraints `cA`), nothing else in the text.
    pub fn from_pem(text: &[u8]) -> Result<Self, VendorRootsError> {
        let invalid = |why: String| VendorRootsError::Invalid(why);
        let blocks = pem::parse_many(text).map_err(|e| invalid(format!("not PEM: {e}")))?;
        if blocks.is_empty() {
            return Err(invalid("no certificate in it".into()));
        }
        let mut anchors = Vec::new();
        for (n, block) in blocks.iter().enumerate() {
            if block.tag() != "CERTIFICATE" {
                return Err(invalid(format!(
                    "block {} is a {}, not a CERTIFICATE",
                    n + 1,
                    block.tag()
                )));
            }
            let der = block.contents();
            let cert = super::parse(der)
                .map_err(|_| invalid(format!("certificate {} is not DER X.509", n + 1)))?;
            if !is_ca(&cert) {
                return Err(invalid(format!(
                    "certificate {} ({}) is not a CA certificate",
                    n + 1,
                    cert.subject()
                )));
            }
            anchors.push(der.to_vec());
        }
        Ok(Self { anchors })
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The anchor that signed `cert` and is valid at `now`, if any.
    fn issuer_of(&self, cert: &X509Certificate<'_>, now: OffsetDateTime) -> Option<String> {
        self.anchors.iter().find_map(|der| {
            let (_, anchor) = X509Certificate::from_der(der).ok()?;
            let valid = anchor.validity().not_before.to_datetime() <= now
                && now <= anchor.validity().not_after.to_datetime();
            (valid
                && anchor.subject().as_raw() == cert.issuer().as_raw()
                && cert.verify_signature(Some(anchor.public_key())).is_ok())
            .then(|| anchor.subject().to_string())
        })
    }
}

/// Whether `cert` says it is a CA (basic constraints with `cA`).
fn is_ca(cert: &X509Certificate<'_>) -> bool {
    cert.extensions()
        .iter()
        .any(|ext| matches!(ext.parsed_extension(), ParsedExtension::BasicConstraints(bc) if bc.ca))
}

/// Checks a plain PIV card's attestation (`attestation_der`) of the key in slot 9C: the F9
/// certificate (`f9_der`) is signed by one of `roots`, valid now, and names the card's
/// serial if it names one; the attestation is signed by the F9 key and says slot 9C, serial
/// `card_number`, PIN policy *always*, and the key `spki_der`.
pub(super) fn verify(
    roots: &VendorAttestationRoots,
    card_number: &str,
    spki_der: &[u8],
    attestation_der: &[u8],
    f9_der: &[u8],
    now: OffsetDateTime,
) -> Result<AttestedKey, AttestationError> {
    let cert = super::parse(attestation_der)?;
    let f9 = super::parse(f9_der)?;
    if roots.is_empty() {
        return Err(AttestationError::NoVendorRoots);
    }
    let f9_valid = f9.validity().not_before.to_datetime() <= now
        && now <= f9.validity().not_after.to_datetime();
    if !f9_valid || roots.issuer_of(&f9, now).is_none() {
        return Err(AttestationError::UntrustedMaker(format!(
            "the card's attestation key certificate ({}, issued by {}) is not signed by a \
             configured root, or not valid now",
            f9.subject(),
            f9.issuer()
        )));
    }
    if cert.issuer().as_raw() != f9.subject().as_raw()
        || cert.verify_signature(Some(f9.public_key())).is_err()
    {
        return Err(AttestationError::NotFromCard(card_number.into()));
    }

    let slot = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .and_then(|cn| cn.strip_prefix(SUBJECT_PREFIX))
        .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        .ok_or_else(|| {
            AttestationError::Malformed(format!(
                "the subject is not `{SUBJECT_PREFIX}<slot>`: {}",
                cert.subject()
            ))
        })?;
    let serial = serial_of(&cert)?
        .ok_or_else(|| AttestationError::Malformed("no serial number extension".into()))?;
    if serial_of(&f9)?.is_some_and(|f9_serial| f9_serial != serial) {
        return Err(AttestationError::NotFromCard(card_number.into()));
    }
    if serial.to_string() != card_number || slot != super::SLOT_SIGNING {
        return Err(AttestationError::WrongCardOrSlot {
            card: serial.to_string(),
            slot,
        });
    }
    let policy = extension(&cert, 8)?
        .ok_or_else(|| AttestationError::Malformed("no PIN policy extension".into()))?;
    let [pin_policy, _touch] = policy[..] else {
        return Err(AttestationError::Malformed(
            "the PIN and touch policy is not two bytes".into(),
        ));
    };
    if pin_policy != super::POLICY_ALWAYS {
        return Err(AttestationError::WrongPinPolicy {
            policy: pin_policy,
            pin: REF_PIV_PIN,
        });
    }
    if !same_key(cert.public_key().raw, spki_der) {
        return Err(AttestationError::WrongKey);
    }
    Ok(AttestedKey {
        card_number: card_number.into(),
        slot,
        pin_reference: REF_PIV_PIN,
        attestation_key_serial: hex::encode_upper(f9.raw_serial()),
    })
}

/// The value of extension `YUBICO_ARC.<n>`, if the certificate has it.
fn extension<'a>(
    cert: &'a X509Certificate<'_>,
    n: u8,
) -> Result<Option<&'a [u8]>, AttestationError> {
    let oid = Oid::parse(&format!("{YUBICO_ARC}.{n}"))
        .map_err(|e| AttestationError::Malformed(format!("Yubico's arc: {e}")))?;
    Ok(cert
        .extensions()
        .iter()
        .find(|ext| ext.oid.as_bytes() == oid.content())
        .map(|ext| ext.value))
}

/// The serial number extension (`.7`, a DER INTEGER of at most 32 bits), if present.
fn serial_of(cert: &X509Certificate<'_>) -> Result<Option<u32>, AttestationError> {
    let Some(value) = extension(cert, 7)? else {
        return Ok(None);
    };
    let bad = || AttestationError::Malformed("the serial number is not a 32-bit INTEGER".into());
    let content = der_content(value, 0x02)?;
    let digits = match content.as_slice() {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => rest,
        [first, ..] if first & 0x80 == 0 => &content[..],
        _ => return Err(bad()),
    };
    if digits.len() > 4 {
        return Err(bad());
    }
    Ok(Some(
        digits
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
    ))
}
