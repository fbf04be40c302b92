//! Configuration of every `eid` role, in layers: the TOML file `eid.toml` in the data folder,
//! then `EID_<SECTION>__<KEY>` environment variables (e.g. `EID_CA__OCSP_URL`), then
//! command-line flags. Unknown keys are refused. The layers are merged into a raw form and
//! then validated into [`Config`] at start-up; every bad value gets its own message, naming
//! the key and where the value came from.
//!
//! This crate never holds a secret: keys live in files the config points to.

mod file;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

pub use eid_pki::ocsp::ResponderPolicy;
pub use eid_pki::{CaNames, CrlSchedule, KeyAlgorithm, ProfileSettings};
pub use eid_store::Durability;
pub use file::default_file;

use raw::RawConfig;

/// The configuration file's name inside the data folder.
pub const FILE_NAME: &str = "eid.toml";

/// The prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "EID_";

/// Validated configuration. Paths are absolute (relative ones are taken from the data folder).
#[derive(Debug, Clone)]
pub struct Config {
    /// The data folder.
    pub data_dir: PathBuf,
    /// The server's public base URL (issuer and portal links derive from it).
    pub public_url: String,
    /// Where `eid serve` listens.
    pub listen: std::net::SocketAddr,
    /// How the login page launches the eID app: the autostart token is appended.
    pub app_launch_base: String,
    /// How long a login order may take from *Legitimera* to the browser's return.
    pub order_lifetime: std::time::Duration,
    /// Where and how data is stored.
    pub store: StoreConfig,
    /// The certificate authority.
    pub ca: CaConfig,
    /// Cards: management keys and PIN rules.
    pub cards: CardsConfig,
    /// Proxies whose `X-Forwarded-For` `eid serve` believes, for logs only (default none).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Rate limits of `eid serve`.
    pub rate_limits: RateLimitsConfig,
    /// OpenID Connect clients registered (or updated) at `eid serve` start-up.
    pub oidc_clients: Vec<OidcClientConfig>,
    /// My Pages.
    pub mypages: MyPagesConfig,
}

/// My Pages (`[mypages]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyPagesConfig {
    /// The product name the pages show (default `eID`).
    pub product_name: String,
    /// The identity provider My Pages logs in with, found by discovery; `None`: this server.
    pub issuer: Option<String>,
}

/// Rate limits of `eid serve`, per minute; 0 switches a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitsConfig {
    /// Order starts per browser session.
    pub order_starts_per_session: u32,
    /// Order completions per card.
    pub completions_per_card: u32,
}

/// An OpenID Connect client from `[[oidc.clients]]`. A confidential client's secret is
/// never in the configuration: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClientConfig {
    /// The `client_id`.
    pub id: String,
    /// Shown on the login page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes (`openid` included).
    pub scopes: Vec<String>,
    /// A public client (no secret).
    pub public: bool,
    /// A confidential client that may skip PKCE.
    pub pkce_optional: bool,
    /// SHA-256 of a confidential client's secret.
    pub secret_sha256: Option<[u8; 32]>,
}

/// Cards: where their management keys come from and their PIN rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardsConfig {
    /// The master key from which every card's management key is diversified.
    pub master_key: PathBuf,
    /// Where `eid admin card issue` writes virtual cards.
    pub virtual_card_dir: PathBuf,
    /// A PEM file of the card makers' attestation roots (Yubico's PIV attestation CAs):
    /// plain PIV cards' keys are attested through them (none: such keys go unattested).
    pub vendor_attestation_roots: Option<PathBuf>,
    /// PIN and PUK tries of cards whose product has no entry of its own.
    pub defaults: Tries,
    /// Tries per product number.
    pub products: BTreeMap<String, Tries>,
}

impl CardsConfig {
    /// The PIN and PUK tries of cards of `product`.
    pub fn tries(&self, product: &str) -> Tries {
        self.products.get(product).copied().unwrap_or(self.defaults)
    }
}

/// How many wrong entries block a PIN and the PUK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tries {
    /// Wrong PINs before the PIN blocks.
    pub pin: u8,
    /// Wrong PUKs before the card is dead.
    pub puk: u8,
}

/// Where and how data is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The database.
    pub location: StoreLocation,
    /// What a commit survives.
    pub durability: Durability,
    /// This node's name (`store.node`; default the host name): its audit chains on
    /// PostgreSQL are named after it.
    pub node: String,
    /// Connections this node keeps to PostgreSQL (`store.pool_size`, default 16).
    pub pool_size: usize,
}

/// A database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`), shared by any number of nodes.
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL. It may hold a password: shown, it shows none.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(pub(crate) String);

impl PostgresUrl {
    /// The URL as written, password included: for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostgresUrl {
    /// The URL with any password replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return f.write_str(url);
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        match authority.rsplit_once('@') {
            Some((user, host)) if user.contains(':') => {
                let name = user.split_once(':').map_or(user, |(n, _)| n);
                write!(f, "{scheme}://{name}:***@{host}{}", redact_query(path))
            }
            _ => write!(f, "{scheme}://{authority}{}", redact_query(path)),
        }
    }
}

/// A URL path and query with any `password=` parameter's value replaced by `***`.
fn redact_query(path: &str) -> String {
    let Some((path, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// The certificate authority's files and profiles.
#[derive(Debug, Clone)]
pub struct CaConfig {
    /// Algorithm of CA keys created by `eid admin init`.
    pub key_algorithm: KeyAlgorithm,
    /// Names of CAs created by `eid admin init`.
    pub names: CaNames,
    /// Root CA certificate (PEM).
    pub root_certificate: PathBuf,
    /// Issuing CA certificate (PEM).
    pub issuing_certificate: PathBuf,
    /// Issuing CA private key (PKCS#8 PEM).
    pub issuing_key: PathBuf,
    /// What goes into issued certificates.
    pub profile: ProfileSettings,
    /// A signing certificate issued by a fetch but never confirmed on its card this long
    /// is revoked (`ca.undelivered_revoke_after_hours`, default 24 hours).
    pub undelivered_revoke_after: time::Duration,
    /// CRLs' validity, reissued after half of it (`ca.crl_validity_hours`, default 24
    /// hours). `docs/revocation.md`.
    pub crl_schedule: CrlSchedule,
    /// The OCSP responder certificates' validity and when a successor is issued
    /// (`ca.ocsp_responder_validity_days`, default 30; `ca.ocsp_responder_renew_before_days`,
    /// default 10).
    pub ocsp_responder: ResponderPolicy,
}

/// One bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, dotted (`ca.ocsp_url`).
    pub key: String,
    /// Where the value came from (the file, an environment variable, a flag).
    pub source: Option<String>,
    /// What is wrong, in plain words.
    pub message: String,
}

/// Every bad value found; nothing is started with a bad configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, one per bad value.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - `{}`", p.key)?;
            if let Some(source) = &p.source {
                write!(f, " (from {source})")?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(key: &str, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                key: key.into(),
                source: None,
                message: message.into(),
            }],
        }
    }
}

/// Command-line values that override the file and the environment: `(dotted key, value)`.
pub type Overrides<'a> = &'a [(&'a str, String)];

impl Config {
    /// Loads `DIR/eid.toml`, the `EID_*` environment and `overrides`, and validates them.
    pub fn load(data_dir: &Path, overrides: Overrides<'_>) -> Result<Self, ConfigError> {
        Self::load_from(data_dir, overrides, Env::prefixed(ENV_PREFIX))
    }

    fn load_from(data_dir: &Path, overrides: Overrides<'_>, env: Env) -> Result<Self, ConfigError> {
        let file = data_dir.join(FILE_NAME);
        if !file.is_file() {
            return Err(ConfigError::one(
                "data",
                format!(
                    "{} does not exist: run `eid admin init --data {}` first",
                    file.display(),
                    data_dir.display()
                ),
            ));
        }
        // Only sectioned variables (`EID_CA__OCSP_URL`) are configuration; `EID_DATA` and the
        // like are the command line's.
        let env = env.filter(|key| key.as_str().contains("__")).split("__");
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(Toml::file_exact(&file))
            .merge(env);
        for (key, value) in overrides {
            // Values are read as the environment's are: `5` a number, `true` a boolean.
            let value: figment::value::Value = value
                .parse()
                .unwrap_or_else(|never: std::convert::Infallible| match never {});
            figment = figment.merge(Serialized::default(key, value));
        }
        let raw: RawConfig = figment.extract().map_err(|e| from_figment(&figment, e))?;
        raw.validate(data_dir, &figment)
    }
}

fn from_figment(figment: &Figment, error: figment::Error) -> ConfigError {
    ConfigError {
        problems: error
            .into_iter()
            .map(|e| Problem {
                key: if e.path.is_empty() {
                    "(file)".into()
                } else {
                    e.path.join(".")
                },
                source: e
                    .metadata
                    .as_ref()
                    .map(describe_source)
                    .or_else(|| source_of(figment, &e.path.join("."))),
                message: e.kind.to_string(),
            })
            .collect(),
    }
}

/// Where the value of `key` came from, for messages.
pub(crate) fn source_of(figment: &Figment, key: &str) -> Option<String> {
    figment.find_metadata(key).map(describe_source)
}

fn describe_source(m: &figment::Metadata) -> String {
    match &m.source {
        Some(source) => format!("{} {source}", m.name),
        None => m.name.to_string(),
    }
}

#[cfg(test)]
mod tests;
