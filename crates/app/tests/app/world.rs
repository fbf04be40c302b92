//! A real `eid serve`-like server on port 0 (CA, SQLite store, a person with a personalised
//! virtual two-PIN card in a file, a registered client) whose launch base points at a real
//! eID app on loopback holding that card file; and a test browser that keeps the server's
//! cookies itself (reqwest's jar would not send `Secure` cookies over http).
#![allow(missing_debug_implementations)] // Test fixtures.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_app::{App, Config};
use eid_card::{CardClient, CardProfile, VirtualCard, VirtualReader};
use eid_clock::SystemClock;
use eid_idp::{ClientSpec, KeyEncryptionKey, SubjectSecret};
use eid_pki::{CaNames, CertificateAuthority, FileSigner, KeyAlgorithm, ProfileSettings};
use eid_ra::{Personalisation, PinLetter, personalise};
use eid_server::{Secrets, Settings, bind, build_state, router, serve};
use eid_store::{
    AuditEvent, CardKind, Durability, Organisation, Person, SigningPolicy, SqliteStore, Store,
};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub const ORG: &str = "2321000016";
pub const ANNA: &str = "SE2321000016-A1B2";
pub const RP: &str = "rp";
pub const RP_REDIRECT: &str = "https://rp.example/cb";

pub struct World {
    pub base: String,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub app: String,
    pub capability: String,
    pub launch_base: String,
    pub card: PathBuf,
    pub pin1: String,
    pub rp_secret: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _stop_app: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn event(action: &str, at: OffsetDateTime) -> AuditEvent {
    AuditEvent {
        at,
        actor: "test".into(),
        action: action.into(),
        subject: "x".into(),
        details: json!({}),
    }
}

pub async fn start() -> World {
    start_with(eid_card::CardKind::TwoPin).await
}

/// A world whose card is of `kind` (a one-PIN card waits for activation; `pin1` is then
/// its transport code).
pub async fn start_with(kind: eid_card::CardKind) -> World {
    let (product, store_kind) = match kind {
        eid_card::CardKind::TwoPin => ("610", CardKind::TwoPin),
        eid_card::CardKind::OnePin => ("710", CardKind::OnePin),
    };
    let clock = Arc::new(SystemClock);
    let now = eid_clock::Clock::now(&*clock);
    let dir = tempfile::tempdir().unwrap();
    let names = CaNames {
        country: "SE".into(),
        organisation: "Test".into(),
        root_common_name: "Test Root".into(),
        issuing_common_name: "Test Issuing".into(),
    };
    let new = eid_pki::create_ca(
        &names,
        KeyAlgorithm::P256,
        now - time::Duration::days(1),
        &mut rand::rng(),
    )
    .unwrap();
    let signer = FileSigner::from_pkcs8_pem(&new.issuing_key_pem).unwrap();
    let ca = Arc::new(
        CertificateAuthority::load(
            &new.root_cert_pem,
            &new.issuing_cert_pem,
            Arc::new(signer),
            ProfileSettings::new("http://localhost/crl", "http://localhost/ocsp"),
        )
        .unwrap(),
    );
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap(),
    );
    store
        .add_organisation(
            &Organisation {
                org_number: ORG.into(),
                name: "Region Exempel".into(),
                signing_policy: SigningPolicy::SelfService,
                accept_unattested_keys: false,
                created_at: now,
            },
            &event("organisation.add", now),
        )
        .await
        .unwrap();
    store
        .add_person(
            &Person {
                hsa_id: ANNA.into(),
                given_name: "Anna".into(),
                surname: "Andersson".into(),
                org_number: ORG.into(),
                signing_entitled: true,
                active: true,
                created_at: now,
            },
            &event("person.add", now),
        )
        .await
        .unwrap();
    let master = eid_pki::CardMasterKey::generate().unwrap();
    let card_path = dir.path().join("card.json");
    let card =
        VirtualCard::create(&card_path, CardProfile::new("9752000001", product, kind)).unwrap();
    let card = CardClient::new(VirtualReader::new(card));
    let letter = personalise(
        &card,
        &ca,
        &*store,
        &master,
        &Personalisation {
            holder: ANNA,
            card_number: "9752000001",
            product_number: product,
            kind: store_kind,
            virtual_card: true,
        },
        "admin:test",
        now - time::Duration::minutes(5),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    drop(card);
    let pin1 = match letter {
        PinLetter::TwoPin { pin1, .. } => pin1,
        PinLetter::OnePin { transport_code } => transport_code,
    };

    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());

    let app = App::bind(Config {
        cards: vec![card_path.clone()],
        servers: vec![base.clone()],
        port: 0,
    })
    .await
    .unwrap();
    let app_url = app.url().trim_end_matches('/').to_owned();
    let capability = app.capability().to_owned();
    let launch_base = app.launch_base();
    let (stop_app, app_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(async {
        let _ = app_stopped.await;
    }));

    let secrets = Secrets {
        kek: KeyEncryptionKey::generate(&mut rand::rng()),
        subject: SubjectSecret::generate(&mut rand::rng()),
    };
    let mut settings = Settings::new(base.clone());
    settings.launch_base = launch_base.clone();
    let state = build_state(store.clone(), ca, clock, settings, secrets)
        .await
        .unwrap();
    let (_, rp_secret) = state
        .provider
        .register_client(
            &ClientSpec {
                client_id: RP.into(),
                name: "Testtjänsten".into(),
                confidential: true,
                redirect_uris: vec![RP_REDIRECT.into()],
                post_logout_redirect_uris: vec![],
                scopes: vec!["openid".into(), "profile".into()],
                pkce_optional: false,
                id_token_alg: None,
            },
            "test",
            now,
            &mut rand::rng(),
        )
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(state), async {
        let _ = stopped.await;
    }));
    World {
        base,
        app: app_url,
        capability,
        launch_base,
        card: card_path,
        pin1: pin1.to_string(),
        rp_secret: rp_secret.unwrap().expose().to_owned(),
        _stop: stop,
        _stop_app: stop_app,
        _dir: dir,
    }
}

/// A browser: no automatic redirects; the server's cookies kept by hand and sent only to
/// the server.
pub struct Browser {
    http: reqwest::Client,
    server: String,
    pub cookies: HashMap<String, String>,
    /// The order reference and CSRF token of the last waiting page.
    order: Option<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> String {
        self.headers[LOCATION].to_str().unwrap().to_owned()
    }

    pub fn input(&self, name: &str) -> String {
        between(&self.body, &format!("name=\"{name}\" value=\""), "\"")
    }

    pub fn attr(&self, attr: &str) -> String {
        between(&self.body, &format!("{attr}=\""), "\"")
    }
}

pub fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    text[from..from + len].to_owned()
}

pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
}

impl Browser {
    pub fn new(world: &World) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            server: world.base.clone(),
            cookies: HashMap::new(),
            order: None,
        }
    }

    /// What the waiting page's poll sees of the last order: (status, hint code).
    pub async fn collect(&mut self) -> (String, String) {
        let (order_ref, csrf) = self.order.clone().unwrap();
        let url = format!("{}/orders/collect", self.server);
        let r = self
            .http
            .post(&url)
            .header("x-csrf-token", csrf)
            .json(&json!({ "orderRef": order_ref }));
        let page = self.send(&url, r).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let v: Value = serde_json::from_str(&page.body).unwrap();
        (
            v["status"].as_str().unwrap_or_default().to_owned(),
            v["hintCode"].as_str().unwrap_or_default().to_owned(),
        )
    }

    pub async fn send(&mut self, url: &str, request: reqwest::RequestBuilder) -> Page {
        let request = if url.starts_with(&format!("{}/", self.server)) && !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.header("cookie", cookie)
        } else {
            request
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (name, rest) = value.split_once('=').unwrap();
            let v = rest.split(';').next().unwrap();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let r = self.http.get(url);
        self.send(url, r).await
    }

    pub async fn post_form(&mut self, url: &str, pairs: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs));
        self.send(url, r).await
    }
}

pub struct AuthRequest {
    pub state: String,
    pub verifier: String,
    pub url: String,
}

pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl World {
    pub fn auth_request(&self) -> AuthRequest {
        let (state, nonce, verifier) = (random(16), random(16), random(32));
        let c = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        let pairs = [
            ("client_id", RP),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &c),
            ("code_challenge_method", "S256"),
        ];
        let url = format!("{}/oidc/authorize?{}", self.base, encode(&pairs));
        AuthRequest {
            state,
            verifier,
            url,
        }
    }

    /// Opens the login page, presses *Legitimera*: the launch link of the waiting page
    /// (which points at the app).
    pub async fn start_order(&self, browser: &mut Browser, request: &AuthRequest) -> String {
        let login = browser.get(&request.url).await;
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
        browser.order = Some((wait.attr("data-order-ref"), wait.attr("data-csrf")));
        let link = unescape(&wait.attr("href"));
        assert!(link.starts_with(&self.launch_base), "{link}");
        link
    }

    /// Posts `action` of the app's dialog `page` with `extra` fields.
    pub async fn post_app(
        &self,
        browser: &mut Browser,
        page: &Page,
        action: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut pairs = vec![
            ("launch", page.input("launch")),
            ("csrf", page.input("csrf")),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = format!("{}/{}/{action}", self.app, self.capability);
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.app)
            .body(encode(&pairs));
        browser.send(&url, r).await
    }

    /// Redeems `code` with `client_secret_basic`.
    pub async fn token(&self, code: &str, verifier: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_REDIRECT),
            ("code_verifier", verifier),
        ];
        let creds = format!("{RP}:{}", encode(&[("a", &self.rp_secret)])[2..].to_owned());
        let r = reqwest::Client::new()
            .post(format!("{}/oidc/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {}", STANDARD.encode(creds)))
            .body(encode(&form))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}
