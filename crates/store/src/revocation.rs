//! What publishing revocation needs beyond the certificates themselves: the revoked
//! certificates as a CRL lists them, the CRLs issued (numbered, recorded), the delegated OCSP
//! responder certificates and their life cycle, and a cheap [`RevocationMarker`] by which a
//! server node tells that its revocation caches are stale. `docs/revocation.md`.
//!
//! Every certificate the store records is issued by the installation's one issuing CA, so
//! "the revoked certificates" are the revoked certificates of that issuer, and CRL numbers
//! form one sequence.
//!
//! The marker's `revocations` counter moves in the same transaction as every revocation,
//! whichever process or code path makes it (the SQLite implementation does it with triggers
//! on the certificates table, so `eid admin` on the same file and any future revoke path are
//! covered without calling anything here). A node reads the marker before answering from its
//! cache: a revocation committed before a request started is never answered from a stale
//! cache.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreResult;
use crate::model::{AuditEvent, CertStatus, RevocationReason, Serial};

/// A revoked certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Its serial.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
    /// The end of its validity (a CRL may drop it some time after).
    pub not_after: OffsetDateTime,
}

/// What a node compares with what it cached. Reading it must be cheap: a server reads it
/// before every OCSP answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RevocationMarker {
    /// Moves with every revocation (never back).
    pub revocations: u64,
    /// The number of the newest recorded CRL (0 while there is none).
    pub crl_number: u64,
}

/// An issued CRL.
#[derive(Clone, PartialEq, Eq)]
pub struct CrlRecord {
    /// Its CRL number (allocated by [`RevocationStore::allocate_crl_number`]).
    pub number: u64,
    /// `thisUpdate`.
    pub this_update: OffsetDateTime,
    /// `nextUpdate`.
    pub next_update: OffsetDateTime,
    /// The signed CRL, DER.
    pub der: Vec<u8>,
}

impl std::fmt::Debug for CrlRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlRecord")
            .field("number", &self.number)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("der_len", &self.der.len())
            .finish()
    }
}

/// A delegated OCSP responder certificate and its key.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponderRecord {
    /// The certificate's serial. The key.
    pub serial: Serial,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The responder's private key, sealed by the CA crate under a key derived from the
    /// installation's key-encryption key; never in the clear here.
    pub sealed_key: Vec<u8>,
    /// Start of the certificate's validity.
    pub not_before: OffsetDateTime,
    /// End of its validity: a successor must take over before.
    pub not_after: OffsetDateTime,
    /// When it was issued (recorded).
    pub issued_at: OffsetDateTime,
}

impl std::fmt::Debug for ResponderRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderRecord")
            .field("serial", &self.serial)
            .field("sealed_key", &"<sealed>")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// The store side of CRLs and OCSP. Implemented by [`SqliteStore`](crate::SqliteStore);
/// tested by `revocation_store_conformance_tests!`.
#[async_trait]
pub trait RevocationStore: Send + Sync + std::fmt::Debug {
    /// The marker. Cheap: called before every OCSP answer.
    async fn revocation_marker(&self) -> StoreResult<RevocationMarker>;

    /// The status of the certificate with this serial (`None` if the store has none): what
    /// an OCSP answer needs, without the certificate itself.
    async fn revocation_status(&self, serial: &Serial) -> StoreResult<Option<CertStatus>>;

    /// The revoked certificates whose validity ends at `expired_since` or later, by serial.
    async fn revoked_certificates(
        &self,
        expired_since: OffsetDateTime,
    ) -> StoreResult<Vec<RevokedCertificate>>;

    /// Hands out the next CRL number: greater than every number handed out before, also
    /// under concurrency and across processes. A number may go unused (a CRL that failed).
    async fn allocate_crl_number(&self) -> StoreResult<u64>;

    /// Records an issued CRL with its audit event. [`StoreError::Refused`](crate::StoreError)
    /// if its number was never allocated or is recorded already. The newest recorded CRL
    /// (by number) is what [`RevocationStore::latest_crl`] returns and what the marker's
    /// `crl_number` says, so a CRL recorded late never replaces a newer one.
    async fn record_crl(&self, crl: &CrlRecord, audit: &AuditEvent) -> StoreResult<()>;

    /// The recorded CRL with the highest number.
    async fn latest_crl(&self) -> StoreResult<Option<CrlRecord>>;

    /// Records a responder certificate as the current one, if the current one is still
    /// `replaces` (`None`: there is none yet); `false`, with nothing changed, when another
    /// responder took over first (the caller then uses that one). Appends `audit` when
    /// recorded.
    async fn add_ocsp_responder(
        &self,
        responder: &ResponderRecord,
        replaces: Option<&Serial>,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;

    /// The current responder: the one recorded last.
    async fn current_ocsp_responder(&self) -> StoreResult<Option<ResponderRecord>>;

    /// Every responder recorded, oldest first.
    async fn ocsp_responders(&self) -> StoreResult<Vec<ResponderRecord>>;
}
