//! Checks an authentication certificate that an untrusted peer (the eID app completing an
//! order) presents as a card's, and the card's signatures made with its key.
//!
//! A certificate is accepted only when it chains to this platform's issuing CA (issuer name
//! and signature), is within its validity at `now`, and is, byte for byte, a certificate
//! the store recorded as an authentication certificate that is not revoked, of a card that
//! is not revoked or dead, of an active person. What is returned (person, card, record)
//! comes from the store, never from the certificate.
//!
//! This module must never accept a certificate the store does not know, read the clock
//! (`now` is an argument) or trust a name, serial or key that it has not checked against
//! the store.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::FromDer;

use eid_store::{
    Card, CardState, CertKind, CertStatus, CertificateRecord, Person, Serial, Store, StoreError,
};

use crate::CertificateAuthority;

/// Why a presented certificate or signature was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Not a DER X.509 certificate (or bytes follow it).
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    /// Not issued by this platform's issuing CA: another issuer name, or a signature the
    /// issuing CA's key did not make (a tampered or forged certificate).
    #[error("the certificate was not issued by this platform's issuing CA")]
    NotIssuedHere,
    /// Outside its validity period at the time of the check.
    #[error("the certificate is not valid at {now} (valid {not_before} to {not_after})")]
    NotValidAt {
        /// The time of the check.
        now: OffsetDateTime,
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
    /// The store has no certificate with this serial, or not these bytes.
    #[error("the certificate is not one this platform recorded")]
    Unknown,
    /// A recorded certificate of another kind (signing, attestation).
    #[error("the certificate is a {0:?} certificate, not an authentication certificate")]
    NotAuthentication(CertKind),
    /// The certificate is revoked.
    #[error("the certificate {0} is revoked")]
    Revoked(Serial),
    /// The certificate names no card, or a card the store does not have, or a card of
    /// another holder.
    #[error("the certificate's card is not in the store or is not its subject's")]
    UnknownCard,
    /// The card is revoked or dead.
    #[error("card {card} is {state}: it cannot be used")]
    CardNotUsable {
        /// The card number.
        card: String,
        /// Its state, in words.
        state: &'static str,
    },
    /// The certificate's person is not in the store.
    #[error("the certificate's person is not in the store")]
    UnknownPerson,
    /// The person has left (is inactive).
    #[error("{0} is not active")]
    PersonInactive(String),
    /// A key this check does not verify signatures with (only EC P-256 is supported).
    #[error("the certificate's key is not an EC P-256 key")]
    UnsupportedKey,
    /// The signature does not verify with the certificate's key over the given message.
    #[error("the signature does not verify with the certificate's key")]
    BadSignature,
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// An accepted authentication certificate, with its holder and card from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAuthentication {
    /// The card holder (active).
    pub person: Person,
    /// The card (not activated or active).
    pub card: Card,
    /// The certificate's record (authentication, valid).
    pub certificate: CertificateRecord,
    /// The EC P-256 public point (uncompressed).
    point: Vec<u8>,
}

impl ValidAuthentication {
    /// Checks an ECDSA P-256 signature (DER) by the certificate's key over SHA-256 of
    /// `message` (what the card computes when it signs SHA-256 of `message`).
    pub fn verify_signature(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ValidationError> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, signature)
            .map_err(|_| ValidationError::BadSignature)
    }
}

/// Checks `der` as a card's authentication certificate at `now` (see the module docs).
pub async fn validate_authentication_certificate(
    ca: &CertificateAuthority,
    store: &dyn Store,
    der: &[u8],
    now: OffsetDateTime,
) -> Result<ValidAuthentication, ValidationError> {
    let (serial, point) = check_certificate(ca, der, now)?;

    // The certificate, its card and its person in one read, from the store, every time:
    // revocation and deactivation count from the next check on.
    let subject = store
        .certificate_with_subject(&serial)
        .await?
        .filter(|s| s.certificate.der == der)
        .ok_or(ValidationError::Unknown)?;
    let record = subject.certificate;
    if record.kind != CertKind::Authentication {
        return Err(ValidationError::NotAuthentication(record.kind));
    }
    if record.status != CertStatus::Valid {
        return Err(ValidationError::Revoked(record.serial));
    }
    let (Some(_), Some(hsa_id)) = (&record.card_number, &record.hsa_id) else {
        return Err(ValidationError::UnknownCard);
    };
    let card = subject
        .card
        .filter(|c| &c.holder == hsa_id)
        .ok_or(ValidationError::UnknownCard)?;
    let state = match card.state {
        CardState::NotActivated | CardState::Active => None,
        CardState::Revoked => Some("revoked"),
        CardState::Dead => Some("dead"),
    };
    if let Some(state) = state {
        return Err(ValidationError::CardNotUsable {
            card: card.card_number,
            state,
        });
    }
    let person = subject.person.ok_or(ValidationError::UnknownPerson)?;
    if !person.active {
        return Err(ValidationError::PersonInactive(person.hsa_id));
    }
    Ok(ValidAuthentication {
        person,
        card,
        certificate: record,
        point,
    })
}

/// The checks that need no store: form, issuer, CA signature, validity, key. Returns the
/// serial and the public point.
fn check_certificate(
    ca: &CertificateAuthority,
    der: &[u8],
    now: OffsetDateTime,
) -> Result<(Serial, Vec<u8>), ValidationError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| ValidationError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ValidationError::Malformed(
            "bytes follow the certificate".into(),
        ));
    }
    let (_, issuing) = X509Certificate::from_der(ca.issuing_der())
        .map_err(|e| ValidationError::Malformed(format!("the issuing CA certificate: {e}")))?;
    if cert.issuer().as_raw() != issuing.subject().as_raw()
        || cert.verify_signature(Some(issuing.public_key())).is_err()
    {
        return Err(ValidationError::NotIssuedHere);
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if now < not_before || now > not_after {
        return Err(ValidationError::NotValidAt {
            now,
            not_before,
            not_after,
        });
    }
    let serial = Serial::from_be_bytes(cert.raw_serial()).ok_or(ValidationError::Unknown)?;
    let spki = cert.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY || curve != Some(OID_EC_P256) {
        return Err(ValidationError::UnsupportedKey);
    }
    Ok((serial, spki.subject_public_key.data.to_vec()))
}
