//! The second layer: the real server on loopback over a [`Pki`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use eid_clock::SystemClock;
use eid_idp::{ClientSpec, KeyEncryptionKey, SubjectSecret};
use eid_orders::{NewOrder, OrderError, Requester, SessionId};
use eid_protocol::{AppCompleteResponse, AppFetchResponse, OrderKind, StartResponse};
use eid_server::{AppState, Secrets, Settings, bind, build_state, router, serve};
use eid_store::AnyStore;
use serde_json::json;

use crate::app::TestApp;
use crate::browser::{Browser, Page, query};
use crate::card::TestCard;
use crate::pki::Pki;
use crate::rp::Rp;

type EditSettings = Box<dyn FnOnce(&mut Settings) + Send>;
type StartApp = Box<dyn FnOnce(&str) -> TestApp + Send>;

/// Which eID app the server's launch links point at.
enum AppSpec {
    /// The app in this process, holding these card files.
    Files(Vec<PathBuf>),
    /// An app the caller starts, given the server's base URL.
    Started(StartApp),
}

/// What a [`Server`] starts with.
pub struct ServerBuilder {
    pki: Pki,
    edit: Option<EditSettings>,
    clients: Vec<ClientSpec>,
    app: Option<AppSpec>,
    clock: Option<Arc<dyn eid_clock::Clock>>,
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

    /// Runs the server on `clock` instead of the system clock (a test then moves time).
    pub fn clock(mut self, clock: Arc<dyn eid_clock::Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Starts the eID app holding `cards`, trusting this server, and points the server's
    /// launch links at it.
    pub fn app(mut self, cards: Vec<PathBuf>) -> Self {
        self.app = Some(AppSpec::Files(cards));
        self
    }

    /// Points the server's launch links at the app `start` returns when given the server's
    /// base URL (e.g. [`TestApp::spawn`] of `eid app --reader …`).
    pub fn app_with(mut self, start: impl FnOnce(&str) -> TestApp + Send + 'static) -> Self {
        self.app = Some(AppSpec::Started(Box::new(start)));
        self
    }

    /// Binds `127.0.0.1:0`, builds the state with the system clock and fresh secrets,
    /// registers the clients and serves until the [`Server`] is dropped.
    pub async fn start(self) -> Server {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = Settings::new(base.clone());
        let app = match self.app {
            Some(AppSpec::Files(cards)) => Some(TestApp::start(cards, vec![base.clone()]).await),
            Some(AppSpec::Started(start)) => Some(start(&base)),
            None => None,
        };
        if let Some(app) = &app {
            settings.launch_base = app.launch_base.clone();
        }
        if let Some(edit) = self.edit {
            edit(&mut settings);
        }
        let secret_bytes = (
            *KeyEncryptionKey::generate(&mut rand::rng()).as_bytes(),
            *SubjectSecret::generate(&mut rand::rng()).as_bytes(),
        );
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let mut server = launch(listener, base, settings, secret_bytes, self.pki, app, clock).await;
        for spec in &self.clients {
            let rp = register(&server.state, &server.base, spec).await;
            server.clients.push(rp);
        }
        server
    }
}

/// Builds the state over `pki` and serves it on `listener`.
async fn launch(
    listener: tokio::net::TcpListener,
    base: String,
    settings: Settings,
    secret_bytes: ([u8; 32], [u8; 32]),
    pki: Pki,
    app: Option<TestApp>,
    clock: Arc<dyn eid_clock::Clock>,
) -> Server {
    let secrets = Secrets {
        kek: KeyEncryptionKey::from_bytes(&secret_bytes.0).unwrap(),
        subject: SubjectSecret::from_bytes(&secret_bytes.1).unwrap(),
        card_master: Some(Arc::new(pki.master.clone())),
    };
    let state = build_state(pki.store.clone(), pki.ca.clone(), clock, settings, secrets)
        .await
        .unwrap();
    let (stop, stopped) = crate::stop_signal();
    let task = tokio::spawn(serve(listener, router(state.clone()), stopped));
    Server {
        _stop: stop,
        task: Some(task),
        secret_bytes,
        app,
        base,
        state,
        pki,
        clients: Vec::new(),
    }
}

async fn register(state: &AppState<AnyStore>, base: &str, spec: &ClientSpec) -> Rp {
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
    task: Option<tokio::task::JoinHandle<Result<(), eid_server::ServeError>>>,
    secret_bytes: ([u8; 32], [u8; 32]),
    /// The eID app, if the builder started one.
    pub app: Option<TestApp>,
    /// `http://127.0.0.1:<port>`: the public URL and the issuer.
    pub base: String,
    pub state: AppState<AnyStore>,
    pub pki: Pki,
    clients: Vec<Rp>,
}

impl Server {
    pub fn builder(pki: Pki) -> ServerBuilder {
        ServerBuilder {
            pki,
            edit: None,
            clients: Vec::new(),
            app: None,
            clock: None,
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

    /// Stops this server and starts a new one on the same address, store, CA, secrets and
    /// app (as after a crash and a restart): whatever was in flight lives only in the store.
    /// Settings edited by the builder are not carried over.
    pub async fn restart(self) -> Server {
        let Server {
            _stop: stop,
            task,
            secret_bytes,
            app,
            base,
            state,
            pki,
            clients,
        } = self;
        let clock = state.clock.clone();
        drop(state);
        drop(stop);
        if let Some(task) = task {
            let _ = task.await;
        }
        let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        let mut tries = 0;
        let listener = loop {
            match bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot bind {addr} again: {e}"),
            }
        };
        let mut settings = Settings::new(base.clone());
        if let Some(app) = &app {
            settings.launch_base = app.launch_base.clone();
        }
        let mut server = launch(listener, base, settings, secret_bytes, pki, app, clock).await;
        server.clients = clients;
        server
    }

    /// A second node of this installation: a server on a port of its own over `store`
    /// (another handle on the same database), with this one's CA, card master key,
    /// secrets, clients and public URL (the issuer). Its [`Server::base`] is its own
    /// address, so the helpers here send to it.
    pub async fn node(&self, store: AnyStore) -> Server {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = Settings::new(self.state.settings.public_url.clone());
        let mut server = launch(
            listener,
            base,
            settings,
            self.secret_bytes,
            self.pki.node(store),
            None,
            self.state.clock.clone(),
        )
        .await;
        server.clients = self.clients.clone();
        server
    }

    /// Starts a signing-certificate fetch (`enrollSign`) for `card_number` as client
    /// `client_id` would (My Pages is `mypages`), in a new browser session of the order
    /// flow; the return URL is the server's `/mypages`.
    pub async fn start_fetch(
        &self,
        card_number: &str,
        client_id: &str,
    ) -> Result<(SessionId, StartResponse), OrderError> {
        let now = eid_clock::Clock::now(&*self.state.clock);
        let session = self
            .state
            .orders
            .open_browser_session(now, &mut rand::rng())
            .await?;
        let order = NewOrder {
            kind: OrderKind::EnrollSign,
            requester: Requester {
                client_id: client_id.into(),
                display_name: "Mina sidor".into(),
            },
            text: "Hämta underskriftscertifikat".into(),
            return_url: format!("{}/mypages", self.state.settings.public_url),
            card_number: Some(card_number.into()),
        };
        let started = self
            .state
            .orders
            .start(&order, session.as_str(), now, &mut rand::rng())
            .await?;
        Ok((session, started))
    }

    /// What the eID app does first with the waiting page's launch link: fetches the order
    /// with its autostart token.
    pub async fn fetch_order(&self, wait: &Page) -> AppFetchResponse {
        let token = query(&wait.launch_link())["autostarttoken"].clone();
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
