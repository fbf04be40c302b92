//! The `mypages.api` resource server: who the card holder is, their cards and certificates,
//! and whether a signing certificate may be fetched onto each card. Every call starts with
//! an access token ([`MyPagesApi::verify`]); the pages call it in-process with the portal
//! session's token, other clients over HTTP (`/mypages/api/v1/…`, `docs/mypages-api.yaml`).
//!
//! The token names the person by `employeeHsaId` (the provider puts it in access tokens
//! granted the `profile` scope) and the login's card by [`crate::CLAIM_CARD_NUMBER`].
//!
//! Before a signing-certificate fetch starts, the page and the API ask the same question,
//! [`MyPagesApi::fetch_card`]: the card is the person's, it is the card the login was made
//! with, the rules of [`crate::eligibility`] allow it now, and the card login is recent
//! ([`FRESH_LOGIN`]). The order itself is the HTTP edge's (`eid-orders`).

use std::sync::Arc;

use eid_store::{
    Card, CardKind, CardState, CertKind, CertStatus, CertificateRecord, Organisation, Person,
    SigningPolicy, Store,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::ApiError;
use crate::access::{AccessClaims, AccessExpectations, KeySource, verify_access_token};
use crate::eligibility::{FetchFacts, FetchRefusal, in_force, may_fetch_signing_certificate};

/// How recent the card login must be to start a fetch: the holder proved presence with the
/// card this recently (a silent renewal does not use the card, so it does not count).
pub const FRESH_LOGIN: Duration = Duration::minutes(15);

/// Why a fetch may not start for a card now.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchDenied {
    /// The token was refused, or names nobody who may use My Pages.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No card of the token's person has this number (another person's card looks the
    /// same as one that does not exist).
    #[error("the person has no such card")]
    NotFound,
    /// A rule refuses: the card is not the login's card, or [`crate::eligibility`] says no.
    #[error("the fetch is not allowed: {}", .0.code())]
    Refused(FetchRefusal),
    /// The card login is older than [`FRESH_LOGIN`] (or its time is unknown): log in with
    /// the card again.
    #[error("the card login is not recent enough")]
    LoginRequired,
}

impl From<eid_store::StoreError> for FetchDenied {
    fn from(e: eid_store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

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

    /// The card onto which a signing certificate may be fetched now, checked with fresh
    /// records: it is one of the person's cards ([`FetchDenied::NotFound`]), the card the
    /// login was made with, allowed by the rules ([`FetchDenied::Refused`]), and the card
    /// login, made at `authenticated_at` (the page passes its session's, the API the
    /// token's `auth_time`), is within [`FRESH_LOGIN`] of `now`
    /// ([`FetchDenied::LoginRequired`]). Checked in that order, so that logging in again
    /// is asked for only when it would help.
    #[tracing::instrument(skip_all)]
    pub async fn fetch_card(
        &self,
        claims: &AccessClaims,
        card_number: &str,
        authenticated_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<CardView, FetchDenied> {
        let (person, org) = self.holder(claims).await?;
        let card = self
            .store
            .card(card_number)
            .await?
            .filter(|c| c.holder == person.hsa_id)
            .ok_or(FetchDenied::NotFound)?;
        if claims.card_number.as_deref() != Some(card_number) {
            return Err(FetchDenied::Refused(FetchRefusal::LoggedInWithAnotherCard));
        }
        let certs = self.store.certificates_of_card(card_number).await?;
        let view = card_view(
            org.as_ref(),
            &person,
            &card,
            &certs,
            claims.card_number.as_deref(),
            now,
        );
        if let Some(reason) = view.signing_certificate_fetch.reason {
            return Err(FetchDenied::Refused(reason));
        }
        if authenticated_at.is_none_or(|t| now - t > FRESH_LOGIN) {
            return Err(FetchDenied::LoginRequired);
        }
        Ok(view)
    }

    /// Whether `card_number` is a card of the token's person (an unknown card: no).
    #[tracing::instrument(skip_all)]
    pub async fn holds_card(
        &self,
        claims: &AccessClaims,
        card_number: &str,
    ) -> Result<bool, ApiError> {
        let (person, _) = self.holder(claims).await?;
        Ok(self
            .store
            .card(card_number)
            .await?
            .is_some_and(|c| c.holder == person.hsa_id))
    }

    /// The signing certificate on `card_number` for the key whose SubjectPublicKeyInfo
    /// hashes to `key_sha256` (what a fetch approved), as the card holder sees it.
    #[tracing::instrument(skip_all)]
    pub async fn signing_certificate(
        &self,
        card_number: &str,
        key_sha256: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<CertificateView>, ApiError> {
        Ok(self
            .store
            .certificates_of_card(card_number)
            .await?
            .iter()
            .filter(|c| c.kind == CertKind::Signing && c.public_key_sha256 == *key_sha256)
            .max_by_key(|c| c.issued_at)
            .map(|c| certificate_view(c, now)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use async_trait::async_trait;
    use eid_store::{AuditEvent, Durability, Serial, SqliteStore};
    use jsonwebtoken::jwk::JwkSet;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);
    const ANNA: &str = "SE2321000016-A1B2";
    const BO: &str = "SE2321000016-B0B0";

    #[derive(Debug)]
    struct NoKeys;

    #[async_trait]
    impl KeySource for NoKeys {
        async fn keys(&self, _now: OffsetDateTime) -> Result<JwkSet, String> {
            Err("none".into())
        }
    }

    fn audit() -> AuditEvent {
        AuditEvent {
            at: NOW,
            actor: "system".into(),
            action: "test".into(),
            subject: "test".into(),
            details: serde_json::json!({}),
        }
    }

    fn certificate(serial: u8, kind: CertKind, card: &str, key: u8) -> CertificateRecord {
        CertificateRecord {
            serial: Serial::from_be_bytes(&[serial]).unwrap(),
            kind,
            card_number: Some(card.into()),
            hsa_id: Some(ANNA.into()),
            status: CertStatus::Valid,
            der: vec![serial],
            not_before: NOW - Duration::days(1),
            not_after: NOW + Duration::days(700),
            public_key_sha256: [key; 32],
            issued_at: NOW - Duration::days(1),
        }
    }

    /// Anna (entitled, self-service) with cards 1 (an authentication certificate) and 2,
    /// Bo with card 3.
    async fn api(dir: &tempfile::TempDir) -> MyPagesApi<SqliteStore> {
        let store = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap();
        let org = Organisation {
            org_number: "2321000016".into(),
            name: "Region Exempel".into(),
            signing_policy: SigningPolicy::SelfService,
            accept_unattested_keys: false,
            created_at: NOW,
        };
        store.add_organisation(&org, &audit()).await.unwrap();
        for (hsa_id, name) in [(ANNA, "Anna"), (BO, "Bo")] {
            let person = Person {
                hsa_id: hsa_id.into(),
                given_name: name.into(),
                surname: "Andersson".into(),
                org_number: org.org_number.clone(),
                signing_entitled: true,
                active: true,
                created_at: NOW,
            };
            store.add_person(&person, &audit()).await.unwrap();
        }
        for (number, holder) in [("1", ANNA), ("2", ANNA), ("3", BO)] {
            let card = Card {
                card_number: number.into(),
                product_number: "610".into(),
                kind: CardKind::TwoPin,
                state: CardState::Active,
                holder: holder.into(),
                created_at: NOW,
            };
            store.add_card(&card, &audit()).await.unwrap();
        }
        store
            .add_certificate(&certificate(1, CertKind::Authentication, "1", 1), &audit())
            .await
            .unwrap();
        MyPagesApi::new(
            Arc::new(store),
            Arc::new(NoKeys),
            "https://idp.example",
            "mypages.api",
        )
    }

    fn claims(card: &str) -> AccessClaims {
        AccessClaims {
            subject: "s".into(),
            client_id: "mypages".into(),
            scope: "openid profile mypages.api".into(),
            hsa_id: Some(ANNA.into()),
            card_number: Some(card.into()),
            auth_time: Some(NOW),
            expires_at: NOW + Duration::minutes(5),
        }
    }

    #[tokio::test]
    async fn a_fetch_needs_the_persons_login_card_the_rules_and_a_recent_card_login() {
        let dir = tempfile::tempdir().unwrap();
        let api = api(&dir).await;
        let c = claims("1");
        let fresh = Some(NOW - FRESH_LOGIN);
        let view = api.fetch_card(&c, "1", fresh, NOW).await.unwrap();
        assert_eq!(view.card_number, "1");
        // Another person's card and no card look alike.
        for number in ["3", "4"] {
            assert!(matches!(
                api.fetch_card(&c, number, fresh, NOW).await,
                Err(FetchDenied::NotFound)
            ));
        }
        // The person's other card: not the login's.
        assert!(matches!(
            api.fetch_card(&c, "2", fresh, NOW).await,
            Err(FetchDenied::Refused(FetchRefusal::LoggedInWithAnotherCard))
        ));
        // Logged in with card 2, which has no authentication certificate: the rule says
        // why before the age of the login is looked at.
        assert!(matches!(
            api.fetch_card(&claims("2"), "2", None, NOW).await,
            Err(FetchDenied::Refused(
                FetchRefusal::NoValidAuthenticationCertificate
            ))
        ));
        for stale in [None, Some(NOW - FRESH_LOGIN - Duration::SECOND)] {
            assert!(matches!(
                api.fetch_card(&c, "1", stale, NOW).await,
                Err(FetchDenied::LoginRequired)
            ));
        }
        // A token without the person.
        let anonymous = AccessClaims {
            hsa_id: None,
            ..claims("1")
        };
        assert!(matches!(
            api.fetch_card(&anonymous, "1", fresh, NOW).await,
            Err(FetchDenied::Api(ApiError::InsufficientScope(_)))
        ));

        assert!(api.holds_card(&c, "2").await.unwrap());
        assert!(!api.holds_card(&c, "3").await.unwrap());
        assert!(!api.holds_card(&c, "4").await.unwrap());
    }

    #[tokio::test]
    async fn the_fetched_certificate_is_found_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let api = api(&dir).await;
        api.store
            .add_certificate(&certificate(2, CertKind::Signing, "1", 2), &audit())
            .await
            .unwrap();
        let found = api.signing_certificate("1", &[2; 32], NOW).await.unwrap();
        let found = found.unwrap();
        assert_eq!(found.serial, "02");
        assert_eq!(found.kind, CertKind::Signing);
        assert_eq!(found.status, CertificateStatus::Valid);
        // The authentication key is no signing certificate; another key has none.
        assert!(
            api.signing_certificate("1", &[1; 32], NOW)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            api.signing_certificate("1", &[9; 32], NOW)
                .await
                .unwrap()
                .is_none()
        );
    }
}
