//! My Pages (*Mina sidor*) on the web: the start page, *LOGGA IN*, the OpenID Connect
//! callback, logout, the language switch, the `mypages.api` over HTTP and the stylesheet.
//! The work is done by [`eid_portal`]; handlers here read cookies and the query, call it,
//! and render.
//!
//! | route | what |
//! |---|---|
//! | `GET /mypages` | the start page: *LOGGA IN*, or the card holder's eIDs (`?lang=sv|en` switches the language) |
//! | `GET /mypages/login` | *LOGGA IN*: 303 to the provider's authorization endpoint, the pending login sealed in a cookie |
//! | `GET /mypages/signin-oidc` | the callback: a portal session, 303 to `/mypages` |
//! | `POST /mypages/logout` | (CSRF) ends the session, 303 to the provider's end-session endpoint |
//! | `POST /mypages/fetch` | (CSRF) *Hämta underskriftscertifikat*: starts the `enrollSign` order, the waiting page ([`fetch`]) |
//! | `GET /mypages/certificates` | *Lista certifikat*: every certificate of the person's cards ([`certificates`]) |
//! | `POST /mypages/certificates/revoke` | (CSRF) *Spärra certifikat*: the confirmation, then the revocation of one's own signing certificate ([`certificates`]) |
//! | `GET /mypages/fetch/return` | the fetch order's return URL (relay protection), then `/mypages?fetched=<card>` |
//! | `GET /mypages/fetch/handoff` | the return URL of a fetch started over the API: on to the client's redirect URI ([`fetch::handoff`]) |
//! | `GET /mypages/api/v1/person`, `GET /mypages/api/v1/cards` | the API, bearer token ([`api`]) |
//! | `POST /mypages/api/v1/cards/{cardNumber}/fetch`, `GET /mypages/api/v1/fetches/{orderRef}`, `POST /mypages/api/v1/fetches/{orderRef}/return` | a fetch over the API: start, follow, complete ([`api`]) |
//! | `GET /static/eid.css`, `GET /static/order.js`, `GET /static/mypages.js` | the stylesheet; the waiting pages' poll (shared with the login page); the fetch page's words |
//!
//! Cookies (all `__Host-`, `Secure; HttpOnly; SameSite=Lax; Path=/`): `__Host-eid-mypages`
//! (the session id), `__Host-eid-mypages-login` (the sealed pending login),
//! `__Host-eid-lang` (`sv` or `en`, set by the language switch).

mod api;
mod certificates;
mod fetch;
mod page;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use eid_idp::Provider;
use eid_portal::{JwkSet, KeySource, Language, LoginStart, PortalError, RpError, Session};
use time::OffsetDateTime;

use crate::html::Lang;
use crate::login::{clear_cookie, cookie, set_cookie};
use crate::oidc::{pairs, see_other};
use crate::{AppState, ServerStore, rng};

/// The portal session's cookie.
pub(crate) const SESSION_COOKIE: &str = "__Host-eid-mypages";
/// The sealed pending login's cookie.
pub(crate) const PENDING_COOKIE: &str = "__Host-eid-mypages-login";
/// The language switch's cookie.
pub(crate) const LANG_COOKIE: &str = "__Host-eid-lang";

const CSS: &str = include_str!("../../static/eid.css");
const JS: &str = include_str!("../../static/mypages.js");

/// The provider's keys, read in-process (no HTTP to ourselves) for the API's token check.
pub(crate) struct ProviderKeys<S>(pub(crate) Arc<Provider<S>>);

impl<S> std::fmt::Debug for ProviderKeys<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderKeys")
    }
}

#[async_trait]
impl<S: ServerStore> KeySource for ProviderKeys<S> {
    async fn keys(&self, now: OffsetDateTime) -> Result<JwkSet, String> {
        let jwks = self.0.jwks(now).await.map_err(|e| e.to_string())?;
        serde_json::from_value(jwks).map_err(|e| e.to_string())
    }
}

pub(crate) fn routes<S: ServerStore>() -> Router<AppState<S>> {
    Router::new()
        .route("/mypages", get(start_page::<S>))
        .route("/mypages/", get(|| async { see_other("/mypages") }))
        .route("/mypages/login", get(login::<S>))
        .route("/mypages/signin-oidc", get(callback::<S>))
        .route("/mypages/logout", post(logout::<S>))
        .route("/mypages/fetch", post(fetch::fetch::<S>))
        .route(certificates::LIST_PATH, get(certificates::list::<S>))
        .route(certificates::REVOKE_PATH, post(certificates::revoke::<S>))
        .route(fetch::RETURN_PATH, get(fetch::fetch_return::<S>))
        .route("/mypages/api/v1/person", get(api::person::<S>))
        .route("/mypages/api/v1/cards", get(api::cards::<S>))
        .route(
            "/mypages/api/v1/cards/{card_number}/fetch",
            post(api::start_fetch::<S>),
        )
        .route(
            "/mypages/api/v1/fetches/{order_ref}",
            get(api::follow_fetch::<S>),
        )
        .route(
            "/mypages/api/v1/fetches/{order_ref}/return",
            post(api::return_fetch::<S>),
        )
        .route(fetch::HANDOFF_PATH, get(fetch::handoff::<S>))
        .route("/static/eid.css", get(|| async { asset("text/css", CSS) }))
        .route(
            "/static/mypages.js",
            get(|| async { asset("text/javascript", JS) }),
        )
}

/// A static file of ours (the CSP allows only same-origin styles and scripts).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let content_type = match content_type {
        "text/css" => HeaderValue::from_static("text/css; charset=utf-8"),
        _ => HeaderValue::from_static("text/javascript; charset=utf-8"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The one value of `name` in decoded pairs.
pub(crate) fn one<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = pairs.iter().filter(|(k, _)| k == name);
    match (values.next(), values.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

/// The page language: `?lang=` wins (and is remembered in a cookie), then the cookie, then
/// Swedish.
pub(crate) fn language(headers: &HeaderMap, query: &[(String, String)]) -> (Lang, bool) {
    let asked = one(query, "lang").filter(|l| matches!(*l, "sv" | "en"));
    let remembered = cookie(headers, LANG_COOKIE);
    let lang = Lang::choose(asked.or(remembered.as_deref()), None);
    (lang, asked.is_some())
}

pub(crate) fn portal_language(lang: Lang) -> Language {
    match lang {
        Lang::Sv => Language::Swedish,
        Lang::En => Language::English,
    }
}

/// An HTML page response with `status`.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// A failure of the portal as a page. Never shows a secret (the errors hold none).
pub(crate) fn failure_page<S>(state: &AppState<S>, lang: Lang, e: &PortalError) -> Response {
    let (status, sv, en) = match e {
        PortalError::NoPendingLogin => (
            StatusCode::BAD_REQUEST,
            "Inloggningen kunde inte slutföras i den här webbläsaren, eller tog för lång tid. \
             Försök igen.",
            "The login could not be completed in this browser, or took too long. Try again.",
        ),
        PortalError::Login(RpError::Refused { .. }) => (
            StatusCode::FORBIDDEN,
            "Inloggningen avbröts eller nekades.",
            "The login was cancelled or refused.",
        ),
        PortalError::Login(RpError::Unreachable { .. }) => (
            StatusCode::BAD_GATEWAY,
            "Inloggningstjänsten svarar inte just nu. Försök igen om en stund.",
            "The login service does not answer right now. Try again in a while.",
        ),
        PortalError::AccessToken(eid_portal::ApiError::UnknownPerson) => (
            StatusCode::FORBIDDEN,
            "Ditt eID kan inte användas på Mina sidor. Kontakta din ID-administratör.",
            "Your eID cannot be used on My Pages. Contact your ID administrator.",
        ),
        PortalError::AccessToken(
            eid_portal::ApiError::Keys(_) | eid_portal::ApiError::Store(_),
        ) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Mina sidor kan inte visa dina uppgifter just nu. Försök igen om en stund.",
            "My Pages cannot show your details right now. Try again in a while.",
        ),
        PortalError::Login(_) | PortalError::AccessToken(_) | PortalError::LoginRequired => (
            StatusCode::BAD_REQUEST,
            "Inloggningen kunde inte godtas. Försök igen.",
            "The login could not be accepted. Try again.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Något gick fel hos oss. Försök igen om en stund.",
            "Something went wrong on our side. Try again in a while.",
        ),
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "my pages failed");
    } else {
        tracing::info!(error = %e, "my pages refused");
    }
    html(
        status,
        page::message(&state.settings.product_name, lang, lang.pick(sv, en)),
    )
}

pub(crate) fn with_cookies(mut response: Response, cookies: Vec<HeaderValue>) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Sends the browser to the provider: *LOGGA IN*, or a silent renewal.
async fn to_provider<S: ServerStore>(state: &AppState<S>, lang: Lang, silent: bool) -> Response {
    let start = LoginStart {
        silent,
        ui_locales: Some(lang.code().to_owned()),
        ..LoginStart::default()
    };
    begin(state, lang, &start).await
}

/// Sends the browser to the provider for a fresh card login (`prompt=login`, `max_age=0`).
pub(crate) async fn to_provider_fresh<S: ServerStore>(state: &AppState<S>, lang: Lang) -> Response {
    let start = LoginStart {
        fresh: true,
        ui_locales: Some(lang.code().to_owned()),
        ..LoginStart::default()
    };
    begin(state, lang, &start).await
}

async fn begin<S: ServerStore>(state: &AppState<S>, lang: Lang, start: &LoginStart) -> Response {
    match state
        .portal
        .begin_login(start, state.clock.now(), &mut rng())
        .await
    {
        Ok(redirect) => with_cookies(
            see_other(&redirect.location),
            vec![set_cookie(PENDING_COOKIE, &redirect.pending)],
        ),
        Err(e) => failure_page(state, lang, &e),
    }
}

/// The browser's My Pages session: none (or expired) is a redirect to the start page, a
/// store failure the failure page.
async fn signed_in<S: ServerStore>(
    state: &AppState<S>,
    headers: &HeaderMap,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<Session, Response> {
    match state
        .portal
        .session(cookie(headers, SESSION_COOKIE).as_deref(), now)
        .await
    {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(see_other("/mypages")),
        Err(e) => Err(failure_page(state, lang, &e)),
    }
}

async fn start_page<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (lang, switched) = language(&headers, &query);
    let mut cookies = Vec::new();
    if switched {
        cookies.push(set_cookie(LANG_COOKIE, lang.code()));
    }
    let now = state.clock.now();
    let cookie_value = cookie(&headers, SESSION_COOKIE);
    let session = match state.portal.session(cookie_value.as_deref(), now).await {
        Ok(s) => s,
        Err(e) => return with_cookies(failure_page(&state, lang, &e), cookies),
    };
    let Some(session) = session else {
        if cookie_value.is_some() {
            cookies.push(clear_cookie(SESSION_COOKIE));
        }
        let note = one(&query, "expired").map(|_| page::Note::Expired);
        let body = page::logged_out(&state.settings.product_name, lang, note);
        return with_cookies(html(StatusCode::OK, body), cookies);
    };
    // After a renewal, show the page even if the fresh token already looks old (a clock
    // skew must not send the browser round in circles).
    let renewed = one(&query, "renewed").is_some();
    if session.needs_renewal(now) && !renewed {
        return with_cookies(to_provider(&state, lang, true).await, cookies);
    }
    let fetched = one(&query, "fetched");
    match logged_in_page(&state, lang, &session, fetched, now).await {
        Ok(body) => with_cookies(html(StatusCode::OK, body), cookies),
        Err(eid_portal::ApiError::InvalidToken(_)) if !renewed => {
            with_cookies(to_provider(&state, lang, true).await, cookies)
        }
        Err(e) => with_cookies(
            failure_page(&state, lang, &PortalError::AccessToken(e)),
            cookies,
        ),
    }
}

/// The start page of a logged-in card holder, through the API with the session's token.
async fn logged_in_page<S: ServerStore>(
    state: &AppState<S>,
    lang: Lang,
    session: &Session,
    fetched: Option<&str>,
    now: OffsetDateTime,
) -> Result<String, eid_portal::ApiError> {
    let api = state.portal.api();
    let claims = api.verify(session.access_token(), now).await?;
    let person = api.person(&claims).await?;
    let cards = api.cards(&claims, now).await?;
    Ok(page::logged_in(&page::StartPage {
        product: &state.settings.product_name,
        lang,
        person: &person,
        cards: &cards,
        csrf: &state.portal.csrf_token(session.id()),
        fetched,
    }))
}

async fn login<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (lang, _) = language(&headers, &query);
    to_provider(&state, lang, false).await
}

async fn callback<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (lang, _) = language(&headers, &[]);
    let session = cookie(&headers, SESSION_COOKIE);
    let outcome = state
        .portal
        .finish_login(
            query.as_deref().unwrap_or_default(),
            cookie(&headers, PENDING_COOKIE).as_deref(),
            session.as_deref(),
            state.clock.now(),
            &mut rng(),
        )
        .await;
    let mut cookies = vec![clear_cookie(PENDING_COOKIE)];
    let response = match outcome {
        Ok(signed_in) => {
            if let Some(id) = &signed_in.new_session {
                cookies.push(set_cookie(SESSION_COOKIE, id.expose()));
            }
            see_other(if signed_in.silent {
                "/mypages?renewed=1"
            } else {
                "/mypages"
            })
        }
        Err(PortalError::LoginRequired) => {
            // The provider's session is gone: so is ours.
            if let Err(e) = state.portal.forget(session.as_deref()).await {
                return failure_page(&state, lang, &e);
            }
            cookies.push(clear_cookie(SESSION_COOKIE));
            see_other("/mypages?expired=1")
        }
        Err(e) => failure_page(&state, lang, &e),
    };
    with_cookies(response, cookies)
}

async fn logout<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = pairs(&body);
    let (lang, _) = language(&headers, &[]);
    let now = state.clock.now();
    let cookie_value = cookie(&headers, SESSION_COOKIE);
    let session = match state.portal.session(cookie_value.as_deref(), now).await {
        Ok(s) => s,
        Err(e) => return failure_page(&state, lang, &e),
    };
    let Some(session) = session else {
        return with_cookies(see_other("/mypages"), vec![clear_cookie(SESSION_COOKIE)]);
    };
    if !one(&form, "csrf").is_some_and(|t| state.portal.csrf_ok(session.id(), t)) {
        return refused(&state, lang);
    }
    let location = match state.portal.logout(cookie_value.as_deref(), now).await {
        Ok(location) => location.unwrap_or_else(|| "/mypages".to_owned()),
        Err(e) => return failure_page(&state, lang, &e),
    };
    with_cookies(see_other(&location), vec![clear_cookie(SESSION_COOKIE)])
}

/// A form without a valid CSRF token: 403, nothing done.
pub(crate) fn refused<S>(state: &AppState<S>, lang: Lang) -> Response {
    html(
        StatusCode::FORBIDDEN,
        page::message(
            &state.settings.product_name,
            lang,
            lang.pick(
                "Begäran kunde inte godtas. Gå tillbaka till Mina sidor och försök igen.",
                "The request could not be accepted. Go back to My Pages and try again.",
            ),
        ),
    )
}
