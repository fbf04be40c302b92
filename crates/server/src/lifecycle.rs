//! The certificate life cycle's revocations that more than one caller makes: one
//! certificate revoked with what it authenticated and the CRL it calls for
//! ([`revoke_certificate`], for `eid admin cert revoke` and My Pages' *Spärra certifikat*),
//! and the periodic work: signing certificates that were issued but never written to their
//! card are revoked once the configured time has passed (`ca.undelivered_revoke_after_hours`,
//! [`spawn`]; `docs/certificates.md`, "Life cycle").
//!
//! A fetch commits the certificate before the app writes it to the card (DESIGN.md: issued
//! certificates are recorded before they are returned), so a fetch that stops after the CA
//! issued, and is never resumed, leaves a valid certificate that no card holds. The app can
//! resume it (the same certificate is handed out again) for as long as it stays valid; after
//! the configured time it is revoked as `cessationOfOperation`: RFC 5280 §5.3.1's reason for
//! a certificate no longer needed for its purpose without any suspicion about its key. The
//! key is still on the card, generated there and never out of it, so `keyCompromise` would
//! be false (and would make relying parties distrust signatures that were never made);
//! `superseded` would claim a successor that need not exist. Revoking it also lets the
//! holder fetch anew with a new key, since a card holds one valid signing certificate.
//!
//! Every node may run the pass: the store decides in one transaction what is undelivered,
//! so two nodes never revoke the same certificate twice, and a certificate confirmed on its
//! card in the meantime, or whose card a fetch holds right now, is left alone.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use eid_pki::{CrlSchedule, LiveCrl};
use eid_store::oidc::OidcStore;
use eid_store::revocation::RevocationStore;
use eid_store::{
    AuditEvent, CertKind, CertStatus, CertificateRecord, Missing, RevocationReason, Serial, Store,
    StoreError, StoreResult, UndeliveredRevocation,
};

use crate::{AppState, ServerStore};

/// Why an undelivered certificate is revoked (see the module docs).
pub const UNDELIVERED_REASON: RevocationReason = RevocationReason::CessationOfOperation;

/// Who the audit log names for revocations the server makes on its own.
const ACTOR: &str = "system:serve";

/// What [`revoke_certificate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRevoked {
    /// The certificate, now revoked.
    pub certificate: CertificateRecord,
    /// Login sessions of its card that ended with it (authentication certificates only).
    pub login_sessions: u64,
    /// The CRL that the revocation's reason called for.
    pub crl: CrlAfterRevocation,
}

/// What became of the CRL after a committed revocation ([`publish_after_revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlAfterRevocation {
    /// The reason waits for the next scheduled CRL (OCSP answers `revoked` already).
    Scheduled,
    /// A new CRL was issued at once: its number.
    Issued(u64),
    /// One was due at once but could not be issued: why, in plain words. The revocation
    /// stands; the next scheduled CRL lists it.
    NotIssued(String),
}

/// The publishing step after a committed revocation for `reason`: a new CRL at once if the
/// reason calls for one ([`CrlSchedule::publishes_at_once`]). `crl` is the CRL this process
/// issues; `None` when it has no CA at hand, so that a CRL due at once is
/// [`CrlAfterRevocation::NotIssued`]. A CRL that cannot be issued does not undo the
/// revocation: it is logged and returned.
pub async fn publish_after_revocation<S: RevocationStore + ?Sized>(
    crl: Option<&LiveCrl<S>>,
    reason: RevocationReason,
    now: OffsetDateTime,
) -> CrlAfterRevocation {
    let Some(crl) = crl else {
        return if CrlSchedule::publishes_at_once(reason) {
            CrlAfterRevocation::NotIssued("no CA is at hand to sign it".into())
        } else {
            CrlAfterRevocation::Scheduled
        };
    };
    match crl.after_revocation(reason, now).await {
        Ok(Some(issued)) => CrlAfterRevocation::Issued(issued.number),
        Ok(None) => CrlAfterRevocation::Scheduled,
        Err(e) => {
            // Recorded and answered by OCSP already; the scheduled CRL follows.
            tracing::warn!(error = %e, "the CRL was not reissued after a revocation");
            CrlAfterRevocation::NotIssued(e.to_string())
        }
    }
}

/// Revokes one valid certificate for `reason` with a `certificate.revoke` entry by `actor`,
/// then publishes it ([`publish_after_revocation`] with `crl`: a key compromise gets a new
/// CRL at once). An authentication certificate is what the card's login sessions at the
/// identity provider were opened with, so they end too, with their grants (an
/// `oidc.sessions.revoke` entry): single sign-on does not outlive the certificate. (That is
/// a second transaction after the revocation: a login in between is refused by the
/// revocation already.) The store's errors: [`Missing::Certificate`], or
/// [`StoreError::Refused`] if it is revoked already.
pub async fn revoke_certificate<S: Store + OidcStore + RevocationStore + ?Sized>(
    store: &S,
    crl: Option<&LiveCrl<S>>,
    serial: &Serial,
    reason: RevocationReason,
    actor: &str,
    now: OffsetDateTime,
) -> StoreResult<CertificateRevoked> {
    let mut certificate = store
        .certificate(serial)
        .await?
        .ok_or(StoreError::NotFound(Missing::Certificate))?;
    let event = |action: &str, subject: &str, details: serde_json::Value| AuditEvent {
        at: now,
        actor: actor.to_owned(),
        action: action.into(),
        subject: subject.to_owned(),
        details,
    };
    store
        .revoke_certificate(
            serial,
            reason,
            now,
            &event(
                "certificate.revoke",
                &serial.to_string(),
                json!({ "reason": reason, "kind": certificate.kind,
                        "card": certificate.card_number }),
            ),
        )
        .await?;
    tracing::info!(serial = %serial, "certificate revoked");
    // The store refuses a certificate revoked already, so the record read above is the
    // one revoked, with the time as the store keeps it (to the microsecond).
    certificate.status = CertStatus::Revoked {
        at: to_microseconds(now),
        reason,
    };
    let login_sessions = match (&certificate.card_number, certificate.kind) {
        (Some(card), CertKind::Authentication) => {
            store
                .end_sessions_of_card(
                    card,
                    now,
                    &event(
                        "oidc.sessions.revoke",
                        card,
                        json!({ "reason": "authentication certificate revoked",
                                "certificate": serial.to_string() }),
                    ),
                )
                .await?
        }
        _ => 0,
    };
    let crl = publish_after_revocation(crl, reason, now).await;
    Ok(CertificateRevoked {
        certificate,
        login_sessions,
        crl,
    })
}

/// `at` as a store keeps times: to the microsecond.
fn to_microseconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// Revokes the signing certificates issued at least `after` before `now` and never
/// confirmed on their card, each with a `certificate.revoke` entry by `actor`; returns
/// them. Used by the server's periodic pass and by `eid admin cert expire-undelivered`.
pub async fn revoke_undelivered<S: Store + ?Sized>(
    store: &S,
    after: Duration,
    actor: &str,
    now: OffsetDateTime,
) -> StoreResult<Vec<CertificateRecord>> {
    let revocation = UndeliveredRevocation {
        // "At least `after` ago": issued at `now - after` or earlier.
        issued_before: now - after + Duration::microseconds(1),
        reason: UNDELIVERED_REASON,
        at: now,
        audit: AuditEvent {
            at: now,
            actor: actor.to_owned(),
            action: "certificate.revoke".into(),
            subject: String::new(),
            details: json!({
                "why": "issued but never written to the card",
                "after_hours": after.whole_hours(),
            }),
        },
    };
    let revoked = store.revoke_undelivered(&revocation).await?;
    for cert in &revoked {
        tracing::info!(serial = %cert.serial, "undelivered signing certificate revoked");
    }
    Ok(revoked)
}

/// One pass of the server at its clock's now: [`revoke_undelivered`] as `system:serve`,
/// then the revocations published ([`publish_after_revocation`]).
pub async fn expire_undelivered<S: ServerStore>(
    state: &AppState<S>,
    after: Duration,
) -> StoreResult<Vec<CertificateRecord>> {
    let now = state.clock.now();
    let revoked = revoke_undelivered(&*state.store, after, ACTOR, now).await?;
    if !revoked.is_empty() {
        publish_after_revocation(Some(&state.revocation.crl), UNDELIVERED_REASON, now).await;
    }
    Ok(revoked)
}

/// Runs [`expire_undelivered`] now and then every `every` until the task is dropped or
/// aborted (or the process ends).
pub fn spawn<S: ServerStore>(
    state: AppState<S>,
    every: std::time::Duration,
    undelivered_after: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = expire_undelivered(&state, undelivered_after).await {
                tracing::warn!(error = %e, "revoking undelivered certificates failed");
            }
        }
    })
}
