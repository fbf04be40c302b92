//! [`AnyStore`]: the store an installation configured, SQLite or PostgreSQL, as one type.
//!
//! The server and the command line are generic over their store; a type of its own for
//! "whichever was configured" lets them be built once (one instantiation of every generic
//! handler, not one per backend) and chosen at start-up. Every method is delegated
//! unchanged; written by macro since the delegation is the same for all of them.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::audit::{AuditHead, SignedAuditHead};
use crate::enroll::*;
use crate::lifecycle::{CardRevocation, CardRevoked, UndeliveredRevocation};
use crate::model::*;
use crate::oidc::*;
use crate::orders::*;
use crate::portal::*;
use crate::revocation::*;
use crate::{PostgresStore, SqliteStore, StoreResult};

/// The configured store.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// One SQLite file: one node.
    Sqlite(SqliteStore),
    /// A PostgreSQL database: any number of nodes.
    Postgres(PostgresStore),
}

impl From<SqliteStore> for AnyStore {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

impl From<PostgresStore> for AnyStore {
    fn from(store: PostgresStore) -> Self {
        Self::Postgres(store)
    }
}

/// `impl $trait for AnyStore`, each method calling the same method of the store inside.
macro_rules! delegate {
    ($trait:path { $(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for AnyStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        AnyStore::Sqlite(store) => store.$name($($arg),*).await,
                        AnyStore::Postgres(store) => store.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate!(crate::Store {
    async fn add_organisation(&self, org: &Organisation, audit: &AuditEvent) -> StoreResult<()>;
    async fn organisation(&self, org_number: &str) -> StoreResult<Option<Organisation>>;
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;
    async fn set_organisation_policy(&self, org_number: &str, policy: SigningPolicy, accept_unattested_keys: bool, audit: &AuditEvent) -> StoreResult<()>;
    async fn add_person(&self, person: &Person, audit: &AuditEvent) -> StoreResult<()>;
    async fn person(&self, hsa_id: &str) -> StoreResult<Option<Person>>;
    async fn persons(&self, org_number: Option<&str>) -> StoreResult<Vec<Person>>;
    async fn set_signing_entitlement(&self, hsa_id: &str, entitled: bool, audit: &AuditEvent) -> StoreResult<()>;
    async fn add_card(&self, card: &Card, audit: &AuditEvent) -> StoreResult<()>;
    async fn card(&self, card_number: &str) -> StoreResult<Option<Card>>;
    async fn cards(&self, holder: Option<&str>) -> StoreResult<Vec<Card>>;
    async fn set_card_state(&self, card_number: &str, state: CardState, audit: &AuditEvent) -> StoreResult<()>;
    async fn add_certificate(&self, cert: &CertificateRecord, audit: &AuditEvent) -> StoreResult<()>;
    async fn certificate(&self, serial: &Serial) -> StoreResult<Option<CertificateRecord>>;
    async fn certificate_with_subject(&self, serial: &Serial) -> StoreResult<Option<CertificateSubject>>;
    async fn person_with_organisation(&self, hsa_id: &str) -> StoreResult<Option<(Person, Option<Organisation>)>>;
    async fn card_with_holder(&self, card_number: &str) -> StoreResult<Option<(Card, Option<Person>)>>;
    async fn certificate_by_public_key(&self, public_key_sha256: &[u8; 32]) -> StoreResult<Option<CertificateRecord>>;
    async fn certificates_of_card(&self, card_number: &str) -> StoreResult<Vec<CertificateRecord>>;
    async fn certificates_of_person(&self, hsa_id: &str) -> StoreResult<Vec<CertificateRecord>>;
    async fn revoke_certificate(&self, serial: &Serial, reason: RevocationReason, at: OffsetDateTime, audit: &AuditEvent) -> StoreResult<()>;
    async fn revoke_card(&self, revocation: &CardRevocation) -> StoreResult<CardRevoked>;
    async fn revoke_undelivered(&self, revocation: &UndeliveredRevocation) -> StoreResult<Vec<CertificateRecord>>;
    async fn use_once(&self, purpose: &str, value: &[u8], keep_until: OffsetDateTime) -> StoreResult<()>;
    async fn purge_used_once(&self, now: OffsetDateTime) -> StoreResult<u64>;
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<AuditEntry>;
    async fn audit_entries(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    async fn audit_chain(&self, chain: &str, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>>;
    async fn add_signed_audit_head(&self, signed: &SignedAuditHead) -> StoreResult<()>;
    async fn signed_audit_heads(&self) -> StoreResult<Vec<SignedAuditHead>>;
});

delegate!(crate::OrderStore {
    async fn add_order(&self, order: &OrderRecord, audit: &AuditEvent) -> StoreResult<()>;
    async fn order(&self, order_ref: &str) -> StoreResult<Option<OrderRecord>>;
    async fn order_by_app_token(&self, app_token_sha256: &[u8; 32]) -> StoreResult<Option<OrderRecord>>;
    async fn claim_order(&self, autostart_token_sha256: &[u8; 32], app_token_sha256: &[u8; 32], now: OffsetDateTime) -> StoreResult<Option<OrderRecord>>;
    async fn set_order_hint(&self, order_ref: &str, hint: &str, now: OffsetDateTime) -> StoreResult<bool>;
    async fn fail_order(&self, order_ref: &str, hint: &str, purge_after: OffsetDateTime, audit: &AuditEvent) -> StoreResult<bool>;
    async fn sign_order(&self, sign: &SignOrder) -> StoreResult<bool>;
    async fn return_to_order(&self, ret: &ReturnToOrder) -> StoreResult<ReturnOutcome>;
    async fn add_browser_session(&self, session: &BrowserSession) -> StoreResult<()>;
    async fn browser_session(&self, id_sha256: &[u8; 32], now: OffsetDateTime) -> StoreResult<Option<BrowserSession>>;
    async fn purge_expired_orders(&self, now: OffsetDateTime) -> StoreResult<Purged>;
});

delegate!(crate::EnrollStore {
    async fn start_enrollment(&self, start: &NewEnrollment) -> StoreResult<Vec<String>>;
    async fn claim_card(&self, claim: &CardClaim) -> StoreResult<ClaimOutcome>;
    async fn confirm_delivery(&self, delivery: &Delivery) -> StoreResult<bool>;
    async fn delivered_at(&self, serial: &Serial) -> StoreResult<Option<OffsetDateTime>>;
});

delegate!(crate::OidcStore {
    async fn add_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()>;
    async fn put_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()>;
    async fn client(&self, client_id: &str) -> StoreResult<Option<OidcClient>>;
    async fn clients(&self) -> StoreResult<Vec<OidcClient>>;
    async fn add_signing_key(&self, key: &SigningKeyRecord, audit: &AuditEvent) -> StoreResult<()>;
    async fn retire_signing_key(&self, kid: &str, retire_at: OffsetDateTime, delete_at: OffsetDateTime, audit: &AuditEvent) -> StoreResult<()>;
    async fn signing_keys(&self, now: OffsetDateTime) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn add_session(&self, session: &LoginSession) -> StoreResult<()>;
    async fn session(&self, id_sha256: &[u8; 32]) -> StoreResult<Option<LoginSession>>;
    async fn end_session(&self, id_sha256: &[u8; 32], at: OffsetDateTime) -> StoreResult<bool>;
    async fn end_sessions_of_card(&self, card_number: &str, at: OffsetDateTime, audit: &AuditEvent) -> StoreResult<u64>;
    async fn add_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;
    async fn code(&self, code_sha256: &[u8; 32]) -> StoreResult<Option<AuthCodeRecord>>;
    async fn code_with_session(&self, code_sha256: &[u8; 32]) -> StoreResult<Option<(AuthCodeRecord, Option<LoginSession>)>>;
    async fn redeem_code(&self, code_sha256: &[u8; 32], now: OffsetDateTime, grant: &GrantRecord, audit: &AuditEvent) -> StoreResult<Redemption>;
    async fn grant_by_jti(&self, access_jti: &str) -> StoreResult<Option<GrantRecord>>;
    async fn revoke_grant(&self, grant_id: &str, at: OffsetDateTime, audit: &AuditEvent) -> StoreResult<bool>;
    async fn purge_oidc(&self, now: OffsetDateTime) -> StoreResult<u64>;
});

delegate!(crate::PortalStore {
    async fn add_portal_session(&self, session: &PortalSessionRecord) -> StoreResult<()>;
    async fn portal_session(&self, id_sha256: &[u8; 32], now: OffsetDateTime) -> StoreResult<Option<PortalSessionRecord>>;
    async fn renew_portal_session(&self, id_sha256: &[u8; 32], renewal: &PortalRenewal, now: OffsetDateTime) -> StoreResult<bool>;
    async fn end_portal_session(&self, id_sha256: &[u8; 32]) -> StoreResult<bool>;
    async fn purge_portal_sessions(&self, now: OffsetDateTime) -> StoreResult<u64>;
});

delegate!(crate::RevocationStore {
    async fn revocation_marker(&self) -> StoreResult<RevocationMarker>;
    async fn revocation_status(&self, serial: &Serial) -> StoreResult<Option<CertStatus>>;
    async fn revoked_certificates(&self, expired_since: OffsetDateTime) -> StoreResult<Vec<RevokedCertificate>>;
    async fn allocate_crl_number(&self) -> StoreResult<u64>;
    async fn record_crl(&self, crl: &CrlRecord, audit: &AuditEvent) -> StoreResult<()>;
    async fn latest_crl(&self) -> StoreResult<Option<CrlRecord>>;
    async fn add_ocsp_responder(&self, responder: &ResponderRecord, replaces: Option<&Serial>, audit: &AuditEvent) -> StoreResult<bool>;
    async fn current_ocsp_responder(&self) -> StoreResult<Option<ResponderRecord>>;
    async fn ocsp_responders(&self) -> StoreResult<Vec<ResponderRecord>>;
});
