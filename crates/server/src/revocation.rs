//! Revocation as `eid serve` publishes it: the live CRL and the OCSP responder (engines in
//! `eid_pki`), where they are served, and the schedule that keeps them fresh.
//! `docs/revocation.md`.
//!
//! - The CRL is served at the path of the configured CRL URL (`ca.crl_url`), the responder
//!   at the path of the OCSP URL (`ca.ocsp_url`): what the certificates name.
//! - [`spawn_schedule`] runs every [`RevocationSettings::tick`]: the CRL is reissued when
//!   the schedule says (half its validity by default) and the responder certificate rolled
//!   over before it ends. [`build_state`](crate::build_state) starts it; it stops when the
//!   last state is dropped.
//! - A revocation is published by [`crate::lifecycle::publish_after_revocation`] once it is
//!   committed ([`crate::lifecycle::revoke_certificate`] does it itself): a key compromise
//!   gets a new CRL at once ([`eid_pki::CrlSchedule::publishes_at_once`]). OCSP needs no
//!   call: every node reads the store's revocation marker before each answer.

use std::sync::{Arc, Weak};

use aws_lc_rs::hmac;
use eid_clock::Clock;
use eid_pki::ocsp::{OcspService, OcspSettings, ResponderKeySeal};
use eid_pki::{CertificateAuthority, CrlError, CrlSchedule, LiveCrl};

use crate::{ServerStore, rng};

/// Who the audit log names for what the server issues on its own.
const ACTOR: &str = "system:serve";

/// Paths other routes of the server own: a CRL or OCSP URL may not point into them.
const RESERVED: &[&str] = &[
    "/.well-known",
    "/oidc",
    "/login",
    "/orders",
    "/app",
    "/mypages",
    "/static",
    "/healthz",
    "/readyz",
];

/// How revocation is published. `eid serve` takes the CRL validity and the responder
/// certificates' policy from the configuration (`ca.crl_validity_hours`,
/// `ca.ocsp_responder_validity_days`, `ca.ocsp_responder_renew_before_days`), the rest are
/// these defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationSettings {
    /// CRL validity and reissue (default 24 hours, reissued after 12).
    pub crl: CrlSchedule,
    /// OCSP responses and responder certificates (default: responses valid 1 hour,
    /// responder certificates 30 days, renewed 10 days before they end).
    pub ocsp: OcspSettings,
    /// The longest an HTTP cache may keep a GET's OCSP answer (default 60 seconds): a
    /// revocation reaches clients behind a cache at most this late; this server itself
    /// answers `revoked` from the next request on.
    pub ocsp_http_max_age: time::Duration,
    /// How often the schedule runs (default 60 seconds).
    pub tick: std::time::Duration,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            crl: CrlSchedule::default(),
            ocsp: OcspSettings::default(),
            ocsp_http_max_age: time::Duration::seconds(60),
            tick: std::time::Duration::from_secs(60),
        }
    }
}

/// Why revocation publishing could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationSetupError {
    /// The CRL or OCSP URL's path cannot be served here.
    #[error("{which}: {reason}")]
    Path {
        /// `ca.crl_url` or `ca.ocsp_url`.
        which: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The CRL schedule is unusable or the first CRL could not be issued.
    #[error("CRL: {0}")]
    Crl(#[from] CrlError),
    /// The OCSP settings are unusable or the responder could not be set up.
    #[error("OCSP: {0}")]
    Ocsp(#[from] eid_pki::ocsp::OcspError),
}

/// The live CRL and OCSP responder of a server, and where they are served.
#[derive(Debug)]
pub struct Revocation<S> {
    /// The CRL served.
    pub crl: LiveCrl<S>,
    /// The OCSP responder.
    pub ocsp: OcspService<S>,
    /// The CRL's path (from `ca.crl_url`).
    pub crl_path: String,
    /// The responder's path (from `ca.ocsp_url`), without a trailing slash (`/` for the
    /// root); GET requests are below it.
    pub ocsp_path: String,
    /// The settings in force.
    pub settings: RevocationSettings,
}

/// The path of an `http(s)` URL, checked to be one this server can route: it starts with
/// `/`, has no route syntax and no trailing slash (but `/`), and does not fall under
/// another route of the server.
pub(crate) fn url_path(which: &'static str, url: &str) -> Result<String, RevocationSetupError> {
    let bad = |reason: &str| RevocationSetupError::Path {
        which,
        reason: format!("{url}: {reason}"),
    };
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad("not an absolute URL"))?;
    let path = match rest.find('/') {
        Some(at) => &rest[at..],
        None => "/",
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    if path.contains(['{', '}', '*']) || path.contains("//") {
        return Err(bad("the path may not hold `{`, `}`, `*` or `//`"));
    }
    if let Some(taken) = RESERVED
        .iter()
        .find(|r| path == **r || path.starts_with(&format!("{r}/")))
    {
        return Err(bad(&format!(
            "the path falls under the server's own {taken}"
        )));
    }
    Ok(path.to_owned())
}

/// The key that seals the OCSP responder's key in the store, derived from the
/// installation's key-encryption key (so every node has it and nothing new is backed up).
fn responder_seal(kek: &[u8; 32]) -> Result<ResponderKeySeal, eid_pki::ocsp::OcspError> {
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, kek),
        b"eid-server ocsp responder key seal v1",
    );
    let key: &[u8; 32] = derived
        .as_ref()
        .try_into()
        .map_err(|_| eid_pki::ocsp::OcspError::Seal("HMAC-SHA256 gives 32 bytes"))?;
    ResponderKeySeal::new(key)
}

impl<S: ServerStore> Revocation<S> {
    /// Starts publishing for `ca` over `store`: the paths checked, the responder certificate
    /// ensured (issued and recorded when there is none or it is due), and a CRL ensured.
    pub async fn start(
        store: Arc<S>,
        ca: Arc<CertificateAuthority>,
        settings: RevocationSettings,
        kek: &[u8; 32],
        clock: &dyn Clock,
    ) -> Result<Self, RevocationSetupError> {
        let crl_path = url_path("ca.crl_url", &ca.settings().crl_url)?;
        let ocsp_path = url_path("ca.ocsp_url", &ca.settings().ocsp_url)?;
        if crl_path == ocsp_path {
            return Err(RevocationSetupError::Path {
                which: "ca.crl_url",
                reason: "the CRL and the OCSP responder need different paths".into(),
            });
        }
        let crl = LiveCrl::new(store.clone(), ca.clone(), settings.crl, ACTOR)?;
        let ocsp = OcspService::start(
            store,
            ca,
            responder_seal(kek)?,
            settings.ocsp,
            clock.now(),
            &mut rng(),
            ACTOR,
        )
        .await?;
        crl.current(clock.now()).await?;
        Ok(Self {
            crl,
            ocsp,
            crl_path,
            ocsp_path,
            settings,
        })
    }

    /// One round of the schedule at `now`: the CRL reissued if due, the responder rolled
    /// over if due (or taken from another node that did).
    pub async fn maintain(&self, now: time::OffsetDateTime) {
        if let Err(e) = self.crl.current(now).await {
            tracing::error!(error = %e, "the CRL could not be reissued");
        }
        if let Err(e) = self.ocsp.maintain(now, &mut rng()).await {
            tracing::error!(error = %e, "the OCSP responder could not be maintained");
        }
    }
}

/// Runs [`Revocation::maintain`] every `settings.tick` until the revocation state is dropped.
pub fn spawn_schedule<S: ServerStore>(
    revocation: &Arc<Revocation<S>>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Revocation<S>> = Arc::downgrade(revocation);
    let every = revocation.settings.tick;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        // The first tick is now; start-up has just done the work.
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(revocation) = weak.upgrade() else {
                break;
            };
            revocation.maintain(clock.now()).await;
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::url_path;

    #[test]
    fn paths_come_from_the_urls_and_stay_off_other_routes() {
        let ok = |url| url_path("ca.crl_url", url).unwrap();
        assert_eq!(
            ok("https://eid.example.org/crl/issuing.crl"),
            "/crl/issuing.crl"
        );
        assert_eq!(ok("http://127.0.0.1:8080/ocsp"), "/ocsp");
        assert_eq!(ok("http://ocsp.example.org"), "/");
        assert_eq!(ok("http://ocsp.example.org/"), "/");
        assert_eq!(ok("http://ca.example/ocsp/?x=1"), "/ocsp");
        for bad in [
            "eid.example.org/crl",
            "http://h/oidc/crl",
            "http://h/mypages",
            "http://h/{x}",
            "http://h/a//b",
            "http://h/.well-known/crl",
        ] {
            assert!(url_path("ca.crl_url", bad).is_err(), "{bad}");
        }
    }
}
