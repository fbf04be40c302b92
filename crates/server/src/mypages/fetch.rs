//! *Hämta underskriftscertifikat* from the start page: `POST /mypages/fetch` starts the
//! `enrollSign` order for the card and shows the waiting page that launches the eID app;
//! `GET /mypages/fetch/return` is the order's return URL, where the browser that started
//! the order comes back with the one-time secret; then the start page says *Hämtningen är
//! klar*.
//!
//! Checked before an order is started: a live portal session, the form's CSRF token (a MAC
//! of the session id), the rules of [`eid_portal::eligibility`] for the card named (through
//! the API with the session's access token; the card must be the one logged in with), and a
//! recent card login ([`FRESH_LOGIN`]; else the card holder logs in again with the card).
//! The order is the `mypages` client's, for that card, bound to this browser (the order
//! flow's browser session, as for logins: relay protection). What the card signs, the key,
//! the attestation and the issuance are the order engine's and the eID app's.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use eid_orders::{NewOrder, OrderError, Requester};
use eid_protocol::{OrderKind, OrderStatus};
use eid_store::CardKind;
use time::Duration;

use super::{
    SESSION_COOKIE, failure_page, html, language, one, page, portal_language, refused,
    to_provider_fresh, with_cookies,
};
use crate::html::Lang;
use crate::login::{BROWSER_COOKIE, cookie, set_cookie};
use crate::oidc::{pairs, see_other};
use crate::{AppState, ServerStore, rng};

/// How recent the card login must be to start a fetch: the holder proved presence with the
/// card this recently (else `prompt=login` first).
pub(crate) const FRESH_LOGIN: Duration = Duration::minutes(15);

/// The order's return URL path.
pub(crate) const RETURN_PATH: &str = "/mypages/fetch/return";

pub(crate) async fn fetch<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let (lang, _) = language(&headers, &[]);
    let now = state.clock.now();
    let session = match state
        .portal
        .session(cookie(&headers, SESSION_COOKIE).as_deref(), now)
        .await
    {
        Ok(Some(session)) => session,
        Ok(None) => return see_other("/mypages"),
        Err(e) => return failure_page(&state, lang, &e),
    };
    if !one(&form, "csrf").is_some_and(|t| state.portal.csrf_ok(session.id(), t)) {
        return refused(&state, lang);
    }
    let Some(card_number) = one(&form, "card") else {
        return refused(&state, lang);
    };
    let api = state.portal.api();
    let cards = match api.verify(session.access_token(), now).await {
        Ok(claims) => api.cards(&claims, now).await,
        Err(e) => Err(e),
    };
    let cards = match cards {
        Ok(cards) => cards,
        // An expired token: the start page renews the login first.
        Err(eid_portal::ApiError::InvalidToken(_)) => return see_other("/mypages"),
        Err(e) => {
            return failure_page(&state, lang, &eid_portal::PortalError::AccessToken(e));
        }
    };
    let Some(card) = cards.cards.iter().find(|c| c.card_number == card_number) else {
        return refused(&state, lang);
    };
    if let Some(reason) = card.signing_certificate_fetch.reason {
        return html(
            StatusCode::CONFLICT,
            page::message(
                &state.settings.product_name,
                lang,
                reason.text(portal_language(lang)),
            ),
        );
    }
    if !session.authenticated_within(FRESH_LOGIN, now) {
        // The holder logs in with the card again, then chooses the fetch again.
        return to_provider_fresh(&state, lang).await;
    }
    let browser = match state.orders.open_browser_session(now, &mut rng()).await {
        Ok(id) => id,
        Err(e) => return order_failure(&state, lang, &e),
    };
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
        return_url: format!("{}{RETURN_PATH}", state.settings.public_url),
        card_number: Some(card_number.to_owned()),
    };
    let started = match state
        .orders
        .start(&order, browser.as_str(), now, &mut rng())
        .await
    {
        Ok(started) => started,
        Err(e) => return order_failure(&state, lang, &e),
    };
    tracing::info!(card = %card_number, "my pages fetch started");
    let launch = format!("{}{}", state.settings.launch_base, started.auto_start_token);
    let body = page::waiting(&page::Waiting {
        product: &state.settings.product_name,
        lang,
        card_number,
        two_pin: card.kind == CardKind::TwoPin,
        launch: &launch,
        order_ref: &started.order_ref,
        csrf: &crate::login::csrf_token(&state, browser.as_str()),
    });
    with_cookies(
        html(StatusCode::OK, body),
        vec![set_cookie(BROWSER_COOKIE, browser.as_str())],
    )
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
    let mut location = form_urlencoded::Serializer::new(String::from("/mypages?"));
    location.append_pair("fetched", &card);
    // The order flow's browser cookie stays (as after a login): the waiting page, still
    // open beside, polls the order with it and would otherwise say the fetch failed.
    see_other(&location.finish())
}
