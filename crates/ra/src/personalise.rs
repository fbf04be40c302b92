//! Personalisation of a blank card (docs/card.md, "Life cycle"): management key, attestation
//! and authentication keys generated on the card, their certificates from the CA, and the
//! PINs: a PIN letter for a two-PIN card, a transport code for a one-PIN card.

use std::fmt;

use eid_card::{Card, CardError, KeySlot, LifeCycle, ManagementKey, Pin, PinRef};
use eid_pki::{
    CardMasterKey, CertificateAuthority, Csr, IssueError, IssueRequest, Profile, issue,
    issue_attestation,
};
use eid_store::{AuditEvent, CardKind, CardState, CertStatus, RevocationReason, Store, StoreError};
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
    let holder = store.person(p.holder).await?.ok_or_else(|| {
        PersonaliseError::Holder(format!("no person with HSA-id {} exists", p.holder))
    })?;
    if !holder.active {
        return Err(PersonaliseError::Holder(format!(
            "{} has left the organisation: no card is issued",
            p.holder
        )));
    }
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
    let management = ManagementKey::from_bytes(*master.management_key(p.card_number));
    card.authenticate_management(&ManagementKey::blank_card())?;
    card.set_management_key(&management)?;
    card.authenticate_management(&management)?;
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
    let request = eid_card::certificate_request(
        card,
        KeySlot::Authentication,
        p.card_number,
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
            hsa_id: p.holder.to_owned(),
            card_number: p.card_number.to_owned(),
            profile: Profile::Authentication,
            csr,
            virtual_card: p.virtual_card,
        },
        actor,
        now,
        rng,
    )
    .await?;
    card.write_certificate(KeySlot::Authentication, Some(&issued.record.der))?;

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
