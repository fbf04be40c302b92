//! `eid bench login`: whole card logins over loopback HTTP. A fresh data folder, an
//! organisation, persons with personalised in-memory virtual two-PIN cards and a registered
//! confidential client are set up before the clock starts; then the server runs in-process
//! on 127.0.0.1 and each worker plays browser, eID app (with its own card) and relying
//! party: authorize → login page → Legitimera → app fetch → PIN1 + signature → complete →
//! return → code → token exchange with PKCE → ID token verified against the JWKS.
//! `--token-only` times only token exchanges, on codes minted by untimed ceremonies.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_card::{
    Card as _, CardClient, CardProfile, KeySlot, Pin, PinRef, VirtualCard, VirtualReader,
};
use eid_config::Config;
use eid_idp::ClientSpec;
use eid_pki::{CardMasterKey, KeyAlgorithm};
use eid_protocol::{AppCompleteResponse, AppFetchResponse, ToBeSigned};
use eid_ra::{Personalisation, PinLetter, personalise};
use eid_server::{Secrets, Settings, bind, build_state, router, serve};
use eid_store::{CardKind, Person, Store};
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::percentile_ms;
use crate::cli::BenchLoginArgs;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

use super::ORG;
const CLIENT: &str = "bench";
const REDIRECT: &str = "http://127.0.0.1:3001/cb";
/// Persons and cards provisioned at least (one card per worker, more if asked).
const MIN_PERSONS: usize = 16;
/// Codes each worker mints per round in `--token-only` (codes live 60 s).
const CODES_PER_ROUND: usize = 128;

pub async fn run(args: BenchLoginArgs) -> Outcome {
    let folder =
        super::fresh_data_folder("login", args.duration, args.concurrency, KeyAlgorithm::P256)
            .await?;
    let dir = folder.path().to_path_buf();
    let config = Config::load(&dir, &[])?;
    let ca = Arc::new(load_ca(&config)?);
    let store = open_store(&config).await?;
    let master =
        CardMasterKey::load(&config.cards.master_key).map_err(|e| Failure::Usage(e.to_string()))?;

    let persons = args.concurrency.max(MIN_PERSONS);
    eprintln!("provisioning {persons} persons with virtual two-PIN cards (not timed)…");
    let now = crate::admin::now();
    let event = |action: &str| super::event(now, action);
    super::add_organisation(store.as_ref(), now, false).await?;
    let mut cards = Vec::with_capacity(persons);
    for i in 0..persons {
        let hsa_id = format!("SE{ORG}-B{i:04}");
        let card_number = format!("97521{i:05}");
        store
            .add_person(
                &Person {
                    hsa_id: hsa_id.clone(),
                    given_name: "Bench".into(),
                    surname: format!("Marker{i}"),
                    org_number: ORG.into(),
                    signing_entitled: true,
                    active: true,
                    created_at: now,
                },
                &event("person.add"),
            )
            .await?;
        let card = VirtualCard::in_memory(CardProfile::new(
            &card_number,
            "610",
            eid_card::CardKind::TwoPin,
        ))
        .map_err(|e| Failure::Internal(format!("virtual card: {e}")))?;
        let card = CardClient::new(VirtualReader::new(card));
        let letter = personalise(
            &card,
            &ca,
            store.as_ref(),
            &master,
            &Personalisation {
                holder: &hsa_id,
                card_number: &card_number,
                product_number: "610",
                kind: CardKind::TwoPin,
                virtual_card: true,
            },
            "bench",
            crate::admin::now(),
            &mut rand::rng(),
        )
        .await
        .map_err(|e| Failure::Internal(format!("personalisation: {e}")))?;
        let PinLetter::TwoPin { pin1, .. } = letter else {
            return Err(Failure::Internal("not a two-PIN letter".into()));
        };
        cards.push((card, pin1));
    }

    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let base = format!("http://{addr}");
    let secrets =
        Secrets::load_or_create(&config.data_dir).map_err(|e| Failure::Usage(e.to_string()))?;
    let mut settings = Settings::new(base.clone());
    // One card and one browser would otherwise be limited to 10 logins a minute.
    settings.rate_limits.order_starts_per_session.max = 0;
    settings.rate_limits.completions_per_card.max = 0;
    let clock = Arc::new(eid_clock::SystemClock);
    let state = build_state(Arc::clone(&store), ca, clock, settings, secrets)
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let (_, secret) = state
        .provider
        .register_client(
            &ClientSpec {
                client_id: CLIENT.into(),
                name: "Benchmark".into(),
                confidential: true,
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: Vec::new(),
                scopes: vec!["openid".into(), "profile".into()],
                pkce_optional: false,
                id_token_alg: None,
            },
            "bench",
            now,
            &mut rand::rng(),
        )
        .await
        .map_err(|e| Failure::Internal(format!("client registration: {e}")))?;
    let secret =
        secret.ok_or_else(|| Failure::Internal("a confidential client without a secret".into()))?;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", form(CLIENT), form(secret.expose())))
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(state), async {
        let _ = stopped.await;
    }));

    let keys = jwks(&base).await?;
    let shared = Arc::new(Shared { base, basic, keys });
    let workers: Vec<Worker> = cards
        .into_iter()
        .take(args.concurrency)
        .map(|(card, pin1)| {
            Ok(Worker {
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| Failure::Internal(e.to_string()))?,
                card,
                pin1,
                shared: Arc::clone(&shared),
            })
        })
        .collect::<Outcome<_>>()?;

    let result = if args.token_only {
        token_only(workers, args.duration, args.concurrency).await
    } else {
        ceremonies(workers, args.duration, args.concurrency).await
    };

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    drop(store);
    drop(folder);
    result
}

/// What every worker shares.
struct Shared {
    base: String,
    /// `Authorization` for the token endpoint.
    basic: String,
    /// The JWKS, fetched once, by `kid`.
    keys: HashMap<String, DecodingKey>,
}

/// One load generator: its own HTTP client (keep-alive) and its own card.
struct Worker {
    http: reqwest::Client,
    card: CardClient<VirtualReader>,
    pin1: Zeroizing<String>,
    shared: Arc<Shared>,
}

/// A code waiting for its token exchange.
struct Minted {
    code: String,
    verifier: String,
    nonce: String,
}

/// Full ceremonies until `duration` has passed.
async fn ceremonies(workers: Vec<Worker>, duration: u64, concurrency: usize) -> Outcome {
    eprintln!("logging in for {duration} s with {concurrency} workers…");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(duration);
    let mut set = tokio::task::JoinSet::new();
    for worker in workers {
        set.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let result = match worker.mint().await {
                    Ok(minted) => worker.exchange(&minted).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => latencies.push(start.elapsed().as_micros() as u64),
                    Err(e) => errors.push(e),
                }
            }
            (latencies, errors)
        });
    }
    let (mut latencies, errors) = collect(&mut set).await?;
    report("ceremonies", &mut latencies, &errors, started.elapsed())
}

/// Rounds of untimed minting and timed token exchanges until the exchanges took
/// `duration`.
async fn token_only(mut workers: Vec<Worker>, duration: u64, concurrency: usize) -> Outcome {
    eprintln!(
        "exchanging codes for {duration} s with {concurrency} workers, \
         minting {CODES_PER_ROUND} codes per worker per round (minting not timed)…"
    );
    let budget = Duration::from_secs(duration);
    let mut timed = Duration::ZERO;
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while timed < budget {
        // Mint, untimed.
        let mut set = tokio::task::JoinSet::new();
        for worker in workers.drain(..) {
            set.spawn(async move {
                let mut minted = Vec::with_capacity(CODES_PER_ROUND);
                let mut errs = Vec::new();
                for _ in 0..CODES_PER_ROUND {
                    match worker.mint().await {
                        Ok(m) => minted.push(m),
                        Err(e) => errs.push(e),
                    }
                }
                (worker, minted, errs)
            });
        }
        let mut batches = Vec::new();
        while let Some(joined) = set.join_next().await {
            let (worker, minted, errs) =
                joined.map_err(|e| Failure::Internal(format!("a load task failed: {e}")))?;
            errors.extend(errs);
            batches.push((worker, minted));
        }
        // Exchange, timed: until the budget is spent or the codes are used.
        let deadline = Instant::now() + (budget - timed);
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for (worker, minted) in batches {
            set.spawn(async move {
                let mut lat = Vec::new();
                let mut errs = Vec::new();
                for m in &minted {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let start = Instant::now();
                    match worker.redeem(m).await {
                        Ok(token) => {
                            lat.push(start.elapsed().as_micros() as u64);
                            if let Err(e) = worker.verify(&token, &m.nonce) {
                                errs.push(e);
                            }
                        }
                        Err(e) => errs.push(e),
                    }
                }
                (worker, lat, errs)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (worker, lat, errs) =
                joined.map_err(|e| Failure::Internal(format!("a load task failed: {e}")))?;
            latencies.extend(lat);
            errors.extend(errs);
            workers.push(worker);
        }
        timed += started.elapsed();
    }
    report("tokens", &mut latencies, &errors, timed)
}

type Results = (Vec<u64>, Vec<String>);

async fn collect(set: &mut tokio::task::JoinSet<Results>) -> Outcome<Results> {
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (lat, errs) =
            joined.map_err(|e| Failure::Internal(format!("a load task failed: {e}")))?;
        latencies.extend(lat);
        errors.extend(errs);
    }
    Ok((latencies, errors))
}

fn report(what: &str, latencies: &mut [u64], errors: &[String], elapsed: Duration) -> Outcome {
    let elapsed = elapsed.as_secs_f64();
    eprintln!(
        "{} {what} in {elapsed:.2} s, {} errors",
        latencies.len(),
        errors.len()
    );
    if let Some(e) = errors.first() {
        eprintln!("first error: {e}");
    }
    let rate = latencies.len() as f64 / elapsed;
    println!(
        "{rate:.0} {what}/s p50={:.2} p99={:.2} errors={}",
        percentile_ms(latencies, 50.0),
        percentile_ms(latencies, 99.0),
        errors.len()
    );
    if !errors.is_empty() {
        return Err(Failure::Internal(format!("{} {what} failed", errors.len())));
    }
    Ok(())
}

/// The decoding keys of the server's JWKS by `kid`.
async fn jwks(base: &str) -> Outcome<HashMap<String, DecodingKey>> {
    let set: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{base}/oidc/jwks"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| Failure::Internal(format!("JWKS: {e}")))?
        .json()
        .await
        .map_err(|e| Failure::Internal(format!("JWKS: {e}")))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| Failure::Internal(format!("JWK: {e}")))?;
        keys.insert(kid, key);
    }
    Ok(keys)
}

/// A browser's response, its cookies already taken.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Page {
    fn expect(self, status: u16, step: &str) -> Result<Self, String> {
        if self.status == status {
            Ok(self)
        } else {
            Err(format!(
                "{step}: status {} (expected {status}): {}",
                self.status,
                self.body.chars().take(200).collect::<String>()
            ))
        }
    }

    /// The `value` of the hidden input `name`.
    fn input(&self, name: &str) -> Result<String, String> {
        between(&self.body, &format!("name=\"{name}\" value=\""), "\"")
    }
}

fn between(text: &str, start: &str, end: &str) -> Result<String, String> {
    let from = text
        .find(start)
        .ok_or_else(|| format!("`{start}` not in the page"))?
        + start.len();
    let len = text[from..]
        .find(end)
        .ok_or_else(|| format!("no end of `{start}`"))?;
    Ok(text[from..from + len].to_owned())
}

fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn err<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}

impl Worker {
    /// A browser request with the ceremony's cookies; takes the cookies it sets.
    async fn browse(
        &self,
        cookies: &mut HashMap<String, String>,
        request: reqwest::RequestBuilder,
        step: &'static str,
    ) -> Result<Page, String> {
        let request = if cookies.is_empty() {
            request
        } else {
            let header = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.header("cookie", header)
        };
        let response = request.send().await.map_err(err(step))?;
        let status = response.status().as_u16();
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().map_err(err(step))?;
            let Some((name, rest)) = value.split_once('=') else {
                continue;
            };
            let v = rest.split(';').next().unwrap_or_default();
            if value.contains("Max-Age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.map_err(err(step))?;
        Ok(Page {
            status,
            location,
            body,
        })
    }

    /// A card login from the authorization request to the code at the client.
    async fn mint(&self) -> Result<Minted, String> {
        let base = &self.shared.base;
        let (state, nonce, verifier) = (random(16), random(16), random(32));
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        let url = format!(
            "{base}/oidc/authorize?{}",
            encode(&[
                ("client_id", CLIENT),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid profile"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
        );
        let mut cookies = HashMap::new();
        let login = self
            .browse(&mut cookies, self.http.get(&url), "login page")
            .await?
            .expect(200, "login page")?;
        let body = encode(&[
            ("request", &login.input("request")?),
            ("mac", &login.input("mac")?),
            ("csrf", &login.input("csrf")?),
            ("lang", &login.input("lang")?),
            ("method", "this-device"),
        ]);
        let post = self
            .http
            .post(format!("{base}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let wait = self
            .browse(&mut cookies, post, "Legitimera")
            .await?
            .expect(200, "Legitimera")?;
        let back = self.app(&wait).await?;
        let done = self
            .browse(&mut cookies, self.http.get(&back), "return")
            .await?
            .expect(303, "return")?;
        // The waiting page's poll: the order is complete for the session that started it.
        let order_ref = between(&wait.body, "data-order-ref=\"", "\"")?;
        let csrf = between(&wait.body, "data-csrf=\"", "\"")?;
        let poll = self
            .http
            .post(format!("{base}/orders/collect"))
            .header("x-csrf-token", csrf)
            .json(&json!({ "orderRef": order_ref }));
        let collected = self
            .browse(&mut cookies, poll, "collect")
            .await?
            .expect(200, "collect")?;
        if !collected.body.contains("\"complete\"") {
            return Err(format!("collect: not complete: {}", collected.body));
        }
        let location = done.location.ok_or("return: no Location")?;
        if !location.starts_with(REDIRECT) {
            return Err(format!("return: redirected to {location}"));
        }
        let query: HashMap<String, String> = form_urlencoded::parse(
            location
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or_default()
                .as_bytes(),
        )
        .into_owned()
        .collect();
        if query.get("state") != Some(&state) {
            return Err("return: the state does not match".into());
        }
        if query.get("iss") != Some(base) {
            return Err("return: the iss does not match".into());
        }
        let code = query
            .get("code")
            .cloned()
            .ok_or_else(|| format!("return: no code in {location}"))?;
        Ok(Minted {
            code,
            verifier,
            nonce,
        })
    }

    /// The eID app: fetches the order of the waiting page's launch link, signs with the
    /// card after PIN1, completes; returns the return URL.
    async fn app(&self, wait: &Page) -> Result<String, String> {
        let base = &self.shared.base;
        let link = between(&wait.body, "href=\"", "\"")?;
        let token = link
            .split_once("autostarttoken=")
            .map(|(_, t)| t)
            .ok_or_else(|| format!("app: not a launch link: {link}"))?;
        let fetched: AppFetchResponse = self
            .http
            .post(format!("{base}/app/v1/order"))
            .json(&json!({ "autoStartToken": token }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(err("app fetch"))?
            .json()
            .await
            .map_err(err("app fetch"))?;
        let tbs = ToBeSigned::for_order(&fetched.order, None);
        let digest = tbs.digest().map_err(err("to be signed"))?;
        self.card.select().map_err(err("card select"))?;
        self.card
            .verify(PinRef::Pin1, &Pin::new(self.pin1.clone()))
            .map_err(err("PIN1"))?;
        let signature = self
            .card
            .sign(KeySlot::Authentication, &digest)
            .map_err(err("card sign"))?;
        let certificate = self
            .card
            .read_certificate(KeySlot::Authentication)
            .map_err(err("card certificate"))?
            .ok_or("card: no authentication certificate")?;
        let done: AppCompleteResponse = self
            .http
            .post(format!("{base}/app/v1/complete"))
            .bearer_auth(&fetched.app_token)
            .json(&json!({
                "signature": STANDARD.encode(signature),
                "certificate": STANDARD.encode(certificate),
            }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(err("complete"))?
            .json()
            .await
            .map_err(err("complete"))?;
        Ok(done.return_url)
    }

    /// The token exchange (client_secret_basic, PKCE); returns the ID token.
    async fn redeem(&self, minted: &Minted) -> Result<String, String> {
        let response = self
            .http
            .post(format!("{}/oidc/token", self.shared.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", &self.shared.basic)
            .body(encode(&[
                ("grant_type", "authorization_code"),
                ("code", &minted.code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &minted.verifier),
            ]))
            .send()
            .await
            .map_err(err("token"))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(err("token"))?;
        if !status.is_success() {
            return Err(format!("token: status {status}: {body}"));
        }
        body.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "token: no id_token".into())
    }

    /// Checks the ID token's signature (by its `kid`), issuer, audience, expiry and nonce.
    fn verify(&self, token: &str, nonce: &str) -> Result<(), String> {
        let header = jsonwebtoken::decode_header(token).map_err(err("ID token"))?;
        let kid = header.kid.ok_or("ID token: no kid")?;
        let key = self
            .shared
            .keys
            .get(&kid)
            .ok_or_else(|| format!("ID token: kid {kid} not in the JWKS"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[CLIENT]);
        validation.set_issuer(&[&self.shared.base]);
        let claims = jsonwebtoken::decode::<Value>(token, key, &validation)
            .map_err(err("ID token"))?
            .claims;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err("ID token: the nonce does not match".into());
        }
        Ok(())
    }

    async fn exchange(&self, minted: &Minted) -> Result<(), String> {
        let token = self.redeem(minted).await?;
        self.verify(&token, &minted.nonce)
    }
}
