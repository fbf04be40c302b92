//! The HTTP edge of `eid serve`. Handlers here only extract input, call an engine (store,
//! orders, identity provider, CA) and map the result to a response; protocol logic lives in
//! the engines, which know nothing of HTTP.
//!
//! Every response carries the security headers of [`headers`]: a strict Content Security
//! Policy, no framing (clickjacking), no MIME sniffing, no referrer, and `no-store` caching
//! unless a route says otherwise. The server never logs a request body, a cookie or a token.

pub mod headers;
mod health;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use eid_clock::Clock;
use eid_store::Store;
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where everything that matters lives.
    pub store: Arc<dyn Store>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

/// All routes of the server, with the security headers on every response.
pub fn router(state: AppState) -> Router {
    headers::secure(health::routes()).with_state(state)
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
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
