//! What the loopback benchmarks (`eid bench login`, `eid bench enroll`) stand on, made
//! before the clock starts: persons of the benchmark's organisation with personalised
//! in-memory virtual two-PIN cards, and the real server in-process on 127.0.0.1 (port 0)
//! over the benchmark's store, with the card master key so that fetches can complete.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eid_card::{Card, CardClient, CardProfile, VirtualCard, VirtualReader};
use eid_config::Config;
use eid_pki::{CardMasterKey, CertificateAuthority};
use eid_ra::{Personalisation, PinLetter, personalise};
use eid_server::{AppState, Secrets, Settings, bind, build_state, router, serve};
use eid_store::{AnyStore, CardKind, Person, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::ORG;
use crate::failure::{Failure, Outcome};

/// A person's personalised card, held by the load generator, with its PIN letter's codes.
pub struct BenchCard {
    /// The card number.
    pub number: String,
    /// The card: an in-memory virtual two-PIN card, or a PKCS#11 token pair
    /// (`eid bench fetch --stack pkcs11`).
    pub card: Box<dyn Card>,
    /// The reader a virtual card is in (a clone of `card`'s transport: the card can be taken
    /// out and put back); `None` for a token.
    pub reader: Option<VirtualReader>,
    /// The security code (PIN1).
    pub pin1: Zeroizing<String>,
    /// The signing code (PIN2).
    pub pin2: Zeroizing<String>,
}

/// Adds `count` persons of the benchmark's organisation (which must exist), each with a
/// personalised virtual two-PIN card, `parallel` at a time (personalisation is CPU on the
/// card and the CA, and store commits that group well).
pub async fn cards(
    store: &Arc<AnyStore>,
    ca: &Arc<CertificateAuthority>,
    master: &Arc<CardMasterKey>,
    count: usize,
    parallel: usize,
) -> Outcome<Vec<BenchCard>> {
    let parallel = parallel.clamp(1, count.max(1));
    let mut set = tokio::task::JoinSet::new();
    for first in 0..parallel {
        let (store, ca, master) = (Arc::clone(store), Arc::clone(ca), Arc::clone(master));
        set.spawn(async move {
            let mut made = Vec::new();
            for i in (first..count).step_by(parallel) {
                made.push((i, card(&store, &ca, &master, i).await?));
            }
            Ok::<_, Failure>(made)
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(joined) = set.join_next().await {
        all.extend(
            joined.map_err(|e| Failure::Internal(format!("a provisioning task failed: {e}")))??,
        );
    }
    // In the order of their numbers, whatever task made them.
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, card)| card).collect())
}

/// Adds person `i` of the benchmark's organisation (entitled to a signing certificate);
/// returns their HSA-id and the number their card gets.
pub async fn person(store: &dyn Store, i: usize) -> Outcome<(String, String)> {
    let now = crate::admin::now();
    let hsa_id = format!("SE{ORG}-B{i:06}");
    let number = format!("9752{i:06}");
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
            &super::event(now, "person.add"),
        )
        .await?;
    Ok((hsa_id, number))
}

/// Person `i` and their personalised card.
async fn card(
    store: &AnyStore,
    ca: &CertificateAuthority,
    master: &CardMasterKey,
    i: usize,
) -> Outcome<BenchCard> {
    let now = crate::admin::now();
    let (hsa_id, number) = person(store, i).await?;
    let card = VirtualCard::in_memory(CardProfile::new(&number, "610", eid_card::CardKind::TwoPin))
        .map_err(|e| Failure::Internal(format!("virtual card: {e}")))?;
    let reader = VirtualReader::new(card);
    let card = CardClient::new(reader.clone());
    // A `Send` generator: the personalisation awaits the store with it borrowed.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_rng(&mut rand::rng());
    let letter = personalise(
        &card,
        ca,
        store,
        master,
        &Personalisation {
            holder: &hsa_id,
            card_number: &number,
            product_number: "610",
            kind: CardKind::TwoPin,
            virtual_card: true,
        },
        "bench",
        now,
        &mut rng,
    )
    .await
    .map_err(|e| Failure::Internal(format!("personalisation: {e}")))?;
    let PinLetter::TwoPin { pin1, pin2, .. } = letter else {
        return Err(Failure::Internal("not a two-PIN letter".into()));
    };
    Ok(BenchCard {
        number,
        card: Box::new(card),
        reader: Some(reader),
        pin1,
        pin2,
    })
}

/// The real server, serving in-process on 127.0.0.1 until [`InProcess::stop`].
pub struct InProcess {
    /// The server's public URL, issuer and My Pages' origin: `local`, unless the server
    /// was started as another node of an installation ([`InProcess::start_node`]).
    pub base: String,
    /// `http://127.0.0.1:<port>`: where this server listens.
    pub local: String,
    /// The server's state (for setup that has no HTTP route, such as a client's
    /// registration).
    pub state: AppState<AnyStore>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), eid_server::ServeError>>,
}

impl InProcess {
    /// Binds a free loopback port and serves the data folder of `config` over `store` and
    /// `ca`; `adjust` changes the settings first (e.g. the rate limits).
    pub async fn start(
        config: &Config,
        store: Arc<AnyStore>,
        ca: Arc<CertificateAuthority>,
        master: Arc<CardMasterKey>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Outcome<Self> {
        Self::start_node(config, store, ca, master, None, adjust).await
    }

    /// [`InProcess::start`] as a node of the installation whose public URL is `public`
    /// (another node's address): the same issuer and return URLs whichever node a request
    /// reaches. The nodes of one data folder share its secrets (key-encryption key, subject
    /// secret: the files [`Secrets::load_or_create`] reads, made by the first node), so
    /// each reads what another wrote; give each its own store handle on one database.
    pub async fn start_node(
        config: &Config,
        store: Arc<AnyStore>,
        ca: Arc<CertificateAuthority>,
        master: Arc<CardMasterKey>,
        public: Option<&str>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Outcome<Self> {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let local = format!("http://{addr}");
        let base = public.map_or_else(|| local.clone(), str::to_owned);
        let mut secrets =
            Secrets::load_or_create(&config.data_dir).map_err(|e| Failure::Usage(e.to_string()))?;
        secrets.card_master = Some(master);
        let mut settings = Settings::new(base.clone());
        adjust(&mut settings);
        let clock = Arc::new(eid_clock::SystemClock);
        let state = build_state(store, ca, clock, settings, secrets)
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router(state.clone()), async {
            let _ = stopped.await;
        }));
        Ok(Self {
            base,
            local,
            state,
            stop,
            task,
        })
    }

    /// Stops serving; waits a little for in-flight requests.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Loads the card master key the data folder's configuration names.
pub fn master_key(config: &Config) -> Outcome<Arc<CardMasterKey>> {
    CardMasterKey::load(&config.cards.master_key)
        .map(Arc::new)
        .map_err(|e| Failure::Usage(e.to_string()))
}

/// A PostgreSQL server the benchmark makes a database of its own on (`--store`), reached
/// through `psql` (the root crate has no PostgreSQL client of its own: tokio-postgres is a
/// dependency of eid-store only). The password goes to `psql` in its environment, never on
/// a command line or in a message.
pub struct PostgresServer {
    /// The URL as given (with its password, if any): never shown.
    url: reqwest::Url,
    /// The libpq environment of `psql` but for the database.
    env: Vec<(&'static str, String)>,
    /// The database named in the URL, connected to for creating and dropping.
    maintenance: String,
}

/// A database of the benchmark's own on a [`PostgresServer`]; [`BenchDatabase::drop`]
/// removes it.
pub struct BenchDatabase {
    name: String,
    /// Its URL, with the server's password: never shown.
    url: Zeroizing<String>,
    /// Connections the server has room for, for the benchmark's pools.
    pub free_connections: usize,
}

impl PostgresServer {
    /// Reads `--store`: `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (`postgresql://` too;
    /// a few libpq parameters after `?`).
    pub fn parse(url: &str) -> Outcome<Self> {
        let usage = |why: &str| {
            Failure::Usage(format!(
                "--store: {why}; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (a \
                 PostgreSQL server; leave --store out for SQLite)"
            ))
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| usage("not a URL"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(usage(&format!("{}:// is not PostgreSQL", parsed.scheme())));
        }
        let host = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| usage("no host"))?;
        let mut env = vec![
            ("PGHOST", host.to_owned()),
            ("PGPORT", parsed.port().unwrap_or(5432).to_string()),
        ];
        if !parsed.username().is_empty() {
            env.push((
                "PGUSER",
                unescape(parsed.username()).ok_or_else(|| usage("bad user"))?,
            ));
        }
        if let Some(password) = parsed.password() {
            env.push((
                "PGPASSWORD",
                unescape(password).ok_or_else(|| usage("bad password"))?,
            ));
        }
        let mut timeout = false;
        for (key, value) in parsed.query_pairs() {
            let name = match &*key {
                "sslmode" => "PGSSLMODE",
                "connect_timeout" => "PGCONNECT_TIMEOUT",
                "application_name" => "PGAPPNAME",
                "options" => "PGOPTIONS",
                "channel_binding" => "PGCHANNELBINDING",
                "target_session_attrs" => "PGTARGETSESSIONATTRS",
                other => {
                    return Err(usage(&format!(
                        "the parameter {other} is not supported here"
                    )));
                }
            };
            timeout |= name == "PGCONNECT_TIMEOUT";
            env.push((name, value.into_owned()));
        }
        if !timeout {
            env.push(("PGCONNECT_TIMEOUT", "10".into()));
        }
        let maintenance = unescape(parsed.path().trim_start_matches('/'))
            .filter(|d| !d.is_empty() && !d.contains('/'))
            .ok_or_else(|| usage("no database to connect to (e.g. /postgres)"))?;
        Ok(Self {
            url: parsed,
            env,
            maintenance,
        })
    }

    /// The server's address without user or password, for messages.
    pub fn shown(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// Creates an empty database `eid_bench_<random>`.
    pub async fn create_database(&self) -> Outcome<BenchDatabase> {
        let mut bytes = [0u8; 6];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
        let name = format!("eid_bench_{}", hex::encode(bytes));
        self.psql(&self.maintenance, format!("CREATE DATABASE {name}"))
            .await?;
        let mut url = self.url.clone();
        url.set_path(&format!("/{name}"));
        let database = BenchDatabase {
            name,
            url: Zeroizing::new(url.into()),
            free_connections: 0,
        };
        // Room left: max_connections less the reserved ones and those open now.
        let room = self
            .psql(
                &self.maintenance,
                "SELECT current_setting('max_connections')::int \
                 - current_setting('superuser_reserved_connections')::int \
                 - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
                    .into(),
            )
            .await;
        match room.map(|r| r.trim().parse::<i64>()) {
            Ok(Ok(room)) => Ok(BenchDatabase {
                free_connections: usize::try_from(room).unwrap_or(0),
                ..database
            }),
            Ok(Err(_)) => {
                let _ = self.drop_database(database).await;
                Err(Failure::Internal(
                    "PostgreSQL did not say how many connections it has room for".into(),
                ))
            }
            Err(e) => {
                let _ = self.drop_database(database).await;
                Err(e)
            }
        }
    }

    /// Drops `database`, ending the connections still open to it.
    pub async fn drop_database(&self, database: BenchDatabase) -> Outcome {
        // Store handles already dropped still listen for changed orders until they next
        // hear one (or for up to 20 s): a notification ends them quietly, where the
        // forced drop below would make each warn that it lost its connection.
        let _ = self
            .psql(&database.name, "SELECT pg_notify('eid_orders', '')".into())
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.psql(
            &self.maintenance,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.name),
        )
        .await
        .map(drop)
    }

    /// Runs `sql` in `database` with `psql`; its output.
    async fn psql(&self, database: &str, sql: String) -> Outcome<String> {
        let mut command = std::process::Command::new("psql");
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(&sql)
            .env("PGDATABASE", database)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null());
        let server = self.shown();
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(|e| Failure::Internal(format!("psql: {e}")))?
            .map_err(|e| {
                Failure::Internal(format!(
                    "cannot run psql (the PostgreSQL client, needed for --store): {e}"
                ))
            })?;
        if !output.status.success() {
            return Err(Failure::Internal(format!(
                "psql on {server}/{database}: {sql}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl BenchDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL, with the password: for the configuration and the store, never to show.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `text` with its `%XX` escapes decoded, if they are valid and make UTF-8.
fn unescape(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let digits = tail.get(..2)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(first);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}
