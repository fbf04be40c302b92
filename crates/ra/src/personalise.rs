//! Personalisation of a blank card (docs/card.md, "Life cycle"): management key, attestation
//! and authentication keys generated on the card, their certificates from the CA, and the
//! PINs: a PIN letter for a two-PIN card, a transport code for a one-PIN card.
//!
//! And its sibling for a plain PIV card (a YubiKey) the holder already has, [`enrol`]
//! (docs/card-stacks.md, "Real PIV cards"): the same management key and authentication
//! key and certificate, but no attestation key (a YubiKey's F9 is the factory's) and no
//! PINs set (the holder has chosen theirs), so the card is active at once.

use std::fmt;

use eid_card::{Card, CardError, KeySlot, LifeCycle, ManagementKey, Pin, PinRef};
use eid_pki::{
    CardMasterKey, CertificateAuthority, Csr, IssueError, IssueRequest, Profile, issue,
    issue_attestation,
};
use eid_store::{
    AuditEvent, CardKind, CardState, CertStatus, Person, RevocationReason, Store, StoreError,
};
use rand::{CryptoRng, RngExt};
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// What to personalise.
#[derive(Debug, Clone)]
pub struct Personalisation<'a> {
    /// HSA-id of the holder (must exist and be active).
    pub holder: &'a str,
    /// The blank card's number (must match the card).
    pub card_number: &'a str,
    /// The card's product number (must match the card).
    pub product_number: &'a str,
    /// One or two PINs (must match the card).
    pub kind: CardKind,
    /// A virtual card: its certificates carry the virtual-card policy.
    pub virtual_card: bool,
}

/// The codes a new card is handed out with, shown once and never stored.
pub enum PinLetter {
    /// Two-PIN card: the PIN letter.
    TwoPin {
        /// Security code (PIN1).
        pin1: Zeroizing<String>,
        /// Signing code (PIN2).
        pin2: Zeroizing<String>,
        /// PUK.
        puk: Zeroizing<String>,
    },
    /// One-PIN card: the transport code with which the holder chooses PIN1. The PUK stays
    /// with the ID administrator (derived from the master key when needed).
    OnePin {
        /// Transport code.
        transport_code: Zeroizing<String>,
    },
}

impl fmt::Debug for PinLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TwoPin { .. } => f.write_str("PinLetter::TwoPin(..)"),
            Self::OnePin { .. } => f.write_str("PinLetter::OnePin(..)"),
        }
    }
}

/// Why a card was not personalised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersonaliseError {
    /// The holder does not exist or has left.
    #[error("{0}")]
    Holder(String),
    /// The card is not blank, or not the card the request names.
    #[error("{0}")]
    WrongCard(String),
    /// The card failed or refused a command.
    #[error("the card: {0}")]
    Card(#[from] CardError),
    /// The CA refused or failed.
    #[error("{0}")]
    Issue(#[from] IssueError),
    /// The store refused or failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Personalises the blank card behind `card` for `p.holder`. Card records and certificates
/// are committed as they are made; if a later step fails, the card record is marked revoked
/// and its certificates revoked, so a half-made card can never be used.
#[allow(clippy::too_many_arguments)] // Every input is an engine input: no ambient state.
pub async fn personalise<R: CryptoRng + ?Sized>(
    card: &dyn Card,
    ca: &CertificateAuthority,
    store: &dyn Store,
    master: &CardMasterKey,
    p: &Personalisation<'_>,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<PinLetter, PersonaliseError> {
    let holder = active_holder(store, p.holder).await?;
    card.select()?;
    let info = card.info()?;
    let kind_matches = matches!(
        (info.kind, p.kind),
        (eid_card::CardKind::TwoPin, CardKind::TwoPin)
            | (eid_card::CardKind::OnePin, CardKind::OnePin)
    );
    if info.life_cycle != LifeCycle::Blank
        || info.card_number != p.card_number
        || info.product_number != p.product_number
        || !kind_matches
    {
        return Err(PersonaliseError::WrongCard(format!(
            "the card in the reader is {} (product {}, {:?}, {:?}), not the blank card {} asked for",
            info.card_number, info.product_number, info.kind, info.life_cycle, p.card_number
        )));
    }

    // The card's own key first: nothing below works without it.
    take_over(card, &ManagementKey::blank_card(), master, p.card_number)?;
    let attestation_key = card.generate_key(KeySlot::Attestation)?;
    let authentication_key = card.generate_key(KeySlot::Authentication)?;

    let state = match p.kind {
        CardKind::TwoPin => CardState::Active,
        CardKind::OnePin => CardState::NotActivated,
    };
    let record = eid_store::Card {
        card_number: p.card_number.to_owned(),
        product_number: p.product_number.to_owned(),
        kind: p.kind,
        state,
        holder: holder.hsa_id.clone(),
        created_at: now,
    };
    let event = AuditEvent {
        at: now,
        actor: actor.to_owned(),
        action: "card.issue".into(),
        subject: p.card_number.to_owned(),
        details: json!({ "holder": holder.hsa_id, "product_number": p.product_number,
            "kind": p.kind, "virtual": p.virtual_card }),
    };
    store.add_card(&record, &event).await?;

    let finished = finish(
        card,
        ca,
        store,
        master,
        p,
        &attestation_key,
        &authentication_key,
        actor,
        now,
        rng,
    )
    .await;
    if let Err(e) = &finished {
        tracing::warn!(card = p.card_number, error = %e, "personalisation failed; revoking the card");
        abandon(store, p.card_number, actor, now).await;
    }
    finished
}

#[allow(clippy::too_many_arguments)]
async fn finish<R: CryptoRng + ?Sized>(
    card: &dyn Card,
    ca: &CertificateAuthority,
    store: &dyn Store,
    master: &CardMasterKey,
    p: &Personalisation<'_>,
    attestation_key: &[u8],
    authentication_key: &[u8],
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<PinLetter, PersonaliseError> {
    let attestation =
        issue_attestation(ca, store, p.card_number, attestation_key, actor, now, rng).await?;
    card.write_certificate(KeySlot::Attestation, Some(&attestation.record.der))?;

    // The request for 9A is signed by the card, with the blank card's PIN1 still in place.
    card.verify(
        PinRef::Pin1,
        &Pin::new(Zeroizing::new(BLANK_PIN.to_owned())),
    )?;
    authentication_certificate(
        card,
        ca,
        store,
        p.holder,
        p.card_number,
        authentication_key,
        p.virtual_card,
        actor,
        now,
        rng,
    )
    .await?;

    let blank_pin = Pin::new(Zeroizing::new(BLANK_PIN.to_owned()));
    let blank_puk = Pin::new(Zeroizing::new(BLANK_PUK.to_owned()));
    let letter = match p.kind {
        CardKind::TwoPin => {
            let letter = PinLetter::TwoPin {
                pin1: digits(rng, 6),
                pin2: digits(rng, 6),
                puk: digits(rng, 8),
            };
            if let PinLetter::TwoPin { pin1, pin2, puk } = &letter {
                card.change_pin(PinRef::Puk, &blank_puk, &Pin::new(puk.clone()))?;
                card.change_pin(PinRef::Pin2, &blank_pin, &Pin::new(pin2.clone()))?;
                card.change_pin(PinRef::Pin1, &blank_pin, &Pin::new(pin1.clone()))?;
            }
            letter
        }
        CardKind::OnePin => {
            let transport_code = digits(rng, 8);
            card.change_pin(
                PinRef::Puk,
                &blank_puk,
                &Pin::new(master.one_pin_puk(p.card_number)),
            )?;
            // With the management key authenticated, this sets a transport code: the card
            // stays "not activated" until the holder chooses PIN1.
            card.change_pin(PinRef::Pin1, &blank_pin, &Pin::new(transport_code.clone()))?;
            PinLetter::OnePin { transport_code }
        }
    };
    card.select()?; // Ends the management-key session.
    Ok(letter)
}

/// The holder, who must exist and be active.
async fn active_holder(store: &dyn Store, hsa_id: &str) -> Result<Person, PersonaliseError> {
    let holder = store.person(hsa_id).await?.ok_or_else(|| {
        PersonaliseError::Holder(format!("no person with HSA-id {hsa_id} exists"))
    })?;
    if !holder.active {
        return Err(PersonaliseError::Holder(format!(
            "{hsa_id} has left the organisation: no card is issued"
        )));
    }
    Ok(holder)
}

/// Replaces the blank card's management key, `default` (the PIV default of the card's
/// algorithm), with the card's own AES-128 key, diversified from the master key, and
/// authenticates with it for the steps that follow.
fn take_over(
    card: &dyn Card,
    default: &ManagementKey,
    master: &CardMasterKey,
    card_number: &str,
) -> Result<(), PersonaliseError> {
    let management = ManagementKey::from_bytes(*master.management_key(card_number));
    card.authenticate_management(default)?;
    card.set_management_key(&management)?;
    card.authenticate_management(&management)?;
    Ok(())
}

/// The authentication certificate for the key in 9A: the card signs the request (PIN1 must
/// be verified; it is reset afterwards), the CA issues, the certificate goes on the card.
#[allow(clippy::too_many_arguments)] // Every input is an engine input: no ambient state.
async fn authentication_certificate<R: CryptoRng + ?Sized>(
    card: &dyn Card,
    ca: &CertificateAuthority,
    store: &dyn Store,
    holder: &str,
    card_number: &str,
    authentication_key: &[u8],
    virtual_card: bool,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<(), PersonaliseError> {
    let request = eid_card::certificate_request(
        card,
        KeySlot::Authentication,
        card_number,
        authentication_key,
    )?;
    card.reset_verified(PinRef::Pin1)?;
    let csr = Csr::from_der(&request).map_err(|e| {
        PersonaliseError::WrongCard(format!("the card's certificate request is not valid: {e}"))
    })?;
    let issued = issue(
        ca,
        store,
        &IssueRequest {
            hsa_id: holder.to_owned(),
            card_number: card_number.to_owned(),
            profile: Profile::Authentication,
            csr,
            virtual_card,
        },
        actor,
        now,
        rng,
    )
    .await?;
    card.write_certificate(KeySlot::Authentication, Some(&issued.record.der))?;
    Ok(())
}

/// Whether the card that said `info` can be enrolled by [`enrol`]: a plain PIV card
/// (product 790, one PIN) still on its PIV default management key. Callers ask before they
/// ask the holder for a PIN.
pub fn enrollable(info: &eid_card::CardInfo) -> Result<(), PersonaliseError> {
    if info.product_number != eid_card::piv::ENROLLED_PIV_PRODUCT
        || info.kind != eid_card::CardKind::OnePin
    {
        return Err(PersonaliseError::WrongCard(format!(
            "card {} is an eID card (product {}), not a plain PIV card: eID cards are issued, not enrolled",
            info.card_number, info.product_number
        )));
    }
    if info.life_cycle != LifeCycle::Blank {
        return Err(PersonaliseError::WrongCard(format!(
            "card {} is not blank: its management key is no longer the PIV default (enrolled already, or managed elsewhere)",
            info.card_number
        )));
    }
    Ok(())
}

/// Enrols a plain PIV card (a YubiKey) the holder already has into the platform: the card's
/// management key becomes the platform's (diversified per card), a new authentication key
/// is generated in 9A and certified, and the card is recorded as an active one-PIN card of
/// product 790. No attestation key is made (a YubiKey's F9 key is the factory's) and no PIN
/// is set: the holder chose or received PIN1 and the PUK with the card.
///
/// The caller has selected the card and verified PIN1 with the holder's PIN in this session
/// (the certificate request needs it; the RA never sees a holder's PIN). Refused, with
/// nothing changed, if the card is not a blank plain PIV card (PIV default management key),
/// its PIN or PUK is still the PIV default (anyone could use or reset it), or PIN1 is not
/// verified. Returns the card number (the card's serial number). If a step after the card
/// record fails, the record and its certificate are revoked, as for [`personalise`].
#[allow(clippy::too_many_arguments)] // Every input is an engine input: no ambient state.
pub async fn enrol<R: CryptoRng + ?Sized>(
    card: &dyn Card,
    ca: &CertificateAuthority,
    store: &dyn Store,
    master: &CardMasterKey,
    holder: &str,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<String, PersonaliseError> {
    let holder = active_holder(store, holder).await?;
    let info = card.info()?;
    enrollable(&info)?;
    let card_number =
        eid_store::validate::card_number(&info.card_number).map_err(PersonaliseError::WrongCard)?;
    for (pin, name) in [(PinRef::Pin1, "PIN"), (PinRef::Puk, "PUK")] {
        if card.pin_status(pin)?.is_default {
            return Err(PersonaliseError::WrongCard(format!(
                "card {card_number}'s {name} is still the PIV default: the holder sets their own PIN and PUK first"
            )));
        }
    }
    if !card.is_verified(PinRef::Pin1)? {
        return Err(PersonaliseError::WrongCard(
            "the holder's PIN must be verified on the card first".into(),
        ));
    }
    if store.card(&card_number).await?.is_some() {
        return Err(PersonaliseError::WrongCard(format!(
            "a card with number {card_number} is recorded already"
        )));
    }

    // A factory YubiKey's default key is 3DES before firmware 5.7 and AES-192 from 5.7:
    // its metadata tells which; the platform's own key is AES-128 either way.
    let default = ManagementKey::piv_default(card.management_algorithm()?);
    take_over(card, &default, master, &card_number)?;
    let authentication_key = card.generate_key(KeySlot::Authentication)?;
    let record = eid_store::Card {
        card_number: card_number.clone(),
        product_number: info.product_number.clone(),
        kind: CardKind::OnePin,
        state: CardState::Active,
        holder: holder.hsa_id.clone(),
        created_at: now,
    };
    let event = AuditEvent {
        at: now,
        actor: actor.to_owned(),
        action: "card.enroll".into(),
        subject: card_number.clone(),
        details: json!({ "holder": holder.hsa_id, "product_number": info.product_number,
            "kind": CardKind::OnePin, "virtual": false }),
    };
    store.add_card(&record, &event).await?;

    let finished = async {
        authentication_certificate(
            card,
            ca,
            store,
            &holder.hsa_id,
            &card_number,
            &authentication_key,
            false,
            actor,
            now,
            rng,
        )
        .await?;
        card.select()?; // Ends the management-key session.
        Ok(())
    }
    .await;
    if let Err(e) = &finished {
        tracing::warn!(card = card_number, error = %e, "enrolment failed; revoking the card");
        abandon(store, &card_number, actor, now).await;
    }
    finished.map(|()| card_number)
}

/// The blank card's PIN and PUK (docs/card.md, "References").
const BLANK_PIN: &str = "123456";
const BLANK_PUK: &str = "12345678";

/// `n` random decimal digits.
fn digits<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(n));
    for _ in 0..n {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    s
}

/// Makes a half-personalised card unusable: the card record revoked, its certificates too.
async fn abandon(store: &dyn Store, card_number: &str, actor: &str, now: OffsetDateTime) {
    let event = |action: &str, subject: &str| AuditEvent {
        at: now,
        actor: actor.to_owned(),
        action: action.into(),
        subject: subject.to_owned(),
        details: json!({ "reason": "personalisation failed", "card": card_number }),
    };
    if let Ok(certs) = store.certificates_of_card(card_number).await {
        for cert in certs.iter().filter(|c| c.status == CertStatus::Valid) {
            let serial = cert.serial.to_string();
            let _ = store
                .revoke_certificate(
                    &cert.serial,
                    RevocationReason::CessationOfOperation,
                    now,
                    &event("certificate.revoke", &serial),
                )
                .await;
        }
    }
    let _ = store
        .set_card_state(
            card_number,
            CardState::Revoked,
            &event("card.revoke", card_number),
        )
        .await;
}
