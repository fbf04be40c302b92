//! The eID app's enrollment endpoints (`docs/protocol.md`, "Fetching a signing
//! certificate"), beside `app.rs`: the relayed management-key challenge and the delivery
//! confirmation, with `Authorization: Bearer <appToken>`. The completion that issues the
//! certificate is `POST /app/v1/complete` (`app.rs`). Handlers only extract, call the order
//! engine and map; the challenge and the response are never logged.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use eid_protocol::{DeliveryConfirmation, ManagementChallenge, ManagementResponse};
use serde_json::json;

use crate::app::{app_token, body};
use crate::{AppState, ServerError, ServerStore};

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new()
        .route("/app/v1/enroll/management", post(management::<S>))
        .route("/app/v1/enroll/delivered", post(delivered::<S>))
}

async fn management<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ServerError> {
    let token = app_token(&headers)?;
    let b: ManagementChallenge = body(&bytes)?;
    let response = state
        .orders
        .management_response(token, &b.challenge, state.clock.now())
        .await?;
    Ok(Json(ManagementResponse {
        response: response.to_vec(),
    })
    .into_response())
}

async fn delivered<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ServerError> {
    let token = app_token(&headers)?;
    let b: DeliveryConfirmation = body(&bytes)?;
    state
        .orders
        .confirm_delivery(token, &b.certificate_serial, state.clock.now())
        .await?;
    Ok(Json(json!({})).into_response())
}
