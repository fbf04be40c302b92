//! The one mapping from a refusal or failure to an HTTP response.
//!
//! - Authorization errors: `Local` is an error page (never a redirect), `Redirect` is a 303
//!   to the client's registered redirect URI with `error`, `state` and `iss`.
//! - Token and userinfo errors: the engine's status and JSON (`WWW-Authenticate` where due).
//! - Order errors: JSON `{"errorCode", "details"}` for the page's and the app's JSON calls,
//!   an error page for the page steps (`POST /login`, `/login/return`).
//! - Internal failures are logged (never with a secret: the engines' errors hold none) and
//!   answered without detail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use eid_idp::{AuthorizeError, IdpError, LogoutError, TokenError, UserinfoError};
use eid_orders::OrderError;
use serde_json::json;

use crate::html;

/// Why a request was not answered normally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The authorization endpoint refused.
    #[error("authorization: {0}")]
    Authorize(#[from] AuthorizeError),
    /// The token endpoint refused.
    #[error("token: {0}")]
    Token(#[from] TokenError),
    /// The userinfo endpoint refused.
    #[error("userinfo: {0}")]
    Userinfo(#[from] UserinfoError),
    /// Logout refused.
    #[error("logout: {0}")]
    Logout(#[from] LogoutError),
    /// The identity provider failed (a page).
    #[error("provider: {0}")]
    Provider(#[from] IdpError),
    /// The order engine refused a JSON call (page or app).
    #[error("order: {0}")]
    Order(#[from] OrderError),
    /// The order engine refused a page step.
    #[error("order page: {0}")]
    OrderPage(OrderError),
    /// A JSON request is malformed or lacks its credentials.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A page request is malformed, forged or stale (missing cookie, wrong CSRF token, a
    /// pending request whose MAC does not verify).
    #[error("page refused: {0}")]
    PageRefused(&'static str),
    /// A rate limit was reached: 429 with `Retry-After`; a page for the page steps, JSON
    /// for the app.
    #[error("rate limited: {what}")]
    RateLimited {
        /// What was limited (for the log and the JSON `details`).
        what: &'static str,
        /// Seconds until the window ends.
        retry_after: u64,
        /// Answer with a page rather than JSON.
        page: bool,
    },
    /// The rate limiter's store failed.
    #[error("rate limiter: {0}")]
    Limiter(#[from] eid_store::StoreError),
}

fn page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(html::page(
            "Något gick fel",
            &html::error_body(message),
            false,
        )),
    )
        .into_response()
}

fn internal_page(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "internal failure");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Ett tekniskt fel inträffade. Försök igen om en stund.",
    )
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The order error's HTTP status, code and whether it is an internal failure.
fn order_parts(e: &OrderError) -> (StatusCode, &'static str, bool) {
    match e {
        OrderError::InvalidParameters(_) => (StatusCode::BAD_REQUEST, "invalidParameters", false),
        OrderError::NoBrowserSession => (StatusCode::UNAUTHORIZED, "noBrowserSession", false),
        // Another session's order is not shown to exist.
        OrderError::NotFound | OrderError::WrongBrowserSession => {
            (StatusCode::NOT_FOUND, "notFound", false)
        }
        OrderError::TokenRefused => (StatusCode::UNAUTHORIZED, "tokenRefused", false),
        OrderError::Expired => (StatusCode::GONE, "expiredTransaction", false),
        OrderError::NotPending => (StatusCode::CONFLICT, "notPending", false),
        OrderError::Certificate(_)
        | OrderError::BadSignature
        | OrderError::SignerNoLongerValid(_) => (StatusCode::BAD_REQUEST, "certificateErr", false),
        OrderError::WrongCard { .. } => (StatusCode::BAD_REQUEST, "wrongCard", false),
        OrderError::ReturnRefused => (StatusCode::BAD_REQUEST, "returnRefused", false),
        OrderError::Relayed => (StatusCode::FORBIDDEN, "startFailed", false),
        OrderError::AlreadyInProgress => (StatusCode::CONFLICT, "alreadyInProgress", false),
        OrderError::EnrollmentRefused { .. } => {
            (StatusCode::BAD_REQUEST, "enrollmentRefused", false)
        }
        OrderError::ManagementRefused(_) => (StatusCode::FORBIDDEN, "managementRefused", false),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internalError", true),
    }
}

fn order_page_message(e: &OrderError) -> &'static str {
    match e {
        OrderError::Relayed => {
            "Inloggningen startades i en annan webbläsare och har stoppats. Starta inloggningen på nytt i den här webbläsaren."
        }
        OrderError::Expired => "Tiden för inloggningen har gått ut. Försök igen.",
        OrderError::NoBrowserSession => {
            "Sidan har varit öppen för länge. Gå tillbaka till tjänsten och försök igen."
        }
        _ => "Inloggningen kunde inte slutföras. Gå tillbaka till tjänsten och försök igen.",
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        match self {
            Self::Authorize(AuthorizeError::Local(e)) => page(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Tjänsten skickade en felaktig begäran ({}: {}).",
                    e.code, e.description
                ),
            ),
            Self::Authorize(AuthorizeError::Redirect(r)) => {
                (StatusCode::SEE_OTHER, [(header::LOCATION, r.location())]).into_response()
            }
            Self::Authorize(AuthorizeError::Internal(e)) | Self::Provider(e) => internal_page(&e),
            Self::Authorize(e) => internal_page(&e),
            Self::Token(e) => {
                if let TokenError::Internal(inner) = &e {
                    tracing::error!(error = %inner, "token endpoint failed");
                }
                let code = status(e.status());
                let mut response = (code, Json(e.to_json())).into_response();
                let h = response.headers_mut();
                h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                if code == StatusCode::UNAUTHORIZED {
                    h.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"eid\""),
                    );
                }
                response
            }
            Self::Userinfo(e) => {
                if let UserinfoError::Internal(inner) = &e {
                    tracing::error!(error = %inner, "userinfo failed");
                }
                let www = HeaderValue::from_str(&e.www_authenticate())
                    .unwrap_or(HeaderValue::from_static("Bearer"));
                (status(e.status()), [(header::WWW_AUTHENTICATE, www)]).into_response()
            }
            Self::Logout(LogoutError::Refused(e)) => page(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Utloggningen kunde inte göras ({}: {}).",
                    e.code, e.description
                ),
            ),
            Self::Logout(e) => internal_page(&e),
            Self::Order(e) => {
                let (code, name, internal) = order_parts(&e);
                let details = if internal {
                    tracing::error!(error = %e, "order engine failed");
                    "the server failed".to_owned()
                } else {
                    e.to_string()
                };
                let mut body = json!({ "errorCode": name, "details": details });
                if let OrderError::EnrollmentRefused { reason, .. } = &e {
                    body["reason"] = json!(reason);
                }
                (code, Json(body)).into_response()
            }
            Self::OrderPage(e) => {
                let (code, _, internal) = order_parts(&e);
                if internal {
                    return internal_page(&e);
                }
                tracing::info!(error = %e, "a login step was refused");
                page(code, order_page_message(&e))
            }
            Self::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "errorCode": "invalidParameters", "details": why })),
            )
                .into_response(),
            Self::RateLimited {
                what,
                retry_after,
                page: as_page,
            } => {
                tracing::info!(limit = what, "rate limited");
                let retry = [(header::RETRY_AFTER, HeaderValue::from(retry_after))];
                if as_page {
                    let mut response = page(
                        StatusCode::TOO_MANY_REQUESTS,
                        &format!(
                            "För många inloggningsförsök på kort tid. Vänta {retry_after} sekunder och försök igen. (Too many login attempts: wait {retry_after} seconds and try again.)"
                        ),
                    );
                    response.headers_mut().extend(retry);
                    response
                } else {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        retry,
                        Json(json!({
                            "errorCode": "rateLimited",
                            "details": format!("too many {what}: try again in {retry_after} seconds"),
                        })),
                    )
                        .into_response()
                }
            }
            Self::Limiter(e) => {
                tracing::error!(error = %e, "rate limiter failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "errorCode": "internalError", "details": "the server failed" })),
                )
                    .into_response()
            }
            Self::PageRefused(why) => {
                tracing::info!(reason = why, "a page request was refused");
                page(
                    StatusCode::BAD_REQUEST,
                    "Sidan är inaktuell eller begäran ogiltig. Gå tillbaka till tjänsten och försök igen.",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use eid_idp::{ErrorCode, ErrorRedirect, OAuthError};

    fn parts(e: ServerError) -> (u16, Option<String>, Option<String>, String) {
        let r = e.into_response();
        let get = |name| {
            r.headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        (
            r.status().as_u16(),
            get(header::LOCATION),
            get(header::WWW_AUTHENTICATE),
            get(header::CONTENT_TYPE).unwrap_or_default(),
        )
    }

    #[test]
    fn a_local_authorization_error_is_a_page_never_a_redirect() {
        let e = AuthorizeError::Local(OAuthError {
            code: ErrorCode::InvalidRequest,
            description: "unknown",
        });
        let (code, location, _, ct) = parts(e.into());
        assert_eq!(code, 400);
        assert_eq!(location, None);
        assert!(ct.starts_with("text/html"));
    }

    #[test]
    fn a_redirect_error_is_a_303_with_iss() {
        let e = AuthorizeError::Redirect(Box::new(ErrorRedirect {
            redirect_uri: "https://rp.example/cb".into(),
            error: OAuthError {
                code: ErrorCode::LoginRequired,
                description: "x",
            },
            state: Some("s".into()),
            iss: "https://idp.example".into(),
        }));
        let (code, location, _, _) = parts(e.into());
        assert_eq!(code, 303);
        let location = location.unwrap();
        assert!(location.starts_with("https://rp.example/cb?"));
        assert!(location.contains("error=login_required"));
        assert!(location.contains("iss="));
    }

    #[test]
    fn token_and_userinfo_errors_keep_the_engine_status() {
        let e = TokenError::Refused(OAuthError {
            code: ErrorCode::InvalidClient,
            description: "x",
        });
        let (code, _, www, ct) = parts(e.into());
        assert_eq!(code, 401);
        assert!(www.unwrap().starts_with("Basic"));
        assert!(ct.starts_with("application/json"));
        let e = TokenError::Refused(OAuthError {
            code: ErrorCode::InvalidGrant,
            description: "x",
        });
        assert_eq!(parts(e.into()).0, 400);
        let e = UserinfoError::Refused(OAuthError {
            code: ErrorCode::InvalidToken,
            description: "x",
        });
        let (code, _, www, _) = parts(e.into());
        assert_eq!(code, 401);
        assert!(www.unwrap().contains("invalid_token"));
    }

    #[test]
    fn order_errors_map_to_json_or_pages() {
        let (code, _, _, ct) = parts(OrderError::TokenRefused.into());
        assert_eq!(code, 401);
        assert!(ct.starts_with("application/json"));
        assert_eq!(parts(OrderError::WrongBrowserSession.into()).0, 404);
        assert_eq!(parts(OrderError::NotPending.into()).0, 409);
        let (code, location, _, ct) = parts(ServerError::OrderPage(OrderError::Relayed));
        assert_eq!(code, 403);
        assert_eq!(location, None);
        assert!(ct.starts_with("text/html"));
        let store = eid_store::StoreError::Corrupt("x".into());
        assert_eq!(parts(OrderError::Store(store).into()).0, 500);
        assert_eq!(parts(ServerError::PageRefused("csrf")).0, 400);
        // The enrollment refusals.
        assert_eq!(parts(OrderError::AlreadyInProgress.into()).0, 409);
        assert_eq!(
            parts(OrderError::ManagementRefused("spent".into()).into()).0,
            403
        );
        let refused = OrderError::EnrollmentRefused {
            reason: "notEntitled",
            details: "not entitled".into(),
        };
        assert_eq!(parts(refused.into()).0, 400);
    }
}
