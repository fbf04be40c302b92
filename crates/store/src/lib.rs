//! The platform's storage: the [`Store`] trait and its implementations.
//!
//! Everything that matters lives here and nowhere else: organisations, persons, cards,
//! certificates, one-time values and the hash-chained audit log (later: orders, sessions,
//! codes, signing keys). Server nodes keep no state of their own, so any node can answer any
//! request. Every implementation passes the same [`conformance`] suite, concurrency included.
//!
//! Rules every implementation keeps:
//! - A method returns only after its change is committed (durable against a killed process;
//!   against power loss too when so configured).
//! - A method that fails changes nothing.
//! - Every change that carries an [`AuditEvent`] appends it to the audit log in the same
//!   transaction as the change.
//! - Unique things (organisation number, HSA-id, card number, certificate serial, certified
//!   public key, one-time value) are unique under concurrency: of two racing writers exactly
//!   one wins, the other gets [`StoreError::Conflict`].
//!
//! The store never sees a PIN. The only private keys it holds are the identity provider's
//! signing keys, encrypted under a key-encryption key that lives outside the database.

pub mod any;
pub mod audit;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod enroll;
mod error;
pub mod lifecycle;
pub mod migrate;
pub mod model;
pub mod oidc;
pub mod orders;
pub mod portal;
pub mod postgres;
pub mod revocation;
pub mod sqlite;
pub mod validate;

use async_trait::async_trait;
use time::OffsetDateTime;

pub use any::AnyStore;
pub use audit::{AuditError, AuditHead, AuditKey, AuditReport, SignedAuditHead};
pub use enroll::EnrollStore;
pub use error::{Conflict, Missing, StoreError, StoreResult};
pub use lifecycle::{CardRevocation, CardRevoked, UndeliveredRevocation};
pub use model::*;
pub use oidc::OidcStore;
pub use orders::OrderStore;
pub use portal::PortalStore;
pub use postgres::PostgresStore;
pub use revocation::RevocationStore;
pub use sqlite::{Durability, SqliteStore};

/// The storage seam. Implemented by [`SqliteStore`] (and later PostgreSQL).
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // --- organisations ---

    /// Adds an organisation. [`Conflict::OrgNumber`] if the number is taken.
    async fn add_organisation(&self, org: &Organisation, audit: &AuditEvent) -> StoreResult<()>;

    /// The organisation with this number.
    async fn organisation(&self, org_number: &str) -> StoreResult<Option<Organisation>>;

    /// All organisations, by organisation number.
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;

    /// Sets an organisation's signing policy and whether unattested keys are accepted.
    async fn set_organisation_policy(
        &self,
        org_number: &str,
        policy: SigningPolicy,
        accept_unattested_keys: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    // --- persons ---

    /// Adds a person. [`Conflict::HsaId`] if the HSA-id is taken, [`Missing::Organisation`]
    /// if the organisation does not exist.
    async fn add_person(&self, person: &Person, audit: &AuditEvent) -> StoreResult<()>;

    /// The person with this HSA-id.
    async fn person(&self, hsa_id: &str) -> StoreResult<Option<Person>>;

    /// Persons, of one organisation or all, by HSA-id.
    async fn persons(&self, org_number: Option<&str>) -> StoreResult<Vec<Person>>;

    /// Grants or withdraws a person's entitlement to a signing certificate.
    async fn set_signing_entitlement(
        &self,
        hsa_id: &str,
        entitled: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    // --- cards ---

    /// Records a card. [`Conflict::CardNumber`] if the number is taken, [`Missing::Person`]
    /// if the holder does not exist.
    async fn add_card(&self, card: &Card, audit: &AuditEvent) -> StoreResult<()>;

    /// The card with this number.
    async fn card(&self, card_number: &str) -> StoreResult<Option<Card>>;

    /// Cards, of one holder or all, by card number.
    async fn cards(&self, holder: Option<&str>) -> StoreResult<Vec<Card>>;

    /// Moves a card to another life-cycle state.
    async fn set_card_state(
        &self,
        card_number: &str,
        state: CardState,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    // --- certificates ---

    /// Records an issued certificate. [`Conflict::Serial`] or [`Conflict::PublicKey`] if
    /// either is taken; [`Missing::Card`] if it names a card that does not exist.
    async fn add_certificate(
        &self,
        cert: &CertificateRecord,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    /// The certificate with this serial.
    async fn certificate(&self, serial: &Serial) -> StoreResult<Option<CertificateRecord>>;

    /// The certificate with this serial, the card it names (if any and if it exists) and
    /// the person it names (if any and if they exist): what checking a presented
    /// certificate needs, read in one go. The default reads them one after the other; a
    /// backend may read them in one round trip.
    async fn certificate_with_subject(
        &self,
        serial: &Serial,
    ) -> StoreResult<Option<CertificateSubject>> {
        let Some(certificate) = self.certificate(serial).await? else {
            return Ok(None);
        };
        let card = match &certificate.card_number {
            Some(number) => self.card(number).await?,
            None => None,
        };
        let person = match &certificate.hsa_id {
            Some(hsa_id) => self.person(hsa_id).await?,
            None => None,
        };
        Ok(Some(CertificateSubject {
            certificate,
            card,
            person,
        }))
    }

    /// The person with this HSA-id and their organisation (if it exists), read in one go.
    /// The default reads them one after the other; a backend may read them in one round
    /// trip.
    async fn person_with_organisation(
        &self,
        hsa_id: &str,
    ) -> StoreResult<Option<(Person, Option<Organisation>)>> {
        let Some(person) = self.person(hsa_id).await? else {
            return Ok(None);
        };
        let org = self.organisation(&person.org_number).await?;
        Ok(Some((person, org)))
    }

    /// The card with this number and its holder (if the holder exists), read in one go.
    /// The default reads them one after the other; a backend may read them in one round
    /// trip.
    async fn card_with_holder(
        &self,
        card_number: &str,
    ) -> StoreResult<Option<(Card, Option<Person>)>> {
        let Some(card) = self.card(card_number).await? else {
            return Ok(None);
        };
        let holder = self.person(&card.holder).await?;
        Ok(Some((card, holder)))
    }

    /// The certificate of this public key (SHA-256 of its SubjectPublicKeyInfo).
    async fn certificate_by_public_key(
        &self,
        public_key_sha256: &[u8; 32],
    ) -> StoreResult<Option<CertificateRecord>>;

    /// Certificates on a card, oldest first.
    async fn certificates_of_card(&self, card_number: &str) -> StoreResult<Vec<CertificateRecord>>;

    /// Certificates of a person, oldest first.
    async fn certificates_of_person(&self, hsa_id: &str) -> StoreResult<Vec<CertificateRecord>>;

    /// Revokes a valid certificate; [`StoreError::Refused`] if it is revoked already.
    async fn revoke_certificate(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    /// Revokes a card (lost, stolen, destroyed) in one transaction: its state becomes
    /// [`CardState::Revoked`], every valid certificate naming it is revoked for
    /// `revocation.reason`, the identity provider's live login sessions made with it end and
    /// their grants are revoked (as [`OidcStore::end_sessions_of_card`] does), and My Pages
    /// sessions made with it end (are forgotten); each with its audit entry. Nothing of it can
    /// be used from the moment it returns, on any node. [`Missing::Card`] if there is no such
    /// card; [`StoreError::Refused`] if it is revoked already (then nothing changes).
    async fn revoke_card(&self, revocation: &CardRevocation) -> StoreResult<CardRevoked>;

    /// Revokes, in one transaction, every valid, unexpired signing certificate of a card that
    /// was issued before `revocation.issued_before` and whose delivery to the card was never
    /// confirmed ([`EnrollStore::confirm_delivery`]), unless a fetch holds its card at
    /// `revocation.at`. Returns the certificates revoked (with their new status), oldest
    /// first.
    async fn revoke_undelivered(
        &self,
        revocation: &UndeliveredRevocation,
    ) -> StoreResult<Vec<CertificateRecord>>;

    // --- one-time values ---

    /// Uses a one-time value (a nonce, an authorization code, a JWT id) in `purpose`.
    /// [`Conflict::OneTimeValue`] if it was used before. The record is kept until
    /// `keep_until` (at least as long as the value could be presented again).
    async fn use_once(
        &self,
        purpose: &str,
        value: &[u8],
        keep_until: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Forgets one-time values whose `keep_until` is before `now`; returns how many.
    async fn purge_used_once(&self, now: OffsetDateTime) -> StoreResult<u64>;

    // --- audit log ---

    /// Appends an event that goes with no other change.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<AuditEntry>;

    /// Up to `limit` entries of the whole log with `id > after`, in order of `id`: the log
    /// as it was written, across chains.
    async fn audit_entries(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    /// Up to `limit` entries of `chain` with `seq > after`, in order.
    async fn audit_chain(
        &self,
        chain: &str,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;

    /// Every chain's newest entry as recorded beside the chain, by chain name.
    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>>;

    /// Records a signed chain head ([`audit::sign_heads`]); recording one that is recorded
    /// already changes nothing.
    async fn add_signed_audit_head(&self, signed: &SignedAuditHead) -> StoreResult<()>;

    /// Every signed chain head recorded, by chain and entry.
    async fn signed_audit_heads(&self) -> StoreResult<Vec<SignedAuditHead>>;
}
