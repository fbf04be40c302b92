//! What a command works with: the validated configuration, the store and the CA, opened
//! from the data folder.

use std::path::Path;
use std::sync::Arc;

use eid_config::{Config, StoreLocation};
use eid_pki::{CertificateAuthority, FileSigner};
use eid_store::SqliteStore;

use crate::failure::{Failure, Outcome};

/// Opens the store the configuration names. (The concrete type: the server needs the
/// order and OIDC records too; the PostgreSQL issue turns this into a choice.)
pub async fn open_store(config: &Config) -> Outcome<Arc<SqliteStore>> {
    match &config.store.location {
        StoreLocation::Sqlite(path) => {
            let store = SqliteStore::open(path, config.store.durability).await?;
            Ok(Arc::new(store))
        }
        other => Err(Failure::Usage(format!("unsupported store {other:?}"))),
    }
}

/// Loads the issuing CA from the files the configuration names.
pub fn load_ca(config: &Config) -> Outcome<CertificateAuthority> {
    let ca = &config.ca;
    let root = read_text(&ca.root_certificate, "root CA certificate")?;
    let issuing = read_text(&ca.issuing_certificate, "issuing CA certificate")?;
    let key = read_text(&ca.issuing_key, "issuing CA key")?;
    let signer = FileSigner::from_pkcs8_pem(&key).map_err(|e| {
        Failure::Usage(format!(
            "the issuing CA key {} is not usable: {e}",
            ca.issuing_key.display()
        ))
    })?;
    Ok(CertificateAuthority::load(
        &root,
        &issuing,
        Arc::new(signer),
        ca.profile.clone(),
    )?)
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Outcome<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the {what} {}: {e}", path.display())))
}
