//! Health for load balancers: `/healthz` (the process answers) and `/readyz` (the store
//! answers too; a node whose store is gone takes no traffic).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::{AppState, ServerStore};

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready::<S>))
}

async fn ready<S: ServerStore>(State(state): State<AppState<S>>) -> (StatusCode, Json<Value>) {
    match state.store.audit_heads().await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store unavailable" })),
            )
        }
    }
}
