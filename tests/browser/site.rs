//! A small relying party on loopback, built on `eid-rp` as My Pages will be: discovery,
//! authorization code flow with PKCE S256, `state`, `nonce`, RFC 9207 `iss`, the token
//! endpoint with `client_secret_basic`, and the ID token's signature and claims.
//!
//! `GET /login` sends the browser to the provider; `GET /callback` shows who logged in, or
//! why not, and records the outcome for the test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, Redirect};
use axum::routing::get;
use eid_rp::{ClientConfig, LoginOptions, PendingLogin, RelyingParty};
use tokio::net::TcpListener;

/// What the relying party learned at its callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    LoggedIn { subject: String, name: String },
    Refused(String),
}

struct Inner {
    rp: RelyingParty,
    /// By `state`; a real relying party seals this into a cookie.
    pending: Mutex<HashMap<String, PendingLogin>>,
    outcomes: Mutex<Vec<Outcome>>,
}

#[derive(Clone)]
pub struct Site {
    inner: Arc<Inner>,
    pub base: String,
}

/// Binds the relying party's port first: the provider registers its redirect URI.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

impl Site {
    /// Discovers `issuer` and serves the relying party on `listener` as `client_id`.
    pub async fn start(
        listener: TcpListener,
        base: String,
        issuer: &str,
        client_id: &str,
        secret: &str,
    ) -> Self {
        let client = ClientConfig {
            client_id: client_id.into(),
            client_secret: Some(secret.into()),
            redirect_uri: format!("{base}/callback"),
            scopes: vec!["profile".into()],
        };
        let http = RelyingParty::http_client().unwrap();
        let rp = RelyingParty::discover(http, issuer, client).await.unwrap();
        let site = Self {
            inner: Arc::new(Inner {
                rp,
                pending: Mutex::default(),
                outcomes: Mutex::default(),
            }),
            base,
        };
        let app = Router::new()
            .route("/login", get(login))
            .route("/callback", get(callback))
            .with_state(site.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        site
    }

    /// Outcomes seen so far, oldest first.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.inner.outcomes.lock().unwrap().clone()
    }
}

async fn login(State(site): State<Site>) -> Redirect {
    let (url, pending) = site
        .inner
        .rp
        .begin(&LoginOptions::default(), &mut rand::rng());
    site.inner
        .pending
        .lock()
        .unwrap()
        .insert(pending.state.clone(), pending);
    Redirect::to(&url)
}

async fn callback(State(site): State<Site>, RawQuery(query): RawQuery) -> Html<String> {
    let query = query.unwrap_or_default();
    let state = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let pending = site.inner.pending.lock().unwrap().remove(&state);
    let outcome = match pending {
        None => Outcome::Refused("unknown state".into()),
        Some(pending) => {
            let now = eid_clock::Clock::now(&eid_clock::SystemClock);
            match site.inner.rp.finish(&query, &pending, now).await {
                Ok(login) => Outcome::LoggedIn {
                    subject: login.subject().to_owned(),
                    name: login.claim("name").unwrap_or_default().to_owned(),
                },
                Err(e) => Outcome::Refused(e.to_string()),
            }
        }
    };
    let html = match &outcome {
        Outcome::LoggedIn { name, .. } => format!("<h1>Inloggad</h1><p id=\"who\">{name}</p>"),
        Outcome::Refused(why) => format!("<h1>Inte inloggad</h1><p id=\"why\">{why}</p>"),
    };
    site.inner.outcomes.lock().unwrap().push(outcome);
    Html(format!(
        "<!doctype html><html lang=\"sv\"><title>Testtjänsten</title>{html}</html>"
    ))
}
