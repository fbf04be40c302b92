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

/// The app token of an app API call (`Authorization: Bearer`).
pub(crate) fn app_token(headers: &HeaderMap) -> Result<&str, ServerError> {
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

/// An app API call's JSON body.
pub(crate) fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ServerError> {
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
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ServerError> {
    let token = app_token(&headers)?;
    let b: AppCompletion = body(&bytes)?;
    // Per card (its authentication certificate), counted before the signature is checked
    // but only for an app token of a live order, so strangers cannot use up a card's budget
    // with made-up tokens (the engine refuses those below, uncounted).
    // With the limit switched off there is nothing to count: no lookup.
    let now = state.clock.now();
    let limit = state.settings.rate_limits.completions_per_card;
    let live = limit.max > 0
        && state
            .store
            .order_by_app_token(&crate::limits::sha256(token.as_bytes()))
            .await?
            .is_some_and(|o| {
                o.state == eid_store::orders::OrderState::Pending
                    && o.signature.is_none()
                    && now < o.expires_at
            });
    if live
        && let Some(retry_after) = crate::limits::take(
            state.store.as_ref(),
            crate::limits::COMPLETION,
            &b.certificate,
            limit,
            now,
        )
        .await?
    {
        return Err(ServerError::RateLimited {
            what: "order completions with this card",
            retry_after,
            page: false,
        });
    }
    let client_addr = crate::limits::client_address(
        peer.map(|p| p.0.0),
        &headers,
        &state.settings.trusted_proxies,
    );
    tracing::info!(client_addr = ?client_addr, "order completion");
    let done = state
        .orders
        .app_complete(token, &b, state.clock.now(), &mut rng())
        .await?;
    Ok(Json(done).into_response())
}
