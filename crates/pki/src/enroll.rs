//! The RA step of a signing-certificate fetch (`enrollSign`): from the card holder's
//! approved key, the card's certificate request (proof of possession) and the card's
//! attestation, to a recorded signing certificate, or the same certificate again when the
//! key already has one (a resumed fetch). The approval itself (the PIN1 signature over the
//! order, the key, the card and the authentication certificate) is the order engine's to
//! check, before it calls [`enroll_signing_key`].
//!
//! A key is certified once: a second fetch with the same key never makes a second
//! certificate. What it gets back depends on whose the key is:
//! - a signing certificate of this card and this holder, valid: delivered again (resumed);
//! - anything else (the card's authentication key, another card's or person's key, a
//!   revoked or expired certificate): refused with the reason.

use rand::CryptoRng;
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use eid_store::{CertKind, CertStatus, CertificateRecord, Store, StoreError};

use crate::asn1::Oid;
use crate::attestation::{
    AttestationError, AttestedKey, KeyAttestation, VendorAttestationRoots,
    verify_signing_key_attestation,
};
use crate::issue::{Facts, KeyCheck, issue_with};
use crate::{CertificateAuthority, Csr, CsrError, IssueError, IssueRequest, Profile};

/// A card holder's approved request for a signing certificate.
#[derive(Debug, Clone)]
pub struct SigningEnrollment<'a> {
    /// The holder (from the verified PIN1 signature's certificate, never from the app).
    pub hsa_id: &'a str,
    /// The card (the order's card, which signed the approval).
    pub card_number: &'a str,
    /// SHA-256 of the DER SubjectPublicKeyInfo the holder approved (signed with PIN1).
    pub approved_key_sha256: [u8; 32],
    /// The PKCS#10 request (DER) for the key, signed on the card.
    pub certificate_request: &'a [u8],
    /// The card's attestation of slot 9C, if the card gave one.
    pub attestation: Option<&'a [u8]>,
    /// The card's F9 certificate, if the app sent it (a plain PIV card's maker's).
    pub attestation_key_certificate: Option<&'a [u8]>,
}

/// The signing certificate for the approved key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The certificate as recorded (committed before this returns).
    pub record: CertificateRecord,
    /// `true` when the key already had this certificate (a resumed fetch): nothing was
    /// issued now.
    pub resumed: bool,
    /// What the card's attestation said, if there was one.
    pub attested: Option<AttestedKey>,
}

/// Why no signing certificate was issued (or delivered again). Nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    /// The certificate request is malformed or its proof of possession does not verify.
    #[error("the certificate request was refused: {0}")]
    Csr(#[from] CsrError),
    /// The request is for another key than the one the card holder approved with PIN1.
    #[error(
        "the certificate request is for another key than the one approved with the security code"
    )]
    NotApprovedKey,
    /// The card's attestation was not accepted.
    #[error("the card's attestation of the key was refused: {0}")]
    Attestation(#[from] AttestationError),
    /// No attestation the platform can check (none, or a card maker's with no maker's
    /// roots configured), and the organisation accepts only keys generated on its cards.
    #[error(
        "the key has no attestation from the card that the platform can check, and the \
         organisation accepts only keys that the card shows it generated"
    )]
    AttestationRequired,
    /// The card is not in the store.
    #[error("no card with number {0} exists")]
    UnknownCard(String),
    /// The RA refused (policy, entitlement, card, person, a key already certified, the
    /// authentication key) or failed.
    #[error("{0}")]
    Issue(#[from] IssueError),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

impl EnrollError {
    /// A stable, machine-readable name of the refusal, for the app to say it in the card
    /// holder's language: `badRequest`, `notApprovedKey`, `attestationRefused`,
    /// `attestationRequired`, `authenticationKey`, `keyAlreadyCertified`,
    /// `signingDisabled`, `notEntitled`, `personNotActive`, `cardNotUsable`,
    /// `noAuthenticationCertificate`, `other`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Csr(_) => "badRequest",
            Self::NotApprovedKey => "notApprovedKey",
            Self::Attestation(_) => "attestationRefused",
            Self::AttestationRequired => "attestationRequired",
            Self::UnknownCard(_) => "cardNotUsable",
            Self::Issue(e) => match e {
                IssueError::KeyIsAuthenticationKey => "authenticationKey",
                IssueError::KeyAlreadyCertified { .. } => "keyAlreadyCertified",
                IssueError::SigningDisabled { .. } => "signingDisabled",
                IssueError::NotEntitled { .. } => "notEntitled",
                IssueError::UnknownPerson(_) | IssueError::PersonInactive(_) => "personNotActive",
                IssueError::UnknownCard(_)
                | IssueError::CardOfAnotherPerson { .. }
                | IssueError::CardNotUsable { .. } => "cardNotUsable",
                IssueError::NoAuthenticationCertificate { .. } => "noAuthenticationCertificate",
                _ => "other",
            },
            _ => "other",
        }
    }
}

/// Decides on `req` and returns the signing certificate of its key: issued now (and
/// recorded with its audit entry by `actor` before it is returned), or the one the key
/// already has when it is this card's and this holder's valid signing certificate. A plain
/// PIV card's attestation is trusted through `roots`.
#[tracing::instrument(skip_all, fields(card = %req.card_number))]
pub async fn enroll_signing_key<R: CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    roots: &VendorAttestationRoots,
    store: &dyn Store,
    req: &SigningEnrollment<'_>,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Enrolled, EnrollError> {
    let csr = Csr::from_der(req.certificate_request)?;
    if *csr.spki_sha256() != req.approved_key_sha256 {
        return Err(EnrollError::NotApprovedKey);
    }
    if let Some(existing) = store.certificate_by_public_key(csr.spki_sha256()).await? {
        return again(req, existing, now);
    }
    let card = store
        .card(req.card_number)
        .await?
        .ok_or_else(|| EnrollError::UnknownCard(req.card_number.to_owned()))?;
    // Read once, for the checks here and for the RA step's (`issue_with`).
    let card_certificates = store.certificates_of_card(&card.card_number).await?;
    let person = store.person_with_organisation(req.hsa_id).await?;
    let attested = match req.attestation.map(|attestation| {
        verify_signing_key_attestation(
            ca,
            roots,
            &card,
            &card_certificates,
            csr.spki_der(),
            &KeyAttestation {
                attestation,
                attestation_key_certificate: req.attestation_key_certificate,
            },
            now,
        )
    }) {
        Some(Ok(attested)) => Some(attested),
        // No attestation, or a card maker's that no configured root could vouch for: an
        // unattested key, which the card holder's organisation decides on (the RA step
        // refuses a card of another person anyway).
        None | Some(Err(AttestationError::NoVendorRoots)) => {
            let organisation = if card.holder == req.hsa_id {
                person.as_ref().and_then(|(_, org)| org.clone())
            } else {
                match store.person(&card.holder).await? {
                    Some(holder) => store.organisation(&holder.org_number).await?,
                    None => None,
                }
            };
            if !organisation.is_some_and(|org| org.accept_unattested_keys) {
                return Err(EnrollError::AttestationRequired);
            }
            None
        }
        Some(Err(e)) => return Err(e.into()),
    };
    let virtual_card = is_virtual_card(ca, &card_certificates);
    let request = IssueRequest {
        hsa_id: req.hsa_id.to_owned(),
        card_number: card.card_number.clone(),
        profile: Profile::Signing,
        csr,
        virtual_card,
    };
    let facts = Facts {
        person,
        card: Some(card),
        card_certificates,
    };
    // The key was found uncertified above; a concurrent fetch with it meets the store's
    // unique constraint.
    match issue_with(ca, store, &request, facts, KeyCheck::Free, actor, now, rng).await {
        Ok(issued) => Ok(Enrolled {
            record: issued.record,
            resumed: false,
            attested,
        }),
        // A concurrent fetch with the same key won the race: its certificate, if it is ours.
        Err(IssueError::KeyAlreadyCertified { .. }) => {
            match store
                .certificate_by_public_key(&req.approved_key_sha256)
                .await?
            {
                Some(existing) => again(req, existing, now),
                None => Err(IssueError::KeyAlreadyCertified { serial: None }.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The key is certified already: the same certificate when it is this card's and this
/// holder's valid signing certificate, else the refusal `issue` would give.
fn again(
    req: &SigningEnrollment<'_>,
    existing: CertificateRecord,
    now: OffsetDateTime,
) -> Result<Enrolled, EnrollError> {
    let ours = existing.kind == CertKind::Signing
        && existing.card_number.as_deref() == Some(req.card_number)
        && existing.hsa_id.as_deref() == Some(req.hsa_id)
        && existing.status == CertStatus::Valid
        && existing.not_before <= now
        && now < existing.not_after;
    if ours {
        return Ok(Enrolled {
            record: existing,
            resumed: true,
            attested: None,
        });
    }
    if existing.kind == CertKind::Authentication
        && existing.card_number.as_deref() == Some(req.card_number)
    {
        return Err(IssueError::KeyIsAuthenticationKey.into());
    }
    Err(IssueError::KeyAlreadyCertified {
        serial: Some(existing.serial),
    }
    .into())
}

/// Whether the card is a virtual card: its valid authentication certificate carries the
/// virtual-card policy (personalisation decided it). A signing certificate follows it, so
/// no relying party takes a software card's signature for a smart card's.
fn is_virtual_card(ca: &CertificateAuthority, card_certificates: &[CertificateRecord]) -> bool {
    let Ok(policy) = Oid::parse(&ca.settings().virtual_card_policy) else {
        return false;
    };
    for record in card_certificates {
        if record.kind != CertKind::Authentication || record.status != CertStatus::Valid {
            continue;
        }
        let Ok((_, cert)) = X509Certificate::from_der(&record.der) else {
            continue;
        };
        for ext in cert.extensions() {
            if let ParsedExtension::CertificatePolicies(policies) = ext.parsed_extension()
                && policies
                    .iter()
                    .any(|p| p.policy_id.as_bytes() == policy.content())
            {
                return true;
            }
        }
    }
    false
}
