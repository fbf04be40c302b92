//! Certificate revocation lists (RFC 5280 §5) of the issuing CA: version 2, signed by the
//! issuing CA's key through the [`crate::Signer`] seam, with `thisUpdate`, `nextUpdate`
//! (always present, as §5.1.2.5 requires of conforming issuers), the CRL number and the
//! authority key identifier (both required by §5.2), and a reason code per entry.
//!
//! Built with rcgen, as the certificates are. [`CertificateAuthority::crl`] encodes what it
//! is given; [`CertificateAuthority::publish_crl`] takes the revocations from the store,
//! numbers, signs and records a CRL; [`LiveCrl`] is what a server serves: the newest
//! recorded CRL, picked up at once when another process records one, and reissued on the
//! [`CrlSchedule`] well before its `nextUpdate`. The one rule of which revocations get a CRL
//! at once is [`CrlSchedule::publishes_at_once`]; every process that revokes (`eid serve`,
//! `eid admin`) applies it through [`LiveCrl::after_revocation`]. `docs/revocation.md`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use eid_store::revocation::{CrlRecord, RevocationStore};
use eid_store::{AuditEvent, RevocationReason, Serial, StoreError};
use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::CertificateAuthority;

/// One revoked certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Serial,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// Why a CRL could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// `nextUpdate` must be after `thisUpdate`.
    #[error("the next update ({next}) must be after this update ({this})")]
    BadPeriod {
        this: OffsetDateTime,
        next: OffsetDateTime,
    },
    /// The issuing CA certificate has no subject key identifier to name in the CRL.
    #[error("the issuing CA certificate has no subject key identifier")]
    NoKeyIdentifier,
    /// Signing failed (the CA key is unusable).
    #[error("the CRL could not be signed: {0}")]
    Sign(String),
    /// The schedule is not usable: it must reissue after a positive time shorter than the
    /// validity.
    #[error("a CRL schedule must reissue after a positive time shorter than its validity")]
    BadSchedule,
    /// The store failed or refused.
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

fn reason(r: RevocationReason) -> rcgen::RevocationReason {
    match r {
        RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
        RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
        RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
        RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
    }
}

/// The issuing CA certificate's subject key identifier: the CRL's authority key identifier
/// must name the same key.
fn subject_key_identifier(issuing_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(issuing_der).ok()?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

/// Big-endian bytes without leading zeros (one zero byte for zero).
fn minimal(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

impl CertificateAuthority {
    /// A CRL numbered `number` listing `revoked`, valid from `this_update` until
    /// `next_update`; DER.
    pub fn crl(
        &self,
        revoked: &[RevokedEntry],
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, CrlError> {
        if next_update <= this_update {
            return Err(CrlError::BadPeriod {
                this: this_update,
                next: next_update,
            });
        }
        let ski = subject_key_identifier(self.issuing_der()).ok_or(CrlError::NoKeyIdentifier)?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(minimal(&number.to_be_bytes())),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(r.serial.as_bytes()),
                    revocation_time: r.revoked_at,
                    reason_code: Some(reason(r.reason)),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(ski),
        };
        let crl = params
            .signed_by(self.issuer())
            .map_err(|e| CrlError::Sign(e.to_string()))?;
        Ok(crl.der().to_vec())
    }
}

/// When CRLs are issued: valid for [`CrlSchedule::validity`], reissued
/// [`CrlSchedule::reissue_after`] after the last one's `thisUpdate`, so a relying party
/// always finds a fresh one well before the one it holds runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlSchedule {
    /// `nextUpdate` − `thisUpdate` (default 24 hours).
    pub validity: Duration,
    /// Age of the newest CRL at which the next is issued (default 12 hours: half the
    /// validity).
    pub reissue_after: Duration,
}

impl Default for CrlSchedule {
    fn default() -> Self {
        Self::with_validity(Duration::hours(24))
    }
}

impl CrlSchedule {
    /// CRLs valid for `validity`, reissued after half of it: a relying party that fetches
    /// late still finds a valid one.
    pub fn with_validity(validity: Duration) -> Self {
        Self {
            validity,
            reissue_after: validity / 2,
        }
    }

    /// Whether a revocation for `reason` gets a new CRL at once, rather than on the
    /// schedule: only a key compromise, which tells relying parties to stop trusting the
    /// key now, so those that only fetch CRLs must learn of it before the next scheduled
    /// one. Every other reason waits; OCSP answers `revoked` at once in any case. Every
    /// revoke path asks this, through [`LiveCrl::after_revocation`].
    pub fn publishes_at_once(reason: RevocationReason) -> bool {
        reason == RevocationReason::KeyCompromise
    }

    /// The schedule if it is usable.
    pub fn checked(self) -> Result<Self, CrlError> {
        if self.reissue_after > Duration::ZERO && self.reissue_after < self.validity {
            Ok(self)
        } else {
            Err(CrlError::BadSchedule)
        }
    }

    /// Whether a new CRL is due at `now`, the newest being `latest`.
    pub fn due(&self, latest: &CrlRecord, now: OffsetDateTime) -> bool {
        now >= latest.this_update + self.reissue_after || now >= latest.next_update
    }
}

/// `at` without its fraction of a second: X.509 times have whole seconds, and the store's
/// record must say what the DER says.
pub(crate) fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

impl CertificateAuthority {
    /// Issues a CRL now: every revoked certificate of the store that expired less than two
    /// validities ago (RFC 5280 §3.3: an entry stays until at least one scheduled CRL after
    /// the certificate's expiry lists it), a fresh CRL number, `thisUpdate` `now`,
    /// `nextUpdate` a validity later; recorded with a `crl.issue` audit entry by `actor`
    /// before it is returned.
    pub async fn publish_crl<S: RevocationStore + ?Sized>(
        &self,
        store: &S,
        schedule: &CrlSchedule,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<CrlRecord, CrlError> {
        let schedule = schedule.checked()?;
        let this_update = whole_seconds(now);
        let next_update = this_update + schedule.validity;
        let revoked = store
            .revoked_certificates(this_update - schedule.validity * 2)
            .await?;
        let entries: Vec<RevokedEntry> = revoked
            .into_iter()
            .map(|r| RevokedEntry {
                serial: r.serial,
                revoked_at: whole_seconds(r.revoked_at),
                reason: r.reason,
            })
            .collect();
        let number = store.allocate_crl_number().await?;
        let der = self.crl(&entries, number, this_update, next_update)?;
        let record = CrlRecord {
            number,
            this_update,
            next_update,
            der,
        };
        let audit = AuditEvent {
            at: now,
            actor: actor.to_owned(),
            action: "crl.issue".into(),
            subject: number.to_string(),
            details: serde_json::json!({
                "this_update": this_update.unix_timestamp(),
                "next_update": next_update.unix_timestamp(),
                "entries": entries.len(),
                "sha256": hex::encode(crate::sha256(&record.der)),
            }),
        };
        store.record_crl(&record, &audit).await?;
        tracing::info!(
            number,
            entries = entries.len(),
            next_update = %next_update,
            "CRL issued"
        );
        Ok(record)
    }
}

/// The CRL a server serves: the newest recorded in the store, reissued when the schedule
/// says so. Nothing here knows HTTP.
///
/// Each [`LiveCrl::current`] reads the store's revocation marker (cheap), so a CRL that
/// another node or process recorded (a key compromise revoked with `eid admin`) is served
/// from the next request on. At most one reissue runs at a time on a node; requests meanwhile
/// get the CRL in hand, which is still valid (reissues happen well before `nextUpdate`).
#[derive(Debug)]
pub struct LiveCrl<S: ?Sized> {
    store: Arc<S>,
    ca: Arc<CertificateAuthority>,
    schedule: CrlSchedule,
    actor: String,
    current: RwLock<Option<Arc<CrlRecord>>>,
    publishing: AtomicBool,
}

/// Clears the "publishing" flag when the publisher is done, even if it failed.
struct Publishing<'a>(&'a AtomicBool);

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<S: RevocationStore + ?Sized> LiveCrl<S> {
    /// A live CRL over `store` for `ca`; CRLs it issues are audited as `actor`.
    pub fn new(
        store: Arc<S>,
        ca: Arc<CertificateAuthority>,
        schedule: CrlSchedule,
        actor: impl Into<String>,
    ) -> Result<Self, CrlError> {
        Ok(Self {
            store,
            ca,
            schedule: schedule.checked()?,
            actor: actor.into(),
            current: RwLock::new(None),
            publishing: AtomicBool::new(false),
        })
    }

    /// The schedule in force.
    pub fn schedule(&self) -> &CrlSchedule {
        &self.schedule
    }

    fn held(&self) -> Option<Arc<CrlRecord>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    fn hold(&self, crl: &Arc<CrlRecord>) {
        if let Ok(mut current) = self.current.write()
            && current.as_ref().is_none_or(|c| c.number < crl.number)
        {
            *current = Some(crl.clone());
        }
    }

    /// The CRL to serve at `now`: the newest recorded (read again when the store says a
    /// newer one exists), first reissued when it is due.
    pub async fn current(&self, now: OffsetDateTime) -> Result<Arc<CrlRecord>, CrlError> {
        let newest = match self.store.revocation_marker().await {
            Ok(marker) => Some(marker.crl_number),
            Err(e) => {
                tracing::warn!(error = %e, "revocation marker unreadable; reading the CRL");
                None
            }
        };
        let held = match self.held() {
            Some(crl) if newest.is_some_and(|n| crl.number >= n) => Some(crl),
            _ => match self.store.latest_crl().await? {
                Some(crl) => {
                    let crl = Arc::new(crl);
                    self.hold(&crl);
                    self.held()
                }
                None => None,
            },
        };
        match held {
            None => self.publish_now(now).await,
            Some(crl) if self.schedule.due(&crl, now) => {
                if self
                    .publishing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // Another request is reissuing; this one is still valid.
                    return Ok(crl);
                }
                let _publishing = Publishing(&self.publishing);
                self.publish_now(now).await
            }
            Some(crl) => Ok(crl),
        }
    }

    /// After a committed revocation for `reason`: a new CRL issued and recorded at once if
    /// the reason calls for one ([`CrlSchedule::publishes_at_once`]), else `None` (the next
    /// scheduled CRL lists it).
    pub async fn after_revocation(
        &self,
        reason: RevocationReason,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<CrlRecord>>, CrlError> {
        if !CrlSchedule::publishes_at_once(reason) {
            return Ok(None);
        }
        self.publish_now(now).await.map(Some)
    }

    /// Issues and records a new CRL at once (after a key compromise; on schedule through
    /// [`LiveCrl::current`]) and serves it from now on.
    pub async fn publish_now(&self, now: OffsetDateTime) -> Result<Arc<CrlRecord>, CrlError> {
        let crl = Arc::new(
            self.ca
                .publish_crl(&*self.store, &self.schedule, now, &self.actor)
                .await?,
        );
        self.hold(&crl);
        Ok(crl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_reissues_at_half_its_validity() {
        assert_eq!(
            CrlSchedule::default(),
            CrlSchedule {
                validity: Duration::hours(24),
                reissue_after: Duration::hours(12),
            }
        );
        let hourly = CrlSchedule::with_validity(Duration::hours(1));
        assert_eq!(hourly.reissue_after, Duration::minutes(30));
        assert!(hourly.checked().is_ok());
        assert!(
            CrlSchedule::with_validity(Duration::ZERO)
                .checked()
                .is_err()
        );
    }

    #[test]
    fn only_a_key_compromise_is_published_at_once() {
        for reason in [
            RevocationReason::Unspecified,
            RevocationReason::AffiliationChanged,
            RevocationReason::Superseded,
            RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn,
        ] {
            assert!(!CrlSchedule::publishes_at_once(reason), "{reason:?}");
        }
        assert!(CrlSchedule::publishes_at_once(
            RevocationReason::KeyCompromise
        ));
    }
}
