//! The configuration as read, before validation: plain values with defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::{
    CaConfig, CaNames, CardsConfig, Config, ConfigError, CrlSchedule, Durability, KeyAlgorithm,
    MyPagesConfig, OidcClientConfig, PostgresUrl, Problem, ProfileSettings, RateLimitsConfig,
    ResponderPolicy, StoreConfig, StoreLocation, Tries, source_of,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    server: RawServer,
    store: RawStore,
    ca: RawCa,
    cards: RawCards,
    oidc: RawOidc,
    mypages: RawMyPages,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMyPages {
    product_name: String,
    issuer: Option<String>,
}

impl Default for RawMyPages {
    fn default() -> Self {
        Self {
            product_name: "eID".into(),
            issuer: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOidc {
    clients: Vec<RawClient>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawClient {
    id: String,
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    scopes: Vec<String>,
    public: bool,
    pkce_optional: bool,
    secret_sha256: Option<String>,
    /// Read only to refuse it with a clear message: a plain secret never goes here.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl Default for RawClient {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: vec!["openid".into()],
            public: false,
            pkce_optional: false,
            secret_sha256: None,
            secret: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimits {
    order_starts_per_session: i64,
    completions_per_card: i64,
}

impl Default for RawRateLimits {
    fn default() -> Self {
        Self {
            order_starts_per_session: 10,
            completions_per_card: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCards {
    master_key: PathBuf,
    virtual_card_dir: PathBuf,
    pin_tries: i64,
    puk_tries: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_attestation_roots: Option<PathBuf>,
    products: BTreeMap<String, RawProduct>,
}

impl Default for RawCards {
    fn default() -> Self {
        Self {
            master_key: "ca/card-master.key".into(),
            virtual_card_dir: "cards".into(),
            pin_tries: 3,
            puk_tries: 10,
            vendor_attestation_roots: None,
            products: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProduct {
    pin_tries: Option<i64>,
    puk_tries: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    public_url: String,
    listen: String,
    app_launch_base: String,
    order_lifetime_seconds: i64,
    trusted_proxies: Vec<String>,
    rate_limits: RawRateLimits,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            public_url: "https://localhost:8443".into(),
            listen: "127.0.0.1:8080".into(),
            app_launch_base: "eid:///?autostarttoken=".into(),
            order_lifetime_seconds: 180,
            trusted_proxies: Vec::new(),
            rate_limits: RawRateLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    url: String,
    durability: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    pool_size: i64,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: "sqlite://eid.db".into(),
            durability: "process".into(),
            node: None,
            pool_size: eid_store::postgres::DEFAULT_POOL_SIZE as i64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCa {
    key_algorithm: String,
    country: String,
    organisation: String,
    root_common_name: String,
    issuing_common_name: String,
    root_certificate: PathBuf,
    issuing_certificate: PathBuf,
    issuing_key: PathBuf,
    crl_url: Option<String>,
    ocsp_url: Option<String>,
    ca_issuers_url: Option<String>,
    authentication_validity_days: i64,
    signing_validity_days: i64,
    attestation_validity_days: i64,
    undelivered_revoke_after_hours: i64,
    crl_validity_hours: i64,
    ocsp_responder_validity_days: i64,
    ocsp_responder_renew_before_days: i64,
    policies: RawPolicies,
}

impl Default for RawCa {
    fn default() -> Self {
        Self {
            key_algorithm: KeyAlgorithm::default().to_string(),
            country: "SE".into(),
            organisation: "eid".into(),
            root_common_name: "eid Root CA".into(),
            issuing_common_name: "eid Issuing CA 1".into(),
            root_certificate: "ca/root.pem".into(),
            issuing_certificate: "ca/issuing.pem".into(),
            issuing_key: "ca/issuing-key.pem".into(),
            crl_url: None,
            ocsp_url: None,
            ca_issuers_url: None,
            authentication_validity_days: eid_pki::settings::DEFAULT_AUTHENTICATION_VALIDITY
                .whole_days(),
            signing_validity_days: eid_pki::settings::DEFAULT_SIGNING_VALIDITY.whole_days(),
            attestation_validity_days: eid_pki::settings::DEFAULT_ATTESTATION_VALIDITY.whole_days(),
            undelivered_revoke_after_hours: 24,
            crl_validity_hours: CrlSchedule::default().validity.whole_hours(),
            ocsp_responder_validity_days: ResponderPolicy::default().validity.whole_days(),
            ocsp_responder_renew_before_days: ResponderPolicy::default().renew_before.whole_days(),
            policies: RawPolicies::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPolicies {
    authentication: String,
    signing: String,
    virtual_card: String,
    attestation: String,
}

impl Default for RawPolicies {
    fn default() -> Self {
        Self {
            authentication: eid_pki::settings::DEFAULT_AUTHENTICATION_POLICY.into(),
            signing: eid_pki::settings::DEFAULT_SIGNING_POLICY.into(),
            virtual_card: eid_pki::settings::DEFAULT_VIRTUAL_CARD_POLICY.into(),
            attestation: eid_pki::settings::DEFAULT_ATTESTATION_POLICY.into(),
        }
    }
}

/// Collects problems with their sources.
struct Problems<'a> {
    figment: &'a Figment,
    found: Vec<Problem>,
}

impl Problems<'_> {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.found.push(Problem {
            key: key.into(),
            source: source_of(self.figment, key),
            message: message.into(),
        });
    }
}

impl RawConfig {
    pub(crate) fn validate(
        self,
        data_dir: &Path,
        figment: &Figment,
    ) -> Result<Config, ConfigError> {
        let mut problems = Problems {
            figment,
            found: Vec::new(),
        };
        let p = &mut problems;

        let public_url = self.server.public_url.trim_end_matches('/').to_owned();
        // A bad public URL is reported once, not again in the URLs derived from it.
        let base = match check_base_url(&public_url) {
            Ok(()) => public_url.as_str(),
            Err(message) => {
                p.add("server.public_url", message);
                "https://public-url.invalid"
            }
        };

        let listen = match self.server.listen.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                p.add(
                    "server.listen",
                    format!(
                        "`{}` is not an address and port like 127.0.0.1:8080",
                        self.server.listen
                    ),
                );
                None
            }
        };

        let location = match self.store.url.split_once("://") {
            Some(("sqlite", "")) | None => {
                p.add(
                    "store.url",
                    format!(
                        "`{}` is not a store URL: use sqlite://FILE or postgres://…",
                        PostgresUrl(self.store.url.clone())
                    ),
                );
                None
            }
            Some(("sqlite", file)) => Some(StoreLocation::Sqlite(data_dir.join(file))),
            Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {
                Some(StoreLocation::Postgres(PostgresUrl(self.store.url.clone())))
            }
            Some(("postgres" | "postgresql", _)) => {
                p.add(
                    "store.url",
                    "a PostgreSQL URL names its server: postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                );
                None
            }
            Some((scheme, _)) => {
                p.add(
                    "store.url",
                    format!(
                        "the `{scheme}` store is not supported: use sqlite://FILE or \
                         postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                    ),
                );
                None
            }
        };
        let node = self.store.node.clone().unwrap_or_else(default_node);
        if node.is_empty()
            || node.len() > 32
            || !node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            p.add(
                "store.node",
                format!("`{node}` is not a node name: 1–32 of A–Z a–z 0–9 - _"),
            );
        }
        let pool_size = match usize::try_from(self.store.pool_size) {
            Ok(n @ 1..=256) => n,
            _ => {
                p.add(
                    "store.pool_size",
                    format!(
                        "{} is not a number of connections from 1 to 256",
                        self.store.pool_size
                    ),
                );
                1
            }
        };
        let durability = match self.store.durability.as_str() {
            "process" => Some(Durability::Process),
            "power-loss" => Some(Durability::PowerLoss),
            other => {
                p.add(
                    "store.durability",
                    format!("`{other}` is not a durability: use `process` or `power-loss`"),
                );
                None
            }
        };

        let ca = self.ca;
        let key_algorithm = match ca.key_algorithm.parse::<KeyAlgorithm>() {
            Ok(alg) => Some(alg),
            Err(e) => {
                p.add("ca.key_algorithm", e.to_string());
                None
            }
        };
        for (key, value) in [
            ("ca.organisation", &ca.organisation),
            ("ca.root_common_name", &ca.root_common_name),
            ("ca.issuing_common_name", &ca.issuing_common_name),
        ] {
            if value.trim().is_empty() || value.len() > 64 {
                p.add(key, "must be 1 to 64 characters");
            }
        }
        let validity = |p: &mut Problems<'_>, key: &str, days: i64| {
            if (1..=40 * 366).contains(&days) {
                Some(Duration::days(days))
            } else {
                p.add(
                    key,
                    format!("{days} is not a number of days between 1 and 14640"),
                );
                None
            }
        };
        let auth_validity = validity(
            p,
            "ca.authentication_validity_days",
            ca.authentication_validity_days,
        );
        let sign_validity = validity(p, "ca.signing_validity_days", ca.signing_validity_days);
        let attestation_validity = validity(
            p,
            "ca.attestation_validity_days",
            ca.attestation_validity_days,
        );

        // Long enough for a holder who closed the app to come back and resume the fetch;
        // at most a month, so that an orphaned certificate does not stay valid for long.
        let undelivered_revoke_after = match ca.undelivered_revoke_after_hours {
            n @ 1..=720 => Duration::hours(n),
            n => {
                p.add(
                    "ca.undelivered_revoke_after_hours",
                    format!("{n} is not a number of hours from 1 to 720"),
                );
                Duration::ZERO
            }
        };

        let (crl_schedule, ocsp_responder) = revocation_schedule(p, &ca);

        let mut profile = ProfileSettings::new(
            ca.crl_url
                .unwrap_or_else(|| format!("{base}/crl/issuing.crl")),
            ca.ocsp_url.unwrap_or_else(|| format!("{base}/ocsp")),
        );
        profile.country = ca.country.clone();
        profile.ca_issuers_url = ca.ca_issuers_url;
        profile.authentication_policy = ca.policies.authentication;
        profile.signing_policy = ca.policies.signing;
        profile.virtual_card_policy = ca.policies.virtual_card;
        profile.attestation_policy = ca.policies.attestation;
        if let (Some(a), Some(s)) = (auth_validity, sign_validity) {
            profile.authentication_validity = a;
            profile.signing_validity = s;
        }
        if let Some(a) = attestation_validity {
            profile.attestation_validity = a;
        }
        for problem in profile.problems() {
            let key = match problem.setting() {
                "authentication_policy" => "ca.policies.authentication".to_owned(),
                "signing_policy" => "ca.policies.signing".to_owned(),
                "virtual_card_policy" => "ca.policies.virtual_card".to_owned(),
                "attestation_policy" => "ca.policies.attestation".to_owned(),
                "attestation_validity" => "ca.attestation_validity_days".to_owned(),
                "authentication_validity" => "ca.authentication_validity_days".to_owned(),
                "signing_validity" => "ca.signing_validity_days".to_owned(),
                other => format!("ca.{other}"),
            };
            p.add(&key, problem.to_string());
        }

        let cards = self.cards;
        let tries = |p: &mut Problems<'_>, key: &str, n: i64| match u8::try_from(n) {
            Ok(n @ 1..=15) => n,
            _ => {
                p.add(key, format!("{n} is not a number of tries from 1 to 15"));
                1
            }
        };
        let defaults = Tries {
            pin: tries(p, "cards.pin_tries", cards.pin_tries),
            puk: tries(p, "cards.puk_tries", cards.puk_tries),
        };
        let mut products = BTreeMap::new();
        for (product, raw) in cards.products {
            if product.len() != 3 || !product.bytes().all(|b| b.is_ascii_digit()) {
                p.add(
                    &format!("cards.products.{product}"),
                    "a product number is three digits",
                );
            }
            let pin = raw.pin_tries.map_or(defaults.pin, |n| {
                tries(p, &format!("cards.products.{product}.pin_tries"), n)
            });
            let puk = raw.puk_tries.map_or(defaults.puk, |n| {
                tries(p, &format!("cards.products.{product}.puk_tries"), n)
            });
            products.insert(product, Tries { pin, puk });
        }

        let mut trusted_proxies = Vec::new();
        for proxy in &self.server.trusted_proxies {
            match proxy.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => trusted_proxies.push(ip),
                Err(_) => p.add(
                    "server.trusted_proxies",
                    format!("`{proxy}` is not an IP address like 127.0.0.1 or ::1"),
                ),
            }
        }
        let per_minute = |p: &mut Problems<'_>, key: &str, n: i64| match u32::try_from(n) {
            Ok(n @ 0..=100_000) => n,
            _ => {
                p.add(
                    key,
                    format!("{n} is not a number per minute from 0 (off) to 100000"),
                );
                0
            }
        };
        let limits = &self.server.rate_limits;
        let rate_limits = RateLimitsConfig {
            order_starts_per_session: per_minute(
                p,
                "server.rate_limits.order_starts_per_session",
                limits.order_starts_per_session,
            ),
            completions_per_card: per_minute(
                p,
                "server.rate_limits.completions_per_card",
                limits.completions_per_card,
            ),
        };
        let order_lifetime = match self.server.order_lifetime_seconds {
            n @ 10..=900 => std::time::Duration::from_secs(n.unsigned_abs()),
            n => {
                p.add(
                    "server.order_lifetime_seconds",
                    format!("{n} is not a number of seconds from 10 to 900"),
                );
                std::time::Duration::ZERO
            }
        };
        let oidc_clients = clients(p, self.oidc.clients);
        let product_name = self.mypages.product_name.trim().to_owned();
        if product_name.is_empty()
            || product_name.chars().count() > 40
            || product_name.chars().any(char::is_control)
        {
            p.add(
                "mypages.product_name",
                "the product name must be 1 to 40 printable characters",
            );
        }
        let mypages_issuer = self
            .mypages
            .issuer
            .map(|i| i.trim_end_matches('/').to_owned())
            .filter(|i| !i.is_empty());
        if let Some(issuer) = &mypages_issuer
            && let Err(message) = check_base_url(issuer)
        {
            p.add("mypages.issuer", message);
        }

        let (Some(listen), Some(location), Some(durability), Some(key_algorithm), true) = (
            listen,
            location,
            durability,
            key_algorithm,
            problems.found.is_empty(),
        ) else {
            return Err(ConfigError {
                problems: problems.found,
            });
        };
        Ok(Config {
            data_dir: data_dir.to_path_buf(),
            public_url,
            listen,
            app_launch_base: self.server.app_launch_base,
            order_lifetime,
            store: StoreConfig {
                location,
                durability,
                node,
                pool_size,
            },
            ca: CaConfig {
                key_algorithm,
                names: CaNames {
                    country: ca.country,
                    organisation: ca.organisation,
                    root_common_name: ca.root_common_name,
                    issuing_common_name: ca.issuing_common_name,
                },
                root_certificate: data_dir.join(ca.root_certificate),
                issuing_certificate: data_dir.join(ca.issuing_certificate),
                issuing_key: data_dir.join(ca.issuing_key),
                profile,
                undelivered_revoke_after,
                crl_schedule,
                ocsp_responder,
            },
            cards: CardsConfig {
                master_key: data_dir.join(cards.master_key),
                virtual_card_dir: data_dir.join(cards.virtual_card_dir),
                vendor_attestation_roots: cards.vendor_attestation_roots.map(|f| data_dir.join(f)),
                defaults,
                products,
            },
            trusted_proxies,
            rate_limits,
            oidc_clients,
            mypages: MyPagesConfig {
                product_name,
                issuer: mypages_issuer,
            },
        })
    }
}

/// The CRL schedule and the OCSP responder certificates' policy (`docs/revocation.md`).
/// Every problem is added to `p`; with problems, the values returned are unused.
fn revocation_schedule(p: &mut Problems<'_>, ca: &RawCa) -> (CrlSchedule, ResponderPolicy) {
    // At most ten days: the CA/Browser Forum's Baseline Requirements' limit for a CRL's
    // nextUpdate. The CRL is reissued after half of it.
    let crl = match ca.crl_validity_hours {
        n @ 1..=240 => CrlSchedule::with_validity(Duration::hours(n)),
        n => {
            p.add(
                "ca.crl_validity_hours",
                format!("{n} is not a number of hours from 1 to 240 (ten days)"),
            );
            CrlSchedule::default()
        }
    };
    // A responder certificate is never checked for revocation (ocsp-nocheck): at most a
    // year, and the defaults keep it to a month.
    let validity = match ca.ocsp_responder_validity_days {
        n @ 2..=365 => Some(Duration::days(n)),
        n => {
            p.add(
                "ca.ocsp_responder_validity_days",
                format!("{n} is not a number of days from 2 to 365"),
            );
            None
        }
    };
    let renew_before = ca.ocsp_responder_renew_before_days;
    match validity {
        _ if renew_before < 1 => p.add(
            "ca.ocsp_responder_renew_before_days",
            format!("{renew_before} is not a number of days of at least 1"),
        ),
        Some(v) if renew_before >= v.whole_days() => p.add(
            "ca.ocsp_responder_renew_before_days",
            format!(
                "{renew_before} days is not less than `ca.ocsp_responder_validity_days` ({}): \
                 a successor must be issued before the responder certificate ends",
                v.whole_days()
            ),
        ),
        _ => {}
    }
    let responder = ResponderPolicy {
        validity: validity.unwrap_or(Duration::ZERO),
        renew_before: Duration::days(renew_before.clamp(0, 365)),
    };
    (crl, responder)
}

/// A server base URL: an http(s) URL as certificates carry them, without query or fragment.
fn check_base_url(url: &str) -> Result<(), String> {
    eid_pki::settings::check_url("public_url", url).map_err(|e| e.to_string())?;
    if url.contains(['?', '#']) {
        return Err(format!("`{url}` must not have a query or fragment"));
    }
    Ok(())
}

/// A redirect URI as the identity provider accepts it: https, http only on a loopback host,
/// or a native app's private-use scheme with a dot (`com.example.app:/cb`); no fragment.
fn valid_redirect_uri(uri: &str) -> bool {
    let https = uri.starts_with("https://") && uri.len() > "https://".len();
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            uri.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with([':', '/']))
        });
    let native = uri
        .split_once(":/")
        .is_some_and(|(scheme, _)| scheme.contains('.') && !scheme.contains('/'));
    (https || loopback || native) && !uri.contains('#') && !uri.contains(char::is_whitespace)
}

/// `[[oidc.clients]]`: every bad value of every client gets its own problem, keyed
/// `oidc.clients[N].key` (N counts from 0 in file order).
fn clients(p: &mut Problems<'_>, raw: Vec<RawClient>) -> Vec<OidcClientConfig> {
    let mut out: Vec<OidcClientConfig> = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("oidc.clients[{i}].{field}");
        let mut add = |field: &str, message: String| {
            p.found.push(Problem {
                key: key(field),
                source: source_of(p.figment, "oidc.clients"),
                message,
            });
        };
        let id_ok = !c.id.is_empty()
            && c.id.len() <= 128
            && c.id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !id_ok {
            add(
                "id",
                format!(
                    "`{}` is not a client id: 1-128 printable characters without `:`",
                    c.id
                ),
            );
        } else if out.iter().any(|o| o.id == c.id) {
            add("id", format!("client `{}` is listed twice", c.id));
        }
        if c.name.trim().is_empty() || c.name.chars().count() > 100 {
            add(
                "name",
                "must be 1 to 100 characters (shown on the login page)".into(),
            );
        }
        if c.redirect_uris.is_empty() {
            add(
                "redirect_uris",
                "a client needs at least one redirect URI".into(),
            );
        }
        for (field, uris) in [
            ("redirect_uris", &c.redirect_uris),
            ("post_logout_redirect_uris", &c.post_logout_redirect_uris),
        ] {
            for uri in uris {
                if !valid_redirect_uri(uri) {
                    add(
                        field,
                        format!(
                            "`{uri}` must be an https URL (http only on 127.0.0.1, localhost or [::1]) without fragment"
                        ),
                    );
                }
            }
        }
        let mut scopes = vec!["openid".to_owned()];
        for scope in &c.scopes {
            if scope.is_empty()
                || !scope
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                add(
                    "scopes",
                    format!("`{scope}` is not a scope (visible ASCII, no spaces, `\"` or `\\`)"),
                );
            } else if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        if c.secret.is_some() {
            add(
                "secret",
                "a plain client secret never goes in the configuration: put its SHA-256 (64 hex digits) in `secret_sha256`".into(),
            );
        }
        let secret_sha256 = match (&c.secret_sha256, c.public) {
            (Some(_), true) => {
                add("secret_sha256", "a public client has no secret".into());
                None
            }
            (None, false) => {
                add(
                    "secret_sha256",
                    "a confidential client needs the SHA-256 of its secret (64 hex digits), or set `public = true`".into(),
                );
                None
            }
            (None, true) => None,
            (Some(hex), false) => {
                let bytes = decode_hex32(hex);
                if bytes.is_none() {
                    add(
                        "secret_sha256",
                        "must be 64 hex digits (the SHA-256 of the secret)".into(),
                    );
                }
                bytes
            }
        };
        if c.pkce_optional && c.public {
            add(
                "pkce_optional",
                "a public client can never skip PKCE".into(),
            );
        }
        out.push(OidcClientConfig {
            id: c.id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            scopes,
            public: c.public,
            pkce_optional: c.pkce_optional,
            secret_sha256,
        });
    }
    out
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// This machine's name, as a node name: the host name where it is one, else `node`.
fn default_node() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = host
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect();
    if name.is_empty() { "node".into() } else { name }
}
