//! Building the server's state at start-up: the installation's secrets from the data
//! folder, the identity provider (with its signing keys ensured) and the order engine.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eid_clock::Clock;
use eid_idp::{KeyEncryptionKey, Provider, ProviderConfig, SubjectSecret};
use eid_orders::{OrderConfig, Orders};
use eid_pki::CertificateAuthority;

use crate::audit::spawn_signing;
use crate::revocation::{Revocation, spawn_schedule};
use crate::{AppState, ServerStore, Settings, rng};

/// The key-encryption key's file in the data folder (32 bytes, mode 0600).
pub const KEK_FILE: &str = "oidc-key-encryption.key";
/// The subject secret's file in the data folder (32 bytes, mode 0600). Back it up with the
/// database: losing it changes every `sub`.
pub const SUBJECT_SECRET_FILE: &str = "oidc-subject.secret";

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A secret's file could not be read or created.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The identity provider refused its configuration or failed.
    #[error("identity provider: {0}")]
    Provider(#[from] eid_idp::IdpError),
    /// The order engine refused its configuration.
    #[error("orders: {0}")]
    Orders(#[from] eid_orders::OrderError),
    /// My Pages could not be set up.
    #[error("my pages: {0}")]
    Portal(#[from] eid_portal::PortalError),
    /// The audit key could not be derived.
    #[error("audit: {0}")]
    Audit(#[from] eid_store::StoreError),
    /// The CRL or the OCSP responder could not be set up.
    #[error("revocation: {0}")]
    Revocation(#[from] crate::revocation::RevocationSetupError),
}

/// The installation's secrets. `Debug` shows neither.
#[derive(Debug)]
pub struct Secrets {
    /// Encrypts the signing keys at rest.
    pub kek: KeyEncryptionKey,
    /// Keys the `sub` values.
    pub subject: SubjectSecret,
    /// The card master key (`cards.master_key`): the server answers the management-key
    /// challenges of cards in signing-certificate fetches with it. Without it no fetch can
    /// generate a key or write a certificate.
    pub card_master: Option<Arc<eid_pki::CardMasterKey>>,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> SetupError {
    SetupError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Reads 32 bytes from `path`, or creates the file (mode 0600) with fresh random bytes.
fn load_or_create(path: &Path) -> Result<[u8; 32], SetupError> {
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .as_slice()
            .try_into()
            .map_err(|_| file_error(path, "must hold exactly 32 bytes")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::Rng::fill_bytes(&mut rng(), &mut bytes);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| file_error(path, e))?;
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| file_error(path, e))?;
            Ok(bytes)
        }
        Err(e) => Err(file_error(path, e)),
    }
}

impl Secrets {
    /// The secrets of the installation in `data_dir`, created on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SetupError> {
        let kek = load_or_create(&data_dir.join(KEK_FILE))?;
        let subject = load_or_create(&data_dir.join(SUBJECT_SECRET_FILE))?;
        Ok(Self {
            kek: KeyEncryptionKey::from_bytes(&kek)?,
            subject: SubjectSecret::from_bytes(&subject)?,
            card_master: None,
        })
    }
}

/// The state of a server at `settings.public_url` (its issuer and order origin), with the
/// provider's signing keys ensured, an OCSP responder certificate and a CRL ensured, and
/// the revocation schedule running ([`crate::revocation::spawn_schedule`]) until the last
/// state is dropped.
pub async fn build_state<S: ServerStore>(
    store: Arc<S>,
    ca: Arc<CertificateAuthority>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    secrets: Secrets,
) -> Result<AppState<S>, SetupError> {
    let provider = Provider::new(
        store.clone(),
        ProviderConfig::new(&settings.public_url)?,
        secrets.kek.clone(),
        &secrets.subject,
    )?;
    provider
        .ensure_signing_keys(clock.now(), &mut rng(), "system:serve")
        .await?;
    let mut order_config = OrderConfig::new(settings.public_url.clone());
    order_config.order_lifetime = settings.order_lifetime;
    let revocation = Arc::new(
        Revocation::start(
            store.clone(),
            ca.clone(),
            settings.revocation,
            secrets.kek.as_bytes(),
            &*clock,
        )
        .await?,
    );
    spawn_schedule(&revocation, clock.clone());
    let mut orders = Orders::new(store.clone(), ca, order_config)?;
    if let Some(master) = secrets.card_master.clone() {
        orders = orders.with_card_master(master);
    }
    orders = orders.with_vendor_attestation_roots(settings.vendor_attestation_roots.clone());
    let audit_period = settings.audit_signing_period;
    let state = AppState::new(
        store,
        clock.clone(),
        Arc::new(provider),
        Arc::new(orders),
        revocation,
        settings,
        secrets.kek.as_bytes(),
    )?;
    register_mypages(&state).await?;
    state.audit_signer.sign(&*clock).await;
    spawn_signing(&state.audit_signer, clock, audit_period);
    Ok(state)
}

/// Registers (or updates) My Pages as the provider's confidential client `mypages`. Its
/// secret is derived from the installation's key-encryption key (see `docs/mypages.md`),
/// so every node registers the same hash and nothing new needs backing up.
async fn register_mypages<S: ServerStore>(state: &AppState<S>) -> Result<(), SetupError> {
    let r = state.portal.client_registration();
    let spec = eid_idp::ClientSpec {
        client_id: r.client_id,
        name: r.name,
        confidential: true,
        redirect_uris: vec![r.redirect_uri],
        post_logout_redirect_uris: vec![r.post_logout_redirect_uri],
        scopes: r.scopes,
        pkce_optional: false,
        id_token_alg: None,
    };
    state
        .provider
        .configure_client(
            &spec,
            Some(r.secret_sha256),
            "system:serve",
            state.clock.now(),
        )
        .await?;
    Ok(())
}

/// Forgets expired orders, browser sessions, codes and login sessions (any node may do it;
/// the store decides in one statement what has expired). Returns how many records went.
pub async fn purge_expired<S: ServerStore>(state: &AppState<S>) -> Result<u64, SetupError> {
    let now = state.clock.now();
    let orders = state.orders.purge(now).await?;
    let oidc = state
        .store
        .purge_oidc(now)
        .await
        .map_err(|e| SetupError::Provider(e.into()))?;
    // One-time values, rate-limit slots among them, whose time has passed.
    let used_once = state
        .store
        .purge_used_once(now)
        .await
        .map_err(|e| SetupError::Provider(e.into()))?;
    let portal = state
        .store
        .purge_portal_sessions(now)
        .await
        .map_err(|e| SetupError::Provider(e.into()))?;
    Ok(orders.orders + orders.browser_sessions + oidc + used_once + portal)
}

/// Runs [`purge_expired`] every `every` until the task is dropped or aborted.
pub fn spawn_housekeeping<S: ServerStore>(
    state: AppState<S>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = purge_expired(&state).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
    })
}
