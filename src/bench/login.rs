//! `eid bench login`: whole card logins over loopback HTTP. A fresh data folder, an
//! organisation, persons with personalised in-memory virtual two-PIN cards and a registered
//! confidential client are set up before the clock starts; then the server runs in-process
//! on 127.0.0.1 and each worker plays browser, eID app (with its own card) and relying
//! party: authorize → login page → Legitimera → app fetch → PIN1 + signature → complete →
//! return → code → token exchange with PKCE → ID token verified against the JWKS.
//! `--token-only` times only token exchanges, on codes minted by untimed ceremonies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_card::Card;
use eid_config::Config;
use eid_idp::ClientSpec;
use eid_pki::KeyAlgorithm;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use zeroize::Zeroizing;

use super::browser::{Browser, client, encode, err, form, query, random};
use super::provision::{self, InProcess};
use super::{collect, report};
use crate::cli::BenchLoginArgs;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

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
    let master = provision::master_key(&config)?;

    let persons = args.concurrency.max(MIN_PERSONS);
    eprintln!("provisioning {persons} persons with virtual two-PIN cards (not timed)…");
    let now = crate::admin::now();
    super::add_organisation(store.as_ref(), now, false).await?;
    let cards = provision::cards(&store, &ca, &master, persons, args.concurrency).await?;

    let server = InProcess::start(&config, Arc::clone(&store), ca, master, |settings| {
        // One card and one browser would otherwise be limited to 10 logins a minute.
        settings.rate_limits.order_starts_per_session.max = 0;
        settings.rate_limits.completions_per_card.max = 0;
    })
    .await?;
    let base = server.base.clone();
    let (_, secret) = server
        .state
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

    let keys = jwks(&base).await?;
    let shared = Arc::new(Shared { base, basic, keys });
    let workers: Vec<Worker> = cards
        .into_iter()
        .take(args.concurrency)
        .map(|card| {
            Ok(Worker {
                http: client().map_err(Failure::Internal)?,
                card: card.card,
                pin1: card.pin1,
                shared: Arc::clone(&shared),
            })
        })
        .collect::<Outcome<_>>()?;

    let result = if args.token_only {
        token_only(workers, args.duration, args.concurrency).await
    } else {
        ceremonies(workers, args.duration, args.concurrency).await
    };

    server.stop().await;
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
    card: Box<dyn Card>,
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

impl Worker {
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
        let mut browser = Browser::new(&self.http, base);
        let location = browser.card_login(&url, &*self.card, &self.pin1).await?;
        if !location.starts_with(REDIRECT) {
            return Err(format!("return: redirected to {location}"));
        }
        let query = query(&location);
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
