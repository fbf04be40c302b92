//! *Hämta underskriftscertifikat* from the start page: `POST /mypages/fetch` starts the
//! `enrollSign` order for the card and shows the waiting page that launches the eID app;
//! `GET /mypages/fetch/return` is the order's return URL, where the browser that started
//! the order comes back with the one-time secret; then the start page says *Hämtningen är
//! klar*.
//!
//! Checked before an order is started: a live portal session, the form's CSRF token (a MAC
//! of the session id), then [`eid_portal::MyPagesApi::fetch_card`] with the session's
//! access token: the card is the person's and the one logged in with, the rules of
//! [`eid_portal::eligibility`] allow it, and the card login is recent
//! ([`eid_portal::FRESH_LOGIN`]; else the card holder logs in again with the card).
//! [`start_order`] then starts the order, the same for the page and the API
//! (`super::api`): the `mypages` client's, for that card, bound to a new session of the
//! order flow (relay protection: the page's browser cookie, the API's follow token). What
//! the card signs, the key, the attestation and the issuance are the order engine's and the
//! eID app's.
//!
//! An order started over the API has no browser of ours to come back to: its return URL is
//! [`HANDOFF_PATH`], which hands the order reference and the one-time secret on to the API
//! client's own redirect URI (chosen at the start among those registered for the client)
//! without spending the secret; the client then completes the order with the secret and its
//! follow token (`docs/mypages.md`, "Fetching over the API").

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use eid_orders::{NewOrder, OrderError, Requester, SessionId};
use eid_portal::FetchDenied;
use eid_protocol::{OrderKind, OrderStatus, StartResponse};
use eid_store::CardKind;
use time::OffsetDateTime;

use super::{
    failure_page, html, language, one, page, portal_language, refused, to_provider_fresh,
    with_cookies,
};
use crate::html::Lang;
use crate::login::{BROWSER_COOKIE, cookie, set_cookie};
use crate::oidc::{pairs, see_other};
use crate::{AppState, ServerStore, rng};

/// The order's return URL path.
pub(crate) const RETURN_PATH: &str = "/mypages/fetch/return";

/// The return URL path of an order started over the API: hands the return on to the
/// client.
pub(crate) const HANDOFF_PATH: &str = "/mypages/fetch/handoff";

/// A fetch order, started.
pub(crate) struct Started {
    /// The order's reference and autostart token.
    pub(crate) order: StartResponse,
    /// The session of the order flow the order is bound to: only it may follow, cancel and
    /// complete the order (the page's browser cookie, the API's follow token).
    pub(crate) session: SessionId,
    /// The launch link of the eID app.
    pub(crate) launch: String,
    /// When the order expires unless it is signed and returned.
    pub(crate) expires_at: OffsetDateTime,
}

/// Why a fetch order was not started.
#[derive(Debug)]
pub(crate) enum StartError {
    /// Too many fetch starts for the card: try again after this many seconds.
    RateLimited(u64),
    /// The order engine refused or failed.
    Order(OrderError),
}

impl From<OrderError> for StartError {
    fn from(e: OrderError) -> Self {
        Self::Order(e)
    }
}

/// Starts the `enrollSign` order of the `mypages` client for `card_number`, in `lang`, in
/// a new session of the order flow, with `return_url`; the caller has checked the card
/// ([`eid_portal::MyPagesApi::fetch_card`]). Limited per card: the order-start limit
/// (`order_starts_per_session`) counts the fetch starts of one card, whichever the page or
/// the API started (each start opens a new order-flow session, so a per-session key would
/// never bite).
pub(crate) async fn start_order<S: ServerStore>(
    state: &AppState<S>,
    card_number: &str,
    lang: Lang,
    return_url: String,
    now: OffsetDateTime,
) -> Result<Started, StartError> {
    let limited = crate::limits::take(
        state.store.as_ref(),
        crate::limits::ORDER_START,
        format!("mypages-fetch:{card_number}").as_bytes(),
        state.settings.rate_limits.order_starts_per_session,
        now,
    )
    .await
    .map_err(OrderError::from)?;
    if let Some(retry_after) = limited {
        return Err(StartError::RateLimited(retry_after));
    }
    let session = state.orders.open_browser_session(now, &mut rng()).await?;
    let order = NewOrder {
        kind: OrderKind::EnrollSign,
        requester: Requester {
            client_id: eid_portal::CLIENT_ID.into(),
            display_name: state.portal.config().client_name.clone(),
        },
        text: match lang {
            Lang::Sv => format!("Hämta underskriftscertifikat till kort {card_number}"),
            Lang::En => format!("Fetch a signing certificate onto card {card_number}"),
        },
        return_url,
        card_number: Some(card_number.to_owned()),
    };
    let order = state
        .orders
        .start(&order, session.as_str(), now, &mut rng())
        .await?;
    tracing::info!(card = %card_number, "my pages fetch started");
    Ok(Started {
        launch: format!("{}{}", state.settings.launch_base, order.auto_start_token),
        expires_at: now + state.orders.config().order_lifetime,
        order,
        session,
    })
}

pub(crate) async fn fetch<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let (lang, _) = language(&headers, &[]);
    let now = state.clock.now();
    let session = match super::signed_in(&state, &headers, lang, now).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if !one(&form, "csrf").is_some_and(|t| state.portal.csrf_ok(session.id(), t)) {
        return refused(&state, lang);
    }
    let Some(card_number) = one(&form, "card") else {
        return refused(&state, lang);
    };
    let api = state.portal.api();
    let card = match api.verify(session.access_token(), now).await {
        Ok(claims) => {
            api.fetch_card(&claims, card_number, session.auth_time, now)
                .await
        }
        Err(e) => Err(FetchDenied::Api(e)),
    };
    let card = match card {
        Ok(card) => card,
        // An expired token: the start page renews the login first.
        Err(FetchDenied::Api(eid_portal::ApiError::InvalidToken(_))) => {
            return see_other("/mypages");
        }
        Err(FetchDenied::NotFound) => return refused(&state, lang),
        Err(FetchDenied::Refused(reason)) => {
            return html(
                StatusCode::CONFLICT,
                page::message(
                    &state.settings.product_name,
                    lang,
                    reason.text(portal_language(lang)),
                ),
            );
        }
        // The holder logs in with the card again, then chooses the fetch again.
        Err(FetchDenied::LoginRequired) => return to_provider_fresh(&state, lang).await,
        Err(FetchDenied::Api(e)) => {
            return failure_page(&state, lang, &eid_portal::PortalError::AccessToken(e));
        }
        Err(e) => {
            return failure_page(
                &state,
                lang,
                &eid_portal::PortalError::Internal(e.to_string()),
            );
        }
    };
    let return_url = format!("{}{RETURN_PATH}", state.settings.public_url);
    let started = match start_order(&state, card_number, lang, return_url, now).await {
        Ok(started) => started,
        Err(StartError::RateLimited(retry_after)) => return too_many(&state, lang, retry_after),
        Err(StartError::Order(e)) => return order_failure(&state, lang, &e),
    };
    let body = page::waiting(&page::Waiting {
        product: &state.settings.product_name,
        lang,
        card_number,
        two_pin: card.kind == CardKind::TwoPin,
        launch: &started.launch,
        order_ref: &started.order.order_ref,
        csrf: &crate::login::csrf_token(&state, started.session.as_str()),
    });
    with_cookies(
        html(StatusCode::OK, body),
        vec![set_cookie(BROWSER_COOKIE, started.session.as_str())],
    )
}

/// Too many fetch starts for the card: 429 with `Retry-After`.
fn too_many<S>(state: &AppState<S>, lang: Lang, retry_after: u64) -> Response {
    tracing::info!("my pages fetch rate limited");
    let mut response = html(
        StatusCode::TOO_MANY_REQUESTS,
        page::message(
            &state.settings.product_name,
            lang,
            lang.pick(
                "För många försök att hämta underskriftscertifikat till kortet. Vänta en \
                 stund och försök igen.",
                "Too many attempts to fetch a signing certificate onto the card. Wait a \
                 while and try again.",
            ),
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// An order refusal in the fetch's words.
fn order_failure<S>(state: &AppState<S>, lang: Lang, e: &OrderError) -> Response {
    let (status, sv, en) = match e {
        OrderError::Relayed => (
            StatusCode::FORBIDDEN,
            "Hämtningen startades i en annan webbläsare och har stoppats. Starta den på nytt \
             från Mina sidor i den här webbläsaren.",
            "The fetch was started in another browser and has been stopped. Start it again \
             from My Pages in this browser.",
        ),
        OrderError::Expired => (
            StatusCode::BAD_REQUEST,
            "Tiden för hämtningen har gått ut. Försök igen från Mina sidor.",
            "The time for the fetch has run out. Try again from My Pages.",
        ),
        OrderError::NoBrowserSession | OrderError::ReturnRefused => (
            StatusCode::BAD_REQUEST,
            "Hämtningen kunde inte slutföras i den här webbläsaren. Gå tillbaka till Mina sidor \
             och försök igen.",
            "The fetch could not be completed in this browser. Go back to My Pages and try \
             again.",
        ),
        OrderError::InvalidParameters(_) => (
            StatusCode::CONFLICT,
            "Hämtningen kan inte startas för det här kortet.",
            "The fetch cannot be started for this card.",
        ),
        OrderError::AlreadyInProgress => (
            StatusCode::CONFLICT,
            "En annan hämtning till det här kortet pågår redan. Vänta tills den är klar och \
             försök sedan igen.",
            "Another fetch onto this card is already in progress. Wait until it has ended, \
             then try again.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Hämtningen kunde inte startas. Försök igen om en stund.",
            "The fetch could not be started. Try again in a while.",
        ),
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "my pages fetch failed");
    } else {
        tracing::info!(error = %e, "my pages fetch refused");
    }
    html(
        status,
        page::message(&state.settings.product_name, lang, lang.pick(sv, en)),
    )
}

/// The order's return URL: the eID app sends the browser here with `orderRef` and the
/// one-time `secret`; the order counts only in the browser session that started it. Then
/// the start page, with the card open and *Hämtningen är klar*.
pub(crate) async fn fetch_return<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (lang, _) = language(&headers, &[]);
    let (Some(order_ref), Some(secret)) = (one(&query, "orderRef"), one(&query, "secret")) else {
        return order_failure(&state, lang, &OrderError::ReturnRefused);
    };
    // Without the cookie the return still goes to the engine, which stops a relayed order.
    let browser = cookie(&headers, BROWSER_COOKIE).unwrap_or_default();
    let now = state.clock.now();
    let collected = match state
        .orders
        .browser_return(order_ref, secret, &browser, now)
        .await
    {
        Ok(c) => c,
        Err(e) => return order_failure(&state, lang, &e),
    };
    if collected.status != OrderStatus::Complete {
        return order_failure(&state, lang, &OrderError::ReturnRefused);
    }
    let card = collected
        .completion_data
        .map(|c| c.card_number)
        .unwrap_or_default();
    let mut location = query_after(String::from("/mypages?"));
    location.append_pair("fetched", &card);
    // The order flow's browser cookie stays (as after a login): the waiting page, still
    // open beside, polls the order with it and would otherwise say the fetch failed.
    see_other(&location.finish())
}

/// The return URL of an API-started fetch whose return is handed on to `to` (the API
/// client's redirect URI). The engine appends `orderRef` and the one-time `secret`.
pub(crate) fn handoff_url(public_url: &str, to: &str) -> String {
    let mut url = query_after(format!("{public_url}{HANDOFF_PATH}?"));
    url.append_pair("to", to);
    url.finish()
}

/// The return URL of an API-started fetch: the eID app sends the card holder's browser
/// here with `orderRef` and the one-time `secret`; the browser is sent on to the API
/// client's redirect URI with both, where the client completes the order with its follow
/// token. Only the redirect URI stored in that order's own return URL is ever a target (no
/// open redirect), and nothing is spent here: the order counts only when the client that
/// started it brings the secret back (`POST /mypages/api/v1/fetches/{orderRef}/return`).
pub(crate) async fn handoff<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (lang, _) = language(&headers, &[]);
    let (Some(to), Some(order_ref), Some(secret)) = (
        one(&query, "to"),
        one(&query, "orderRef"),
        one(&query, "secret"),
    ) else {
        return order_failure(&state, lang, &OrderError::ReturnRefused);
    };
    let order = match state.store.order(order_ref).await {
        Ok(order) => order,
        Err(e) => return order_failure(&state, lang, &e.into()),
    };
    let minted = order.is_some_and(|o| {
        o.kind == OrderKind::EnrollSign.as_str()
            && o.requester_id == eid_portal::CLIENT_ID
            && o.return_url == handoff_url(&state.settings.public_url, to)
    });
    if !minted {
        return order_failure(&state, lang, &OrderError::ReturnRefused);
    }
    let separator = if to.contains('?') { '&' } else { '?' };
    let mut location = query_after(format!("{to}{separator}"));
    location.append_pair("orderRef", order_ref);
    location.append_pair("secret", secret);
    see_other(&location.finish())
}

/// A serializer that appends pairs after `prefix` (which ends in `?` or `&`), without a
/// separator before the first pair (`Serializer::new` would treat `prefix` as a query and
/// start with `&`).
fn query_after(prefix: String) -> form_urlencoded::Serializer<'static, String> {
    let start = prefix.len();
    form_urlencoded::Serializer::for_suffix(prefix, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_start_without_a_stray_separator() {
        assert_eq!(
            handoff_url("https://eid.example", "https://rp.example/cb"),
            format!("https://eid.example{HANDOFF_PATH}?to=https%3A%2F%2Frp.example%2Fcb")
        );
        let mut location = query_after(String::from("/mypages?"));
        location.append_pair("fetched", "9752000101");
        assert_eq!(location.finish(), "/mypages?fetched=9752000101");
    }
}
