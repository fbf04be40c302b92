//! The HTTP edge of `eid serve`. Handlers here only extract input, call an engine (store,
//! orders, identity provider, CA) and map the result to a response; protocol logic lives in
//! the engines, which know nothing of HTTP. Every failure goes through the one mapping in
//! [`error`].
//!
//! Every response carries the security headers of [`headers`]: a strict Content Security
//! Policy, no framing (clickjacking), no MIME sniffing, no referrer, and `no-store` caching
//! unless a route says otherwise. The server never logs a request body, a cookie or a token.
//!
//! # Routes
//!
//! | route | what |
//! |---|---|
//! | `GET /.well-known/openid-configuration`, `GET /oidc/jwks` | discovery and keys (cacheable) |
//! | `GET/POST /oidc/authorize` | the authorization endpoint; shows the login page when a card login is needed |
//! | `POST /oidc/token`, `GET/POST /oidc/userinfo`, `GET/POST /oidc/logout` | as `docs/oidc.md` says |
//! | `POST /login` | *Legitimera*: starts an `auth` order (CSRF token bound to the browser session), shows the launch link and polls |
//! | `POST /orders/collect`, `POST /orders/cancel` | JSON for the page: `{"orderRef": …}`, browser-session cookie and `X-CSRF-Token` header |
//! | `POST /app/v1/order` | the eID app fetches the order: `{"autoStartToken": …}` → `AppFetchResponse` |
//! | `POST /app/v1/report`, `POST /app/v1/complete` | the app, with `Authorization: Bearer <appToken>`: `AppReport` / `AppCompletion` → `{}` / `AppCompleteResponse` |
//! | `POST /app/v1/enroll/management`, `POST /app/v1/enroll/delivered` | an `enrollSign` order's relayed management-key challenge → response, and the confirmation that the signing certificate is on the card (`docs/protocol.md`, "Fetching a signing certificate") |
//! | `GET /login/return` | the order's return URL: the browser comes back with `orderRef` and `secret` |
//! | `GET /static/order.js`, `GET /static/login.js` | the waiting pages' one order script (polling, cancel; shared with My Pages) and the login's words for it (the CSP forbids inline script) |
//! | `/mypages…`, `GET /static/eid.css` | My Pages and its API (`mypages` module, `docs/mypages.md`) |
//! | `GET <path of ca.crl_url>` | the CRL, `application/pkix-crl`, cacheable until the next scheduled reissue (`crl` module) |
//! | `POST <path of ca.ocsp_url>`, `GET <path of ca.ocsp_url>/<base64 request>` | the OCSP responder (`ocsp` module, `docs/revocation.md`) |
//!
//! # State and the pending authorization request
//!
//! The server is generic over the store through [`ServerStore`] (`Store + OrderStore +
//! EnrollStore + OidcStore + PortalStore`): SQLite now, PostgreSQL later, nothing else changes. The server keeps no state
//! of its own between requests, so any node can answer any step: the pending authorization
//! request (which holds no secret) travels in the login page's form and then in a cookie,
//! both MAC'ed (HMAC-SHA256 with a key derived from the key-encryption key, bound to the
//! browser session and, in the cookie, to the order), so a browser cannot change it.
//!
//! # Cookies
//!
//! All are `Secure; HttpOnly; SameSite=Lax; Path=/` with the `__Host-` prefix:
//! `__Host-eid-browser` (the order flow's browser session), `__Host-eid-pending` (the MAC'ed
//! pending request of the order in progress), `__Host-eid-sso` (the login session of the
//! identity provider). A new login page opens a new browser session (one login per browser
//! at a time). My Pages adds `__Host-eid-mypages` (its session), `__Host-eid-mypages-login`
//! (its sealed pending login) and `__Host-eid-lang` (the language switch).

mod app;
pub mod audit;
mod crl;
mod enroll;
mod error;
pub mod headers;
mod health;
mod html;
pub mod lifecycle;
mod limits;
mod login;
pub mod metrics;
mod mypages;
mod ocsp;
mod oidc;
pub mod revocation;
mod setup;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use aws_lc_rs::hmac;
use axum::Router;
use eid_clock::Clock;
use eid_idp::Provider;
use eid_orders::Orders;
use eid_portal::Portal;
use eid_store::Store;
use eid_store::oidc::OidcStore;
use eid_store::orders::OrderStore;
use eid_store::portal::PortalStore;
use tokio::net::TcpListener;

pub use error::ServerError;
pub use limits::{RateLimit, RateLimits, client_address};
pub use revocation::{Revocation, RevocationSettings};
pub use setup::{
    KEK_FILE, SUBJECT_SECRET_FILE, Secrets, SetupError, build_state, purge_expired,
    spawn_housekeeping,
};

/// Everything the server needs of a store.
pub trait ServerStore:
    Store
    + OrderStore
    + eid_store::EnrollStore
    + OidcStore
    + PortalStore
    + eid_store::RevocationStore
    + 'static
{
}

impl<
    T: Store
        + OrderStore
        + eid_store::EnrollStore
        + OidcStore
        + PortalStore
        + eid_store::RevocationStore
        + 'static,
> ServerStore for T
{
}

/// The default launch base of the eID app: the autostart token is appended.
pub const DEFAULT_LAUNCH_BASE: &str = "eid:///?autostarttoken=";

/// What the pages need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public URL of this server (`https://host[:port]`, no trailing slash); the
    /// order's return URL is `<public_url>/login/return`.
    pub public_url: String,
    /// The launch link's base; the autostart token is appended (default
    /// [`DEFAULT_LAUNCH_BASE`]; tests and the demo point it at the app's loopback page).
    pub launch_base: String,
    /// How long an order may take from start to the browser's return (default 3 minutes).
    pub order_lifetime: time::Duration,
    /// Order starts per browser session and completions per card (see [`RateLimits`]).
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` is believed, for logs only (default none).
    pub trusted_proxies: Vec<IpAddr>,
    /// The product name My Pages shows (default `eID`).
    pub product_name: String,
    /// The identity provider My Pages logs in with, found by discovery (default: this
    /// server, `public_url`).
    pub mypages_issuer: Option<String>,
    /// CRL schedule, OCSP responses and responder certificates (`docs/revocation.md`).
    pub revocation: RevocationSettings,
    /// The card makers' roots trusted to vouch for plain PIV cards' attestation keys
    /// (`[cards] vendor_attestation_roots`; default none).
    pub vendor_attestation_roots: Arc<eid_pki::VendorAttestationRoots>,
    /// How often this node signs the audit log's chain heads (default 5 minutes).
    pub audit_signing_period: std::time::Duration,
    /// The longest a long-polling `collect` waits for its order to change (default 25 s,
    /// below the usual 30 to 60 s idle timeouts of proxies and load balancers).
    pub collect_wait: std::time::Duration,
}

impl Settings {
    /// The defaults for a server at `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            launch_base: DEFAULT_LAUNCH_BASE.to_owned(),
            order_lifetime: time::Duration::minutes(3),
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            product_name: "eID".to_owned(),
            mypages_issuer: None,
            revocation: RevocationSettings::default(),
            vendor_attestation_roots: Arc::default(),
            audit_signing_period: std::time::Duration::from_secs(300),
            collect_wait: std::time::Duration::from_secs(25),
        }
    }
}

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState<S> {
    /// Where everything that matters lives.
    pub store: Arc<S>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The OpenID Connect provider.
    pub provider: Arc<Provider<S>>,
    /// The order engine.
    pub orders: Arc<Orders<S>>,
    /// What the pages need.
    pub settings: Arc<Settings>,
    /// My Pages (`docs/mypages.md`).
    pub portal: Arc<Portal<S>>,
    /// The CRL and the OCSP responder (`docs/revocation.md`).
    pub revocation: Arc<Revocation<S>>,
    /// Signs the audit log's chain heads ([`audit`]); its schedule runs while it lives.
    pub audit_signer: Arc<audit::AuditSigner<S>>,
    /// This node's request counts for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// MACs the pending request and CSRF tokens.
    page_key: Arc<hmac::Key>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            clock: self.clock.clone(),
            provider: self.provider.clone(),
            orders: self.orders.clone(),
            settings: self.settings.clone(),
            portal: self.portal.clone(),
            revocation: self.revocation.clone(),
            audit_signer: self.audit_signer.clone(),
            metrics: self.metrics.clone(),
            page_key: self.page_key.clone(),
        }
    }
}

impl<S: ServerStore> AppState<S> {
    /// The state. `page_secret` keys the MACs of the pages (the CSRF tokens and the pending
    /// authorization request), My Pages' keys (its client secret, sealed pending logins,
    /// CSRF tokens) and the audit key; every node of an installation needs the same one.
    /// `eid serve` uses the key-encryption key.
    pub fn new(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        provider: Arc<Provider<S>>,
        orders: Arc<Orders<S>>,
        revocation: Arc<Revocation<S>>,
        settings: Settings,
        page_secret: &[u8; 32],
    ) -> Result<Self, SetupError> {
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, page_secret),
            b"eid-server page mac v1",
        );
        let portal_secret = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, page_secret),
            b"eid-server mypages v1",
        );
        let mut portal_secret_bytes = [0u8; 32];
        portal_secret_bytes.copy_from_slice(&portal_secret.as_ref()[..32]);
        let mut portal_config = eid_portal::PortalConfig::new(&settings.public_url);
        // The API checks tokens against the keys of the provider My Pages logs in with: this
        // server's in-process, another's through its discovery document.
        let keys: Arc<dyn eid_portal::KeySource> = match &settings.mypages_issuer {
            Some(issuer) => {
                portal_config.issuer = issuer.clone();
                Arc::new(eid_portal::DiscoveredKeys::new(issuer)?)
            }
            None => Arc::new(mypages::ProviderKeys(provider.clone())),
        };
        let portal = Portal::new(store.clone(), portal_config, &portal_secret_bytes, keys)?;
        let audit_signer = Arc::new(audit::AuditSigner::new(store.clone(), page_secret)?);
        Ok(Self {
            store,
            clock,
            provider,
            orders,
            settings: Arc::new(settings),
            portal: Arc::new(portal),
            revocation,
            audit_signer,
            metrics: Arc::default(),
            page_key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())),
        })
    }
}

/// All routes of the server, with the security headers on every response.
pub fn router<S: ServerStore>(state: AppState<S>) -> Router {
    let routes = health::routes()
        .merge(metrics::routes())
        .merge(oidc::routes())
        .merge(login::routes())
        .merge(mypages::routes())
        .merge(app::routes())
        .merge(enroll::routes())
        .merge(crl::routes(&state.revocation.crl_path))
        .merge(ocsp::routes(&state.revocation.ocsp_path));
    let counted = routes.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::count::<S>,
    ));
    headers::secure(counted).with_state(state)
}

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The server failed while running.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|e| ServeError::Bind {
        addr,
        reason: e.to_string(),
    })
}

/// Serves `router` on `listener` until `shutdown` completes; in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // The peer address reaches handlers for logs (see [`client_address`]).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// A fresh RNG for one request (seeded from the thread's generator; `Send`, so it may live
/// across an `.await`).
pub(crate) fn rng() -> rand::rngs::StdRng {
    use rand::SeedableRng as _;
    rand::rngs::StdRng::from_rng(&mut rand::rng())
}
