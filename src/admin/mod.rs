//! `eid admin …`: the ID administrator's commands.

mod card_enroll;
pub(crate) mod card_issue;
mod card_revoke;
mod card_unblock;
mod cert;
pub(crate) mod client;
pub(crate) mod init;
mod registry;

use eid_clock::{Clock, SystemClock};
use eid_store::AuditEvent;
use time::OffsetDateTime;

use crate::cli::{AdminArgs, AdminCommand, AuditCommand, Common};
use crate::failure::Outcome;
use crate::output;

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> Outcome {
    let common = args.common;
    match args.command {
        AdminCommand::Init(init) => init::run(&common, init).await,
        AdminCommand::Org(cmd) => registry::org(&common, cmd).await,
        AdminCommand::Person(cmd) => registry::person(&common, cmd).await,
        AdminCommand::Card(cmd) => registry::card(&common, cmd).await,
        AdminCommand::Cert(cmd) => cert::run(&common, cmd).await,
        AdminCommand::Audit(AuditCommand::Verify) => audit_verify(&common).await,
        AdminCommand::Client(cmd) => client::run(&common, cmd).await,
    }
}

async fn audit_verify(common: &Common) -> Outcome {
    let config = common.config()?;
    let store = crate::context::open_store(&config).await?;
    let report = eid_store::audit::verify(store.as_ref()).await?;
    if common.json {
        output::json(&report)
    } else {
        println!(
            "audit log intact: {} entries, head {}",
            report.entries,
            hex::encode(report.head)
        );
        Ok(())
    }
}

/// Who the audit log names for this command: the operating-system user.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("admin:{user}")
}

/// An audit event by this administrator, now.
pub(crate) fn event(
    now: OffsetDateTime,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: actor(),
        action: action.into(),
        subject: subject.into(),
        details,
    }
}

/// The current time (the binary's one clock).
pub(crate) fn now() -> OffsetDateTime {
    SystemClock.now()
}
