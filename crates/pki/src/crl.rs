//! Certificate revocation lists (RFC 5280 §5) of the issuing CA: version 2, signed by the
//! issuing CA's key through the [`crate::Signer`] seam, with `thisUpdate`, `nextUpdate`
//! (always present, as §5.1.2.5 requires of conforming issuers), the CRL number and the
//! authority key identifier (both required by §5.2), and a reason code per entry.
//!
//! Built with rcgen, as the certificates are. What goes in (which revocations, which
//! number, when the next one is due) is the caller's: the store knows the revocations and
//! the schedule is the server's.

use eid_store::{RevocationReason, Serial};
use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::CertificateAuthority;

/// One revoked certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Serial,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// Why a CRL could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// `nextUpdate` must be after `thisUpdate`.
    #[error("the next update ({next}) must be after this update ({this})")]
    BadPeriod {
        this: OffsetDateTime,
        next: OffsetDateTime,
    },
    /// The issuing CA certificate has no subject key identifier to name in the CRL.
    #[error("the issuing CA certificate has no subject key identifier")]
    NoKeyIdentifier,
    /// Signing failed (the CA key is unusable).
    #[error("the CRL could not be signed: {0}")]
    Sign(String),
}

fn reason(r: RevocationReason) -> rcgen::RevocationReason {
    match r {
        RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
        RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
        RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
        RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
    }
}

/// The issuing CA certificate's subject key identifier: the CRL's authority key identifier
/// must name the same key.
fn subject_key_identifier(issuing_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(issuing_der).ok()?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

/// Big-endian bytes without leading zeros (one zero byte for zero).
fn minimal(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

impl CertificateAuthority {
    /// A CRL numbered `number` listing `revoked`, valid from `this_update` until
    /// `next_update`; DER.
    pub fn crl(
        &self,
        revoked: &[RevokedEntry],
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, CrlError> {
        if next_update <= this_update {
            return Err(CrlError::BadPeriod {
                this: this_update,
                next: next_update,
            });
        }
        let ski = subject_key_identifier(self.issuing_der()).ok_or(CrlError::NoKeyIdentifier)?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(minimal(&number.to_be_bytes())),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(r.serial.as_bytes()),
                    revocation_time: r.revoked_at,
                    reason_code: Some(reason(r.reason)),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(ski),
        };
        let crl = params
            .signed_by(self.issuer())
            .map_err(|e| CrlError::Sign(e.to_string()))?;
        Ok(crl.der().to_vec())
    }
}
