use std::path::Path;

use figment::providers::Env;

use super::*;

fn folder_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
    dir
}

/// Loads with a private environment prefix so parallel tests do not see each other.
fn load(dir: &Path, overrides: Overrides<'_>, prefix: &str) -> Result<Config, ConfigError> {
    Config::load_from(dir, overrides, Env::prefixed(prefix))
}

#[test]
fn the_written_default_file_loads() {
    let dir = folder_with(&default_file(
        "https://eid.example.org",
        KeyAlgorithm::Rsa2048,
    ));
    let config = load(dir.path(), &[], "EIDTEST0_").unwrap();
    assert_eq!(config.public_url, "https://eid.example.org");
    assert_eq!(config.ca.key_algorithm, KeyAlgorithm::Rsa2048);
    assert_eq!(config.ca.profile.ocsp_url, "https://eid.example.org/ocsp");
    assert_eq!(
        config.ca.profile.crl_url,
        "https://eid.example.org/crl/issuing.crl"
    );
    assert_eq!(
        config.store.location,
        StoreLocation::Sqlite(dir.path().join("eid.db"))
    );
    assert_eq!(config.store.durability, Durability::Process);
    assert_eq!(config.ca.issuing_key, dir.path().join("ca/issuing-key.pem"));
    assert_eq!(config.cards.tries("610"), Tries { pin: 3, puk: 10 });
}

#[test]
fn card_tries_per_product() {
    let dir = folder_with(
        "[cards]\npin_tries = 4\n[cards.products.\"710\"]\npin_tries = 5\n[cards.products.\"711\"]\npuk_tries = 99\n",
    );
    let err = load(dir.path(), &[], "EIDTEST7_").unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].key, "cards.products.711.puk_tries");
    let dir = folder_with("[cards]\npin_tries = 4\n[cards.products.\"710\"]\npin_tries = 5\n");
    let config = load(dir.path(), &[], "EIDTEST7_").unwrap();
    assert_eq!(config.cards.tries("710"), Tries { pin: 5, puk: 10 });
    assert_eq!(config.cards.tries("610"), Tries { pin: 4, puk: 10 });
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail decides the closure's error type.
fn environment_overrides_file_and_flags_override_environment() {
    // figment's Jail sets environment variables for one closure, one test at a time.
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            FILE_NAME,
            "[ca]\nocsp_url = \"https://file.example/ocsp\"\n",
        )?;
        jail.set_env("EIDTEST1_CA__OCSP_URL", "https://env.example/ocsp");
        jail.set_env("EIDTEST1_STORE__DURABILITY", "power-loss");
        jail.set_env("EIDTEST1_DATA", "/not/configuration");
        let dir = jail.directory().to_path_buf();
        let config = load(&dir, &[], "EIDTEST1_").map_err(|e| e.to_string())?;
        assert_eq!(config.ca.profile.ocsp_url, "https://env.example/ocsp");
        assert_eq!(config.store.durability, Durability::PowerLoss);
        let flags = [
            ("ca.ocsp_url", "https://flag.example/ocsp".to_string()),
            ("cards.pin_tries", "5".to_string()),
        ];
        let config = load(&dir, &flags, "EIDTEST1_").map_err(|e| e.to_string())?;
        assert_eq!(config.ca.profile.ocsp_url, "https://flag.example/ocsp");
        assert_eq!(config.cards.defaults.pin, 5);
        jail.set_env("EIDTEST1_CA__KEY_ALGORITHM", "dsa");
        let err = load(&dir, &[], "EIDTEST1_").unwrap_err();
        assert!(err.to_string().contains("EIDTEST1_"), "{err}");
        Ok(())
    });
}

#[test]
fn every_bad_value_gets_its_own_message() {
    let dir = folder_with(
        r#"
[server]
public_url = "ftp://example.org"
[store]
durability = "sometimes"
[ca]
key_algorithm = "dsa"
signing_validity_days = 0
ocsp_url = "https://ocsp example"
[ca.policies]
signing = "1.2.x"
virtual_card = "zero"
"#,
    );
    let err = load(dir.path(), &[], "EIDTEST2_").unwrap_err();
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.public_url",
            "store.durability",
            "ca.key_algorithm",
            "ca.signing_validity_days",
            "ca.ocsp_url",
            "ca.policies.signing",
            "ca.policies.virtual_card",
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("7 problems"), "{text}");
    assert!(text.contains("`dsa`"), "{text}");
    assert!(text.contains("TOML file"), "{text}");
}

#[test]
fn unknown_keys_are_refused() {
    let dir = folder_with("[ca]\nocsp_ulr = \"https://typo.example\"\n");
    let err = load(dir.path(), &[], "EIDTEST3_").unwrap_err();
    assert!(err.to_string().contains("ocsp_ulr"), "{err}");
}

#[test]
fn a_bad_policy_oid_is_refused() {
    let dir = folder_with("[ca.policies]\nsigning = \"not.an.oid\"\n");
    let err = load(dir.path(), &[], "EIDTEST4_").unwrap_err();
    assert!(err.to_string().contains("not.an.oid"), "{err}");
}

#[test]
fn a_missing_file_says_how_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), &[], "EIDTEST5_").unwrap_err();
    assert!(err.to_string().contains("eid admin init"), "{err}");
}

#[test]
fn a_file_that_is_not_toml_is_refused() {
    let dir = folder_with("this is [not toml");
    let err = load(dir.path(), &[], "EIDTEST6_").unwrap_err();
    assert!(!err.problems.is_empty());
}

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn oidc_clients_proxies_and_rate_limits_load() {
    let dir = folder_with(&format!(
        r#"[server]
trusted_proxies = ["127.0.0.1", "::1"]
[server.rate_limits]
order_starts_per_session = 5
completions_per_card = 0
[[oidc.clients]]
id = "mypages"
name = "Mina sidor"
redirect_uris = ["https://eid.example.org/mypages/cb"]
scopes = ["openid", "profile", "mypages.profile", "mypages.api"]
secret_sha256 = "{HASH}"
[[oidc.clients]]
id = "spa"
name = "Appen"
redirect_uris = ["http://127.0.0.1:9000/cb"]
scopes = ["profile"]
public = true
"#
    ));
    let config = load(dir.path(), &[], "EIDTESTC1_").unwrap();
    assert_eq!(
        config.trusted_proxies,
        vec![
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert_eq!(
        config.rate_limits,
        RateLimitsConfig {
            order_starts_per_session: 5,
            completions_per_card: 0
        }
    );
    let [mypages, spa] = config.oidc_clients.as_slice() else {
        panic!("two clients")
    };
    assert_eq!(mypages.id, "mypages");
    assert_eq!(
        mypages.scopes,
        ["openid", "profile", "mypages.profile", "mypages.api"]
    );
    assert_eq!(mypages.secret_sha256.map(|h| h[0]), Some(0x9f));
    assert!(!mypages.public && !mypages.pkce_optional);
    assert!(spa.public);
    assert_eq!(spa.secret_sha256, None);
    // `openid` is always there.
    assert_eq!(spa.scopes, ["openid", "profile"]);
}

#[test]
fn defaults_trust_no_proxy_and_limit_ten_per_minute() {
    let dir = folder_with("");
    let config = load(dir.path(), &[], "EIDTESTC2_").unwrap();
    assert!(config.trusted_proxies.is_empty());
    assert_eq!(config.rate_limits.order_starts_per_session, 10);
    assert_eq!(config.rate_limits.completions_per_card, 10);
    assert!(config.oidc_clients.is_empty());
}

#[test]
fn every_bad_client_value_gets_its_own_message() {
    let dir = folder_with(
        r#"[server]
trusted_proxies = ["proxy.example"]
[server.rate_limits]
completions_per_card = -1
[[oidc.clients]]
id = "a:b"
name = ""
redirect_uris = ["http://rp.example/cb", "https://rp.example/cb#frag"]
scopes = ["openid", "bad\"scope"]
[[oidc.clients]]
id = "pub"
name = "Public"
redirect_uris = ["https://rp.example/cb"]
public = true
pkce_optional = true
secret_sha256 = "00"
[[oidc.clients]]
id = "plain"
name = "Plain"
redirect_uris = ["https://rp.example/cb"]
secret = "hunter2"
secret_sha256 = "xyz"
[[oidc.clients]]
id = "plain"
name = "Twice"
redirect_uris = ["https://rp.example/cb"]
public = true
"#,
    );
    let err = load(dir.path(), &[], "EIDTESTC3_").unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.trusted_proxies",
            "server.rate_limits.completions_per_card",
            "oidc.clients[0].id",
            "oidc.clients[0].name",
            "oidc.clients[0].redirect_uris",
            "oidc.clients[0].redirect_uris",
            "oidc.clients[0].scopes",
            "oidc.clients[0].secret_sha256",
            "oidc.clients[1].secret_sha256",
            "oidc.clients[1].pkce_optional",
            "oidc.clients[2].secret",
            "oidc.clients[2].secret_sha256",
            "oidc.clients[3].id",
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("proxy.example"), "{text}");
    assert!(text.contains("never goes in the configuration"), "{text}");
    assert!(text.contains("listed twice"), "{text}");
    // The plain secret is never repeated in a message.
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn the_order_lifetime_is_bounded() {
    let dir = folder_with("[server]\norder_lifetime_seconds = 60\n");
    let config = load(dir.path(), &[], "EIDTESTOL1_").unwrap();
    assert_eq!(config.order_lifetime, std::time::Duration::from_secs(60));
    for bad in ["5", "3600", "-1"] {
        let dir = folder_with(&format!("[server]\norder_lifetime_seconds = {bad}\n"));
        let err = load(dir.path(), &[], "EIDTESTOL2_").unwrap_err();
        assert_eq!(
            err.problems[0].key, "server.order_lifetime_seconds",
            "{bad}"
        );
    }
}

#[test]
fn my_pages_product_name_and_issuer() {
    let dir = folder_with(
        "[mypages]\nproduct_name = \"SITHS eID\"\nissuer = \"https://idp.example.org/\"\n",
    );
    let config = load(dir.path(), &[], "EIDTESTMP1_").unwrap();
    assert_eq!(config.mypages.product_name, "SITHS eID");
    assert_eq!(
        config.mypages.issuer.as_deref(),
        Some("https://idp.example.org")
    );
    let dir = folder_with("");
    let config = load(dir.path(), &[], "EIDTESTMP2_").unwrap();
    assert_eq!(config.mypages.product_name, "eID");
    assert_eq!(config.mypages.issuer, None);
    let dir = folder_with("[mypages]\nproduct_name = \"\"\nissuer = \"ftp://x\"\n");
    let e = load(dir.path(), &[], "EIDTESTMP3_")
        .unwrap_err()
        .to_string();
    assert!(e.contains("mypages.product_name"), "{e}");
    assert!(e.contains("mypages.issuer"), "{e}");
}

#[test]
fn undelivered_certificates_are_revoked_after_a_bounded_time() {
    let written = default_file("https://eid.example.org", KeyAlgorithm::P256);
    assert!(
        written.contains("\nundelivered_revoke_after_hours = 24\n"),
        "the generated file shows the key with its default"
    );
    let dir = folder_with("");
    let config = load(dir.path(), &[], "EIDTESTUD1_").unwrap();
    assert_eq!(
        config.ca.undelivered_revoke_after,
        time::Duration::hours(24)
    );
    let dir = folder_with("[ca]\nundelivered_revoke_after_hours = 48\n");
    let config = load(dir.path(), &[], "EIDTESTUD2_").unwrap();
    assert_eq!(
        config.ca.undelivered_revoke_after,
        time::Duration::hours(48)
    );
    for bad in ["0", "721", "-3"] {
        let dir = folder_with(&format!("[ca]\nundelivered_revoke_after_hours = {bad}\n"));
        let err = load(dir.path(), &[], "EIDTESTUD3_").unwrap_err();
        assert_eq!(
            err.problems[0].key, "ca.undelivered_revoke_after_hours",
            "{bad}"
        );
        assert!(err.problems[0].message.contains("1 to 720"), "{err}");
    }
}

#[test]
fn the_revocation_schedule_is_configurable_and_checked() {
    let written = default_file("https://eid.example.org", KeyAlgorithm::P256);
    for line in [
        "\ncrl_validity_hours = 24\n",
        "\nocsp_responder_validity_days = 30\n",
        "\nocsp_responder_renew_before_days = 10\n",
    ] {
        assert!(written.contains(line), "the generated file shows {line}");
    }
    let dir = folder_with("");
    let config = load(dir.path(), &[], "EIDTESTRV1_").unwrap();
    assert_eq!(config.ca.crl_schedule, CrlSchedule::default());
    assert_eq!(config.ca.ocsp_responder, ResponderPolicy::default());
    assert_eq!(config.ca.crl_schedule.validity, time::Duration::hours(24));
    assert_eq!(
        config.ca.ocsp_responder,
        ResponderPolicy {
            validity: time::Duration::days(30),
            renew_before: time::Duration::days(10),
        }
    );

    let dir = folder_with(
        "[ca]\ncrl_validity_hours = 6\nocsp_responder_validity_days = 7\n\
         ocsp_responder_renew_before_days = 2\n",
    );
    let config = load(dir.path(), &[], "EIDTESTRV2_").unwrap();
    assert_eq!(
        config.ca.crl_schedule,
        CrlSchedule {
            validity: time::Duration::hours(6),
            reissue_after: time::Duration::hours(3),
        }
    );
    assert_eq!(
        config.ca.ocsp_responder,
        ResponderPolicy {
            validity: time::Duration::days(7),
            renew_before: time::Duration::days(2),
        }
    );

    for (bad, key, says) in [
        (
            "crl_validity_hours = 0",
            "ca.crl_validity_hours",
            "1 to 240",
        ),
        (
            "crl_validity_hours = 241",
            "ca.crl_validity_hours",
            "1 to 240",
        ),
        (
            "ocsp_responder_validity_days = 0",
            "ca.ocsp_responder_validity_days",
            "2 to 365",
        ),
        (
            "ocsp_responder_validity_days = 9999999999999999",
            "ca.ocsp_responder_validity_days",
            "2 to 365",
        ),
        (
            "ocsp_responder_renew_before_days = 0",
            "ca.ocsp_responder_renew_before_days",
            "at least 1",
        ),
        (
            "ocsp_responder_renew_before_days = 30",
            "ca.ocsp_responder_renew_before_days",
            "not less than `ca.ocsp_responder_validity_days` (30)",
        ),
        (
            "ocsp_responder_validity_days = 5\nocsp_responder_renew_before_days = 9999999999999999",
            "ca.ocsp_responder_renew_before_days",
            "not less than",
        ),
    ] {
        let dir = folder_with(&format!("[ca]\n{bad}\n"));
        let err = load(dir.path(), &[], "EIDTESTRV3_").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{bad}: {err}");
        assert_eq!(err.problems[0].key, key, "{bad}: {err}");
        assert!(err.problems[0].message.contains(says), "{bad}: {err}");
    }
    // A flag overrides the file.
    let flags = [("ca.crl_validity_hours", "48".to_string())];
    let config = load(dir.path(), &flags, "EIDTESTRV4_").unwrap();
    assert_eq!(
        config.ca.crl_schedule.reissue_after,
        time::Duration::hours(24)
    );
    // Both wrong: each gets its message.
    let dir = folder_with("[ca]\ncrl_validity_hours = -1\nocsp_responder_renew_before_days = -2\n");
    let err = load(dir.path(), &[], "EIDTESTRV4_").unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "ca.crl_validity_hours",
            "ca.ocsp_responder_renew_before_days"
        ],
        "{err}"
    );
}

#[test]
fn the_card_makers_attestation_roots_are_a_file_in_the_data_folder() {
    let dir = folder_with("");
    let config = load(dir.path(), &[], "EIDTEST14_").unwrap();
    assert_eq!(config.cards.vendor_attestation_roots, None);
    let dir = folder_with("[cards]\nvendor_attestation_roots = \"yubico-piv-roots.pem\"\n");
    let config = load(dir.path(), &[], "EIDTEST14_").unwrap();
    assert_eq!(
        config.cards.vendor_attestation_roots,
        Some(dir.path().join("yubico-piv-roots.pem"))
    );
}

#[test]
fn a_postgres_store_is_a_url_whose_password_is_never_shown() {
    let dir = folder_with(
        "[store]\nurl = \"postgres://eid:s3cret@db.example.org:5432/eid?sslmode=disable&password=s3cret\"\nnode = \"eid-1\"\npool_size = 32\n",
    );
    let config = load(dir.path(), &[], "EIDTEST15_").unwrap();
    let StoreLocation::Postgres(url) = &config.store.location else {
        panic!("{:?}", config.store.location);
    };
    assert!(url.expose().contains("s3cret"));
    let shown = format!("{url} {url:?} {config:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("postgres://eid:***@db.example.org:5432/eid"),
        "{shown}"
    );
    assert_eq!(config.store.node, "eid-1");
    assert_eq!(config.store.pool_size, 32);

    // The node defaults to the host name; bad values are named.
    let config = load(folder_with("").path(), &[], "EIDTEST15_").unwrap();
    assert!(!config.store.node.is_empty());
    let dir = folder_with("[store]\nurl = \"mysql://x\"\nnode = \"a.b\"\npool_size = 0\n");
    let err = load(dir.path(), &[], "EIDTEST15_").unwrap_err();
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["store.url", "store.node", "store.pool_size"],
        "{err}"
    );
    let dir = folder_with("[store]\nurl = \"postgres://\"\n");
    assert!(load(dir.path(), &[], "EIDTEST15_").is_err());
}
