//! The eID app's JSON endpoints (no cookies): fetch the order by its autostart token,
//! report progress and complete it with the card's signature. After the fetch the app
//! authenticates with `Authorization: Bearer <appToken>`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use eid_protocol::{AppCompletion, AppReport};
use serde::Deserialize;
use serde_json::json;

use crate::{AppState, ServerError, ServerStore, rng};

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new()
        .route("/app/v1/order", post(fetch::<S>))
        .route("/app/v1/report", post(report::<S>))
        .route("/app/v1/complete", post(complete::<S>))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchBody {
    auto_start_token: String,
}

fn app_token(headers: &HeaderMap) -> Result<&str, ServerError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ServerError::BadRequest(
            "the app token goes in `Authorization: Bearer`",
        ))
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ServerError> {
    serde_json::from_slice(bytes).map_err(|_| ServerError::BadRequest("a malformed JSON body"))
}

async fn fetch<S: ServerStore>(
    State(state): State<AppState<S>>,
    bytes: Bytes,
) -> Result<Response, ServerError> {
    let b: FetchBody = body(&bytes)?;
    let fetched = state
        .orders
        .app_fetch(&b.auto_start_token, state.clock.now(), &mut rng())
        .await?;
    Ok(Json(fetched).into_response())
}

async fn report<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ServerError> {
    let token = app_token(&headers)?;
    let b: AppReport = body(&bytes)?;
    state
        .orders
        .app_report(token, &b.hint_code, state.clock.now())
        .await?;
    Ok(Json(json!({})).into_response())
}

async fn complete<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ServerError> {
    let token = app_token(&headers)?;
    let b: AppCompletion = body(&bytes)?;
    let done = state
        .orders
        .app_complete(token, &b, state.clock.now(), &mut rng())
        .await?;
    Ok(Json(done).into_response())
}
