//! A running server on port 0 with a real SQLite store, a CA, a person with a personalised
//! virtual two-PIN card and registered clients; a test browser that manages its cookies
//! itself; and the eID app played in-process with the real card.
#![allow(missing_debug_implementations)] // Test fixtures.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_card::{Card, CardClient, CardProfile, KeySlot, Pin, PinRef, VirtualCard, VirtualReader};
use eid_clock::SystemClock;
use eid_idp::{ClientSpec, KeyEncryptionKey, SubjectSecret};
use eid_pki::{CaNames, CertificateAuthority, FileSigner, KeyAlgorithm, ProfileSettings};
use eid_protocol::{AppCompleteResponse, AppFetchResponse, ToBeSigned};
use eid_ra::{Personalisation, PinLetter, personalise};
use eid_server::{AppState, Secrets, Settings, bind, build_state, router, serve};
use eid_store::{
    AuditEvent, CardKind, Durability, Organisation, Person, SigningPolicy, SqliteStore, Store,
};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub const ORG: &str = "2321000016";
pub const ANNA: &str = "SE2321000016-A1B2";
pub const RP: &str = "rp";
pub const RP_REDIRECT: &str = "https://rp.example/cb";
pub const LEGACY: &str = "legacy";

pub struct Server {
    pub base: String,
    pub state: AppState<SqliteStore>,
    pub card: CardClient<VirtualReader>,
    pub pin1: String,
    pub rp_secret: String,
    pub legacy_secret: String,
    _stop: tokio::sync::oneshot::Sender<()>,
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

fn client(id: &str, pkce_optional: bool) -> ClientSpec {
    ClientSpec {
        client_id: id.into(),
        name: "Testtjänsten".into(),
        confidential: true,
        redirect_uris: vec![RP_REDIRECT.into()],
        post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
        scopes: vec!["openid".into(), "profile".into()],
        pkce_optional,
        id_token_alg: None,
    }
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

/// A server whose settings `edit` changes first (rate limits, trusted proxies).
pub async fn start_with(edit: impl FnOnce(&mut Settings)) -> Server {
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
    let card = VirtualCard::in_memory(CardProfile::new(
        "9752000001",
        "610",
        eid_card::CardKind::TwoPin,
    ))
    .unwrap();
    let card = CardClient::new(VirtualReader::new(card));
    let letter = personalise(
        &card,
        &ca,
        &*store,
        &master,
        &Personalisation {
            holder: ANNA,
            card_number: "9752000001",
            product_number: "610",
            kind: CardKind::TwoPin,
            virtual_card: true,
        },
        "admin:test",
        now - time::Duration::minutes(5),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    let PinLetter::TwoPin { pin1, .. } = letter else {
        panic!("a two-PIN card")
    };

    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let secrets = Secrets {
        kek: KeyEncryptionKey::generate(&mut rand::rng()),
        subject: SubjectSecret::generate(&mut rand::rng()),
    };
    let mut settings = Settings::new(base.clone());
    edit(&mut settings);
    let state = build_state(store.clone(), ca, clock, settings, secrets)
        .await
        .unwrap();
    let (_, rp_secret) = state
        .provider
        .register_client(&client(RP, false), "test", now, &mut rand::rng())
        .await
        .unwrap();
    let (_, legacy_secret) = state
        .provider
        .register_client(&client(LEGACY, true), "test", now, &mut rand::rng())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(state.clone()), async {
        let _ = stopped.await;
    }));
    Server {
        base,
        state,
        card,
        pin1: pin1.to_string(),
        rp_secret: rp_secret.unwrap().expose().to_owned(),
        legacy_secret: legacy_secret.unwrap().expose().to_owned(),
        _stop: stop,
        _dir: dir,
    }
}

/// A browser: no automatic redirects, its own cookie jar (reqwest's would not send
/// `Secure` cookies over http).
pub struct Browser {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
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

    /// The `value` of the hidden input `name`.
    pub fn input(&self, name: &str) -> String {
        between(&self.body, &format!("name=\"{name}\" value=\""), "\"")
    }

    /// The value of attribute `attr` (its first occurrence).
    pub fn attr(&self, attr: &str) -> String {
        between(&self.body, &format!("{attr}=\""), "\"")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
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

/// The decoded query parameters of `url`.
pub fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("cookie", self.cookie_header())
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
                assert!(value.contains(attr), "{attr} missing in a cookie");
            }
            let (name, rest) = value.split_once('=').unwrap();
            assert!(name.starts_with("__Host-"));
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
        self.send(r).await
    }

    pub async fn post_form(&mut self, url: &str, pairs: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs));
        self.send(r).await
    }

    pub async fn post_json(&mut self, url: &str, body: &Value, csrf: &str) -> Page {
        let r = self.http.post(url).header("x-csrf-token", csrf).json(body);
        self.send(r).await
    }
}

/// A relying party's authorization request.
pub struct AuthRequest {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub url: String,
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Server {
    pub fn issuer(&self) -> &str {
        &self.base
    }

    /// An authorization URL for client `rp` with state, nonce and PKCE, plus `extra`.
    pub fn auth_request(&self, extra: &[(&str, &str)]) -> AuthRequest {
        let (state, nonce, verifier) = (random(16), random(16), random(32));
        let c = challenge(&verifier);
        let mut pairs = vec![
            ("client_id", RP),
            ("redirect_uri", RP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &c),
            ("code_challenge_method", "S256"),
        ];
        pairs.extend_from_slice(extra);
        let url = format!("{}/oidc/authorize?{}", self.base, encode(&pairs));
        AuthRequest {
            state,
            nonce,
            verifier,
            url,
        }
    }

    /// Legitimera on a login page: the waiting page.
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
        wait
    }

    /// The eID app: opens the launch link of the waiting page, fetches the order, reports,
    /// signs with the card after PIN1, completes; returns the return URL.
    pub async fn app(&self, wait: &Page) -> String {
        let link = wait.attr("href");
        let token = link.strip_prefix("eid:///?autostarttoken=").unwrap();
        let http = reqwest::Client::new();
        let fetched: AppFetchResponse = http
            .post(format!("{}/app/v1/order", self.base))
            .json(&json!({ "autoStartToken": token }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = http
            .post(format!("{}/app/v1/report", self.base))
            .bearer_auth(&fetched.app_token)
            .json(&json!({ "hintCode": "userSign" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let tbs = ToBeSigned::for_order(&fetched.order, None);
        self.card.select().unwrap();
        self.card
            .verify(PinRef::Pin1, &Pin::new(Zeroizing::new(self.pin1.clone())))
            .unwrap();
        let signature = self
            .card
            .sign(KeySlot::Authentication, &tbs.digest().unwrap())
            .unwrap();
        let certificate = self
            .card
            .read_certificate(KeySlot::Authentication)
            .unwrap()
            .unwrap();
        let r = http
            .post(format!("{}/app/v1/complete", self.base))
            .bearer_auth(&fetched.app_token)
            .json(&json!({
                "signature": STANDARD.encode(signature),
                "certificate": STANDARD.encode(certificate),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let done: AppCompleteResponse = r.json().await.unwrap();
        done.return_url
    }

    /// A whole card login from the authorization URL: the redirect to the client.
    pub async fn login(&self, browser: &mut Browser, url: &str) -> String {
        let page = browser.get(url).await;
        let wait = self.legitimera(browser, &page).await;
        let back = self.app(&wait).await;
        let done = browser.get(&back).await;
        assert_eq!(done.status, 303, "{}", done.body);
        done.location()
    }

    /// The code of a redirect to the client, after checking `state` and `iss`.
    pub fn code(&self, location: &str, request: &AuthRequest) -> String {
        assert!(location.starts_with(RP_REDIRECT), "{location}");
        let q = query(location);
        assert_eq!(q["state"], request.state);
        assert_eq!(q["iss"], self.issuer());
        q.get("code")
            .unwrap_or_else(|| panic!("{location}"))
            .clone()
    }

    /// Redeems `code` with `client_secret_basic`.
    pub async fn token(&self, code: &str, verifier: Option<&str>) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token_as(RP, &self.rp_secret, &form, true).await
    }

    pub async fn token_as(
        &self,
        client: &str,
        secret: &str,
        form: &[(&str, &str)],
        basic: bool,
    ) -> (u16, Value) {
        let mut form = form.to_vec();
        let mut request = reqwest::Client::new()
            .post(format!("{}/oidc/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded");
        if basic {
            let user = encode(&[("a", client)]);
            let pass = encode(&[("a", secret)]);
            let creds = format!("{}:{}", &user[2..], &pass[2..]);
            request = request.header("authorization", format!("Basic {}", STANDARD.encode(creds)));
        } else {
            form.push(("client_id", client));
            form.push(("client_secret", secret));
        }
        let r = request.body(encode(&form)).send().await.unwrap();
        let status = r.status().as_u16();
        if status == 200 {
            assert_eq!(r.headers()["cache-control"], "no-store");
            assert_eq!(r.headers()["pragma"], "no-cache");
        }
        (status, r.json().await.unwrap())
    }

    /// The claims of `token` (an ID token for `audience`), verified against the JWKS by
    /// its `kid`.
    pub async fn verify(&self, token: &str, audience: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let kid = header.kid.clone().unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{}/oidc/jwks", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwk = jwks.find(&kid).expect("the kid is published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[self.issuer()]);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap()
            .claims
    }

    pub async fn userinfo_get(&self, access_token: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .get(format!("{}/oidc/userinfo", self.base))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}
