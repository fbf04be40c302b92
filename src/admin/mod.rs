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
use crate::failure::{Failure, Outcome};
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
        AdminCommand::MigrateStore { to } => migrate_store(&common, &to).await,
    }
}

/// Copies the configured SQLite store into the empty PostgreSQL database `to`.
async fn migrate_store(common: &Common, to: &str) -> Outcome {
    let config = common.config()?;
    let eid_config::StoreLocation::Sqlite(path) = &config.store.location else {
        return Err(Failure::Usage(
            "migrate-store moves an SQLite store: this installation's store.url is not sqlite://"
                .into(),
        ));
    };
    let from = eid_store::SqliteStore::open(path, config.store.durability).await?;
    let target = eid_store::PostgresStore::connect(to, &config.store.node, 2).await?;
    let migrated = eid_store::migrate::sqlite_to_postgres(&from, &target).await?;
    if common.json {
        return output::json(&migrated);
    }
    println!("copied {} into {}", path.display(), target.shown());
    for (table, rows) in &migrated.tables {
        println!("  {table:<24} {rows} rows");
    }
    println!("  {:<24} {} entries", "audit_log", migrated.audit_entries);
    println!(
        "Now set store.url in {} to the new database (or EID_STORE__URL) and start the servers.",
        config.data_dir.join(eid_config::FILE_NAME).display()
    );
    Ok(())
}

/// Checks every chain of the audit log and, with the installation's key-encryption key
/// (the data folder's), every signed head.
async fn audit_verify(common: &Common) -> Outcome {
    let config = common.config()?;
    let store = crate::context::open_store(&config).await?;
    let kek_path = config.data_dir.join(eid_server::KEK_FILE);
    let key = match std::fs::read(&kek_path) {
        Ok(bytes) => {
            let kek: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                Failure::Usage(format!("{} must hold exactly 32 bytes", kek_path.display()))
            })?;
            Some(eid_store::AuditKey::derive(&kek)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Failure::Usage(format!("{}: {e}", kek_path.display()))),
    };
    let report = eid_store::audit::verify(store.as_ref(), key.as_ref()).await?;
    if common.json {
        return output::json(&report);
    }
    println!(
        "audit log intact: {} entries in {} chain(s)",
        report.entries,
        report.chains.len()
    );
    for chain in &report.chains {
        let signed = match chain.signed {
            Some((seq, at)) => format!("signed up to entry {seq} at {at}"),
            None => "no signed head".into(),
        };
        println!(
            "  {}: {} entries, head {}, {signed}",
            chain.chain,
            chain.entries,
            hex::encode(chain.head)
        );
    }
    match key {
        Some(_) => println!("{} signed head(s) checked", report.signed_heads),
        None => println!(
            "signed heads not checked: no key-encryption key in {} (run this where the server's data folder is)",
            config.data_dir.display()
        ),
    }
    Ok(())
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
