//! The configuration file that `eid admin init` writes: every setting, commented.

use crate::KeyAlgorithm;

/// The text of a new `eid.toml` for a server at `public_url` with CA keys of `key_algorithm`.
pub fn default_file(public_url: &str, key_algorithm: KeyAlgorithm) -> String {
    format!(
        r#"# eid configuration. Every value can be overridden by an environment variable
# EID_<SECTION>__<KEY> (for example EID_CA__OCSP_URL) and some by command-line flags.
# Relative paths are taken from this folder.

[server]
# The public base URL of `eid serve`; the OpenID Connect issuer, CRL and OCSP URLs derive
# from it unless set below.
public_url = "{public_url}"
# Where `eid serve` listens (plain HTTP for now: put a TLS-terminating proxy in front).
listen = "127.0.0.1:8080"
# How the login page launches the eID app; the autostart token is appended. The default is
# the app's URL scheme; the demo and browser tests point it at the app's loopback page.
app_launch_base = "eid:///?autostarttoken="
# How long a login order may take from "Legitimera" to the browser's return, in seconds
# (10 to 900).
order_lifetime_seconds = 180
# Proxies (IP addresses) whose X-Forwarded-For header is believed, for logs only; default
# none, for example ["127.0.0.1"] behind a local TLS proxy.
trusted_proxies = []

[server.rate_limits]
# Per minute; 0 switches a limit off. Never by address: many users share a NAT address.
# Login orders started per browser session.
order_starts_per_session = 10
# Login orders completed per card.
completions_per_card = 10

[mypages]
# The product name My Pages shows ("Mina sidor – eID").
product_name = "eID"
# The OpenID Connect provider My Pages logs in with, found by discovery; default this
# server (public_url). Any standards-compliant provider with PKCE S256 works.
# issuer = "https://idp.example.org"

[store]
# sqlite://FILE (embedded, one node), or postgres://USER:PASSWORD@HOST:PORT/DATABASE for
# several nodes on one PostgreSQL (README, "Deployment"). Also --store URL or EID_STORE__URL.
url = "sqlite://eid.db"
# PostgreSQL: this node's name (its audit chains are named after it; default the host
# name) and how many connections it keeps.
# node = "eid-1"
pool_size = 16
# "process": a commit survives a killed process; "power-loss": also a power cut (slower).
durability = "process"

[ca]
# Algorithm of the CA keys that `eid admin init` creates: p256, rsa2048 or rsa3072.
key_algorithm = "{key_algorithm}"
country = "SE"
organisation = "eid"
root_common_name = "eid Root CA"
issuing_common_name = "eid Issuing CA 1"
root_certificate = "ca/root.pem"
issuing_certificate = "ca/issuing.pem"
issuing_key = "ca/issuing-key.pem"
# Put into every certificate; default: <public_url>/crl/issuing.crl and <public_url>/ocsp.
# crl_url = "https://eid.example.org/crl/issuing.crl"
# ocsp_url = "https://eid.example.org/ocsp"
authentication_validity_days = 730
signing_validity_days = 730
# Certificates of cards' attestation keys (slot F9).
attestation_validity_days = 3650
# A signing certificate that was issued but never written to its card (the holder's fetch
# stopped after the CA issued it and was not resumed) is revoked, as cessationOfOperation,
# this many hours after it was issued: by `eid serve` every hour, or by
# `eid admin cert expire-undelivered`. 1 to 720.
undelivered_revoke_after_hours = 24
# How long a CRL is valid, in hours (1 to 240); a new one is issued after half of it, and
# at once after a key compromise.
crl_validity_hours = {crl_hours}
# The OCSP responder certificate's validity in days (2 to 365; it is never itself checked
# for revocation, so keep it short), and how many days before its end a successor is
# issued (at least 1, fewer than the validity).
ocsp_responder_validity_days = {responder_days}
ocsp_responder_renew_before_days = {renew_days}

[ca.policies]
# Certificate policy OIDs. The defaults sit under a UUID arc (2.25, ITU-T X.667), which
# needs no registration; an organisation with its own arc sets its own.
# Certificates on virtual cards carry only `virtual_card`, so no relying party takes them
# for real-card certificates.
authentication = "{auth}"
signing = "{sign}"
virtual_card = "{virt}"
# Certificates of cards' attestation keys (slot F9).
attestation = "{attest}"

[cards]
# Every card's management key (PIV 9B) is diversified from this master key; only the server
# holds it. Made by `eid admin init`.
master_key = "ca/card-master.key"
# Where `eid admin card issue` writes virtual cards.
virtual_card_dir = "cards"
# Wrong entries before a PIN blocks, and before a blocked PUK makes the card dead.
pin_tries = 3
puk_tries = 10
# Plain PIV cards (YubiKeys) attest their keys with their maker's key: a PEM file of the
# maker's attestation roots and intermediates (Yubico publishes them) lets the server check
# those attestations. Without it such keys go unattested, and only organisations that
# accept unattested keys can have them certified.
# vendor_attestation_roots = "yubico-piv-roots.pem"
# Per product number, for example:
# [cards.products."710"]
# pin_tries = 5

# OpenID Connect clients, registered (or updated) when `eid serve` starts. A confidential
# client's secret never goes here, only its SHA-256 in hex; `eid admin client add` instead
# makes a secret and shows it once. The portal, for example:
# [[oidc.clients]]
# id = "mypages"
# name = "Mina sidor"
# redirect_uris = ["https://eid.example.org/mypages/callback"]
# post_logout_redirect_uris = ["https://eid.example.org/mypages/"]
# scopes = ["openid", "profile", "mypages.profile", "mypages.api"]
# secret_sha256 = "<64 hex digits: sha256sum of the secret>"
# public = false
# pkce_optional = false
"#,
        auth = eid_pki::settings::DEFAULT_AUTHENTICATION_POLICY,
        sign = eid_pki::settings::DEFAULT_SIGNING_POLICY,
        virt = eid_pki::settings::DEFAULT_VIRTUAL_CARD_POLICY,
        attest = eid_pki::settings::DEFAULT_ATTESTATION_POLICY,
        crl_hours = eid_pki::CrlSchedule::default().validity.whole_hours(),
        responder_days = eid_pki::ocsp::ResponderPolicy::default()
            .validity
            .whole_days(),
        renew_days = eid_pki::ocsp::ResponderPolicy::default()
            .renew_before
            .whole_days(),
    )
}
