//! The OCSP responder over HTTP (RFC 6960 Appendix A, RFC 5019 §5): `POST <path>` with an
//! `application/ocsp-request` body, and `GET <path>/<request>` with the request's DER in
//! base64, URL-encoded; both answered `application/ocsp-response` by the engine
//! ([`eid_pki::ocsp::OcspService`]).
//!
//! Every OCSP answer, an error status too, is HTTP 200: the status is in the response (what
//! clients such as `openssl ocsp` read). A request body over [`MAX_REQUEST`], broken
//! base64 or percent-encoding, and an empty request are `malformedRequest`, never read
//! further. A GET's signed answer without a nonce may be kept by HTTP caches at most
//! `ocsp_http_max_age` (default a minute), never beyond its `nextUpdate`
//! (`Cache-Control: public, max-age=…, no-transform, must-revalidate`, `Last-Modified`
//! its `thisUpdate`, `Expires`, and the response's fingerprint as `ETag`); POST answers
//! are not cached (`no-store`).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use eid_pki::ocsp::{OcspAnswer, OcspResponseStatus, SignedResponse, error_response};

use crate::crl::{Caching, cacheable};
use crate::{AppState, ServerStore};

/// The largest request read (64 KiB; a real request is a few hundred bytes).
pub const MAX_REQUEST: usize = 64 * 1024;

/// `application/ocsp-response` (RFC 6960 Appendix C.2).
const OCSP_RESPONSE: &str = "application/ocsp-response";

pub(crate) fn routes<S: ServerStore>(path: &str) -> Router<AppState<S>> {
    let below = if path == "/" {
        "/{*request}".to_owned()
    } else {
        format!("{path}/{{*request}}")
    };
    Router::new()
        .route(path, post(by_post::<S>).get(empty))
        .route(&below, get(by_get::<S>))
}

/// A signed response's bytes, shared with the cache rather than copied.
struct Der(Arc<SignedResponse>);

impl AsRef<[u8]> for Der {
    fn as_ref(&self) -> &[u8] {
        &self.0.der
    }
}

fn ocsp_body(body: Body) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    response
}

fn malformed() -> Response {
    ocsp_body(Body::from(error_response(
        OcspResponseStatus::MalformedRequest,
    )))
}

async fn empty() -> Response {
    malformed()
}

/// Percent-decoding (RFC 3986 §2.1) of a path segment; `None` for a broken escape.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The DER request of a GET: the path below the responder's, percent- then
/// base64-decoded.
fn get_request(path: &str, prefix: &str) -> Option<Vec<u8>> {
    let encoded = path.strip_prefix(prefix)?.trim_start_matches('/');
    if encoded.is_empty() || encoded.len() > MAX_REQUEST * 2 {
        return None;
    }
    let b64 = percent_decode(encoded)?;
    STANDARD_PAD_INDIFFERENT.decode(b64).ok()
}

async fn by_get<S: ServerStore>(
    State(state): State<AppState<S>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(der) = get_request(uri.path(), &state.revocation.ocsp_path) else {
        return malformed();
    };
    answer(&state, &der, Some(&headers)).await
}

async fn by_post<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST as u64) {
        return malformed();
    }
    let Ok(der) = axum::body::to_bytes(body, MAX_REQUEST).await else {
        return malformed();
    };
    answer(&state, &der, None).await
}

/// The engine's answer as HTTP; `get` carries a GET's headers (its answers may be cached).
async fn answer<S: ServerStore>(
    state: &AppState<S>,
    der: &[u8],
    get: Option<&HeaderMap>,
) -> Response {
    let now = state.clock.now();
    let signed = match state.revocation.ocsp.answer(der, now).await {
        OcspAnswer::Signed(signed) => signed,
        OcspAnswer::Error { der, .. } => return ocsp_body(Body::from(der)),
    };
    let Some(request_headers) = get.filter(|_| !signed.has_nonce) else {
        return ocsp_body(Body::from(Bytes::from_owner(Der(signed))));
    };
    let max_age = (signed.next_update - now)
        .min(state.revocation.settings.ocsp_http_max_age)
        .whole_seconds()
        .max(0);
    let etag = format!("\"{}\"", signed.fingerprint);
    let caching = Caching {
        etag: &etag,
        max_age,
        directives: ", must-revalidate",
        last_modified: signed.this_update,
    };
    cacheable(request_headers, now, &caching, || {
        ocsp_body(Body::from(Bytes::from_owner(Der(signed.clone()))))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{get_request, percent_decode};

    #[test]
    fn get_requests_are_percent_then_base64_decoded() {
        assert_eq!(percent_decode("a%2Fb%2bc").unwrap(), b"a/b+c");
        assert!(percent_decode("a%2").is_none());
        assert!(percent_decode("a%zz").is_none());
        assert_eq!(
            get_request("/ocsp/MAMCAQE%3D", "/ocsp").unwrap(),
            [0x30, 3, 2, 1, 1]
        );
        assert_eq!(
            get_request("/ocsp/MAMCAQE", "/ocsp").unwrap(),
            [0x30, 3, 2, 1, 1]
        );
        assert_eq!(get_request("/MAMCAQE=", "/").unwrap(), [0x30, 3, 2, 1, 1]);
        assert!(get_request("/ocsp/", "/ocsp").is_none());
        assert!(get_request("/ocsp/!!!", "/ocsp").is_none());
        assert!(get_request("/ocsp/MAMC%", "/ocsp").is_none());
        assert!(get_request("/other/MAMCAQE=", "/ocsp").is_none());
    }
}
