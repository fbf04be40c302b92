//! The responder a server runs ([`OcspService`]): requests checked by the [`Responder`],
//! statuses from the store, responses signed by the current delegated responder, and
//! pre-signed responses kept in memory. Nothing here knows HTTP.
//!
//! # The cache
//!
//! A response to a request without a nonce about one certificate the CA issued (good or
//! revoked) is kept, keyed by the request's exact DER (what an RFC 5019 client sends again
//! and again), and answered again until half its validity has passed; the next request
//! after that gets a freshly signed one. `unknown` answers are never kept: the serial may be
//! issued a moment later.
//!
//! Before every answer the store's revocation marker is read (a few microseconds on
//! SQLite). The cache belongs to one marker value: when a revocation moved it, whichever
//! node or process made it, the next request finds the marker changed and nothing cached is
//! answered again. A response is kept only under the marker read *before* its status was
//! read, so a revocation that lands between the status read and the insertion cannot leave
//! a stale `good` behind. When the marker cannot be read the cache is not used at all.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use eid_store::CertStatus;
use eid_store::revocation::RevocationStore;
use rand::CryptoRng;
use time::{Duration, OffsetDateTime};
use x509_ocsp::OcspResponseStatus;

use super::responder::{ActiveResponder, ResponderKeySeal, ResponderPolicy, ensure_responder};
use super::{OcspError, SerialStatus, error_response};
use crate::CertificateAuthority;
use crate::crl::whole_seconds;

/// How the responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspSettings {
    /// `nextUpdate` − `thisUpdate` of a response (default 1 hour); a kept response is
    /// signed again after half of it.
    pub response_validity: Duration,
    /// The responder certificates' validity and rollover.
    pub responder: ResponderPolicy,
    /// Most responses kept; when full, the cache starts afresh (default 100,000: about
    /// 100 MB with a P-256 responder, whose certificate each response carries).
    pub cache_capacity: usize,
}

impl Default for OcspSettings {
    fn default() -> Self {
        Self {
            response_validity: Duration::hours(1),
            responder: ResponderPolicy::default(),
            cache_capacity: 100_000,
        }
    }
}

/// A signed response and what HTTP caching needs of it.
#[derive(Debug)]
pub struct SignedResponse {
    /// The `OCSPResponse`, DER.
    pub der: Vec<u8>,
    /// Its `thisUpdate` (and `producedAt`).
    pub this_update: OffsetDateTime,
    /// Its `nextUpdate`.
    pub next_update: OffsetDateTime,
    /// Whether it echoes a nonce: an answer to one request only, never to be cached.
    pub has_nonce: bool,
    /// The first 16 bytes of its SHA-256, in hex: a strong entity tag.
    pub fingerprint: String,
    /// When it is signed again rather than answered from the cache.
    refresh_at: OffsetDateTime,
}

impl AsRef<[u8]> for SignedResponse {
    fn as_ref(&self) -> &[u8] {
        &self.der
    }
}

/// What the responder answers.
#[derive(Debug, Clone)]
pub enum OcspAnswer {
    /// A signed response (`successful`).
    Signed(Arc<SignedResponse>),
    /// An unsigned error response (RFC 6960 §2.3).
    Error {
        /// `malformedRequest`, `unauthorized`, `internalError` or `tryLater`.
        status: OcspResponseStatus,
        /// The `OCSPResponse`, DER.
        der: Vec<u8>,
    },
}

impl OcspAnswer {
    fn error(status: OcspResponseStatus) -> Self {
        Self::Error {
            status,
            der: error_response(status),
        }
    }

    /// The `OCSPResponse`, DER.
    pub fn der(&self) -> &[u8] {
        match self {
            Self::Signed(r) => &r.der,
            Self::Error { der, .. } => der,
        }
    }
}

#[derive(Debug, Default)]
struct Cache {
    /// The marker's revocation count the entries are valid under.
    revocations: Option<u64>,
    entries: HashMap<Vec<u8>, Arc<SignedResponse>>,
}

/// The OCSP responder of one issuing CA over a store.
#[derive(Debug)]
pub struct OcspService<S: ?Sized> {
    store: Arc<S>,
    ca: Arc<CertificateAuthority>,
    seal: ResponderKeySeal,
    settings: OcspSettings,
    actor: String,
    active: RwLock<Arc<ActiveResponder>>,
    cache: RwLock<Cache>,
}

impl<S: RevocationStore + ?Sized> OcspService<S> {
    /// The responder for `ca` over `store`, with the store's current responder certificate
    /// (issued and recorded first when there is none or it is due for replacement; audited
    /// as `actor`).
    pub async fn start<R: CryptoRng + Send + ?Sized>(
        store: Arc<S>,
        ca: Arc<CertificateAuthority>,
        seal: ResponderKeySeal,
        settings: OcspSettings,
        now: OffsetDateTime,
        rng: &mut R,
        actor: impl Into<String>,
    ) -> Result<Self, OcspError> {
        if settings.response_validity <= Duration::ZERO {
            return Err(OcspError::BadPolicy);
        }
        let actor = actor.into();
        let active =
            ensure_responder(&ca, &*store, &seal, &settings.responder, now, rng, &actor).await?;
        Ok(Self {
            store,
            ca,
            seal,
            settings,
            actor,
            active: RwLock::new(Arc::new(active)),
            cache: RwLock::new(Cache::default()),
        })
    }

    /// The responder signing now.
    pub fn responder(&self) -> Option<Arc<ActiveResponder>> {
        self.active.read().ok().map(|a| a.clone())
    }

    /// How many responses are kept.
    pub fn cached(&self) -> usize {
        self.cache.read().map_or(0, |c| c.entries.len())
    }

    /// Rolls the responder over when due (or takes the one another node rolled over to),
    /// and forgets responses that have run out. Run it regularly (the server: every
    /// minute).
    pub async fn maintain<R: CryptoRng + Send + ?Sized>(
        &self,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<(), OcspError> {
        let next = ensure_responder(
            &self.ca,
            &*self.store,
            &self.seal,
            &self.settings.responder,
            now,
            rng,
            &self.actor,
        )
        .await?;
        let changed = self
            .responder()
            .is_none_or(|a| a.record.serial != next.record.serial);
        if changed {
            if let Ok(mut active) = self.active.write() {
                *active = Arc::new(next);
            }
            if let Ok(mut cache) = self.cache.write() {
                cache.entries.clear();
            }
        } else if let Ok(mut cache) = self.cache.write() {
            cache.entries.retain(|_, r| r.next_update > now);
        }
        Ok(())
    }

    /// The answer to the DER request `der` at `now`. Never fails: a request it cannot
    /// answer gets the error status RFC 6960 names.
    pub async fn answer(&self, der: &[u8], now: OffsetDateTime) -> OcspAnswer {
        let marker = match self.store.revocation_marker().await {
            Ok(marker) => Some(marker.revocations),
            Err(e) => {
                tracing::warn!(error = %e, "revocation marker unreadable: answering uncached");
                None
            }
        };
        if let Some(revocations) = marker
            && let Ok(cache) = self.cache.read()
            && cache.revocations == Some(revocations)
            && let Some(hit) = cache.entries.get(der)
            && hit.this_update <= now
            && now < hit.refresh_at
        {
            return OcspAnswer::Signed(hit.clone());
        }
        self.sign(der, now, marker).await
    }

    async fn sign(&self, der: &[u8], now: OffsetDateTime, marker: Option<u64>) -> OcspAnswer {
        let Some(active) = self.responder() else {
            return OcspAnswer::error(OcspResponseStatus::InternalError);
        };
        let request = match active.responder.check_request(der) {
            Ok(request) => request,
            Err(status) => return OcspAnswer::error(status),
        };
        let serials = request.serials();
        let mut statuses = Vec::with_capacity(serials.len());
        for serial in &serials {
            let status = match serial {
                None => Ok(None),
                Some(serial) => self.store.revocation_status(serial).await,
            };
            statuses.push(match status {
                Ok(None) => SerialStatus::Unknown,
                Ok(Some(CertStatus::Valid)) => SerialStatus::Good,
                Ok(Some(CertStatus::Revoked { at, reason })) => SerialStatus::Revoked {
                    at: whole_seconds(at),
                    reason,
                },
                Err(e) => return internal(&e),
            });
        }
        let this_update = whole_seconds(now);
        let next_update =
            (this_update + self.settings.response_validity).min(active.record.not_after);
        if next_update <= this_update {
            // The responder certificate ran out and no successor could be made yet.
            tracing::warn!("the OCSP responder certificate has run out: try later");
            return OcspAnswer::error(OcspResponseStatus::TryLater);
        }
        let signed = match active.responder.respond(
            &request,
            &statuses,
            this_update,
            this_update,
            next_update,
        ) {
            Ok(der) => der,
            Err(e) => return internal(&e),
        };
        let response = Arc::new(SignedResponse {
            fingerprint: hex::encode(&crate::sha256(&signed)[..16]),
            der: signed,
            this_update,
            next_update,
            has_nonce: request.has_nonce(),
            refresh_at: this_update + (next_update - this_update) / 2,
        });
        let keep = statuses.len() == 1
            && statuses[0] != SerialStatus::Unknown
            && !response.has_nonce
            && self.settings.cache_capacity > 0;
        if let (true, Some(revocations)) = (keep, marker) {
            self.keep(der, &response, revocations);
        }
        OcspAnswer::Signed(response)
    }

    /// Keeps `response` under the marker value read before its status was.
    fn keep(&self, der: &[u8], response: &Arc<SignedResponse>, revocations: u64) {
        let Ok(mut cache) = self.cache.write() else {
            return;
        };
        match cache.revocations {
            // A revocation since: the status read may be stale already.
            Some(newer) if newer > revocations => return,
            Some(same) if same == revocations => {}
            _ => {
                cache.entries.clear();
                cache.revocations = Some(revocations);
            }
        }
        if cache.entries.len() >= self.settings.cache_capacity {
            cache.entries.clear();
        }
        cache.entries.insert(der.to_vec(), response.clone());
    }
}

fn internal(e: &dyn std::fmt::Display) -> OcspAnswer {
    tracing::error!(error = %e, "OCSP answer failed");
    OcspAnswer::error(OcspResponseStatus::InternalError)
}
