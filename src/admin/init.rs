//! `eid admin init`: a new data folder with configuration, CA and database, made in a
//! temporary folder beside it and renamed into place, so a failure leaves nothing behind.

use eid_store::Store;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use eid_config::{Config, FILE_NAME, KeyAlgorithm, default_file};
use eid_pki::{CardMasterKey, create_ca};
use serde_json::json;

use super::{event, now};
use crate::cli::{Common, InitArgs};
use crate::context::open_store;
use crate::failure::{Failure, Outcome};
use crate::output;

pub async fn run(common: &Common, args: InitArgs) -> Outcome {
    let dir = &common.data;
    if !common.set.is_empty() {
        return Err(Failure::Usage(
            "--set does not apply to init: it writes eid.toml, which you edit afterwards".into(),
        ));
    }
    if dir.join(FILE_NAME).exists() {
        return Err(Failure::Refused(format!(
            "{} is already an eid data folder (it has {FILE_NAME}); nothing was changed",
            dir.display()
        )));
    }
    if dir.exists()
        && fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::Refused(format!(
            "{} exists and is not empty; choose a new folder",
            dir.display()
        )));
    }
    let algorithm: KeyAlgorithm = args
        .key_algorithm
        .parse()
        .map_err(|e: eid_pki::UnknownKeyAlgorithm| Failure::Usage(e.to_string()))?;

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => ".".into(),
    };
    fs::create_dir_all(&parent).map_err(|e| io_failure(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".eid-init-")
        .tempdir_in(&parent)
        .map_err(|e| io_failure(&parent, e))?;

    let summary = build(
        staging.path(),
        &args.public_url,
        algorithm,
        common.store.as_deref(),
    )
    .await?;

    if dir.exists() {
        fs::remove_dir(dir).map_err(|e| io_failure(dir, e))?;
    }
    let staged = staging.keep();
    fs::rename(&staged, dir).map_err(|e| {
        let _ = fs::remove_dir_all(&staged);
        io_failure(dir, e)
    })?;

    if common.json {
        output::json(&summary)
    } else {
        println!("created {}", dir.display());
        println!("  configuration  {}", dir.join(FILE_NAME).display());
        println!(
            "  root CA        {}",
            summary["root_ca"].as_str().unwrap_or_default()
        );
        println!(
            "  issuing CA     {}",
            summary["issuing_ca"].as_str().unwrap_or_default()
        );
        println!("  key algorithm  {algorithm}");
        println!(
            "The root CA's private key is in ca/root-key.pem: move it offline once the setup is done."
        );
        Ok(())
    }
}

/// Writes configuration, CA files and database into `dir`; the database is `store` (a
/// store URL, written into the configuration) or the default SQLite file. A PostgreSQL
/// database must not hold an installation yet.
pub(crate) async fn build(
    dir: &Path,
    public_url: &str,
    algorithm: KeyAlgorithm,
    store: Option<&str>,
) -> Outcome<serde_json::Value> {
    let mut text = default_file(public_url, algorithm);
    if let Some(url) = store {
        if url.contains(['"', '\\', '\n']) {
            return Err(Failure::Usage(
                "--store: a store URL has no quotes, backslashes or line breaks".into(),
            ));
        }
        text = text.replacen("url = \"sqlite://eid.db\"", &format!("url = \"{url}\""), 1);
    }
    // A URL with a password makes the file a secret.
    let mode = if store.is_some_and(|u| u.contains('@')) {
        0o600
    } else {
        0o644
    };
    write_file(&dir.join(FILE_NAME), text.as_bytes(), mode)?;
    // Validate what was written (and the environment) before any key is made.
    let config = Config::load(dir, &[])?;
    let at = now();
    let ca = create_ca(&config.ca.names, algorithm, at, &mut rand::rng())
        .map_err(|e| Failure::Internal(format!("cannot create the CA: {e}")))?;
    let ca_dir = dir.join("ca");
    fs::create_dir_all(&ca_dir).map_err(|e| io_failure(&ca_dir, e))?;
    write_file(
        &config.ca.root_certificate,
        ca.root_cert_pem.as_bytes(),
        0o644,
    )?;
    write_file(
        &ca_dir.join("root-key.pem"),
        ca.root_key_pem.as_bytes(),
        0o600,
    )?;
    write_file(
        &config.ca.issuing_certificate,
        ca.issuing_cert_pem.as_bytes(),
        0o644,
    )?;
    write_file(&config.ca.issuing_key, ca.issuing_key_pem.as_bytes(), 0o600)?;
    let master = CardMasterKey::generate()
        .map_err(|e| Failure::Internal(format!("cannot make the card master key: {e}")))?;
    write_file(
        &config.cards.master_key,
        master.to_file_text().as_bytes(),
        0o600,
    )?;
    // Prove the files load as the server will load them.
    let loaded = crate::context::load_ca(&config)?;
    let store = open_store(&config).await?;
    if !store.audit_entries(0, 1).await?.is_empty() {
        return Err(Failure::Refused(
            "the store already holds an installation (its audit log has entries): another \
             node joins by a copy of that installation's data folder, not by init"
                .into(),
        ));
    }
    let summary = json!({
        "data": dir.display().to_string(),
        "root_ca": config.ca.names.root_common_name,
        "issuing_ca": config.ca.names.issuing_common_name,
        "key_algorithm": algorithm.to_string(),
        "issuing_ca_not_after": loaded.not_after().to_string(),
    });
    store
        .append_audit(&event(
            at,
            "ca.create",
            &config.ca.names.issuing_common_name,
            summary.clone(),
        ))
        .await?;
    Ok(summary)
}

/// Creates `path` with `mode` and writes `bytes`, flushed to disk.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Outcome {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io_failure(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_failure(path, e))
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::Internal(format!("cannot write {}: {e}", path.display()))
}
