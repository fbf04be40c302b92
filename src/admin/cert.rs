//! `eid admin cert`: issue a certificate from a request, list certificates, revoke one,
//! and revoke the signing certificates that never reached their card.
//!
//! A revocation goes through the store ([`Store::revoke_certificate`], by way of
//! `eid_server::lifecycle::revoke_certificate`) with an audit entry naming the
//! administrator; an authentication certificate's card also loses its login sessions at the
//! identity provider (single sign-on does not outlive the certificate). OCSP answers
//! `revoked` from the next request on (every node reads the store's revocation marker), and
//! a key compromise also gets a new CRL at once, signed here ([`live_crl`]), so relying
//! parties that only fetch CRLs learn of it before the next scheduled one. A refused
//! revocation (unknown serial, already revoked, malformed serial) changes nothing.
//!
//! A signing certificate issued here is handed to the administrator (printed, `--out`),
//! who writes it to the card: it is recorded as delivered at once, so that the periodic
//! revocation of certificates that a fetch issued but never wrote to the card
//! (`eid_server::lifecycle`) never takes it for one.

use std::sync::Arc;

use eid_config::Config;
use eid_pki::{Csr, IssueRequest, LiveCrl, Profile, issue};
use eid_server::lifecycle::{CrlAfterRevocation, publish_after_revocation};
use eid_store::enroll::{Delivery, EnrollStore};
use eid_store::{
    AnyStore, CertKind, CertStatus, CertificateRecord, RevocationReason, Serial, Store,
};
use serde_json::json;

use super::{actor, event, now};
use crate::cli::{CertCommand, Common, ProfileArg, ReasonArg};
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};
use crate::output::{self, table};

pub async fn run(common: &Common, cmd: CertCommand) -> Outcome {
    let config = common.config()?;
    match cmd {
        CertCommand::Issue {
            card,
            profile,
            csr,
            virtual_card,
            out,
        } => {
            let bytes = std::fs::read(&csr).map_err(|e| {
                Failure::Usage(format!("cannot read the request {}: {e}", csr.display()))
            })?;
            let csr = match std::str::from_utf8(&bytes) {
                Ok(text) if text.contains("-----BEGIN") => Csr::from_pem(text)?,
                _ => Csr::from_der(&bytes)?,
            };
            if let Some(out) = &out
                && out.exists()
            {
                return Err(Failure::Usage(format!(
                    "{} exists; choose another --out",
                    out.display()
                )));
            }
            let ca = load_ca(&config)?;
            let store = open_store(&config).await?;
            let holder = store
                .card(card.trim())
                .await?
                .ok_or_else(|| Failure::Refused(format!("no card with number {card} exists")))?
                .holder;
            let request = IssueRequest {
                hsa_id: holder,
                card_number: card.trim().to_owned(),
                profile: match profile {
                    ProfileArg::Authentication => Profile::Authentication,
                    ProfileArg::Signing => Profile::Signing,
                },
                csr,
                virtual_card,
            };
            let issued = issue(
                &ca,
                store.as_ref(),
                &request,
                &actor(),
                now(),
                &mut rand::rng(),
            )
            .await?;
            if issued.record.kind == CertKind::Signing {
                record_handed_out(store.as_ref(), &issued.record).await?;
            }
            if let Some(out) = &out {
                // The certificate is committed already; a failed write loses nothing.
                std::fs::write(out, &issued.pem).map_err(|e| {
                    Failure::Internal(format!(
                        "issued {} but cannot write {}: {e}",
                        issued.record.serial,
                        out.display()
                    ))
                })?;
            }
            if common.json {
                output::json(&CertView::from(&issued.record))
            } else {
                if out.is_none() {
                    print!("{}", issued.pem);
                }
                eprintln!(
                    "issued {} certificate {} valid until {}",
                    output::kebab(&issued.record.kind),
                    issued.record.serial,
                    issued.record.not_after
                );
                Ok(())
            }
        }
        CertCommand::List { card, person } => {
            let store = open_store(&config).await?;
            let certs = match (card, person) {
                (Some(card), _) => store.certificates_of_card(card.trim()).await?,
                (None, Some(person)) => {
                    store
                        .certificates_of_person(&person.trim().to_ascii_uppercase())
                        .await?
                }
                (None, None) => Vec::new(),
            };
            let views: Vec<CertView> = certs.iter().map(CertView::from).collect();
            if common.json {
                return output::json(&views);
            }
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|v| {
                    vec![
                        v.serial.clone(),
                        v.kind.clone(),
                        v.card.clone().unwrap_or_default(),
                        v.status.clone(),
                        v.not_after.clone(),
                    ]
                })
                .collect();
            table(&["SERIAL", "KIND", "CARD", "STATUS", "NOT AFTER"], &rows);
            Ok(())
        }
        CertCommand::Revoke { serial, reason } => {
            revoke(common, &config, &serial, reason.into()).await
        }
        CertCommand::ExpireUndelivered => expire_undelivered(common, &config).await,
    }
}

impl From<ReasonArg> for RevocationReason {
    fn from(arg: ReasonArg) -> Self {
        match arg {
            ReasonArg::Unspecified => Self::Unspecified,
            ReasonArg::KeyCompromise => Self::KeyCompromise,
            ReasonArg::AffiliationChanged => Self::AffiliationChanged,
            ReasonArg::Superseded => Self::Superseded,
            ReasonArg::CessationOfOperation => Self::CessationOfOperation,
            ReasonArg::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
        }
    }
}

/// Records a signing certificate issued by the administrator as delivered: it leaves here
/// in the administrator's hands, not through a fetch that could stop before the card.
async fn record_handed_out(store: &AnyStore, record: &CertificateRecord) -> Outcome {
    let at = now();
    let card = record.card_number.clone().unwrap_or_default();
    let delivery = Delivery {
        serial: record.serial.clone(),
        card_number: card.clone(),
        order_ref: "eid admin cert issue".into(),
        at,
        audit: event(
            at,
            "certificate.deliver",
            &record.serial.to_string(),
            json!({ "card": card, "by": "administrator" }),
        ),
        // The card's previous signing certificate in force, if any, is revoked with it.
        superseded_audit: event(
            at,
            "certificate.revoke",
            "",
            json!({ "reason": RevocationReason::Superseded, "card": card,
                    "supersededBy": record.serial.to_string() }),
        ),
    };
    store.confirm_delivery(&delivery).await.map_err(|e| {
        Failure::Internal(format!(
            "issued {} but cannot record it as handed out: {e}",
            record.serial
        ))
    })?;
    Ok(())
}

/// `eid admin cert revoke SERIAL --reason R`.
async fn revoke(
    common: &Common,
    config: &Config,
    serial: &str,
    reason: RevocationReason,
) -> Outcome {
    let serial: Serial = serial.parse().map_err(|e| {
        Failure::Usage(format!(
            "`{serial}` is not a certificate serial ({e}): give it in hex as `eid admin cert list` prints it"
        ))
    })?;
    let store = open_store(config).await?;
    let Some(cert) = store.certificate(&serial).await? else {
        return Err(Failure::Refused(format!(
            "no certificate with serial {serial} exists"
        )));
    };
    if let CertStatus::Revoked { at, reason } = cert.status {
        return Err(Failure::Refused(format!(
            "certificate {serial} is already revoked (since {}, {})",
            rfc3339(at),
            output::kebab(&reason)
        )));
    }
    let (crl, no_ca) = live_crl(config, &store);
    let done = eid_server::lifecycle::revoke_certificate(
        store.as_ref(),
        crl.as_ref(),
        &serial,
        reason,
        &actor(),
        now(),
    )
    .await
    .map_err(|e| match e {
        // Revoked by someone else since the check above.
        eid_store::StoreError::Refused(_) => {
            Failure::Refused(format!("certificate {serial} is already revoked"))
        }
        e => e.into(),
    })?;
    let crl = crl_number(done.crl, no_ca);
    let revoked = &done.certificate;
    if common.json {
        return output::json(&json!({
            "certificate": CertView::from(revoked),
            "login_sessions": done.login_sessions,
            "crl_number": crl,
        }));
    }
    println!(
        "revoked {} certificate {serial} ({})",
        output::kebab(&revoked.kind),
        output::kebab(&reason)
    );
    if done.login_sessions > 0 {
        println!("{} login session(s) of its card ended", done.login_sessions);
    }
    if let Some(number) = crl {
        println!("CRL {number} issued");
    }
    Ok(())
}

/// `eid admin cert expire-undelivered`.
async fn expire_undelivered(common: &Common, config: &Config) -> Outcome {
    let store = open_store(config).await?;
    let after = config.ca.undelivered_revoke_after;
    let revoked =
        eid_server::lifecycle::revoke_undelivered(store.as_ref(), after, &actor(), now()).await?;
    let views: Vec<CertView> = revoked.iter().map(CertView::from).collect();
    if common.json {
        return output::json(&views);
    }
    if views.is_empty() {
        println!(
            "no signing certificate has waited {} hours or more for its card",
            after.whole_hours()
        );
    }
    for v in &views {
        println!(
            "revoked undelivered signing certificate {} of card {} (cessationOfOperation)",
            v.serial,
            v.card.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// The CRL this process issues after a revocation (`eid serve` need not run): over `store`,
/// signed by the configured CA, on the configured schedule, audited as the administrator.
/// Without a usable CA, `None` and why.
fn live_crl(config: &Config, store: &Arc<AnyStore>) -> (Option<LiveCrl<AnyStore>>, Option<String>) {
    let crl = load_ca(config).map_err(|e| e.to_string()).and_then(|ca| {
        LiveCrl::new(store.clone(), Arc::new(ca), config.ca.crl_schedule, actor())
            .map_err(|e| e.to_string())
    });
    match crl {
        Ok(crl) => (Some(crl), None),
        Err(e) => (None, Some(e)),
    }
}

/// After a committed revocation for `reason` by another way than
/// `eid_server::lifecycle::revoke_certificate` (a whole card): the CRL it calls for. See
/// [`crl_number`].
pub(super) async fn publish_crl_now(
    config: &Config,
    store: &Arc<AnyStore>,
    reason: RevocationReason,
) -> Option<u64> {
    let (crl, no_ca) = live_crl(config, store);
    crl_number(
        publish_after_revocation(crl.as_ref(), reason, now()).await,
        no_ca,
    )
}

/// The number of the CRL issued at once after a revocation, if one was (the other reasons
/// wait for the server's schedule). A CRL that could not be issued does not undo the
/// revocation: it is reported (with why the CA was not at hand, `no_ca`, if it was not),
/// and `eid serve` issues one on its schedule.
fn crl_number(crl: CrlAfterRevocation, no_ca: Option<String>) -> Option<u64> {
    match crl {
        CrlAfterRevocation::Issued(number) => Some(number),
        CrlAfterRevocation::Scheduled => None,
        CrlAfterRevocation::NotIssued(why) => {
            eprintln!(
                "eid: warning: the revocation is done, but no new CRL could be issued now ({}); \
                 `eid serve` issues one on its schedule",
                no_ca.unwrap_or(why)
            );
            None
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A certificate as shown to the administrator (the DER as PEM).
#[derive(Debug, serde::Serialize)]
struct CertView {
    serial: String,
    kind: String,
    card: Option<String>,
    hsa_id: Option<String>,
    status: String,
    not_before: String,
    not_after: String,
    pem: String,
}

impl From<&CertificateRecord> for CertView {
    fn from(r: &CertificateRecord) -> Self {
        Self {
            serial: r.serial.to_string(),
            kind: output::kebab(&r.kind),
            card: r.card_number.clone(),
            hsa_id: r.hsa_id.clone(),
            status: match r.status {
                CertStatus::Valid => "valid".into(),
                CertStatus::Revoked { reason, .. } => {
                    format!("revoked ({})", output::kebab(&reason))
                }
            },
            not_before: rfc3339(r.not_before),
            not_after: rfc3339(r.not_after),
            pem: pem::encode(&pem::Pem::new("CERTIFICATE", r.der.clone())),
        }
    }
}
