//! `mypages.api` over HTTP (`docs/mypages-api.yaml`): `GET /mypages/api/v1/person` and
//! `GET /mypages/api/v1/cards` with `Authorization: Bearer <access token>` (RFC 6750 §2.1
//! only: never from the query or a form). Refusals are RFC 6750 §3: 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`, 403 `insufficient_scope`; JSON
//! `{"error", "error_description"}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eid_portal::{AccessClaims, ApiError};
use serde_json::json;

use crate::{AppState, ServerStore};

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
