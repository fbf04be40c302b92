//! May the card holder fetch a signing certificate onto this card, now? The rules of
//! DESIGN.md "Policy" as one pure function of the facts, and the reason in plain words when
//! the answer is no.
//!
//! No ID-administrator order is needed, but the organisation decides: its policy must be
//! self-service, and the person must be entitled. Then the card must be in use with a valid
//! authentication certificate (it proves who asks), must not already hold a valid signing
//! certificate, and must be the card the holder logged in with (the fetch is signed with
//! that card's authentication key).
//!
//! A valid signing certificate that ends within [`RENEWAL_WINDOW`] does not stand in the
//! way: *Hämta nytt underskriftscertifikat* renews it. The old one stays valid until the
//! new one is on the card; the delivery then revokes it as `superseded` (the store's
//! `confirm_delivery`), so the card holds exactly one valid signing certificate again. A
//! revoked or expired one never stands in the way.

use eid_store::{
    Card, CardState, CertKind, CertStatus, CertificateRecord, Organisation, Person, SigningPolicy,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::Language;

/// How long before its end a valid signing certificate may be renewed: within this window
/// My Pages offers *Hämta nytt underskriftscertifikat*. Thirty days leaves the holder a
/// month of working days to get to a card reader before signatures stop working, without
/// inviting renewals (each a new key and a revocation) long before they are needed.
pub const RENEWAL_WINDOW: Duration = Duration::days(30);

/// Why a signing certificate may not be fetched onto a card. The first that applies, in
/// this order: the organisation, the person, the card, the certificates, the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum FetchRefusal {
    /// The organisation has not decided to let its card holders fetch signing
    /// certificates (policy disabled, or the organisation is unknown).
    OrganisationNotDecided,
    /// The person may no longer use their eID (left the organisation).
    PersonInactive,
    /// The organisation has not entitled this person to a signing certificate.
    PersonNotEntitled,
    /// A new one-PIN card that its holder has not activated yet.
    CardNotActivated,
    /// The card is revoked or dead.
    CardNotActive,
    /// The card has no valid authentication certificate to approve the fetch with.
    NoValidAuthenticationCertificate,
    /// The card already holds a valid signing certificate that does not end within
    /// [`RENEWAL_WINDOW`].
    AlreadyHasSigningCertificate,
    /// The holder logged in with another card (or the provider did not say which).
    LoggedInWithAnotherCard,
}

impl FetchRefusal {
    /// The wire name, as in the API (`organisationNotDecided`, …).
    pub fn code(self) -> &'static str {
        match self {
            Self::OrganisationNotDecided => "organisationNotDecided",
            Self::PersonInactive => "personInactive",
            Self::PersonNotEntitled => "personNotEntitled",
            Self::CardNotActivated => "cardNotActivated",
            Self::CardNotActive => "cardNotActive",
            Self::NoValidAuthenticationCertificate => "noValidAuthenticationCertificate",
            Self::AlreadyHasSigningCertificate => "alreadyHasSigningCertificate",
            Self::LoggedInWithAnotherCard => "loggedInWithAnotherCard",
        }
    }

    /// The reason in plain words for the card holder.
    pub fn text(self, language: Language) -> &'static str {
        let (sv, en) = match self {
            Self::OrganisationNotDecided => (
                "Din organisation har inte beslutat att du kan hämta underskriftscertifikat \
                 själv. Kontakta din ID-administratör om du behöver ett.",
                "Your organisation has not decided that you may fetch a signing certificate \
                 yourself. Contact your ID administrator if you need one.",
            ),
            Self::PersonInactive => (
                "Ditt eID får inte längre användas i din organisation.",
                "Your eID may no longer be used in your organisation.",
            ),
            Self::PersonNotEntitled => (
                "Din organisation har inte gett dig behörighet till ett \
                 underskriftscertifikat. Kontakta din ID-administratör om du behöver ett.",
                "Your organisation has not entitled you to a signing certificate. Contact \
                 your ID administrator if you need one.",
            ),
            Self::CardNotActivated => (
                "Kortet är inte aktiverat. Aktivera det i eID-appen först.",
                "The card is not activated. Activate it in the eID app first.",
            ),
            Self::CardNotActive => (
                "Kortet är spärrat och kan inte få nya certifikat.",
                "The card is revoked and cannot get new certificates.",
            ),
            Self::NoValidAuthenticationCertificate => (
                "Kortet har inget giltigt legitimeringscertifikat. Kontakta din \
                 ID-administratör.",
                "The card has no valid authentication certificate. Contact your ID \
                 administrator.",
            ),
            Self::AlreadyHasSigningCertificate => (
                "Kortet har redan ett giltigt underskriftscertifikat.",
                "The card already has a valid signing certificate.",
            ),
            Self::LoggedInWithAnotherCard => (
                "Du är inloggad med ett annat kort. Logga in med det här kortet för att \
                 hämta ett underskriftscertifikat till det.",
                "You are logged in with another card. Log in with this card to fetch a \
                 signing certificate onto it.",
            ),
        };
        match language {
            Language::Swedish => sv,
            Language::English => en,
        }
    }
}

/// What the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct FetchFacts<'a> {
    /// The holder's organisation, if the store has it.
    pub organisation: Option<&'a Organisation>,
    /// The card holder.
    pub person: &'a Person,
    /// The card.
    pub card: &'a Card,
    /// The card's certificates.
    pub certificates: &'a [CertificateRecord],
    /// The card the holder logged in with, if the provider said.
    pub logged_in_card: Option<&'a str>,
    /// Now.
    pub now: OffsetDateTime,
}

/// Whether `cert` is valid at `now`: not revoked, within its validity.
pub fn in_force(cert: &CertificateRecord, now: OffsetDateTime) -> bool {
    cert.status == CertStatus::Valid && cert.not_before <= now && now < cert.not_after
}

/// Whether `cert` ends within [`RENEWAL_WINDOW`] of `now` (a new one may be fetched).
pub fn due_for_renewal(cert: &CertificateRecord, now: OffsetDateTime) -> bool {
    cert.not_after - now <= RENEWAL_WINDOW
}

/// `Ok` when a signing certificate may be fetched onto `facts.card` now; else the first
/// reason why not.
pub fn may_fetch_signing_certificate(facts: &FetchFacts<'_>) -> Result<(), FetchRefusal> {
    let decided = facts
        .organisation
        .is_some_and(|o| o.signing_policy == SigningPolicy::SelfService);
    if !decided {
        return Err(FetchRefusal::OrganisationNotDecided);
    }
    if !facts.person.active {
        return Err(FetchRefusal::PersonInactive);
    }
    if !facts.person.signing_entitled {
        return Err(FetchRefusal::PersonNotEntitled);
    }
    match facts.card.state {
        CardState::Active => {}
        CardState::NotActivated => return Err(FetchRefusal::CardNotActivated),
        CardState::Revoked | CardState::Dead => return Err(FetchRefusal::CardNotActive),
    }
    let valid = |kind| {
        facts
            .certificates
            .iter()
            .any(|c| c.kind == kind && in_force(c, facts.now))
    };
    if !valid(CertKind::Authentication) {
        return Err(FetchRefusal::NoValidAuthenticationCertificate);
    }
    let lasting = facts.certificates.iter().any(|c| {
        c.kind == CertKind::Signing && in_force(c, facts.now) && !due_for_renewal(c, facts.now)
    });
    if lasting {
        return Err(FetchRefusal::AlreadyHasSigningCertificate);
    }
    if facts.logged_in_card != Some(facts.card.card_number.as_str()) {
        return Err(FetchRefusal::LoggedInWithAnotherCard);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use eid_store::{CardKind, RevocationReason, Serial};
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    fn org(policy: SigningPolicy) -> Organisation {
        Organisation {
            org_number: "2321000016".into(),
            name: "Region Exempel".into(),
            signing_policy: policy,
            accept_unattested_keys: false,
            created_at: NOW,
        }
    }

    fn person() -> Person {
        Person {
            hsa_id: "SE2321000016-A1B2".into(),
            given_name: "Anna".into(),
            surname: "Andersson".into(),
            org_number: "2321000016".into(),
            signing_entitled: true,
            active: true,
            created_at: NOW,
        }
    }

    fn card(state: CardState) -> Card {
        Card {
            card_number: "9752000001".into(),
            product_number: "610".into(),
            kind: CardKind::TwoPin,
            state,
            holder: "SE2321000016-A1B2".into(),
            created_at: NOW,
        }
    }

    fn cert(kind: CertKind, serial: u8) -> CertificateRecord {
        CertificateRecord {
            serial: Serial::from_be_bytes(&[serial]).unwrap(),
            kind,
            card_number: Some("9752000001".into()),
            hsa_id: Some("SE2321000016-A1B2".into()),
            status: CertStatus::Valid,
            der: vec![],
            not_before: NOW - Duration::days(1),
            not_after: NOW + Duration::days(365),
            public_key_sha256: [serial; 32],
            issued_at: NOW - Duration::days(1),
        }
    }

    struct Case {
        org: Option<Organisation>,
        person: Person,
        card: Card,
        certs: Vec<CertificateRecord>,
        logged_in: Option<&'static str>,
    }

    impl Case {
        fn allowed() -> Self {
            Self {
                org: Some(org(SigningPolicy::SelfService)),
                person: person(),
                card: card(CardState::Active),
                certs: vec![cert(CertKind::Authentication, 1)],
                logged_in: Some("9752000001"),
            }
        }

        fn decide(&self) -> Result<(), FetchRefusal> {
            may_fetch_signing_certificate(&FetchFacts {
                organisation: self.org.as_ref(),
                person: &self.person,
                card: &self.card,
                certificates: &self.certs,
                logged_in_card: self.logged_in,
                now: NOW,
            })
        }
    }

    #[test]
    fn allowed_when_every_rule_holds() {
        assert_eq!(Case::allowed().decide(), Ok(()));
        // An expired or revoked signing certificate does not stand in the way.
        let mut c = Case::allowed();
        let mut old = cert(CertKind::Signing, 2);
        old.not_after = NOW - Duration::seconds(1);
        let mut revoked = cert(CertKind::Signing, 3);
        revoked.status = CertStatus::Revoked {
            at: NOW,
            reason: RevocationReason::Superseded,
        };
        c.certs.extend([old, revoked]);
        assert_eq!(c.decide(), Ok(()));
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        use FetchRefusal::*;
        type Edit = Box<dyn Fn(&mut Case)>;
        let edits: Vec<(FetchRefusal, Edit)> = vec![
            (OrganisationNotDecided, Box::new(|c| c.org = None)),
            (
                OrganisationNotDecided,
                Box::new(|c| c.org = Some(org(SigningPolicy::Disabled))),
            ),
            (PersonInactive, Box::new(|c| c.person.active = false)),
            (
                PersonNotEntitled,
                Box::new(|c| c.person.signing_entitled = false),
            ),
            (
                CardNotActivated,
                Box::new(|c| c.card.state = CardState::NotActivated),
            ),
            (
                CardNotActive,
                Box::new(|c| c.card.state = CardState::Revoked),
            ),
            (CardNotActive, Box::new(|c| c.card.state = CardState::Dead)),
            (
                NoValidAuthenticationCertificate,
                Box::new(|c| c.certs.clear()),
            ),
            (
                NoValidAuthenticationCertificate,
                Box::new(|c| c.certs[0].not_before = NOW + Duration::seconds(1)),
            ),
            (
                AlreadyHasSigningCertificate,
                Box::new(|c| c.certs.push(cert(CertKind::Signing, 2))),
            ),
            (
                LoggedInWithAnotherCard,
                Box::new(|c| c.logged_in = Some("9752000002")),
            ),
            (LoggedInWithAnotherCard, Box::new(|c| c.logged_in = None)),
        ];
        for (want, edit) in edits {
            let mut case = Case::allowed();
            edit(&mut case);
            assert_eq!(case.decide(), Err(want));
            assert!(!want.text(Language::Swedish).is_empty());
            assert!(!want.text(Language::English).is_empty());
        }
    }

    #[test]
    fn a_signing_certificate_ending_within_the_window_may_be_renewed() {
        let mut c = Case::allowed();
        let mut current = cert(CertKind::Signing, 2);
        current.not_after = NOW + RENEWAL_WINDOW + Duration::seconds(1);
        c.certs.push(current);
        assert_eq!(
            c.decide(),
            Err(FetchRefusal::AlreadyHasSigningCertificate),
            "a second too early"
        );
        c.certs[1].not_after = NOW + RENEWAL_WINDOW;
        assert_eq!(c.decide(), Ok(()));
        assert!(due_for_renewal(&c.certs[1], NOW));
        // A lasting one beside it still refuses.
        c.certs.push(cert(CertKind::Signing, 3));
        assert_eq!(c.decide(), Err(FetchRefusal::AlreadyHasSigningCertificate));
        // A renewal too is only for the card logged in with.
        c.certs.pop();
        c.logged_in = Some("9752000002");
        assert_eq!(c.decide(), Err(FetchRefusal::LoggedInWithAnotherCard));
    }

    #[test]
    fn the_organisation_comes_before_the_card() {
        let mut c = Case::allowed();
        c.org = Some(org(SigningPolicy::Disabled));
        c.person.signing_entitled = false;
        c.logged_in = None;
        assert_eq!(c.decide(), Err(FetchRefusal::OrganisationNotDecided));
    }

    #[test]
    fn wire_names_are_the_serde_names() {
        for r in [
            FetchRefusal::OrganisationNotDecided,
            FetchRefusal::NoValidAuthenticationCertificate,
            FetchRefusal::LoggedInWithAnotherCard,
        ] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.code())
            );
        }
    }
}
