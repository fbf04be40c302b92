//! The certificate profiles (DESIGN.md "Certificates", modelled on SITHS): what an
//! authentication and a signing certificate of a person, and the attestation certificate
//! of a card's slot F9 key, contain.
//!
//! | | authentication | signing | card attestation |
//! |---|---|---|---|
//! | subject | person | person | card |
//! | keyUsage (critical) | digitalSignature | nonRepudiation | digitalSignature |
//! | extKeyUsage (non-critical) | clientAuth | none | none |
//! | certificatePolicies | authentication policy | signing policy | attestation policy |
//!
//! A person's subject is `C, O, CN, givenName, surname, serialNumber` (the HSA-id); a
//! card's is `C, O, CN = Card <card number> attestation, serialNumber` (the card number),
//! `O` being the card holder's organisation. Both in that order, always from the store.
//! All: CRL distribution point; authorityInfoAccess with the OCSP URL (and caIssuers when
//! configured); authority and subject key identifiers; no basicConstraints (not a CA).
//!
//! **Card attestation.** The key in slot F9 is the card's, not its holder's: the CA
//! certifies it at personalisation so that statements the card later signs with it ("this
//! slot's key was generated on this card") can be verified. Its certificate carries the
//! attestation policy *only*, on real and virtual cards alike, so no relying party takes
//! it for a person's certificate.
//!
//! **Virtual cards.** A certificate for a key on a virtual (software) card carries the
//! virtual-card policy OID *instead of* the profile's policy, and no other: a relying party
//! that accepts only real-card policies can never mistake it for a smart-card certificate,
//! and one that wants to accept virtual cards must say so explicitly.

use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use eid_store::CertKind;

use crate::asn1::{self, Oid};
use crate::settings::{CheckedSettings, ProfileSettings};

/// Which kind of certificate to issue for a person. The card's own attestation key
/// certificate (slot F9) is not a person's certificate and not one of these: it has its
/// own entry point, [`crate::issue_attestation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Profile {
    /// Authentication (slot 9A): digitalSignature, clientAuth. Issued at personalisation.
    Authentication,
    /// Signing (slot 9C): nonRepudiation. Fetched by the card holder.
    Signing,
}

impl Profile {
    /// The store's name for certificates of this profile.
    pub fn cert_kind(self) -> eid_store::CertKind {
        match self {
            Self::Authentication => eid_store::CertKind::Authentication,
            Self::Signing => eid_store::CertKind::Signing,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Authentication => "authentication",
            Self::Signing => "signing",
        })
    }
}

/// RFC 5280 OIDs of the extensions written here.
const OID_SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const OID_CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// Subject attribute types (X.520).
const OID_GIVEN_NAME: &[u64] = &[2, 5, 4, 42];
const OID_SURNAME: &[u64] = &[2, 5, 4, 4];
const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// Upper bounds of X.520 (RFC 5280 Appendix A).
const MAX_COMMON_NAME: usize = 64;
const MAX_ORGANISATION: usize = 64;
const MAX_SERIAL_NUMBER: usize = 64;
const MAX_NAME: usize = 32768;

/// The extensions that are the same for every certificate of a CA, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct LeafExtensions {
    crl: Vec<CrlDistributionPoint>,
    aia: CustomExtension,
    authentication_policy: CustomExtension,
    signing_policy: CustomExtension,
    virtual_card_policy: CustomExtension,
    attestation_policy: CustomExtension,
    country: String,
}

impl LeafExtensions {
    pub(crate) fn new(settings: &ProfileSettings, checked: &CheckedSettings) -> Self {
        let ocsp = access_description(&[1, 3, 6, 1, 5, 5, 7, 48, 1], &settings.ocsp_url);
        let mut aia = vec![ocsp];
        if let Some(url) = &settings.ca_issuers_url {
            aia.push(access_description(&[1, 3, 6, 1, 5, 5, 7, 48, 2], url));
        }
        let aia: Vec<&[u8]> = aia.iter().map(Vec::as_slice).collect();
        Self {
            crl: vec![CrlDistributionPoint {
                uris: vec![settings.crl_url.clone()],
            }],
            aia: CustomExtension::from_oid_content(OID_AUTHORITY_INFO_ACCESS, asn1::sequence(&aia)),
            authentication_policy: certificate_policies(&checked.authentication_policy),
            signing_policy: certificate_policies(&checked.signing_policy),
            virtual_card_policy: certificate_policies(&checked.virtual_card_policy),
            attestation_policy: certificate_policies(&checked.attestation_policy),
            country: settings.country.clone(),
        }
    }
}

/// `AccessDescription ::= SEQUENCE { accessMethod OID, accessLocation GeneralName }` with a
/// uniformResourceIdentifier.
fn access_description(method: &[u64], url: &str) -> Vec<u8> {
    let method = asn1::tlv(asn1::tag::OID, &small_oid_content(method));
    let location = asn1::tlv(asn1::tag::GENERAL_NAME_URI, url.as_bytes());
    asn1::sequence(&[&method, &location])
}

/// `certificatePolicies ::= SEQUENCE OF PolicyInformation` with one policy, no qualifiers.
fn certificate_policies(policy: &Oid) -> CustomExtension {
    let info = asn1::sequence(&[&policy.der()]);
    CustomExtension::from_oid_content(OID_CERTIFICATE_POLICIES, asn1::sequence(&[&info]))
}

/// `certificatePolicies` with `anyPolicy` (2.5.29.32.0), for the issuing CA certificate, so
/// relying parties that require an explicit policy (RFC 5280 §6.1) accept its leaves.
pub(crate) fn any_policy() -> CustomExtension {
    let any = asn1::tlv(asn1::tag::OID, &small_oid_content(&[2, 5, 29, 32, 0]));
    let info = asn1::sequence(&[&any]);
    CustomExtension::from_oid_content(OID_CERTIFICATE_POLICIES, asn1::sequence(&[&info]))
}

/// DER content of an OID whose arcs fit in `u64` (constants only).
fn small_oid_content(arcs: &[u64]) -> Vec<u8> {
    let dotted: Vec<String> = arcs.iter().map(u64::to_string).collect();
    Oid::parse(&dotted.join("."))
        .map(|oid| oid.content().to_vec())
        .unwrap_or_default()
}

/// A person as the store has them, with their organisation's name.
#[derive(Debug, Clone)]
pub(crate) struct PersonName<'a> {
    pub(crate) organisation: &'a str,
    pub(crate) given_name: &'a str,
    pub(crate) surname: &'a str,
    pub(crate) hsa_id: &'a str,
}

/// Whose key an end-entity certificate certifies and what for, from the store: this
/// decides its subject, key usages and policy.
#[derive(Debug, Clone)]
pub(crate) enum Subject<'a> {
    /// A person's authentication or signing key, on a real or a virtual card.
    Person {
        profile: Profile,
        /// The certificate then carries only the virtual-card policy.
        virtual_card: bool,
        name: PersonName<'a>,
    },
    /// A card's own attestation key (slot F9).
    Card {
        /// The name of the card holder's organisation.
        organisation: &'a str,
        card_number: &'a str,
    },
}

impl Subject<'_> {
    /// The store's name for certificates of this subject.
    pub(crate) fn cert_kind(&self) -> CertKind {
        match self {
            Self::Person { profile, .. } => profile.cert_kind(),
            Self::Card { .. } => CertKind::Attestation,
        }
    }
}

/// Everything that differs between two certificates of a CA.
#[derive(Debug)]
pub(crate) struct Leaf<'a> {
    pub(crate) subject: Subject<'a>,
    pub(crate) subject_key_id: Vec<u8>,
    pub(crate) serial: [u8; 16],
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
}

/// The subject would not fit a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// A name part is empty.
    #[error("the {0} is empty")]
    Empty(&'static str),
    /// A name part is longer than X.520 allows.
    #[error("the {part} is {len} characters long; a certificate allows at most {max}")]
    TooLong {
        /// Which part.
        part: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The HSA-id has characters a PrintableString cannot hold.
    #[error(
        "the HSA-id `{0}` has characters a certificate's serialNumber cannot hold (letters, \
         digits, space and '()+,-./:=? only)"
    )]
    HsaIdNotPrintable(String),
    /// The card number has characters a PrintableString cannot hold.
    #[error(
        "the card number `{0}` has characters a certificate's serialNumber cannot hold \
         (letters, digits, space and '()+,-./:=? only)"
    )]
    CardNumberNotPrintable(String),
}

impl Leaf<'_> {
    /// The rcgen parameters of this certificate.
    pub(crate) fn params(&self, ext: &LeafExtensions) -> Result<CertificateParams, SubjectError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&ext.country, &self.subject)?;
        params.serial_number = Some(SerialNumber::from_slice(&self.serial));
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.is_ca = IsCa::NoCa;
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = ext.crl.clone();
        let policy = match &self.subject {
            Subject::Person {
                profile,
                virtual_card,
                ..
            } => {
                match profile {
                    Profile::Authentication => {
                        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                    }
                    Profile::Signing => {
                        params.key_usages = vec![KeyUsagePurpose::ContentCommitment];
                    }
                }
                match (virtual_card, profile) {
                    (true, _) => &ext.virtual_card_policy,
                    (false, Profile::Authentication) => &ext.authentication_policy,
                    (false, Profile::Signing) => &ext.signing_policy,
                }
            }
            Subject::Card { .. } => {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                &ext.attestation_policy
            }
        };
        let ski = CustomExtension::from_oid_content(
            OID_SUBJECT_KEY_IDENTIFIER,
            asn1::tlv(asn1::tag::OCTET_STRING, &self.subject_key_id),
        );
        params.custom_extensions = vec![ski, policy.clone(), ext.aia.clone()];
        Ok(params)
    }
}

/// The key identifier of a public key: the leftmost 160 bits of the SHA-256 of its
/// SubjectPublicKeyInfo, the same method rcgen uses for the CA certificates.
pub(crate) fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    crate::sha256(spki_der)[..20].to_vec()
}

/// The subject's distinguished name.
fn distinguished_name(country: &str, s: &Subject<'_>) -> Result<DistinguishedName, SubjectError> {
    match s {
        Subject::Person { name, .. } => person_name(country, name),
        Subject::Card {
            organisation,
            card_number,
        } => card_name(country, organisation, card_number),
    }
}

/// A PrintableString value, or `None` when `value` has characters it cannot hold.
fn printable(value: &str) -> Option<DnValue> {
    value.try_into().map(DnValue::PrintableString).ok()
}

/// `C, O, CN, givenName, surname, serialNumber`, in this order.
fn person_name(country: &str, s: &PersonName<'_>) -> Result<DistinguishedName, SubjectError> {
    check("organisation name", s.organisation, MAX_ORGANISATION)?;
    check("given name", s.given_name, MAX_NAME)?;
    check("surname", s.surname, MAX_NAME)?;
    check("HSA-id", s.hsa_id, MAX_SERIAL_NUMBER)?;
    let common_name = format!("{} {}", s.given_name, s.surname);
    check(
        "common name (given name and surname)",
        &common_name,
        MAX_COMMON_NAME,
    )?;
    let country = printable(country).ok_or(SubjectError::Empty("country"))?;
    let hsa_id =
        printable(s.hsa_id).ok_or_else(|| SubjectError::HsaIdNotPrintable(s.hsa_id.to_owned()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country);
    dn.push(DnType::OrganizationName, s.organisation);
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::CustomDnType(OID_GIVEN_NAME.to_vec()), s.given_name);
    dn.push(DnType::CustomDnType(OID_SURNAME.to_vec()), s.surname);
    dn.push(DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()), hsa_id);
    Ok(dn)
}

/// `C, O, CN = Card <card number> attestation, serialNumber = <card number>`, in this order.
fn card_name(
    country: &str,
    organisation: &str,
    card_number: &str,
) -> Result<DistinguishedName, SubjectError> {
    check("organisation name", organisation, MAX_ORGANISATION)?;
    check("card number", card_number, MAX_SERIAL_NUMBER)?;
    let common_name = format!("Card {card_number} attestation");
    check(
        "common name (Card <card number> attestation)",
        &common_name,
        MAX_COMMON_NAME,
    )?;
    let country = printable(country).ok_or(SubjectError::Empty("country"))?;
    let serial_number = printable(card_number)
        .ok_or_else(|| SubjectError::CardNumberNotPrintable(card_number.to_owned()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country);
    dn.push(DnType::OrganizationName, organisation);
    dn.push(DnType::CommonName, common_name);
    dn.push(
        DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
        serial_number,
    );
    Ok(dn)
}

fn check(part: &'static str, value: &str, max: usize) -> Result<(), SubjectError> {
    if value.trim().is_empty() {
        return Err(SubjectError::Empty(part));
    }
    let len = value.chars().count();
    if len > max {
        return Err(SubjectError::TooLong { part, len, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(hsa_id: &'a str, given: &'a str) -> Subject<'a> {
        Subject::Person {
            profile: Profile::Authentication,
            virtual_card: false,
            name: PersonName {
                organisation: "Region Exempel",
                given_name: given,
                surname: "Svensson",
                hsa_id,
            },
        }
    }

    fn card<'a>(organisation: &'a str, card_number: &'a str) -> Subject<'a> {
        Subject::Card {
            organisation,
            card_number,
        }
    }

    #[test]
    fn card_subjects_that_do_not_fit_are_refused() {
        let dn = distinguished_name("SE", &card("Region Exempel", "9752269000000001")).unwrap();
        let cn = dn.get(&DnType::CommonName).unwrap();
        assert_eq!(
            cn,
            &DnValue::Utf8String("Card 9752269000000001 attestation".into())
        );
        assert_eq!(
            distinguished_name("SE", &card("Region Exempel", "97_1")).unwrap_err(),
            SubjectError::CardNumberNotPrintable("97_1".into())
        );
        assert_eq!(
            distinguished_name("SE", &card(" ", "9752269000000001")).unwrap_err(),
            SubjectError::Empty("organisation name")
        );
        assert!(matches!(
            distinguished_name("SE", &card("Region Exempel", &"1".repeat(50))),
            Err(SubjectError::TooLong { max: 64, .. })
        ));
        assert_eq!(card("O", "1").cert_kind(), CertKind::Attestation);
    }

    #[test]
    fn subjects_that_do_not_fit_are_refused() {
        assert!(distinguished_name("SE", &subject("SE2321000016-abc1", "Åsa")).is_ok());
        assert_eq!(
            distinguished_name("SE", &subject("SE2321000016_x", "Åsa")).unwrap_err(),
            SubjectError::HsaIdNotPrintable("SE2321000016_x".into())
        );
        let long = "A".repeat(60);
        assert!(matches!(
            distinguished_name("SE", &subject("SE1-1", &long)),
            Err(SubjectError::TooLong { max: 64, .. })
        ));
        assert_eq!(
            distinguished_name("SE", &subject("SE1-1", " ")).unwrap_err(),
            SubjectError::Empty("given name")
        );
    }

    #[test]
    fn constant_oids_encode() {
        assert_eq!(
            small_oid_content(&[1, 3, 6, 1, 5, 5, 7, 48, 1]),
            [0x2b, 6, 1, 5, 5, 7, 0x30, 1]
        );
    }
}
