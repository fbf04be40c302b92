//! `eid admin cert`: issue a certificate from a request, list certificates.

use eid_pki::{Csr, IssueRequest, Profile, issue};
use eid_store::Store;
use eid_store::{CertStatus, CertificateRecord};

use super::{actor, now};
use crate::cli::{CertCommand, Common, ProfileArg};
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
    }
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
        let rfc3339 = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
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
