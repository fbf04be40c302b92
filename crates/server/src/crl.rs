//! `GET <path of ca.crl_url>`: the issuing CA's CRL, DER, `application/pkix-crl` (RFC 2585),
//! from the live CRL ([`eid_pki::LiveCrl`]: the newest recorded, reissued on schedule).
//!
//! HTTP caches may keep it until the next scheduled reissue (never beyond its `nextUpdate`):
//! `Cache-Control: public, max-age=…` and a matching `Expires`, `Last-Modified` its
//! `thisUpdate`, and the CRL number as a strong `ETag` (a number names one CRL), answered
//! with 304 to a matching `If-None-Match`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use eid_store::revocation::CrlRecord;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::{AppState, ServerStore};

/// The media type of a DER CRL (RFC 2585 §4.1).
pub(crate) const PKIX_CRL: &str = "application/pkix-crl";

pub(crate) fn routes<S: ServerStore>(path: &str) -> Router<AppState<S>> {
    Router::new().route(path, get(crl::<S>))
}

/// The CRL's bytes, shared with the live CRL rather than copied.
struct Der(Arc<CrlRecord>);

impl AsRef<[u8]> for Der {
    fn as_ref(&self) -> &[u8] {
        &self.0.der
    }
}

/// `at` as an HTTP-date (RFC 9110 §5.6.7).
pub(crate) fn http_date(at: OffsetDateTime) -> HeaderValue {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .ok()
        .and_then(|text| HeaderValue::from_str(&text).ok())
        .unwrap_or_else(|| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

async fn crl<S: ServerStore>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let live = &state.revocation.crl;
    let crl = match live.current(now).await {
        Ok(crl) => crl,
        Err(e) => {
            tracing::error!(error = %e, "no CRL to serve");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "60")],
                "the CRL is not available",
            )
                .into_response();
        }
    };
    // Until the next scheduled reissue, never beyond nextUpdate.
    let fresh_until = (crl.this_update + live.schedule().reissue_after).min(crl.next_update);
    let max_age = (fresh_until - now).whole_seconds().max(0);
    let etag = format!("\"crl-{}\"", crl.number);
    let caching = Caching {
        etag: &etag,
        max_age,
        directives: "",
        last_modified: crl.this_update,
    };
    cacheable(&headers, now, &caching, || {
        let mut r = Body::from(Bytes::from_owner(Der(crl.clone()))).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PKIX_CRL));
        r
    })
}

/// How HTTP caches may keep a published revocation document (a CRL, an OCSP response).
pub(crate) struct Caching<'a> {
    /// Its strong entity tag, quoted.
    pub etag: &'a str,
    /// Seconds it stays fresh from now.
    pub max_age: i64,
    /// `Cache-Control` directives after `public, max-age=…, no-transform` (e.g.
    /// `", must-revalidate"`), or empty.
    pub directives: &'static str,
    /// When it was made (`Last-Modified`).
    pub last_modified: OffsetDateTime,
}

/// 304 to a matching `If-None-Match`, else `body()`; either way with `Cache-Control`, a
/// matching `Expires`, `Last-Modified` and `ETag` from `caching`.
pub(crate) fn cacheable(
    request: &HeaderMap,
    now: OffsetDateTime,
    caching: &Caching<'_>,
    body: impl FnOnce() -> Response,
) -> Response {
    let mut response = if not_modified(request, caching.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body()
    };
    let h = response.headers_mut();
    let max_age = caching.max_age;
    if let Ok(v) = HeaderValue::from_str(&format!(
        "public, max-age={max_age}, no-transform{}",
        caching.directives
    )) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::EXPIRES,
        http_date(now + time::Duration::seconds(max_age)),
    );
    h.insert(header::LAST_MODIFIED, http_date(caching.last_modified));
    if let Ok(v) = HeaderValue::from_str(caching.etag) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::{HeaderMap, HeaderValue, header};
    use time::macros::datetime;

    use super::{http_date, not_modified};

    #[test]
    fn http_dates_and_entity_tags() {
        assert_eq!(
            http_date(datetime!(1994-11-06 08:49:37 UTC)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(datetime!(2026-03-01 09:05:00 +01:00)),
            "Sun, 01 Mar 2026 08:05:00 GMT"
        );
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"crl-7\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"crl-6\", W/\"crl-7\""),
        );
        assert!(not_modified(&h, "\"crl-7\""));
        assert!(!not_modified(&h, "\"crl-8\""));
    }
}
