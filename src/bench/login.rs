//! `eid bench login`: whole card logins over loopback HTTP. A fresh data folder, an
//! organisation, persons with personalised in-memory virtual two-PIN cards and a registered
//! confidential client are set up before the clock starts; then the server runs in-process
//! on 127.0.0.1 and each worker plays browser, eID app (with its own card) and relying
//! party: authorize → login page → Legitimera → app fetch → PIN1 + signature → complete →
//! return → code → token exchange with PKCE → ID token verified against the JWKS.
//! `--token-only` times only token exchanges, on codes minted by untimed ceremonies.
//!
//! `--store postgres://…` runs on a database of the benchmark's own on that PostgreSQL
//! server (made before, dropped after); `--nodes 2` runs two servers in-process over it,
//! each with its own store handle, sharing the data folder (CA, secrets) and the public
//! URL, and spreads every login over both: the browser's steps (authorize, login page,
//! Legitimera, return, collect) on one node, the app's (fetch, complete) and the token
//! exchange on the other, which node is which alternating from login to login.

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
use eid_server::Settings;
use eid_store::{AnyStore, PostgresStore};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use zeroize::Zeroizing;

use super::browser::{Browser, client, encode, err, form, query, random};
use super::provision::{self, BenchDatabase, InProcess, PostgresServer};
use super::{collect, report_tagged};
use crate::cli::BenchLoginArgs;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

const CLIENT: &str = "bench";
const REDIRECT: &str = "http://127.0.0.1:3001/cb";
/// Persons and cards provisioned at least (one card per worker, more if asked).
const MIN_PERSONS: usize = 16;
/// Codes each worker mints per round in `--token-only` (codes live 60 s).
const CODES_PER_ROUND: usize = 128;
/// The nodes' names on PostgreSQL (their audit chains are named after them).
const NODES: [&str; 2] = ["a", "b"];
/// Connections per node beyond one per worker: the server's own tasks (revocation
/// schedule, audit signing).
const SPARE_CONNECTIONS: usize = 4;
/// PostgreSQL connections of all nodes together, by default. Every audited transaction
/// meets the concurrent ones on the audit chains' heads (see [`pool_size`]), so more
/// transactions at once than the database has cores bring retries, not logins.
const CONNECTIONS: usize = 8;

pub async fn run(args: BenchLoginArgs) -> Outcome {
    super::check_load(args.duration, args.concurrency)?;
    let Some(url) = args.store.as_deref() else {
        if args.nodes > 1 {
            return Err(Failure::Usage(
                "--nodes 2 needs --store postgres://…: SQLite is one node's store (one \
                 server process owns its database file)"
                    .into(),
            ));
        }
        if args.pool_size.is_some() {
            return Err(Failure::Usage(
                "--pool-size is PostgreSQL's (with --store postgres://…)".into(),
            ));
        }
        return bench(&args, None).await;
    };
    let server = PostgresServer::parse(url)?;
    let database = server.create_database().await?;
    let name = database.name().to_owned();
    eprintln!(
        "database {name} made on the PostgreSQL server at {} (dropped at the end)",
        server.shown()
    );
    let result = bench(&args, Some(&database)).await;
    match server.drop_database(database).await {
        Ok(()) => result,
        Err(e) => {
            eprintln!("eid: the database {name} could not be dropped: {e}");
            result.and(Err(e))
        }
    }
}

/// The benchmark on a fresh data folder whose store is `database`, or SQLite.
async fn bench(args: &BenchLoginArgs, database: Option<&BenchDatabase>) -> Outcome {
    let folder = super::fresh_data_folder_on(
        "login",
        args.duration,
        args.concurrency,
        KeyAlgorithm::P256,
        database.map(BenchDatabase::url),
    )
    .await?;
    let dir = folder.path().to_path_buf();
    let config = Config::load(&dir, &[])?;
    let ca = Arc::new(load_ca(&config)?);
    let master = provision::master_key(&config)?;
    let nodes = usize::from(args.nodes);
    // One store handle per node: node a's also provisions.
    let mut stores = Vec::with_capacity(nodes);
    match database {
        None => stores.push(open_store(&config).await?),
        Some(database) => {
            let pool = args.pool_size.map_or_else(
                || pool_size(args.concurrency, nodes, database.free_connections),
                usize::from,
            );
            eprintln!(
                "{nodes} node(s) on PostgreSQL, {pool} pooled connections each (store.pool_size)"
            );
            for node in NODES.iter().take(nodes) {
                let store = PostgresStore::connect(database.url(), node, pool).await?;
                stores.push(Arc::new(AnyStore::from(store)));
            }
        }
    }
    let mut others = stores.split_off(1);
    let store = stores
        .pop()
        .ok_or_else(|| Failure::Internal("no store".into()))?;
    let tags = format!(
        "store={} nodes={nodes}",
        if database.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );

    let persons = args.concurrency.max(MIN_PERSONS);
    eprintln!("provisioning {persons} persons with virtual two-PIN cards (not timed)…");
    let now = crate::admin::now();
    super::add_organisation(store.as_ref(), now, false).await?;
    let cards = provision::cards(&store, &ca, &master, persons, args.concurrency).await?;

    let first = InProcess::start(
        &config,
        Arc::clone(&store),
        Arc::clone(&ca),
        Arc::clone(&master),
        unlimited,
    )
    .await?;
    // Every node's public URL (issuer, return URLs) is the first node's address.
    let public = first.base.clone();
    let mut servers = vec![first];
    for other in others.drain(..) {
        let node = InProcess::start_node(
            &config,
            other,
            Arc::clone(&ca),
            Arc::clone(&master),
            Some(&public),
            unlimited,
        )
        .await?;
        servers.push(node);
    }
    let result = measure(args, &servers, public, cards, now).await;

    for server in servers {
        server.stop().await;
    }
    drop(store);
    drop(folder);
    result.and_then(|(what, mut latencies, errors, elapsed)| {
        report_tagged(what, &mut latencies, &errors, elapsed, &tags)
    })
}

/// What a timed run brings back: what was timed, latencies in microseconds, errors, and
/// the time they took.
type Measured = (&'static str, Vec<u64>, Vec<String>, Duration);

/// Registers the client, and runs the workers against `servers` (the nodes).
async fn measure(
    args: &BenchLoginArgs,
    servers: &[InProcess],
    public: String,
    cards: Vec<provision::BenchCard>,
    now: time::OffsetDateTime,
) -> Outcome<Measured> {
    let first = servers
        .first()
        .ok_or_else(|| Failure::Internal("no server".into()))?;
    let (_, secret) = first
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

    let keys = jwks(&first.local).await?;
    let shared = Arc::new(Shared {
        public,
        nodes: servers.iter().map(|s| s.local.clone()).collect(),
        basic,
        keys,
    });
    let workers: Vec<Worker> = cards
        .into_iter()
        .take(args.concurrency)
        .enumerate()
        .map(|(index, card)| {
            Ok(Worker {
                http: client().map_err(Failure::Internal)?,
                card: card.card,
                pin1: card.pin1,
                shared: Arc::clone(&shared),
                index,
            })
        })
        .collect::<Outcome<_>>()?;

    if args.token_only {
        token_only(workers, args.duration, args.concurrency).await
    } else {
        ceremonies(workers, args.duration, args.concurrency).await
    }
}

/// The benchmark's settings: one card and one browser would otherwise be limited to 10
/// logins a minute.
fn unlimited(settings: &mut Settings) {
    settings.rate_limits.order_starts_per_session.max = 0;
    settings.rate_limits.completions_per_card.max = 0;
}

/// Connections per node: one for each worker's request in flight (every worker may be at
/// the same node at once) and a few spare, but [`CONNECTIONS`] for all nodes together,
/// and within the room PostgreSQL has (`free`, less each node's listening connection and a
/// few for others). Measured on 2 cores, 16 workers, one node: 20 connections made 1.3
/// serialization failures (each a retried transaction) per login, 8 made 0.3 and 4 made
/// 0.1, at about the same rate of logins; the failures are almost all on `audit_heads`.
fn pool_size(concurrency: usize, nodes: usize, free: usize) -> usize {
    let nodes = nodes.max(1);
    let room = free.saturating_sub(nodes + 4) / nodes;
    (concurrency + SPARE_CONNECTIONS)
        .min(CONNECTIONS / nodes)
        .min(room)
        .max(2)
}

/// What every worker shares.
struct Shared {
    /// The public URL inside the protocol: issuer, return URLs.
    public: String,
    /// Where each node listens (`http://127.0.0.1:<port>`): requests go there.
    nodes: Vec<String>,
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
    /// Which: with two nodes, half the workers start their logins on each.
    index: usize,
}

/// A code waiting for its token exchange.
struct Minted {
    code: String,
    verifier: String,
    nonce: String,
    /// The node the exchange goes to (an index into the nodes).
    node: usize,
}

/// Full ceremonies until `duration` has passed.
async fn ceremonies(workers: Vec<Worker>, duration: u64, concurrency: usize) -> Outcome<Measured> {
    eprintln!("logging in for {duration} s with {concurrency} workers…");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(duration);
    let mut set = tokio::task::JoinSet::new();
    for worker in workers {
        set.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let mut round = 0;
            while Instant::now() < deadline {
                let start = Instant::now();
                let result = match worker.mint(round).await {
                    Ok(minted) => worker.exchange(&minted).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => latencies.push(start.elapsed().as_micros() as u64),
                    Err(e) => errors.push(e),
                }
                round += 1;
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = collect(&mut set).await?;
    Ok(("ceremonies", latencies, errors, started.elapsed()))
}

/// Rounds of untimed minting and timed token exchanges until the exchanges took
/// `duration`.
async fn token_only(
    mut workers: Vec<Worker>,
    duration: u64,
    concurrency: usize,
) -> Outcome<Measured> {
    eprintln!(
        "exchanging codes for {duration} s with {concurrency} workers, \
         minting {CODES_PER_ROUND} codes per worker per round (minting not timed)…"
    );
    let budget = Duration::from_secs(duration);
    let mut timed = Duration::ZERO;
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    let mut rounds = 0;
    while timed < budget {
        // Mint, untimed.
        let mut set = tokio::task::JoinSet::new();
        for worker in workers.drain(..) {
            set.spawn(async move {
                let mut minted = Vec::with_capacity(CODES_PER_ROUND);
                let mut errs = Vec::new();
                for i in 0..CODES_PER_ROUND {
                    match worker.mint(rounds * CODES_PER_ROUND + i).await {
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
        rounds += 1;
    }
    Ok(("tokens", latencies, errors, timed))
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
    /// Where the browser's steps of this worker's login `round` go, and where the app's
    /// steps and the token exchange go (the same node when there is one).
    fn nodes(&self, round: usize) -> (usize, usize) {
        let n = self.shared.nodes.len().max(1);
        let first = (self.index + round) % n;
        (first, (first + 1) % n)
    }

    /// A card login from the authorization request to the code at the client, the
    /// `round`-th of this worker: the browser at one node, the app at the other
    /// ([`Browser::card_login_split`]).
    async fn mint(&self, round: usize) -> Result<Minted, String> {
        let (browser_node, app_node) = self.nodes(round);
        let at = self.node(browser_node)?;
        let public = &self.shared.public;
        let (state, nonce, verifier) = (random(16), random(16), random(32));
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        let url = format!(
            "{at}/oidc/authorize?{}",
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
        let mut browser = Browser::new(&self.http, at);
        let location = browser
            .card_login_split(&url, self.node(app_node)?, public, &*self.card, &self.pin1)
            .await?;
        if !location.starts_with(REDIRECT) {
            return Err(format!("return: redirected to {location}"));
        }
        let query = query(&location);
        if query.get("state") != Some(&state) {
            return Err("return: the state does not match".into());
        }
        if query.get("iss") != Some(public) {
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
            node: app_node,
        })
    }

    /// The address of node `i`.
    fn node(&self, i: usize) -> Result<&str, String> {
        self.shared
            .nodes
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("no node {i}"))
    }

    /// The token exchange (client_secret_basic, PKCE) at the node the code's login chose;
    /// returns the ID token.
    async fn redeem(&self, minted: &Minted) -> Result<String, String> {
        let response = self
            .http
            .post(format!("{}/oidc/token", self.node(minted.node)?))
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
        validation.set_issuer(&[&self.shared.public]);
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
