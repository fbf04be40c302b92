//! The records the store keeps. Plain data: no behaviour beyond parsing and display.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Whether an organisation lets its card holders fetch signing certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningPolicy {
    /// The organisation has not decided, or decided no: no signing certificates at all.
    Disabled,
    /// Entitled card holders fetch their signing certificate themselves in My Pages.
    SelfService,
}

/// An organisation that issues cards to its staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Swedish organisation number, ten digits (e.g. `2321000016`). The key.
    pub org_number: String,
    /// Display name, used as the certificates' `O`.
    pub name: String,
    /// Signing certificates disabled or self-service.
    pub signing_policy: SigningPolicy,
    /// Whether keys without an on-card attestation may be certified.
    pub accept_unattested_keys: bool,
    /// When the organisation was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A card holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// HSA-id, `SE<organisation number>-<local id>`. The key; never changes.
    pub hsa_id: String,
    /// Given name (`givenName`).
    pub given_name: String,
    /// Surname (`surname`).
    pub surname: String,
    /// The organisation the person belongs to.
    pub org_number: String,
    /// Entitled by the organisation to a signing certificate.
    pub signing_entitled: bool,
    /// A person who left is inactive: no login, no issuance.
    pub active: bool,
    /// When the person was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Person {
    /// The common name shown in certificates and pages: "given name surname".
    pub fn common_name(&self) -> String {
        format!("{} {}", self.given_name, self.surname)
    }
}

/// The two card kinds of DESIGN.md "Cards".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardKind {
    /// Old card with a PIN letter: PIN1, PIN2 and PUK.
    TwoPin,
    /// New card, product number 7XX: PIN1 only (chosen at activation); PUK with the administrator.
    OnePin,
}

/// Where a card is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardState {
    /// Personalised, waiting for the holder to choose PIN1 (one-PIN cards).
    NotActivated,
    /// In use.
    Active,
    /// Revoked (lost, stolen, replaced): every certificate revoked, no login.
    Revoked,
    /// PUK blocked: the card can never be used again.
    Dead,
}

/// A smart card issued to a person. Its certificates (authentication, signing, and the
/// attestation certificate of its slot F9 key) are [`CertificateRecord`]s naming the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// Card number printed on the card. The key.
    pub card_number: String,
    /// Product number printed on the back (`7XX` for one-PIN cards).
    pub product_number: String,
    /// One or two PINs.
    pub kind: CardKind,
    /// Life-cycle state.
    pub state: CardState,
    /// HSA-id of the holder.
    pub holder: String,
    /// When the card was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertKind {
    /// Authentication (slot 9A): digitalSignature, clientAuth.
    Authentication,
    /// Signing (slot 9C): nonRepudiation.
    Signing,
    /// The card's attestation key (slot F9).
    Attestation,
}

/// Revocation reasons of RFC 5280 §5.3.1 that this platform uses. `certificateHold` (6) is
/// never used: revocation here is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// `unspecified` (0)
    Unspecified,
    /// `keyCompromise` (1)
    KeyCompromise,
    /// `affiliationChanged` (3)
    AffiliationChanged,
    /// `superseded` (4)
    Superseded,
    /// `cessationOfOperation` (5)
    CessationOfOperation,
    /// `privilegeWithdrawn` (9)
    PrivilegeWithdrawn,
}

/// A certificate's status in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum CertStatus {
    /// Issued and not revoked (it may still have expired: compare `not_after`).
    Valid,
    /// Revoked at `at` for `reason`.
    Revoked {
        /// When it was revoked.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Why.
        reason: RevocationReason,
    },
}

/// A certificate serial number: the positive integer's big-endian bytes, no leading zeros.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A serial from big-endian bytes; leading zero bytes are dropped. `None` for zero.
    pub fn from_be_bytes(bytes: &[u8]) -> Option<Self> {
        let start = bytes.iter().position(|b| *b != 0)?;
        Some(Self(bytes[start..].to_vec()))
    }

    /// The big-endian bytes, without leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Serial {
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.0))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

impl FromStr for Serial {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().replace(':', "");
        let s = if s.len() % 2 == 1 { format!("0{s}") } else { s };
        let bytes = hex::decode(&s).map_err(|_| format!("serial `{s}` is not hexadecimal"))?;
        Self::from_be_bytes(&bytes).ok_or_else(|| "serial must not be zero".to_string())
    }
}

impl From<Serial> for String {
    fn from(s: Serial) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Serial {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A certificate with the card and the person it names, as
/// [`crate::Store::certificate_with_subject`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSubject {
    /// The certificate.
    pub certificate: CertificateRecord,
    /// The card its `card_number` names, if it has one and the store has that card.
    pub card: Option<Card>,
    /// The person its `hsa_id` names, if it has one and the store has that person.
    pub person: Option<Person>,
}

/// An issued certificate as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Serial number; unique.
    pub serial: Serial,
    /// Authentication, signing or attestation.
    pub kind: CertKind,
    /// The card that holds the key, if any.
    pub card_number: Option<String>,
    /// The subject's HSA-id (none for a card's attestation certificate).
    pub hsa_id: Option<String>,
    /// Valid or revoked.
    pub status: CertStatus,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER SubjectPublicKeyInfo; unique: a key is certified once.
    pub public_key_sha256: [u8; 32],
    /// When it was issued (committed).
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
}

/// Something that happened, to be appended to the audit log (in the same transaction as the
/// change it describes, when there is one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who did it: `admin:<user>`, `person:<hsa-id>`, `system`.
    pub actor: String,
    /// What was done, dotted: `organisation.add`, `certificate.issue`, …
    pub action: String,
    /// What it was done to: an organisation number, HSA-id, card number or serial.
    pub subject: String,
    /// Further facts as a JSON object. Never a secret.
    pub details: serde_json::Value,
}

/// An entry of the append-only audit log, in one of its hash chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the whole log, across chains: entries are listed by it, in the order they
    /// were written. It may skip numbers (a rolled-back write on PostgreSQL).
    pub id: u64,
    /// The chain the entry is in: SQLite has one, [`crate::audit::MAIN_CHAIN`]; PostgreSQL
    /// one per node and lane (`<node>.<lane>`), so writers on several nodes never wait for
    /// one chain's head.
    pub chain: String,
    /// Position in its chain, from 1, without gaps.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// Hash of the previous entry (all zero for the first).
    #[serde(with = "hex::serde")]
    pub prev_hash: [u8; 32],
    /// This entry's hash, see [`crate::audit::entry_hash`].
    #[serde(with = "hex::serde")]
    pub hash: [u8; 32],
}

/// The stored text of an enum with kebab-case (or camelCase) serde names, as every store
/// keeps it.
pub(crate) fn tag<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The enum a stored text names; the error says which text is unknown.
pub(crate) fn untag<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("unknown value `{text}`"))
}
