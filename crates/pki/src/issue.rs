//! The RA step: decides whether a certificate may be issued (person, card, policy, key),
//! has the CA sign it, and records it with its audit entry **before** returning it. Two
//! entry points share the checks of card and key and the signing and recording:
//! [`issue`] for a person's key, [`issue_attestation`] for a card's attestation key.
//!
//! On any refusal or failure nothing in the store changes. Of two concurrent requests for
//! the same public key exactly one succeeds: the store's unique constraint decides.

use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;

use eid_store::{
    AuditEvent, CardState, CertKind, CertStatus, CertificateRecord, Conflict, Missing,
    Organisation, Person, Serial, SigningPolicy, Store, StoreError,
};

use eid_store::Card;

use crate::ca::LeafError;
use crate::csr::CanonicalKey;
use crate::profile::{Leaf, PersonName, Subject, key_identifier};
use crate::serial::random_serial;
use crate::{CertificateAuthority, Csr, Profile, PublicKeyKind, SubjectError};

/// How many random serials to try when one is taken (practically never: 126 random bits).
const SERIAL_ATTEMPTS: usize = 3;

/// A request to certify a card's key for a person.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The certificate's subject; must be the card's holder.
    pub hsa_id: String,
    /// The card that holds the key.
    pub card_number: String,
    /// Authentication or signing.
    pub profile: Profile,
    /// The checked request with the key to certify. Only its key is used.
    pub csr: Csr,
    /// Whether the key is on a virtual card (the certificate then carries only the
    /// virtual-card policy).
    pub virtual_card: bool,
}

/// An issued and recorded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The record as committed to the store (DER, serial, validity, key hash).
    pub record: CertificateRecord,
    /// The certificate, PEM.
    pub pem: String,
}

/// Why a certificate was not issued. The store is unchanged in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// No person has this HSA-id.
    #[error("no person with HSA-id {0} exists")]
    UnknownPerson(String),
    /// The person has left (is inactive).
    #[error("{0} is not active (has left the organisation): no certificates are issued")]
    PersonInactive(String),
    /// No card has this number.
    #[error("no card with number {0} exists")]
    UnknownCard(String),
    /// The card belongs to someone else.
    #[error("card {card} does not belong to {hsa_id}")]
    CardOfAnotherPerson {
        /// The card.
        card: String,
        /// The person asked for.
        hsa_id: String,
    },
    /// The card is revoked or dead.
    #[error("card {card} is {state}: no new certificates are issued for it")]
    CardNotUsable {
        /// The card.
        card: String,
        /// Its state, in words.
        state: &'static str,
    },
    /// The person's organisation is missing from the store (an inconsistent store).
    #[error("the organisation {0} of this person does not exist")]
    UnknownOrganisation(String),
    /// The organisation has not enabled self-service signing certificates.
    #[error(
        "{organisation} has not enabled signing certificates for its card holders; ask your \
         ID administrator"
    )]
    SigningDisabled {
        /// The organisation's name.
        organisation: String,
    },
    /// The organisation has not entitled this person to a signing certificate.
    #[error(
        "{hsa_id} is not entitled to a signing certificate by their organisation; ask your \
         ID administrator"
    )]
    NotEntitled {
        /// The person.
        hsa_id: String,
    },
    /// A signing certificate needs a valid authentication certificate on the same card.
    #[error("card {card} has no valid authentication certificate; a signing certificate needs one")]
    NoAuthenticationCertificate {
        /// The card.
        card: String,
    },
    /// The key is the card's authentication key: the signing key must be another key.
    #[error(
        "this key is the card's authentication key; a signing certificate needs the card's \
         separate signing key"
    )]
    KeyIsAuthenticationKey,
    /// The key is already certified: each certificate needs a new key.
    #[error("this public key is already certified{}; each certificate needs a new key",
        .serial.as_ref().map(|s| format!(" (certificate {s})")).unwrap_or_default())]
    KeyAlreadyCertified {
        /// The certificate that has it, when known.
        serial: Option<Serial>,
    },
    /// The issuing CA is expired or not yet valid.
    #[error("the issuing CA is not valid at {now} (valid {not_before} to {not_after})")]
    CaNotValid {
        /// The time of the request.
        now: OffsetDateTime,
        /// Start of the CA's validity.
        not_before: OffsetDateTime,
        /// End of the CA's validity.
        not_after: OffsetDateTime,
    },
    /// The subject from the store (a person's name or HSA-id, a card number, an
    /// organisation name) cannot be put in a certificate.
    #[error("the subject cannot be put in a certificate: {0}")]
    Subject(#[from] SubjectError),
    /// The key given as a card's attestation key is not a well-formed, valid EC P-256
    /// SubjectPublicKeyInfo.
    #[error(
        "the card's attestation key is not usable ({0}); it must be an EC P-256 public key \
         as a DER SubjectPublicKeyInfo"
    )]
    AttestationKey(String),
    /// The CA could not sign (for an HSM: device failure).
    #[error("the CA could not sign the certificate: {0}")]
    Signing(String),
    /// Every random serial tried was taken (a broken RNG).
    #[error("no free serial number found in {SERIAL_ATTEMPTS} tries; is the random source broken?")]
    SerialExhausted,
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for IssueError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Issues a certificate for `req` if the person, card, organisation policy and key allow
/// it, and records it (with an audit entry by `actor`) before returning it.
#[tracing::instrument(skip_all, fields(hsa_id = %req.hsa_id, card = %req.card_number, profile = %req.profile))]
pub async fn issue<R: CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    store: &dyn Store,
    req: &IssueRequest,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, IssueError> {
    let facts = Facts {
        person: store.person_with_organisation(&req.hsa_id).await?,
        card: store.card(&req.card_number).await?,
        card_certificates: match req.profile {
            Profile::Signing => store.certificates_of_card(&req.card_number).await?,
            Profile::Authentication => Vec::new(),
        },
    };
    issue_with(ca, store, req, facts, KeyCheck::Read, actor, now, rng).await
}

/// What the store holds about a request's person and card, read once by the caller (the
/// enrollment reads them for its own checks, and [`issue_with`] decides on the same
/// reading instead of asking again).
pub(crate) struct Facts {
    /// The person named by the request, with their organisation if it exists.
    pub person: Option<(Person, Option<Organisation>)>,
    /// The request's card.
    pub card: Option<Card>,
    /// The card's certificates (needed for a signing certificate only: its validity ends
    /// with the card's authentication certificate's).
    pub card_certificates: Vec<CertificateRecord>,
}

/// Whether the key's freedom is still to be read, or the caller found it uncertified.
/// Either way the store's unique constraint decides a race at the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// Read whether the key is certified already.
    Read,
    /// The caller read it just now: no certificate has the key.
    Free,
}

/// [`issue`] on facts already read: the same checks in the same order.
#[allow(clippy::too_many_arguments)] // Every input is an engine input: no ambient state.
pub(crate) async fn issue_with<R: CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    store: &dyn Store,
    req: &IssueRequest,
    facts: Facts,
    key_check: KeyCheck,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, IssueError> {
    let not_before = start_of_validity(ca, now)?;

    let (person, organisation) = facts
        .person
        .ok_or_else(|| IssueError::UnknownPerson(req.hsa_id.clone()))?;
    if !person.active {
        return Err(IssueError::PersonInactive(person.hsa_id));
    }
    let card = facts
        .card
        .ok_or_else(|| IssueError::UnknownCard(req.card_number.clone()))?;
    if card.holder != person.hsa_id {
        return Err(IssueError::CardOfAnotherPerson {
            card: card.card_number,
            hsa_id: person.hsa_id,
        });
    }
    check_card_usable(&card)?;
    let organisation =
        organisation.ok_or_else(|| IssueError::UnknownOrganisation(person.org_number.clone()))?;

    let profile_validity = match req.profile {
        Profile::Authentication => ca.settings().authentication_validity,
        Profile::Signing => ca.settings().signing_validity,
    };
    let mut not_after = end_of_validity(ca, now, profile_validity);

    if req.profile == Profile::Signing {
        if organisation.signing_policy != SigningPolicy::SelfService {
            return Err(IssueError::SigningDisabled {
                organisation: organisation.name,
            });
        }
        if !person.signing_entitled {
            return Err(IssueError::NotEntitled {
                hsa_id: person.hsa_id,
            });
        }
        let auth_not_after = facts
            .card_certificates
            .iter()
            .filter(|c| {
                c.kind == CertKind::Authentication
                    && c.status == CertStatus::Valid
                    && c.card_number.as_deref() == Some(card.card_number.as_str())
                    && c.hsa_id.as_deref() == Some(person.hsa_id.as_str())
                    && c.not_before <= now
                    && now < c.not_after
            })
            .map(|c| c.not_after)
            .max()
            .ok_or_else(|| IssueError::NoAuthenticationCertificate {
                card: card.card_number.clone(),
            })?;
        not_after = not_after.min(auth_not_after);
    }

    let kind = req.profile.cert_kind();
    let key = req.csr.key();
    if key_check == KeyCheck::Read {
        check_key_free(store, key, kind, &card.card_number).await?;
    }

    let decided = Decided {
        subject: Subject::Person {
            profile: req.profile,
            virtual_card: req.virtual_card,
            name: PersonName {
                organisation: &organisation.name,
                given_name: &person.given_name,
                surname: &person.surname,
                hsa_id: &person.hsa_id,
            },
        },
        key,
        card_number: &card.card_number,
        hsa_id: Some(&person.hsa_id),
        not_before,
        not_after,
        audit_details: json!({
            "kind": kind,
            "card": card.card_number,
            "hsa_id": person.hsa_id,
            "virtual_card": req.virtual_card,
        }),
    };
    sign_and_record(ca, store, &decided, actor, now, rng).await
}

/// Certifies the attestation key of card `card_number` (PIV slot F9) and records the
/// certificate (kind [`CertKind::Attestation`], no HSA-id, with an audit entry by `actor`)
/// before returning it.
///
/// `spki_der` is the key as a DER SubjectPublicKeyInfo, straight from the card's GENERATE
/// response during an authenticated personalisation. **There is no proof of possession**:
/// no CSR, no signature by the key. Nothing here shows that the key is on the card, or
/// that whoever calls this holds its private key: the caller must only pass a key it read
/// from the card itself over the personalisation session. Only EC P-256 is accepted; the
/// point must be on the curve.
///
/// The subject is the card (`C, O, CN = Card <number> attestation, serialNumber =
/// <number>`, `O` being the holder's organisation), the policy the attestation policy
/// only, on real and virtual cards alike. Refused, with the store unchanged, when the
/// card is unknown, revoked or dead, its holder or the holder's organisation is missing,
/// or the key is certified already (a key has one certificate, of whatever kind).
#[tracing::instrument(skip_all, fields(card = %card_number))]
pub async fn issue_attestation<R: CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    store: &dyn Store,
    card_number: &str,
    spki_der: &[u8],
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, IssueError> {
    let not_before = start_of_validity(ca, now)?;
    let key = CanonicalKey::from_spki_der(spki_der).map_err(IssueError::AttestationKey)?;
    if key.kind() != PublicKeyKind::EcP256 {
        return Err(IssueError::AttestationKey(format!(
            "it is an {} key",
            key.kind()
        )));
    }

    let card = find_card(store, card_number).await?;
    check_card_usable(&card)?;
    let holder = store
        .person(&card.holder)
        .await?
        .ok_or_else(|| IssueError::UnknownPerson(card.holder.clone()))?;
    let organisation = store
        .organisation(&holder.org_number)
        .await?
        .ok_or_else(|| IssueError::UnknownOrganisation(holder.org_number.clone()))?;

    let kind = CertKind::Attestation;
    check_key_free(store, &key, kind, &card.card_number).await?;

    let decided = Decided {
        subject: Subject::Card {
            organisation: &organisation.name,
            card_number: &card.card_number,
        },
        key: &key,
        card_number: &card.card_number,
        hsa_id: None,
        not_before,
        not_after: end_of_validity(ca, now, ca.settings().attestation_validity),
        audit_details: json!({
            "kind": kind,
            "card": card.card_number,
        }),
    };
    sign_and_record(ca, store, &decided, actor, now, rng).await
}

/// A certificate that may be issued: everything but its serial number.
struct Decided<'a> {
    subject: Subject<'a>,
    key: &'a CanonicalKey,
    card_number: &'a str,
    hsa_id: Option<&'a str>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    audit_details: serde_json::Value,
}

/// Draws a serial, has the CA sign, and commits the certificate with its audit entry;
/// another serial when the drawn one is taken. Of two requests for one key, the store's
/// unique constraint lets one through; the other gets the refusal the check before would
/// have given.
async fn sign_and_record<R: CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    store: &dyn Store,
    d: &Decided<'_>,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Issued, IssueError> {
    let kind = d.subject.cert_kind();
    for _ in 0..SERIAL_ATTEMPTS {
        let serial_bytes = random_serial(rng);
        let Some(serial) = Serial::from_be_bytes(&serial_bytes) else {
            continue;
        };
        let leaf = Leaf {
            subject: d.subject.clone(),
            subject_key_id: key_identifier(d.key.spki_der()),
            serial: serial_bytes,
            not_before: d.not_before,
            not_after: d.not_after,
        };
        let der = ca.sign_leaf(&leaf, d.key).map_err(|e| match e {
            LeafError::Subject(e) => IssueError::Subject(e),
            LeafError::Sign(e) => IssueError::Signing(e),
        })?;
        let record = CertificateRecord {
            serial: serial.clone(),
            kind,
            card_number: Some(d.card_number.to_owned()),
            hsa_id: d.hsa_id.map(str::to_owned),
            status: CertStatus::Valid,
            der,
            not_before: d.not_before,
            not_after: d.not_after,
            public_key_sha256: *d.key.spki_sha256(),
            issued_at: now,
        };
        let audit = AuditEvent {
            at: now,
            actor: actor.to_owned(),
            action: "certificate.issue".into(),
            subject: serial.to_string(),
            details: d.audit_details.clone(),
        };
        match store.add_certificate(&record, &audit).await {
            Ok(()) => {
                tracing::info!(serial = %serial, "certificate issued");
                let pem = crate::pem_encode("CERTIFICATE", &record.der);
                return Ok(Issued { record, pem });
            }
            Err(StoreError::Conflict(Conflict::Serial)) => {
                tracing::warn!(serial = %serial, "serial taken, drawing another");
            }
            Err(StoreError::Conflict(Conflict::PublicKey)) => {
                // Lost a race for this key: explain with what won, if we can see it.
                let existing = store
                    .certificate_by_public_key(d.key.spki_sha256())
                    .await
                    .ok()
                    .flatten();
                return Err(existing
                    .map_or(IssueError::KeyAlreadyCertified { serial: None }, |c| {
                        key_taken(&c, kind, d.card_number)
                    }));
            }
            Err(StoreError::NotFound(Missing::Card)) => {
                return Err(IssueError::UnknownCard(d.card_number.to_owned()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(IssueError::SerialExhausted)
}

/// The start of a certificate issued at `now` (whole seconds), if the CA may issue then.
fn start_of_validity(
    ca: &CertificateAuthority,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, IssueError> {
    let not_before = whole_seconds(now);
    if now < ca.not_before() || not_before >= ca.not_after() {
        return Err(IssueError::CaNotValid {
            now,
            not_before: ca.not_before(),
            not_after: ca.not_after(),
        });
    }
    Ok(not_before)
}

/// The end of a certificate valid for `validity` from `now`, never beyond the CA's end.
fn end_of_validity(
    ca: &CertificateAuthority,
    now: OffsetDateTime,
    validity: time::Duration,
) -> OffsetDateTime {
    whole_seconds(now.saturating_add(validity)).min(ca.not_after())
}

async fn find_card(store: &dyn Store, card_number: &str) -> Result<Card, IssueError> {
    store
        .card(card_number)
        .await?
        .ok_or_else(|| IssueError::UnknownCard(card_number.to_owned()))
}

/// No new certificates for a revoked or dead card.
fn check_card_usable(card: &Card) -> Result<(), IssueError> {
    match card.state {
        CardState::Revoked => Err(card_not_usable(&card.card_number, "revoked")),
        CardState::Dead => Err(card_not_usable(&card.card_number, "dead (PUK blocked)")),
        CardState::NotActivated | CardState::Active => Ok(()),
    }
}

/// Refuses a key that is certified already (the store's constraint decides races later).
async fn check_key_free(
    store: &dyn Store,
    key: &CanonicalKey,
    kind: CertKind,
    card: &str,
) -> Result<(), IssueError> {
    match store.certificate_by_public_key(key.spki_sha256()).await? {
        Some(existing) => Err(key_taken(&existing, kind, card)),
        None => Ok(()),
    }
}

fn card_not_usable(card: &str, state: &'static str) -> IssueError {
    IssueError::CardNotUsable {
        card: card.to_owned(),
        state,
    }
}

/// The refusal of a certificate of `kind` for a key that `existing` already certifies.
fn key_taken(existing: &CertificateRecord, kind: CertKind, card: &str) -> IssueError {
    if kind == CertKind::Signing
        && existing.kind == CertKind::Authentication
        && existing.card_number.as_deref() == Some(card)
    {
        IssueError::KeyIsAuthenticationKey
    } else {
        IssueError::KeyAlreadyCertified {
            serial: Some(existing.serial.clone()),
        }
    }
}

/// Certificates hold whole seconds; the record must match the certificate exactly.
fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}
