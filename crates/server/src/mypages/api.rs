//! `mypages.api` over HTTP (`docs/mypages-api.yaml`), every call with `Authorization:
//! Bearer <access token>` (RFC 6750 §2.1 only: never from the query or a form):
//!
//! | route | what |
//! |---|---|
//! | `GET /mypages/api/v1/person` | the card holder |
//! | `GET /mypages/api/v1/cards` | their cards and certificates |
//! | `POST /mypages/api/v1/cards/{cardNumber}/fetch` | starts a signing-certificate fetch: 201 with the launch link and the follow token |
//! | `GET /mypages/api/v1/fetches/{orderRef}` | follows it (`Eid-Follow-Token`) |
//! | `POST /mypages/api/v1/fetches/{orderRef}/return` | completes it with the return secret (`Eid-Follow-Token`) |
//!
//! A fetch is checked as the page checks it ([`eid_portal::MyPagesApi::fetch_card`]: the
//! token's login card, the rules, a card login within
//! [`FRESH_LOGIN`](eid_portal::FRESH_LOGIN) by the token's `auth_time`) and started by the
//! page's own [`super::fetch::start_order`]. Relay protection as for the page: the order is
//! bound to a new session of the order flow whose id, the **follow token**, is answered
//! once at the start and required to follow or complete the order; the eID app's return is
//! handed on to the client's registered redirect URI ([`super::fetch::handoff`]) and counts
//! only when the client brings its secret back with the follow token
//! (`docs/mypages.md`, "Fetching over the API").
//!
//! Refusals: the token's are RFC 6750 §3 (401 with `WWW-Authenticate: Bearer
//! error="invalid_token"`, 403 `insufficient_scope`); the rest JSON `{"error",
//! "error_description"}` with `reason` where a rule or the engine names one
//! (`fetch_refused`, 409), `login_required` (403), `not_found` (404, the same for another
//! person's order and none), `invalid_request` (400), `rate_limited` (429, `Retry-After`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eid_orders::OrderError;
use eid_portal::{AccessClaims, ApiError, CertificateView, FRESH_LOGIN, FetchDenied, Language};
use eid_protocol::{CollectResponse, HintCode, OrderKind, OrderStatus};
use eid_store::CardKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::fetch::{StartError, handoff_url, start_order};
use crate::html::Lang;
use crate::{AppState, ServerStore};

/// The header that carries a fetch's follow token.
pub(crate) const FOLLOW_HEADER: &str = "eid-follow-token";

/// The response of a refused API call.
pub(crate) fn api_error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, description) = match e {
        ApiError::InvalidToken(_) => ("invalid_token", "the access token is not accepted"),
        ApiError::InsufficientScope(why) => ("insufficient_scope", *why),
        ApiError::UnknownPerson => ("access_denied", "the person may not use My Pages"),
        ApiError::Keys(_) => ("temporarily_unavailable", "try again later"),
        _ => ("server_error", "an internal error"),
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "my pages api failed");
    } else {
        tracing::info!(error = %e, "my pages api refused");
    }
    let mut response = (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response();
    let challenge = match e.bearer_error() {
        Some(code) => format!("Bearer realm=\"mypages.api\", error=\"{code}\""),
        None => "Bearer realm=\"mypages.api\"".to_owned(),
    };
    if (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
        && let Ok(value) = HeaderValue::from_str(&challenge)
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The bearer token of the `Authorization` header, verified.
async fn authorise<S: ServerStore>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<AccessClaims, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let token = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok().and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        }),
        _ => None,
    }
    .filter(|t| !t.is_empty())
    .ok_or_else(|| {
        ApiError::InvalidToken("send the access token once, as a bearer token".into())
    })?;
    state.portal.api().verify(&token, state.clock.now()).await
}

pub(crate) async fn person<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    let result = match authorise(&state, &headers).await {
        Ok(claims) => state.portal.api().person(&claims).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(person) => Json(person).into_response(),
        Err(e) => api_error(&e),
    }
}

pub(crate) async fn cards<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    let now = state.clock.now();
    let result = match authorise(&state, &headers).await {
        Ok(claims) => state.portal.api().cards(&claims, now).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(cards) => Json(cards).into_response(),
        Err(e) => api_error(&e),
    }
}

/// A refusal of a fetch call: `{"error", "error_description"}` and `reason` if there is
/// one.
fn refusal(status: StatusCode, error: &str, description: &str, reason: Option<&str>) -> Response {
    tracing::info!(error, reason, "my pages api fetch refused");
    let mut body = json!({ "error": error, "error_description": description });
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such fetch or card for this person",
        None,
    )
}

fn invalid_request(description: &str) -> Response {
    refusal(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        description,
        None,
    )
}

/// A refusal of [`eid_portal::MyPagesApi::fetch_card`].
fn denied(e: &FetchDenied) -> Response {
    match e {
        FetchDenied::Api(e) => api_error(e),
        FetchDenied::NotFound => not_found(),
        FetchDenied::Refused(reason) => refusal(
            StatusCode::CONFLICT,
            "fetch_refused",
            reason.text(Language::English),
            Some(reason.code()),
        ),
        FetchDenied::LoginRequired => {
            let mut response = refusal(
                StatusCode::FORBIDDEN,
                "login_required",
                "the card login is not recent enough: log in again with the card \
                 (prompt=login or max_age=0), then start the fetch within 15 minutes",
                None,
            );
            let max_age = FRESH_LOGIN.whole_seconds();
            if let Ok(value) = HeaderValue::from_str(&format!(
                "Bearer realm=\"mypages.api\", error=\"insufficient_user_authentication\", \
                 max_age=\"{max_age}\""
            )) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
        _ => server_error(e),
    }
}

fn server_error(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "my pages api fetch failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "server_error", "error_description": "an internal error" })),
    )
        .into_response()
}

/// An order engine's refusal of a fetch call.
fn order_refusal(e: &OrderError) -> Response {
    match e {
        OrderError::AlreadyInProgress => refusal(
            StatusCode::CONFLICT,
            "fetch_refused",
            "another fetch onto this card is already in progress",
            Some(HintCode::AlreadyInProgress.as_str()),
        ),
        OrderError::InvalidParameters(why) => invalid_request(why),
        OrderError::NotFound | OrderError::WrongBrowserSession => not_found(),
        OrderError::ReturnRefused => refusal(
            StatusCode::BAD_REQUEST,
            "return_refused",
            "the secret is wrong or spent, or the order is not signed, pending and unexpired",
            None,
        ),
        OrderError::Relayed => refusal(
            StatusCode::FORBIDDEN,
            "relayed",
            "the return does not belong to the follow token that started the order: the \
             order has been stopped",
            Some(HintCode::StartFailed.as_str()),
        ),
        e => server_error(e),
    }
}

/// The one follow token of the request.
fn follow_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(FOLLOW_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok().map(str::trim).filter(|t| !t.is_empty()),
        _ => None,
    }
}

/// What `POST /mypages/api/v1/cards/{cardNumber}/fetch` takes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartBody {
    /// Where the card holder's browser is sent with `orderRef` and `secret` after the
    /// signature: one of the redirect URIs registered for the token's client.
    return_url: String,
    /// `sv` (default) or `en`: the language of the text the eID app shows and the card
    /// signs.
    #[serde(default)]
    language: Option<String>,
}

/// The answer to a fetch start (201).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartedView<'a> {
    order_ref: &'a str,
    auto_start_token: &'a str,
    launch_url: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    follow_token: &'a str,
    card_number: &'a str,
    /// `pin2` (the signing code of a two-PIN card's PIN letter) or `pin1` (a 7XX card's
    /// only code): what the eID app will ask for first.
    signing_code: &'static str,
}

/// A fetch as its client follows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FetchView {
    order_ref: String,
    card_number: String,
    status: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint_code: Option<HintCode>,
    /// The new signing certificate, once the fetch is complete.
    certificate: Option<CertificateView>,
}

/// `POST /mypages/api/v1/cards/{cardNumber}/fetch`: starts a fetch onto the token's login
/// card.
pub(crate) async fn start_fetch<S: ServerStore>(
    State(state): State<AppState<S>>,
    Path(card_number): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let claims = match authorise(&state, &headers).await {
        Ok(claims) => claims,
        Err(e) => return api_error(&e),
    };
    let Ok(request) = serde_json::from_slice::<StartBody>(&body) else {
        return invalid_request("the body must be JSON {\"returnUrl\", \"language\"?}");
    };
    let lang = match request.language.as_deref() {
        None | Some("sv") => Lang::Sv,
        Some("en") => Lang::En,
        Some(_) => return invalid_request("language must be sv or en"),
    };
    let card = match state
        .portal
        .api()
        .fetch_card(&claims, &card_number, claims.auth_time, now)
        .await
    {
        Ok(card) => card,
        Err(e) => return denied(&e),
    };
    // The return is handed to the client that asked, at a redirect URI the provider
    // registered for it: never to a URL nobody vouched for.
    let registered = match state.store.client(&claims.client_id).await {
        Ok(client) => client.is_some_and(|c| c.redirect_uris.contains(&request.return_url)),
        Err(e) => return server_error(&e),
    };
    if !registered {
        return invalid_request("returnUrl must be a redirect URI registered for the client");
    }
    let return_url = handoff_url(&state.settings.public_url, &request.return_url);
    let started = match start_order(&state, &card_number, lang, return_url, now).await {
        Ok(started) => started,
        Err(StartError::RateLimited(retry_after)) => {
            let mut response = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many fetch starts for this card: try again later",
                None,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return response;
        }
        Err(StartError::Order(e)) => return order_refusal(&e),
    };
    tracing::info!(client_id = %claims.client_id, card = %card_number, "fetch started over the api");
    let view = StartedView {
        order_ref: &started.order.order_ref,
        auto_start_token: &started.order.auto_start_token,
        launch_url: &started.launch,
        expires_at: started.expires_at,
        follow_token: started.session.as_str(),
        card_number: &card_number,
        signing_code: match card.kind {
            CardKind::TwoPin => "pin2",
            CardKind::OnePin => "pin1",
        },
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/mypages/api/v1/fetches/{}",
        started.order.order_ref
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The token's claims, the follow token and the card of `order_ref` when it is a fetch
/// onto a card of the token's person; else the refusal (another person's fetch and none
/// look alike).
async fn own_fetch<S: ServerStore>(
    state: &AppState<S>,
    headers: &HeaderMap,
    order_ref: &str,
) -> Result<(String, String), Response> {
    let claims = authorise(state, headers).await.map_err(|e| api_error(&e))?;
    let follow = follow_token(headers)
        .ok_or_else(|| invalid_request("send the fetch's follow token once, in Eid-Follow-Token"))?
        .to_owned();
    let order = state
        .store
        .order(order_ref)
        .await
        .map_err(|e| server_error(&e))?
        .filter(|o| {
            o.kind == OrderKind::EnrollSign.as_str() && o.requester_id == eid_portal::CLIENT_ID
        })
        .ok_or_else(not_found)?;
    let card = order.card_number.ok_or_else(not_found)?;
    match state.portal.api().holds_card(&claims, &card).await {
        Ok(true) => Ok((follow, card)),
        Ok(false) => Err(not_found()),
        Err(e) => Err(api_error(&e)),
    }
}

/// The fetch as its client sees it; with the new signing certificate once complete.
async fn fetch_view<S: ServerStore>(
    state: &AppState<S>,
    card_number: String,
    collected: CollectResponse,
    now: OffsetDateTime,
) -> Response {
    let mut certificate = None;
    if collected.status == OrderStatus::Complete {
        let key = match state.store.order(&collected.order_ref).await {
            Ok(order) => order
                .and_then(|o| o.signature)
                .and_then(|s| s.approved_key_sha256),
            Err(e) => return server_error(&e),
        };
        if let Some(key) = key {
            certificate = match state
                .portal
                .api()
                .signing_certificate(&card_number, &key, now)
                .await
            {
                Ok(c) => c,
                Err(e) => return api_error(&e),
            };
        }
    }
    Json(FetchView {
        order_ref: collected.order_ref,
        card_number,
        status: collected.status,
        hint_code: collected.hint_code,
        certificate,
    })
    .into_response()
}

/// `GET /mypages/api/v1/fetches/{orderRef}`: the fetch's state, for the client holding its
/// follow token and a token of the card's holder.
pub(crate) async fn follow_fetch<S: ServerStore>(
    State(state): State<AppState<S>>,
    Path(order_ref): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (follow, card) = match own_fetch(&state, &headers, &order_ref).await {
        Ok(own) => own,
        Err(response) => return response,
    };
    let now = state.clock.now();
    match state.orders.collect_status(&order_ref, &follow, now).await {
        Ok(collected) => fetch_view(&state, card, collected, now).await,
        Err(e) => order_refusal(&e),
    }
}

/// What `POST /mypages/api/v1/fetches/{orderRef}/return` takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    /// The one-time secret the client's redirect URI received with `orderRef`.
    secret: String,
}

/// `POST /mypages/api/v1/fetches/{orderRef}/return`: the client brings back the return
/// secret that the card holder's browser delivered to its redirect URI; with the follow
/// token of the start the order completes (the engine's browser return: the right secret
/// under another follow token stops the order, as a relayed page order).
pub(crate) async fn return_fetch<S: ServerStore>(
    State(state): State<AppState<S>>,
    Path(order_ref): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (follow, card) = match own_fetch(&state, &headers, &order_ref).await {
        Ok(own) => own,
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<ReturnBody>(&body) else {
        return invalid_request("the body must be JSON {\"secret\"}");
    };
    let now = state.clock.now();
    match state
        .orders
        .browser_return(&order_ref, &request.secret, &follow, now)
        .await
    {
        Ok(collected) => fetch_view(&state, card, collected, now).await,
        Err(e) => order_refusal(&e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refusals_map_to_rfc_6750() {
        let cases = [
            (
                ApiError::InvalidToken("x".into()),
                401,
                Some("invalid_token"),
            ),
            (
                ApiError::InsufficientScope("profile"),
                403,
                Some("insufficient_scope"),
            ),
            (ApiError::UnknownPerson, 403, None),
            (ApiError::Keys("down".into()), 503, None),
        ];
        for (e, status, code) in cases {
            let r = api_error(&e);
            assert_eq!(r.status().as_u16(), status, "{e}");
            let challenge = r.headers().get(header::WWW_AUTHENTICATE);
            match code {
                Some(code) => assert!(
                    challenge
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .contains(&format!("error=\"{code}\""))
                ),
                None if status == 403 => {
                    assert_eq!(challenge.unwrap(), "Bearer realm=\"mypages.api\"");
                }
                None => assert!(challenge.is_none()),
            }
        }
    }
}
