//! `eid serve`: the server on the configured address until SIGINT or SIGTERM.

use std::sync::Arc;

use eid_clock::SystemClock;
use eid_server::{
    AppState, Secrets, Settings, bind, build_state, router, serve, spawn_housekeeping,
};
use eid_store::AnyStore;

use crate::cli::ServeArgs;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

pub async fn run(args: ServeArgs) -> Outcome {
    let mut overrides = args.common.overrides()?;
    let listen = args.listen.map(|addr| addr.to_string());
    if let Some(addr) = &listen {
        overrides.push(("server.listen", addr.clone()));
    }
    let config = eid_config::Config::load(&args.common.data, &overrides)?;
    let state = build(&config, None).await?;
    let _periodic = spawn_periodic(&state, &config);
    let listener = bind(config.listen)
        .await
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let shutdown = shutdown_signals()?;
    // Scripts and tests read this line to find the port.
    println!("listening on http://{addr}");
    let signer = state.audit_signer.clone();
    let clock = state.clock.clone();
    serve(listener, router(state), shutdown)
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?;
    // A node that stops cleanly signs its chains' last heads.
    signer.sign(&*clock).await;
    Ok(())
}

/// The server's state from `config`: store, CA, secrets, settings, configured clients.
/// `launch_base` overrides `server.app_launch_base` (the demo points it at its app).
pub(crate) async fn build(
    config: &eid_config::Config,
    launch_base: Option<String>,
) -> Outcome<AppState<AnyStore>> {
    let store = open_store(config).await?;
    let ca = Arc::new(load_ca(config)?);
    // The key-encryption key and subject secret live in the data folder (mode 0600),
    // created on first start; back them up with the database.
    let mut secrets =
        Secrets::load_or_create(&config.data_dir).map_err(|e| Failure::Usage(e.to_string()))?;
    // The card master key answers the cards' management-key challenges in signing-
    // certificate fetches; without it the server still runs, but no fetch can complete.
    match eid_pki::CardMasterKey::load(&config.cards.master_key) {
        Ok(master) => secrets.card_master = Some(Arc::new(master)),
        Err(e) => {
            tracing::warn!(error = %e, "no card master key: signing certificates cannot be fetched")
        }
    }
    let mut settings = Settings::new(config.public_url.clone());
    if let Some(path) = &config.cards.vendor_attestation_roots {
        let roots = eid_pki::VendorAttestationRoots::load(path)
            .map_err(|e| Failure::Usage(format!("cards.vendor_attestation_roots: {e}")))?;
        tracing::info!(
            anchors = roots.len(),
            "card makers' attestation roots loaded"
        );
        settings.vendor_attestation_roots = Arc::new(roots);
    }
    settings.launch_base = launch_base.unwrap_or_else(|| config.app_launch_base.clone());
    settings.order_lifetime = time::Duration::try_from(config.order_lifetime)
        .map_err(|e| Failure::Usage(format!("server.order_lifetime_seconds: {e}")))?;
    settings.trusted_proxies = config.trusted_proxies.clone();
    settings.product_name = config.mypages.product_name.clone();
    settings.mypages_issuer = config.mypages.issuer.clone();
    settings.revocation.crl = config.ca.crl_schedule;
    settings.revocation.ocsp.responder = config.ca.ocsp_responder;
    let limits = &mut settings.rate_limits;
    limits.order_starts_per_session.max = config.rate_limits.order_starts_per_session;
    limits.completions_per_card.max = config.rate_limits.completions_per_card;
    let state = build_state(store, ca, Arc::new(SystemClock), settings, secrets)
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?;
    // `[[oidc.clients]]` are registered, or updated, before the first request.
    crate::admin::client::apply_configured(&state.provider, &config.oidc_clients).await?;
    Ok(state)
}

/// The server's periodic work besides the revocation schedule (which
/// [`build_state`] starts): expired orders, browser sessions, codes and login sessions are
/// forgotten every minute; signing certificates issued but never written to their card are
/// revoked, hourly. `eid serve` and `eid demo` both run it; the tasks run until the process
/// ends.
pub(crate) fn spawn_periodic(
    state: &AppState<AnyStore>,
    config: &eid_config::Config,
) -> [tokio::task::JoinHandle<()>; 2] {
    [
        spawn_housekeeping(state.clone(), std::time::Duration::from_secs(60)),
        eid_server::lifecycle::spawn(
            state.clone(),
            std::time::Duration::from_secs(3600),
            config.ca.undelivered_revoke_after,
        ),
    ]
}

/// A future that completes on SIGINT or SIGTERM. The handlers are installed here, before
/// the "listening" line is printed, so a signal sent as soon as the server says it listens
/// stops it cleanly instead of killing it.
pub(crate) fn shutdown_signals() -> Outcome<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind| {
        signal(kind).map_err(|e| Failure::Internal(format!("cannot handle signals: {e}")))
    };
    let mut interrupt = install(SignalKind::interrupt())?;
    let mut terminate = install(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}
