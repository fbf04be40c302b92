//! The eID app: the card holder's PIN dialog as a local web UI on 127.0.0.1.
//!
//! The identity provider's page opens `GET /<capability>/launch?autostarttoken=…` (through
//! an `eid://` link and `eid app --launch`, or directly when `server.app_launch_base` points
//! here). That page only *shows*: it fetches the order from the server by its single-use
//! autostart token and renders who asks and for what (from the order, never from the
//! link), the card in use and the PIN form. Every action is a `POST` with the launch's CSRF
//! token: `sign` (report `userSign`, verify PIN1 on the card, sign the
//! [`ToBeSigned`](eid_protocol::ToBeSigned) digest with the 9A key, complete, then a page that
//! sends the browser to the server's return URL), `cancel` (report `userCancel`) and `activate` (a one-PIN card:
//! transport code and new PIN1, then sign).
//!
//! An `enrollSign` order (fetch a signing certificate, seed procedure steps 5–7) has its own
//! dialog (`fetch_ui.rs`) over the steps of `fetch.rs`: `enroll/key` (the signing code: PIN2,
//! or PIN1 on a one-PIN card; the key in 9C, generated under the management key whose
//! challenge the server answers — or, on a PKCS#11 token, which has none, under the signing
//! code — its attestation if the card gives one, and certificate request), `enroll/approve`
//! (*Hämtningen startar*, PIN1, the approval, the certificate from the server, written to the
//! card) and `enroll/deliver` (the write again, after the card was taken out).
//! [`SigningFetch`] runs the same steps for callers that hold the card themselves.
//!
//! Only the local user's browser may drive it:
//! - bound to 127.0.0.1; the `Host` header must be exactly `127.0.0.1:<port>` or
//!   `localhost:<port>` (else 421);
//! - a request with an `Origin` header other than the app's own is refused (403), and no
//!   CORS header is ever sent;
//! - every route lives under a per-process random capability path segment; anything else is
//!   an empty 404;
//! - actions only on `POST` with the launch's CSRF token; a strict CSP (no script at all,
//!   the one stylesheet from the app itself: `style-src 'self'`) with
//!   `frame-ancestors 'none'`, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`,
//!   `Cache-Control: no-store` on every response.
//!
//! The app talks only to the servers it was given, and an order whose server origin is not
//! the server it was fetched from is refused. PINs go to the card and nowhere else: they are
//! held in zeroizing buffers, never logged, never sent to a server.
//!
//! Where the cards are (virtual card files, PC/SC readers, PKCS#11 modules) is
//! [`CardSource`]; each step opens its card afresh (`cards.rs`).
//!
//! This crate links no server code: only `eid-protocol`, `eid-card`, `eid-clock` and HTTP.

mod cards;
mod desktop;
mod fetch;
mod fetch_ui;
mod pages;
mod pin_ui;
mod remote;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_card::{
    Card, CardError, CardInfo, CardKind, KeySlot, LifeCycle, Pin, PinRef, TransportError,
};
use eid_clock::{Clock, SystemClock};
use eid_protocol::{AppCompletion, AppOrder, HintCode, LaunchLink, ToBeSigned};
use serde::Deserialize;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

pub use cards::CardSource;
use cards::Cards;
pub use desktop::{desktop_entry, register};
pub use fetch::{FetchClient, FetchError, IssuedCertificate, PreparedKey, SigningFetch};
use pages::{Lang, Notice};
use remote::Remote;
pub use remote::RemoteError;

/// How many launches the app remembers at a time (the oldest are forgotten first).
const MAX_LAUNCHES: usize = 32;

/// What the app is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the cards are (virtual card files, PC/SC readers); the first eID found is the
    /// active one until the holder chooses another.
    pub cards: Vec<CardSource>,
    /// The servers the app may talk to (`https://host[:port]`).
    pub servers: Vec<String>,
    /// The loopback port; 0 picks a random free one.
    pub port: u16,
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No card was given.
    #[error("give at least one card: --card FILE, --reader NAME or --pcsc")]
    NoCard,
    /// No server was given.
    #[error("give at least one server with --server")]
    NoServer,
    /// A server URL is not a plain http(s) origin.
    #[error("server {0}: expected http(s)://host[:port]")]
    BadServer(String),
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// The app, bound and ready to serve.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    port: u16,
    capability: String,
    hosts: [String; 2],
    origins: [String; 2],
    csp: String,
    remote: Remote,
    cards: Cards,
    /// The label of the eID the holder chose (`None`: the first listed).
    active: Mutex<Option<String>>,
    launches: Mutex<Launches>,
    clock: Arc<dyn Clock>,
    /// The CSRF token of the PIN services' forms (per process).
    pin_csrf: String,
}

#[derive(Debug, Default)]
struct Launches {
    next: u64,
    by_id: HashMap<String, Launch>,
}

#[derive(Debug, Clone)]
struct Launch {
    seq: u64,
    csrf: String,
    order: AppOrder,
    app_token: String,
    server: usize,
    lang: Lang,
    done: bool,
    /// A signing-certificate fetch's steps done so far.
    progress: fetch_ui::Progress,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system's random source does not fail on Linux; an all-zero token would only
    // weaken the capability, so refuse to continue if it ever does.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        std::process::abort();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

impl App {
    /// Checks the configuration and binds 127.0.0.1 on the configured port.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        Self::bind_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`App::bind`], with a given clock.
    pub async fn bind_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let cards = Cards::new(config.cards);
        if cards.is_empty() {
            return Err(StartError::NoCard);
        }
        if config.servers.is_empty() {
            return Err(StartError::NoServer);
        }
        let remote = Remote::new(&config.servers)?;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port)))
            .await
            .map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?
            .port();
        // Forms post to the app only, and are never answered by a redirect (see
        // `pages::returning`).
        let csp = "default-src 'none'; style-src 'self'; img-src 'none'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            .to_owned();
        let state = Arc::new(Inner {
            port,
            capability: random_token(),
            hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            origins: [
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
            ],
            csp,
            remote,
            cards,
            active: Mutex::new(None),
            launches: Mutex::new(Launches::default()),
            clock,
            pin_csrf: random_token(),
        });
        Ok(Self { listener, state })
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.state.port
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.state.port)
    }

    /// The per-process capability path segment.
    pub fn capability(&self) -> &str {
        &self.state.capability
    }

    /// The launch page's base: append the autostart token (the server's
    /// `server.app_launch_base`).
    pub fn launch_base(&self) -> String {
        format!(
            "http://127.0.0.1:{}/{}/launch?autostarttoken=",
            self.state.port, self.state.capability
        )
    }

    /// The PIN services page (change PIN1/PIN2, unblock with the PUK).
    pub fn pin_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/{}/pin",
            self.state.port, self.state.capability
        )
    }

    /// The launch page for an `eid://` link.
    pub fn launch_url(&self, link: &LaunchLink) -> String {
        format!("{}{}", self.launch_base(), link.autostart_token())
    }

    /// The app's routes.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = router(self.state.clone());
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

fn router(state: Arc<Inner>) -> Router {
    let cap = &state.capability;
    Router::new()
        .route(&format!("/{cap}/launch"), get(launch_page))
        .route(&format!("/{cap}/sign"), post(sign))
        .route(&format!("/{cap}/activate"), post(activate))
        .route(&format!("/{cap}/cancel"), post(cancel))
        .route(&format!("/{cap}/enroll/key"), post(fetch_ui::key))
        .route(&format!("/{cap}/enroll/approve"), post(fetch_ui::approve))
        .route(&format!("/{cap}/enroll/deliver"), post(fetch_ui::deliver))
        .route(&format!("/{cap}/pin"), get(pin_ui::page))
        .route(
            &format!("/{cap}/{}", pages::STYLESHEET_PATH),
            get(pages::stylesheet),
        )
        .route(&format!("/{cap}/pin/change"), post(pin_ui::change))
        .route(&format!("/{cap}/pin/unblock"), post(pin_ui::unblock))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Host allowlist, Origin check and the security headers on every response.
async fn guard(State(state): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| state.hosts.iter().any(|a| a == h));
    let origin_ok = headers.get(header::ORIGIN).is_none_or(|o| {
        o.to_str()
            .is_ok_and(|o| state.origins.iter().any(|a| a == o))
    });
    let mut response = if !host_ok {
        StatusCode::MISDIRECTED_REQUEST.into_response()
    } else if !origin_ok {
        StatusCode::FORBIDDEN.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&state.csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: under it Chromium sends `Origin: null` with the dialog's own
        // form posts, which the Origin check above must refuse. `same-origin` still keeps
        // the capability path from every other site (the return to the server included).
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    response
}

#[derive(Debug, Deserialize)]
struct LaunchQuery {
    autostarttoken: Option<String>,
    lang: Option<String>,
}

/// What the page says about the card in use.
#[derive(Debug, Clone)]
struct CardView {
    index: usize,
    number: String,
    holder: Option<String>,
    kind: Option<CardKind>,
    life_cycle: Option<LifeCycle>,
    present: bool,
}

impl Inner {
    /// The eIDs to choose from: index and label.
    fn card_paths(&self) -> Vec<(usize, String)> {
        self.cards
            .list()
            .into_iter()
            .enumerate()
            .map(|(i, listed)| (i, listed.label))
            .collect()
    }

    /// The label of the eID the holder chose, if any.
    fn chosen(&self) -> Option<String> {
        self.active.lock().ok().and_then(|a| a.clone())
    }

    fn set_active(&self, index: usize) {
        if let Some(listed) = self.cards.list().into_iter().nth(index)
            && let Ok(mut a) = self.active.lock()
        {
            *a = Some(listed.label);
        }
    }

    /// Opens the active eID for one step (a fresh read of a card file; a PC/SC transaction
    /// on a card in a reader).
    fn open(&self) -> Result<Box<dyn Card>, CardError> {
        self.cards.open(self.chosen().as_deref()).1
    }

    /// What the page says about the active eID.
    fn view(&self) -> CardView {
        let (index, card) = self.cards.open(self.chosen().as_deref());
        let mut view = CardView {
            index,
            number: String::new(),
            holder: None,
            kind: None,
            life_cycle: None,
            present: false,
        };
        let Ok(card) = card else {
            return view;
        };
        if let Ok(CardInfo {
            card_number,
            kind,
            life_cycle,
            ..
        }) = card.info()
        {
            view.present = true;
            view.number = card_number;
            view.kind = Some(kind);
            view.life_cycle = Some(life_cycle);
        }
        if let Ok(Some(der)) = card.read_certificate(KeySlot::Authentication) {
            view.holder = common_name(&der);
        }
        view
    }

    fn remember(&self, mut launch: Launch) -> String {
        let id = random_token();
        if let Ok(mut launches) = self.launches.lock() {
            launches.next += 1;
            launch.seq = launches.next;
            if launches.by_id.len() >= MAX_LAUNCHES
                && let Some(oldest) = launches
                    .by_id
                    .iter()
                    .min_by_key(|(_, l)| l.seq)
                    .map(|(k, _)| k.clone())
            {
                launches.by_id.remove(&oldest);
            }
            launches.by_id.insert(id.clone(), launch);
        }
        id
    }

    /// The launch `id` if `csrf` is its token.
    fn launch(&self, id: &str, csrf: &str) -> Option<Launch> {
        let launches = self.launches.lock().ok()?;
        let launch = launches.by_id.get(id)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(launch.csrf.as_bytes(), csrf.as_bytes())
            .ok()?;
        Some(launch.clone())
    }

    /// Changes launch `id` and returns it as changed.
    fn update(&self, id: &str, change: impl FnOnce(&mut Launch)) -> Option<Launch> {
        let mut launches = self.launches.lock().ok()?;
        let launch = launches.by_id.get_mut(id)?;
        change(launch);
        Some(launch.clone())
    }

    fn finish(&self, id: &str) {
        if let Ok(mut launches) = self.launches.lock()
            && let Some(l) = launches.by_id.get_mut(id)
        {
            l.done = true;
        }
    }
}

fn common_name(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn launch_page(State(state): State<Arc<Inner>>, Query(q): Query<LaunchQuery>) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Some(link) = q
        .autostarttoken
        .as_deref()
        .and_then(|t| LaunchLink::new(t).ok())
    else {
        return html(
            StatusCode::BAD_REQUEST,
            pages::message(&state.capability, lang, Notice::BadLink),
        );
    };
    let fetched = match state.remote.fetch(link.autostart_token()).await {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(error = %e, "the order could not be fetched");
            let notice = match e {
                RemoteError::WrongOrigin => Notice::WrongServer,
                _ => Notice::NoOrder,
            };
            return html(
                StatusCode::NOT_FOUND,
                pages::message(&state.capability, lang, notice),
            );
        }
    };
    let (server, response) = fetched;
    let launch = Launch {
        seq: 0,
        csrf: random_token(),
        order: response.order,
        app_token: response.app_token,
        server,
        lang,
        done: false,
        progress: fetch_ui::Progress::default(),
    };
    let id = state.remember(launch.clone());
    let card = state.view();
    if launch.order.kind == eid_protocol::OrderKind::EnrollSign {
        return html(
            StatusCode::OK,
            fetch_ui::dialog(&state, &id, &launch, &card, fetch_ui::Step::Code, None),
        );
    }
    html(
        StatusCode::OK,
        pages::dialog(&pages::Dialog {
            cap: &state.capability,
            id: &id,
            launch: &launch,
            card: &card,
            cards: &state.card_paths(),
            notice: None,
        }),
    )
}

/// A POSTed form: its fields, the PIN-like ones in zeroizing buffers.
#[derive(Debug, Default)]
struct Form {
    launch: String,
    csrf: String,
    card: Option<usize>,
    pin: Zeroizing<String>,
    transport: Zeroizing<String>,
    again: Zeroizing<String>,
}

impl Form {
    fn parse(body: &Bytes) -> Self {
        let mut form = Self::default();
        for (k, v) in form_urlencoded::parse(body) {
            match &*k {
                "launch" => form.launch = v.into_owned(),
                "csrf" => form.csrf = v.into_owned(),
                "card" => form.card = v.parse().ok(),
                "pin" => form.pin = Zeroizing::new(v.into_owned()),
                "transport" => form.transport = Zeroizing::new(v.into_owned()),
                "again" => form.again = Zeroizing::new(v.into_owned()),
                _ => {}
            }
        }
        form
    }
}

/// The launch of a form, or the refusal (its status and page).
fn checked(state: &Inner, form: &Form) -> Result<Launch, (StatusCode, String)> {
    match state.launch(&form.launch, &form.csrf) {
        Some(l) if l.done => Err((
            StatusCode::CONFLICT,
            pages::message(&state.capability, l.lang, Notice::AlreadyDone),
        )),
        Some(l) => Ok(l),
        None => Err((
            StatusCode::FORBIDDEN,
            pages::message(&state.capability, Lang::Sv, Notice::StaleForm),
        )),
    }
}

async fn sign(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let launch = match checked(&state, &form) {
        Ok(l) => l,
        Err((status, page)) => return html(status, page),
    };
    if let Some(i) = form.card {
        state.set_active(i);
    }
    let pin = Pin::new(form.pin.clone());
    ceremony(&state, &form.launch, &launch, Step::Verify(pin)).await
}

async fn activate(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let launch = match checked(&state, &form) {
        Ok(l) => l,
        Err((status, page)) => return html(status, page),
    };
    if form.pin != form.again {
        return redraw(&state, &form.launch, &launch, Notice::CodesDiffer);
    }
    let step = Step::Activate {
        transport: Pin::new(form.transport.clone()),
        new: Pin::new(form.pin.clone()),
    };
    ceremony(&state, &form.launch, &launch, step).await
}

async fn cancel(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let launch = match checked(&state, &form) {
        Ok(l) => l,
        Err((status, page)) => return html(status, page),
    };
    state.finish(&form.launch);
    if let Err(e) = state
        .remote
        .report(launch.server, &launch.app_token, HintCode::UserCancel)
        .await
    {
        tracing::info!(error = %e, "the cancel could not be reported");
    }
    html(
        StatusCode::OK,
        pages::message(&state.capability, launch.lang, Notice::Cancelled),
    )
}

fn redraw(state: &Inner, id: &str, launch: &Launch, notice: Notice) -> Response {
    let card = state.view();
    html(
        StatusCode::OK,
        pages::dialog(&pages::Dialog {
            cap: &state.capability,
            id,
            launch,
            card: &card,
            cards: &state.card_paths(),
            notice: Some(notice),
        }),
    )
}

#[derive(Debug)]
enum Step {
    Verify(Pin),
    Activate { transport: Pin, new: Pin },
}

/// Report `userSign`, unlock the card, sign, complete, and send the browser back.
async fn ceremony(state: &Inner, id: &str, launch: &Launch, step: Step) -> Response {
    if state.clock.now() > launch.order.expires_at {
        state.finish(id);
        return html(
            StatusCode::OK,
            pages::message(&state.capability, launch.lang, Notice::Expired),
        );
    }
    let report = |hint: HintCode| async move {
        if let Err(e) = state
            .remote
            .report(launch.server, &launch.app_token, hint)
            .await
        {
            tracing::info!(error = %e, "a hint could not be reported");
        }
    };
    report(HintCode::UserSign).await;
    let signed = card_sign(state, launch, step);
    let (signature, certificate) = match signed {
        Ok(s) => s,
        Err(CardOutcome::Hint(hint, notice)) => {
            let ends = hint.app_report() == Some(true);
            report(hint).await;
            if ends {
                state.finish(id);
                // A blocked code's page offers the PIN services.
                let page = pages::message(&state.capability, launch.lang, notice);
                return html(StatusCode::OK, page);
            }
            return redraw(state, id, launch, notice);
        }
        Err(CardOutcome::Again(notice)) => return redraw(state, id, launch, notice),
    };
    match state
        .remote
        .complete(
            launch.server,
            &launch.app_token,
            &AppCompletion {
                signature,
                certificate,
                new_public_key: None,
                enrollment: None,
            },
        )
        .await
    {
        Ok(return_url) => {
            state.finish(id);
            html(
                StatusCode::OK,
                pages::returning(&state.capability, launch.lang, &return_url),
            )
        }
        Err(e) => {
            tracing::info!(error = %e, "the order could not be completed");
            state.finish(id);
            html(
                StatusCode::OK,
                pages::message(&state.capability, launch.lang, Notice::Failed),
            )
        }
    }
}

#[derive(Debug)]
enum CardOutcome {
    /// Report this hint and show this notice.
    Hint(HintCode, Notice),
    /// Show the dialog again with this notice.
    Again(Notice),
}

fn card_error(e: CardError, kind: Option<CardKind>) -> CardOutcome {
    match e {
        CardError::WrongPin { tries_left: 0 } | CardError::PinBlocked => {
            CardOutcome::Hint(HintCode::PinBlocked, Notice::Blocked(kind))
        }
        CardError::CardDead => CardOutcome::Hint(HintCode::PinBlocked, Notice::Dead),
        CardError::WrongPin { tries_left } => CardOutcome::Again(Notice::WrongPin(tries_left)),
        CardError::NotActivated => {
            CardOutcome::Hint(HintCode::CardNotActivated, Notice::NotActivated)
        }
        CardError::CardRemoved => CardOutcome::Hint(HintCode::CardRemoved, Notice::NoCard),
        CardError::BadPinFormat => CardOutcome::Again(Notice::BadFormat),
        CardError::Transport(TransportError::Busy) => CardOutcome::Again(Notice::CardBusy),
        other => {
            tracing::warn!(error = %other, "the card failed");
            CardOutcome::Again(Notice::CardFailed)
        }
    }
}

/// The card part: the PIN goes to the card only; the signature and the authentication
/// certificate come back.
fn card_sign(
    state: &Inner,
    launch: &Launch,
    step: Step,
) -> Result<(Vec<u8>, Vec<u8>), CardOutcome> {
    let card = state.open().map_err(|e| card_error(e, None))?;
    let info = card.info().map_err(|e| card_error(e, None))?;
    let kind = Some(info.kind);
    if let Some(wanted) = &launch.order.card_number
        && *wanted != info.card_number
    {
        return Err(CardOutcome::Hint(HintCode::WrongCard, Notice::WrongCard));
    }
    let pin = match step {
        Step::Verify(pin) => {
            if info.life_cycle == LifeCycle::NotActivated {
                return Err(card_error(CardError::NotActivated, kind));
            }
            pin
        }
        Step::Activate { transport, new } => {
            if info.kind != CardKind::OnePin || info.life_cycle != LifeCycle::NotActivated {
                return Err(CardOutcome::Again(Notice::NoActivation));
            }
            card.change_pin(PinRef::Pin1, &transport, &new)
                .map_err(|e| match e {
                    CardError::WrongPin { tries_left } if tries_left > 0 => {
                        CardOutcome::Again(Notice::WrongTransport(tries_left))
                    }
                    e => card_error(e, kind),
                })?;
            new
        }
    };
    card.verify(PinRef::Pin1, &pin)
        .map_err(|e| card_error(e, kind))?;
    drop(pin);
    let digest = ToBeSigned::for_order(&launch.order, None)
        .digest()
        .map_err(|_| CardOutcome::Again(Notice::CardFailed))?;
    let signature = card
        .sign(KeySlot::Authentication, &digest)
        .map_err(|e| card_error(e, kind))?;
    let certificate = card
        .read_certificate(KeySlot::Authentication)
        .map_err(|e| card_error(e, kind))?
        .ok_or(CardOutcome::Again(Notice::CardFailed))?;
    let _ = card.reset_verified(PinRef::Pin1);
    Ok((signature, certificate))
}
