//! What a command works with: the validated configuration, the store and the CA, opened
//! from the data folder.

use std::path::Path;
use std::sync::Arc;

use eid_config::{Config, StoreLocation};
use eid_pki::{CertificateAuthority, FileSigner};
use eid_store::{AnyStore, PostgresStore, SqliteStore};

use crate::failure::{Failure, Outcome};

/// Opens the store the configuration names: an SQLite file, or a PostgreSQL database (its
/// schema brought up to date; this node's audit chains named after `store.node`).
pub async fn open_store(config: &Config) -> Outcome<Arc<AnyStore>> {
    let store = match &config.store.location {
        StoreLocation::Sqlite(path) => {
            AnyStore::from(SqliteStore::open(path, config.store.durability).await?)
        }
        StoreLocation::Postgres(url) => AnyStore::from(
            PostgresStore::connect(url.expose(), &config.store.node, config.store.pool_size)
                .await?,
        ),
        other => return Err(Failure::Usage(format!("unsupported store {other:?}"))),
    };
    Ok(Arc::new(store))
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
