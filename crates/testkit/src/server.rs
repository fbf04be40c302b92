//! The second layer: the real server on loopback over a [`Pki`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use eid_clock::SystemClock;
use eid_idp::{ClientSpec, KeyEncryptionKey, SubjectSecret};
use eid_protocol::{AppCompleteResponse, AppFetchResponse};
use eid_server::{AppState, Secrets, Settings, bind, build_state, router, serve};
use eid_store::SqliteStore;
use serde_json::json;

use crate::app::TestApp;
use crate::browser::{Browser, Page, query};
use crate::card::TestCard;
use crate::pki::Pki;
use crate::rp::Rp;

type EditSettings = Box<dyn FnOnce(&mut Settings) + Send>;

/// What a [`Server`] starts with.
pub struct ServerBuilder {
    pki: Pki,
    edit: Option<EditSettings>,
    clients: Vec<ClientSpec>,
    app_cards: Option<Vec<PathBuf>>,
}

impl ServerBuilder {
    /// Lets `edit` change the settings (rate limits, trusted proxies, …) last.
    pub fn settings(mut self, edit: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.edit = Some(Box::new(edit));
        self
    }

    /// Registers `spec` before the server answers (see also [`Server::register`]).
    pub fn client(mut self, spec: ClientSpec) -> Self {
        self.clients.push(spec);
        self
    }

    /// Starts the eID app holding `cards`, trusting this server, and points the server's
    /// launch links at it.
    pub fn app(mut self, cards: Vec<PathBuf>) -> Self {
        self.app_cards = Some(cards);
        self
    }

    /// Binds `127.0.0.1:0`, builds the state with the system clock and fresh secrets,
    /// registers the clients and serves until the [`Server`] is dropped.
    pub async fn start(self) -> Server {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = Settings::new(base.clone());
        let app = match self.app_cards {
            Some(cards) => {
                let app = TestApp::start(cards, vec![base.clone()]).await;
                settings.launch_base = app.launch_base.clone();
                Some(app)
            }
            None => None,
        };
        if let Some(edit) = self.edit {
            edit(&mut settings);
        }
        let secrets = Secrets {
            kek: KeyEncryptionKey::generate(&mut rand::rng()),
            subject: SubjectSecret::generate(&mut rand::rng()),
        };
        let state = build_state(
            self.pki.store.clone(),
            self.pki.ca.clone(),
            Arc::new(SystemClock),
            settings,
            secrets,
        )
        .await
        .unwrap();
        let mut clients = Vec::new();
        for spec in &self.clients {
            clients.push(register(&state, &base, spec).await);
        }
        let (stop, stopped) = crate::stop_signal();
        tokio::spawn(serve(listener, router(state.clone()), stopped));
        Server {
            _stop: stop,
            app,
            base,
            state,
            pki: self.pki,
            clients,
        }
    }
}

async fn register(state: &AppState<SqliteStore>, base: &str, spec: &ClientSpec) -> Rp {
    let now = eid_clock::Clock::now(&*state.clock);
    let (_, secret) = state
        .provider
        .register_client(spec, "test", now, &mut rand::rng())
        .await
        .unwrap();
    Rp::new(base, spec, secret.map(|s| s.expose().to_owned()))
}

/// The server serving on `127.0.0.1:<port>` until dropped.
pub struct Server {
    // Dropped first: the server stops, then the app, then the folder goes.
    _stop: tokio::sync::oneshot::Sender<()>,
    /// The eID app, if the builder started one.
    pub app: Option<TestApp>,
    /// `http://127.0.0.1:<port>`: the public URL and the issuer.
    pub base: String,
    pub state: AppState<SqliteStore>,
    pub pki: Pki,
    clients: Vec<Rp>,
}

impl Server {
    pub fn builder(pki: Pki) -> ServerBuilder {
        ServerBuilder {
            pki,
            edit: None,
            clients: Vec::new(),
            app_cards: None,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.base
    }

    /// A browser with no cookies yet.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// The eID app the builder started.
    pub fn app(&self) -> &TestApp {
        self.app.as_ref().expect("a server built with an app")
    }

    /// A client registered by the builder.
    pub fn client(&self, client_id: &str) -> Rp {
        self.clients
            .iter()
            .find(|c| c.client_id == client_id)
            .unwrap_or_else(|| panic!("no client {client_id}"))
            .clone()
    }

    /// Registers `spec` now (before or after the server answers): the client as its relying
    /// party knows it, with its secret.
    pub async fn register(&self, spec: &ClientSpec) -> Rp {
        register(&self.state, &self.base, spec).await
    }

    /// *Legitimera* (on this device) on a `login` page: the waiting page, whose order the
    /// browser then waits on (see [`Browser::collect`]).
    pub async fn legitimera(&self, browser: &mut Browser, login: &Page) -> Page {
        assert_eq!(login.status, 200, "{}", login.body);
        let wait = browser
            .post_form(
                &format!("{}/login", self.base),
                &[
                    ("request", &login.input("request")),
                    ("mac", &login.input("mac")),
                    ("csrf", &login.input("csrf")),
                    ("lang", &login.input("lang")),
                    ("method", "this-device"),
                ],
            )
            .await;
        assert_eq!(wait.status, 200, "{}", wait.body);
        browser.waiting_on(&wait);
        wait
    }

    /// What the eID app does first with the waiting page's launch link: fetches the order
    /// with its autostart token.
    pub async fn fetch_order(&self, wait: &Page) -> AppFetchResponse {
        let token = query(&wait.attr("href"))["autostarttoken"].clone();
        reqwest::Client::new()
            .post(format!("{}/app/v1/order", self.base))
            .json(&json!({ "autoStartToken": token }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The eID app played in-process with `card`: fetches the order of the waiting page's
    /// launch link, reports, signs with the card after PIN1, completes; returns the return
    /// URL.
    pub async fn play_app(&self, card: &TestCard, wait: &Page) -> String {
        let fetched = self.fetch_order(wait).await;
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{}/app/v1/report", self.base))
            .bearer_auth(&fetched.app_token)
            .json(&json!({ "hintCode": "userSign" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = http
            .post(format!("{}/app/v1/complete", self.base))
            .bearer_auth(&fetched.app_token)
            .json(&card.complete_login(&fetched.order))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let done: AppCompleteResponse = r.json().await.unwrap();
        done.return_url
    }

    /// A whole card login from the authorization URL `url`, the app played with `card`:
    /// the redirect to the client.
    pub async fn login(&self, browser: &mut Browser, card: &TestCard, url: &str) -> String {
        let page = browser.get(url).await;
        let wait = self.legitimera(browser, &page).await;
        let back = self.play_app(card, &wait).await;
        let done = browser.get(&back).await;
        assert_eq!(done.status, 303, "{}", done.body);
        done.location()
    }
}

#[cfg(test)]
mod tests {
    use eid_clock::{Clock as _, SystemClock};

    use super::Server;
    use crate::{ANNA, CardKind, Pki, rp_client};

    /// The layers together as a browser test uses them: a relying party on its own port,
    /// registered after the server answers, logs Anna in with her card.
    #[tokio::test]
    async fn a_client_registered_after_the_start_logs_anna_in() {
        let pki = Pki::new(SystemClock.now()).await;
        let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
        let server = Server::builder(pki).start().await;
        let rp_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let redirect = format!("http://127.0.0.1:{rp_port}/callback");
        let rp = server.register(&rp_client("browser-rp", &redirect)).await;

        let mut browser = server.browser();
        let request = rp.auth_request(&[]);
        let location = server.login(&mut browser, &card, &request.url).await;
        let code = rp.code(&location, &request);
        let (status, tokens) = rp.token(&code, Some(&request.verifier)).await;
        assert_eq!(status, 200, "{tokens}");
        let id = rp.verify(tokens["id_token"].as_str().unwrap()).await;
        assert_eq!(id["nonce"], request.nonce.as_str());
        assert_eq!(id["given_name"], "Anna");
        let (status, claims) = rp.userinfo(tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(claims["sub"], id["sub"]);
    }
}
