//! The `mypages.api` resource server: who the card holder is, their cards and certificates,
//! and whether a signing certificate may be fetched onto each card. Every call starts with
//! an access token ([`MyPagesApi::verify`]); the pages call it in-process with the portal
//! session's token, other clients over HTTP (`/mypages/api/v1/…`, `docs/mypages-api.yaml`).
//!
//! The token names the person by `employeeHsaId` (the provider puts it in access tokens
//! granted the `profile` scope) and the login's card by [`crate::CLAIM_CARD_NUMBER`].

use std::sync::Arc;

use eid_store::{
    Card, CardKind, CardState, CertKind, CertStatus, CertificateRecord, Organisation, Person,
    SigningPolicy, Store,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::ApiError;
use crate::access::{AccessClaims, AccessExpectations, KeySource, verify_access_token};
use crate::eligibility::{FetchFacts, FetchRefusal, in_force, may_fetch_signing_certificate};

/// The card holder (`GET /mypages/api/v1/person`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    /// HSA-id.
    pub hsa_id: String,
    /// Given name.
    pub given_name: String,
    /// Surname.
    pub surname: String,
    /// "Given name surname".
    pub name: String,
    /// The organisation, if the store has it.
    pub organisation: Option<OrganisationView>,
    /// Whether the organisation entitled the person to a signing certificate.
    pub signing_entitled: bool,
}

/// The card holder's organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganisationView {
    /// Organisation number.
    pub number: String,
    /// Name.
    pub name: String,
    /// `disabled` or `self-service`.
    pub signing_policy: SigningPolicy,
}

/// The status of a certificate as the card holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateStatus {
    /// In force.
    Valid,
    /// Not valid yet.
    NotYetValid,
    /// Past its validity.
    Expired,
    /// Revoked.
    Revoked,
}

/// A certificate on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    /// `authentication` or `signing`.
    pub kind: CertKind,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// Its status now.
    pub status: CertificateStatus,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Whether a signing certificate may be fetched onto a card, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningFetchView {
    /// `true` when *Hämta underskriftscertifikat* is offered.
    pub allowed: bool,
    /// Why not, when not.
    pub reason: Option<FetchRefusal>,
}

/// One of the card holder's eIDs (`GET /mypages/api/v1/cards`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardView {
    /// Card number.
    pub card_number: String,
    /// Product number (`7XX` for one-PIN cards).
    pub product_number: String,
    /// `two-pin` or `one-pin`.
    pub kind: CardKind,
    /// `not-activated`, `active`, `revoked` or `dead`.
    pub state: CardState,
    /// Whether the access token's login was made with this card.
    pub logged_in: bool,
    /// Validity of the card's newest authentication certificate.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    /// End of that validity.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// Authentication and signing certificates, oldest first.
    pub certificates: Vec<CertificateView>,
    /// Whether a signing certificate may be fetched onto it now.
    pub signing_certificate_fetch: SigningFetchView,
}

/// The card list with the login's card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardsView {
    /// The card the login was made with, if the provider said.
    pub logged_in_card: Option<String>,
    /// The person's cards, by card number.
    pub cards: Vec<CardView>,
}

fn certificate_view(cert: &CertificateRecord, now: OffsetDateTime) -> CertificateView {
    let (status, revoked_at) = match cert.status {
        CertStatus::Revoked { at, .. } => (CertificateStatus::Revoked, Some(at)),
        CertStatus::Valid if now < cert.not_before => (CertificateStatus::NotYetValid, None),
        CertStatus::Valid if now >= cert.not_after => (CertificateStatus::Expired, None),
        _ => (CertificateStatus::Valid, None),
    };
    CertificateView {
        kind: cert.kind,
        serial: cert.serial.to_string(),
        status,
        not_before: cert.not_before,
        not_after: cert.not_after,
        revoked_at,
    }
}

/// A card as the card holder sees it: pure, from the store's records.
pub fn card_view(
    organisation: Option<&Organisation>,
    person: &Person,
    card: &Card,
    certificates: &[CertificateRecord],
    logged_in_card: Option<&str>,
    now: OffsetDateTime,
) -> CardView {
    let shown: Vec<&CertificateRecord> = certificates
        .iter()
        .filter(|c| matches!(c.kind, CertKind::Authentication | CertKind::Signing))
        .collect();
    // The validity of the card is that of its authentication certificate in force, else
    // of its newest one.
    let auth = shown
        .iter()
        .filter(|c| c.kind == CertKind::Authentication)
        .max_by_key(|c| (in_force(c, now), c.issued_at));
    let decision = may_fetch_signing_certificate(&FetchFacts {
        organisation,
        person,
        card,
        certificates,
        logged_in_card,
        now,
    });
    CardView {
        card_number: card.card_number.clone(),
        product_number: card.product_number.clone(),
        kind: card.kind,
        state: card.state,
        logged_in: logged_in_card == Some(card.card_number.as_str()),
        valid_from: auth.map(|c| c.not_before),
        valid_until: auth.map(|c| c.not_after),
        certificates: shown.iter().map(|c| certificate_view(c, now)).collect(),
        signing_certificate_fetch: SigningFetchView {
            allowed: decision.is_ok(),
            reason: decision.err(),
        },
    }
}

/// The resource server over a store and the provider's keys.
#[derive(Debug)]
pub struct MyPagesApi<S> {
    store: Arc<S>,
    keys: Arc<dyn KeySource>,
    issuer: String,
    audience: String,
}

impl<S: Store> MyPagesApi<S> {
    /// The API of `store`, accepting tokens of `issuer` for `audience`, checked against
    /// `keys`.
    pub fn new(store: Arc<S>, keys: Arc<dyn KeySource>, issuer: &str, audience: &str) -> Self {
        Self {
            store,
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Checks an access token (see [`verify_access_token`]).
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, ApiError> {
        let jwks = self.keys.keys(now).await.map_err(ApiError::Keys)?;
        verify_access_token(
            token,
            &jwks,
            &AccessExpectations {
                issuer: &self.issuer,
                audience: &self.audience,
                now,
            },
        )
    }

    async fn holder(
        &self,
        claims: &AccessClaims,
    ) -> Result<(Person, Option<Organisation>), ApiError> {
        let hsa_id = claims.hsa_id.as_deref().ok_or(ApiError::InsufficientScope(
            "the token has no employeeHsaId (the profile scope)",
        ))?;
        self.store
            .person_with_organisation(hsa_id)
            .await?
            .filter(|(p, _)| p.active)
            .ok_or(ApiError::UnknownPerson)
    }

    /// The card holder of `claims`.
    #[tracing::instrument(skip_all)]
    pub async fn person(&self, claims: &AccessClaims) -> Result<PersonView, ApiError> {
        let (person, org) = self.holder(claims).await?;
        Ok(PersonView {
            name: person.common_name(),
            hsa_id: person.hsa_id,
            given_name: person.given_name,
            surname: person.surname,
            organisation: org.map(|o| OrganisationView {
                number: o.org_number,
                name: o.name,
                signing_policy: o.signing_policy,
            }),
            signing_entitled: person.signing_entitled,
        })
    }

    /// The card holder's cards with their certificates, the login's card marked.
    #[tracing::instrument(skip_all)]
    pub async fn cards(
        &self,
        claims: &AccessClaims,
        now: OffsetDateTime,
    ) -> Result<CardsView, ApiError> {
        let (person, org) = self.holder(claims).await?;
        let mut cards = Vec::new();
        for card in self.store.cards(Some(&person.hsa_id)).await? {
            let certs = self.store.certificates_of_card(&card.card_number).await?;
            cards.push(card_view(
                org.as_ref(),
                &person,
                &card,
                &certs,
                claims.card_number.as_deref(),
                now,
            ));
        }
        Ok(CardsView {
            logged_in_card: claims.card_number.clone(),
            cards,
        })
    }
}
