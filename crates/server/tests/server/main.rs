//! The server booted on port 0 with a real store, spoken to over loopback HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

use std::net::SocketAddr;
use std::sync::Arc;

use eid_clock::SystemClock;
use eid_server::{AppState, bind, router, serve};
use eid_store::{Durability, SqliteStore};

/// A running server; stops when dropped.
struct Running {
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
        .await
        .unwrap();
    let state = AppState {
        store: Arc::new(store),
        clock: Arc::new(SystemClock),
    };
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(state), async {
        let _ = stopped.await;
    }));
    Running {
        base,
        _stop: stop,
        _dir: dir,
    }
}

#[tokio::test]
async fn health_and_readiness_answer_with_security_headers() {
    let server = start().await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let h = response.headers();
        assert_eq!(
            h["content-security-policy"],
            eid_server::headers::CONTENT_SECURITY_POLICY
        );
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn an_unknown_path_is_404_with_the_same_headers() {
    let server = start().await;
    let response = reqwest::get(format!("{}/no/such/page", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
}
