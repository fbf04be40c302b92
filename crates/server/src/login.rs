//! The login pages and the page's JSON calls: the login page (method choice, *Legitimera*),
//! starting the `auth` order, the waiting page that shows the launch link and polls
//! `collect`, cancel, and the return URL that finishes the login; and the waiting pages'
//! scripts (`/static/order.js`, shared with My Pages' fetch page, and the login's words in
//! `/static/login.js`).
//!
//! The pending authorization request holds no secret but must not be changed by the
//! browser: it travels MAC'ed, bound to the browser session (and, in the pending cookie, to
//! the order). The CSRF token is a MAC of the browser session id.

use aws_lc_rs::hmac;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_idp::AuthorizationRequest;
use eid_orders::{NewOrder, OrderError, Requester};
use eid_protocol::{HintCode, OrderKind, OrderStatus};
use serde::Deserialize;
use serde_json::json;

use crate::html::{Lang, escape, page_in};
use crate::oidc::{pairs, see_other};
use crate::{AppState, ServerError, ServerStore, rng};

/// The order flow's browser session.
pub(crate) const BROWSER_COOKIE: &str = "__Host-eid-browser";
/// The MAC'ed pending authorization request of the order in progress.
pub(crate) const PENDING_COOKIE: &str = "__Host-eid-pending";
/// The identity provider's login session.
pub(crate) const SSO_COOKIE: &str = "__Host-eid-sso";
/// The header that carries the CSRF token on the page's JSON calls.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The waiting pages' one order script (polling, cancel), for the login and My Pages.
const ORDER_JS: &str = include_str!("../static/order.js");
/// The login page's words for [`ORDER_JS`].
const LOGIN_JS: &str = include_str!("../static/login.js");

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new()
        .route("/login", post(start::<S>))
        .route("/login/return", get(finish::<S>))
        .route("/orders/collect", post(collect::<S>))
        .route("/orders/cancel", post(cancel::<S>))
        .route("/static/order.js", get(|| async { script(ORDER_JS) }))
        .route("/static/login.js", get(|| async { script(LOGIN_JS) }))
}

/// A script of ours, cacheable for a while (the CSP allows only same-origin scripts).
fn script(body: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The value of cookie `name`, if the request has it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `Secure; HttpOnly; SameSite=Lax; Path=/` (the `__Host-` rules).
pub(crate) fn set_cookie(name: &str, value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Secure; HttpOnly; SameSite=Lax; Path=/"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub(crate) fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// HMAC of length-prefixed `parts`, base64url.
fn mac(key: &hmac::Key, parts: &[&str]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
}

/// Whether `tag` is the MAC of `parts` (constant time).
fn mac_ok(key: &hmac::Key, parts: &[&str], tag: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    let mut data = Vec::new();
    for part in parts {
        data.extend_from_slice(&(part.len() as u64).to_be_bytes());
        data.extend_from_slice(part.as_bytes());
    }
    hmac::verify(key, &data, &tag).is_ok()
}

/// The CSRF token of the order flow's browser session (its pages' JSON calls; My Pages'
/// fetch waiting page uses it too).
pub(crate) fn csrf_token<S>(state: &AppState<S>, session: &str) -> String {
    mac(&state.page_key, &["csrf", session])
}

fn encode_request(request: &AuthorizationRequest) -> Result<String, ServerError> {
    let json = serde_json::to_vec(request)
        .map_err(|_| ServerError::PageRefused("the request cannot be encoded"))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_request(encoded: &str) -> Result<AuthorizationRequest, ServerError> {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(ServerError::PageRefused("the pending request is malformed"))
}

fn display_name(request: &AuthorizationRequest) -> &str {
    if request.client_name.trim().is_empty() {
        &request.client_id
    } else {
        &request.client_name
    }
}

/// The login page for a request that needs a card login: opens a browser session for the
/// order flow (cookie) and shows the method choice and *Legitimera*.
pub(crate) async fn login_page<S: ServerStore>(
    state: &AppState<S>,
    request: &AuthorizationRequest,
    lang: Option<&str>,
) -> Result<Response, ServerError> {
    let lang = Lang::choose(lang, request.ui_locales.as_deref());
    let session = state
        .orders
        .open_browser_session(state.clock.now(), &mut rng())
        .await
        .map_err(ServerError::OrderPage)?;
    let session = session.as_str();
    let encoded = encode_request(request)?;
    let body = format!(
        r#"<p class="lead"><strong>{client}</strong> {asks}</p>
<form method="post" action="/login">
<input type="hidden" name="request" value="{encoded}">
<input type="hidden" name="mac" value="{mac}">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="lang" value="{lang_code}">
<fieldset class="choice">
<legend>{choose}</legend>
<label><input type="radio" name="method" value="this-device" checked> {this_device}</label>
<label class="unavailable"><input type="radio" name="method" value="other-device" disabled> {other_device}</label>
</fieldset>
<p><button type="submit" class="primary">{legitimera}</button></p>
</form>"#,
        client = escape(display_name(request)),
        asks = lang.pick(
            "vill att du loggar in med ditt eID-kort.",
            "asks you to log in with your eID card."
        ),
        lang_code = lang.code(),
        choose = lang.pick("Välj hur du vill logga in", "Choose how to log in"),
        this_device = lang.pick("eID på denna enhet", "eID on this device"),
        other_device = lang.pick(
            "eID på annan enhet (kommer senare)",
            "eID on another device (coming later)"
        ),
        legitimera = lang.pick("Legitimera", "Identify yourself"),
        mac = mac(&state.page_key, &["authz", session, &encoded]),
        csrf = csrf_token(state, session),
    );
    Ok((
        [(header::SET_COOKIE, set_cookie(BROWSER_COOKIE, session))],
        Html(page_in(lang, lang.pick("Logga in", "Log in"), &body, false)),
    )
        .into_response())
}

/// The one value of form field `name`.
fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = form.iter().filter(|(k, _)| k == name);
    match (values.next(), values.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

/// *Legitimera*: checks the CSRF token and the pending request's MAC, starts an `auth`
/// order and shows the waiting page: the launch link (`id="launch"`, all a browser without
/// script needs: the app returns it), the order's state, and cancel (shown by the script,
/// which is what makes it work).
async fn start<S: ServerStore>(
    State(state): State<AppState<S>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    let form = pairs(&body);
    let session = cookie(&headers, BROWSER_COOKIE)
        .ok_or(ServerError::PageRefused("no browser session cookie"))?;
    let csrf = field(&form, "csrf").ok_or(ServerError::PageRefused("no CSRF token"))?;
    if !mac_ok(&state.page_key, &["csrf", &session], csrf) {
        return Err(ServerError::PageRefused("a wrong CSRF token"));
    }
    let encoded = field(&form, "request").ok_or(ServerError::PageRefused("no request"))?;
    let tag = field(&form, "mac").ok_or(ServerError::PageRefused("no request MAC"))?;
    if !mac_ok(&state.page_key, &["authz", &session, encoded], tag) {
        return Err(ServerError::PageRefused(
            "the request's MAC does not verify",
        ));
    }
    if field(&form, "method").is_some_and(|m| m != "this-device") {
        return Err(ServerError::PageRefused("an unsupported login method"));
    }
    let request = decode_request(encoded)?;
    // Per browser session, never per address (many users share a NAT address).
    if let Some(retry_after) = crate::limits::take(
        state.store.as_ref(),
        crate::limits::ORDER_START,
        session.as_bytes(),
        state.settings.rate_limits.order_starts_per_session,
        state.clock.now(),
    )
    .await?
    {
        return Err(ServerError::RateLimited {
            what: "order starts in this browser session",
            retry_after,
            page: true,
        });
    }
    let client_addr = crate::limits::client_address(
        peer.map(|p| p.0.0),
        &headers,
        &state.settings.trusted_proxies,
    );
    tracing::info!(client_id = %request.client_id, client_addr = ?client_addr, "order start");
    let lang = Lang::choose(field(&form, "lang"), None);
    let client = display_name(&request).to_owned();
    let order = NewOrder {
        kind: OrderKind::Auth,
        requester: Requester {
            client_id: request.client_id.clone(),
            display_name: client.clone(),
        },
        text: format!("Logga in på {client}"),
        return_url: format!("{}/login/return", state.settings.public_url),
        card_number: None,
    };
    let started = state
        .orders
        .start(&order, &session, state.clock.now(), &mut rng())
        .await
        .map_err(ServerError::OrderPage)?;
    let pending = format!(
        "{}.{encoded}.{}",
        started.order_ref,
        mac(
            &state.page_key,
            &["pending", &session, &started.order_ref, encoded]
        )
    );
    let launch = format!("{}{}", state.settings.launch_base, started.auto_start_token);
    let body = format!(
        r#"<p class="lead">{intro}</p>
<p><a id="launch" class="button primary" href="{launch}">{start_app}</a></p>
<p id="status" role="status" data-order-ref="{order_ref}" data-csrf="{csrf}">{waiting}</p>
<p><button id="cancel" type="button" hidden>{cancel}</button></p>"#,
        intro = lang.pick(
            "Starta eID-appen och legitimera dig med ditt kort och din säkerhetskod.",
            "Start the eID app and identify yourself with your card and security code."
        ),
        start_app = lang.pick("Starta eID-appen", "Start the eID app"),
        waiting = lang.pick("Väntar på eID-appen …", "Waiting for the eID app …"),
        cancel = lang.pick("Avbryt", "Cancel"),
        launch = escape(&launch),
        order_ref = escape(&started.order_ref),
        csrf = csrf_token(&state, &session),
    );
    Ok((
        [(header::SET_COOKIE, set_cookie(PENDING_COOKIE, &pending))],
        Html(page_in(
            lang,
            lang.pick("Legitimera", "Identify yourself"),
            &body,
            true,
        )),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRefBody {
    order_ref: String,
    /// For `collect`: the status the page has; with it the answer waits for a change.
    #[serde(default)]
    status: Option<OrderStatus>,
    /// For `collect`: the hint the page has (with `status`).
    #[serde(default)]
    hint_code: Option<HintCode>,
}

/// The browser session and order reference of a page's JSON call, CSRF token checked.
fn page_call<S>(
    state: &AppState<S>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, OrderRefBody), ServerError> {
    let session =
        cookie(headers, BROWSER_COOKIE).ok_or(ServerError::Order(OrderError::NoBrowserSession))?;
    let csrf = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ServerError::BadRequest("no CSRF token"))?;
    if !mac_ok(&state.page_key, &["csrf", &session], csrf) {
        return Err(ServerError::BadRequest("a wrong CSRF token"));
    }
    let body: OrderRefBody = serde_json::from_slice(body)
        .map_err(|_| ServerError::BadRequest("the body must be {\"orderRef\": …}"))?;
    Ok((session, body))
}

/// The order's state for the page. With the state the page has (`status`, `hintCode`) it
/// is a long poll: answered when the order differs from that, or after
/// [`Settings::collect_wait`](crate::Settings::collect_wait) (on any node: the store's
/// feed of changed orders wakes it).
async fn collect<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    let (session, call) = page_call(&state, &headers, &body)?;
    let c = match call.status {
        Some(status) => {
            let known = (status, call.hint_code);
            state
                .orders
                .collect_status_changed(
                    &call.order_ref,
                    &session,
                    &known,
                    state.settings.collect_wait,
                    &*state.clock,
                )
                .await?
        }
        None => {
            state
                .orders
                .collect_status(&call.order_ref, &session, state.clock.now())
                .await?
        }
    };
    // The page needs the state only; who signed is for the server.
    Ok(axum::Json(json!({
        "orderRef": c.order_ref,
        "status": c.status,
        "hintCode": c.hint_code,
    }))
    .into_response())
}

async fn cancel<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    let (session, call) = page_call(&state, &headers, &body)?;
    state
        .orders
        .cancel(&call.order_ref, &session, state.clock.now())
        .await?;
    Ok(axum::Json(json!({})).into_response())
}

/// The order's return URL: the browser comes back with `orderRef` and the one-time
/// `secret`. The order counts only in the browser session that started it; then the login
/// session is created and the pending authorization request answered with a code.
async fn finish<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (Some(order_ref), Some(secret)) = (field(&query, "orderRef"), field(&query, "secret"))
    else {
        return Err(ServerError::PageRefused("orderRef and secret are required"));
    };
    // Without the session cookie the return still goes to the engine, which then stops the
    // order as relayed.
    let session = cookie(&headers, BROWSER_COOKIE).unwrap_or_default();
    let now = state.clock.now();
    let collected = state
        .orders
        .browser_return(order_ref, secret, &session, now)
        .await
        .map_err(ServerError::OrderPage)?;
    let request = cookie(&headers, PENDING_COOKIE)
        .and_then(|pending| {
            let mut parts = pending.rsplitn(3, '.');
            let (tag, encoded, pending_ref) = (parts.next()?, parts.next()?, parts.next()?);
            (pending_ref == order_ref
                && mac_ok(
                    &state.page_key,
                    &["pending", &session, order_ref, encoded],
                    tag,
                ))
            .then(|| encoded.to_owned())
        })
        .ok_or(ServerError::PageRefused(
            "no pending request for this order",
        ))?;
    let request = decode_request(&request)?;
    let completion = match (collected.status, collected.completion_data) {
        (OrderStatus::Complete, Some(c)) => c,
        _ => return Err(ServerError::OrderPage(OrderError::ReturnRefused)),
    };
    let login = state
        .provider
        .create_session(
            &completion.user.hsa_id,
            &completion.card_number,
            now,
            &mut rng(),
        )
        .await?;
    let sso = set_cookie(SSO_COOKIE, login.id.expose());
    let mut response = match state
        .provider
        .finish_new_login(&request, &login, now, &mut rng())
        .await
    {
        Ok(answer) => see_other(&answer.location()),
        Err(e) => ServerError::from(e).into_response(),
    };
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, sso);
    h.append(header::SET_COOKIE, clear_cookie(PENDING_COOKIE));
    Ok(response)
}
