//! The OpenID Connect endpoints, as `docs/oidc.md` ("Endpoints") maps them onto
//! [`eid_idp::Provider`]. Handlers extract the decoded pairs, the `Authorization` header and
//! the session cookie, call one provider method and map the result.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use eid_idp::{AuthorizeOutcome, TOKEN_RESPONSE_HEADERS, UserinfoError};

use crate::login::{self, SSO_COOKIE};
use crate::{AppState, ServerError, ServerStore, html, rng};

/// How long discovery and the JWKS may be cached (new keys are published a day before they
/// sign, and retired keys stay published past every token they signed).
const CACHE_METADATA: &str = "public, max-age=300";

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::<S>))
        .route("/oidc/jwks", get(jwks::<S>))
        .route(
            "/oidc/authorize",
            get(authorize_get::<S>).post(authorize_post::<S>),
        )
        .route("/oidc/token", axum::routing::post(token::<S>))
        .route(
            "/oidc/userinfo",
            get(userinfo_get::<S>).post(userinfo_post::<S>),
        )
        .route("/oidc/logout", get(logout_get::<S>).post(logout_post::<S>))
}

/// `name=value` pairs of a query string or form body, decoded, in order, repeats kept.
pub(crate) fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded).into_owned().collect()
}

fn query_pairs(query: Option<String>) -> Vec<(String, String)> {
    pairs(query.unwrap_or_default().as_bytes())
}

fn cacheable_json(value: serde_json::Value) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_METADATA),
        )],
        axum::Json(value),
    )
        .into_response()
}

async fn discovery<S: ServerStore>(State(state): State<AppState<S>>) -> Response {
    cacheable_json(state.provider.discovery())
}

async fn jwks<S: ServerStore>(State(state): State<AppState<S>>) -> Result<Response, ServerError> {
    let jwks = state.provider.jwks(state.clock.now()).await?;
    Ok(cacheable_json(jwks))
}

async fn authorize_get<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    authorize(state, &headers, query_pairs(query)).await
}

async fn authorize_post<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    authorize(state, &headers, pairs(&body)).await
}

async fn authorize<S: ServerStore>(
    state: AppState<S>,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<Response, ServerError> {
    let session = login::cookie(headers, SSO_COOKIE);
    let outcome = state
        .provider
        .authorize(&pairs, session.as_deref(), state.clock.now(), &mut rng())
        .await?;
    match outcome {
        AuthorizeOutcome::Code(response) => Ok(see_other(&response.location())),
        AuthorizeOutcome::Login(request) => {
            // `lang` is ours (the engine ignores unknown parameters).
            let lang = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| &**v);
            login::login_page(&state, &request, lang).await
        }
        _ => Err(ServerError::PageRefused("unknown authorization outcome")),
    }
}

/// A 303 to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => ServerError::PageRefused("an unusable redirect location").into_response(),
    }
}

async fn token<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    let form = pairs(&body);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let response = state
        .provider
        .token(&form, authorization, state.clock.now(), &mut rng())
        .await?;
    let mut response = axum::Json(response).into_response();
    for (name, value) in TOKEN_RESPONSE_HEADERS {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name),
            HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The bearer token of the `Authorization` header: `Some(Err)` when the header is there but
/// not a bearer token.
fn bearer(headers: &HeaderMap) -> Option<Result<String, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    Some(token.map(str::to_owned).ok_or(()))
}

fn bad_token() -> ServerError {
    ServerError::Userinfo(UserinfoError::Refused(eid_idp::OAuthError {
        code: eid_idp::ErrorCode::InvalidRequest,
        description: "send the access token once, as a bearer token",
    }))
}

async fn userinfo<S: ServerStore>(
    state: AppState<S>,
    token: Option<String>,
) -> Result<Response, ServerError> {
    let Some(token) = token else {
        return Err(ServerError::Userinfo(UserinfoError::Refused(
            eid_idp::OAuthError {
                code: eid_idp::ErrorCode::InvalidToken,
                description: "no access token",
            },
        )));
    };
    let claims = state.provider.userinfo(&token, state.clock.now()).await?;
    Ok(axum::Json(claims).into_response())
}

async fn userinfo_get<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ServerError> {
    // Never from the query (RFC 6750 §2.3 is not supported).
    let token = bearer(&headers).transpose().map_err(|()| bad_token())?;
    userinfo(state, token).await
}

async fn userinfo_post<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    let header = bearer(&headers).transpose().map_err(|()| bad_token())?;
    let form: Vec<String> = pairs(&body)
        .into_iter()
        .filter(|(k, _)| k == "access_token")
        .map(|(_, v)| v)
        .collect();
    let token = match (header, form.as_slice()) {
        (Some(t), []) => Some(t),
        (None, [t]) => Some(t.clone()),
        (None, []) => None,
        _ => return Err(bad_token()),
    };
    userinfo(state, token).await
}

async fn logout_get<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    logout(state, &headers, query_pairs(query)).await
}

async fn logout_post<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    logout(state, &headers, pairs(&body)).await
}

async fn logout<S: ServerStore>(
    state: AppState<S>,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<Response, ServerError> {
    let session = login::cookie(headers, SSO_COOKIE);
    let outcome = state
        .provider
        .end_session(&pairs, session.as_deref(), state.clock.now())
        .await?;
    let mut response = match outcome.redirect {
        Some(location) => see_other(&location),
        None => Html(html::page(
            "Du är utloggad",
            "<p>Du är nu utloggad. Stäng webbläsaren om du använder en delad dator.</p>",
            false,
        ))
        .into_response(),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, login::clear_cookie(SSO_COOKIE));
    Ok(response)
}
