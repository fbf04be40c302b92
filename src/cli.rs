//! The command line: every subcommand and flag, with their help texts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// eid: a smart-card eID platform (CA, card personalisation, OpenID Connect, My Pages).
#[derive(Debug, Parser)]
#[command(name = "eid", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// ID-administrator commands: organisations, persons, cards, certificates, audit log.
    Admin(AdminArgs),
    /// Run the server (for now: health and readiness; the identity provider, portal and CA
    /// endpoints join as they land).
    Serve(ServeArgs),
    /// The card holder's commands for a virtual card file: show it, activate it, put it in a
    /// virtual card reader.
    #[command(subcommand)]
    Card(HolderCardCommand),
    /// Benchmarks that measure the platform's figures (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The eID app: the card holder's PIN dialog as a local web UI on 127.0.0.1.
    App(AppArgs),
    /// The whole platform on this machine: server, My Pages, eID app with demo cards.
    Demo(DemoArgs),
}

/// `eid demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo's data folder: made on the first run, reused on the next.
    #[arg(long, default_value = "eid-demo")]
    pub data: std::path::PathBuf,
    /// Remove the demo folder first and start afresh.
    #[arg(long)]
    pub reset: bool,
    /// The server's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The eID app's port on 127.0.0.1 (0, the default, picks a free one).
    #[arg(long, default_value_t = 0)]
    pub app_port: u16,
}

/// `eid app`: serve the PIN dialog, open a launch link, or register the link handler.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: Option<AppCommand>,
    #[command(flatten)]
    pub run: AppRunArgs,
    /// Open this `eid:///?autostarttoken=…` link in the default browser once the app runs.
    #[arg(long, value_name = "LINK")]
    pub launch: Option<String>,
}

/// What the app runs with.
#[derive(Debug, Args, Clone)]
pub struct AppRunArgs {
    /// A virtual card file (repeatable; the first eID listed is the active one by default).
    #[arg(long = "card", value_name = "FILE")]
    pub cards: Vec<PathBuf>,
    /// The card in this PC/SC reader, by its name as `opensc-tool -l` or `pcsc_scan` shows
    /// it (repeatable; listed even while empty).
    #[arg(long = "reader", value_name = "NAME")]
    pub readers: Vec<String>,
    /// Every PC/SC reader with a card in it (after the files and named readers).
    #[arg(long)]
    pub pcsc: bool,
    /// Every card this PKCS#11 module shows, e.g. /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
    /// (repeatable; listed last, as "<card number> (PKCS#11)"). Such a card has no
    /// management key and no attestation: its organisation must accept unattested keys for
    /// a signing certificate.
    #[arg(long = "pkcs11", value_name = "MODULE")]
    pub pkcs11: Vec<PathBuf>,
    /// A server the app may talk to, e.g. https://eid.example (repeatable).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// The loopback port (default: a random free one).
    #[arg(long)]
    pub port: Option<u16>,
}

/// `eid app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Install a freedesktop URL-scheme handler for eid:// links that runs
    /// `eid app --launch %u` with these options.
    Register(AppRunArgs),
}

/// Where the data folder is, and how to show results.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// The data folder (configuration eid.toml, CA files, database).
    #[arg(long, global = true, env = "EID_DATA", default_value = "eid-data")]
    pub data: PathBuf,
    /// Print results as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Override a configuration value for this command, e.g. `--set store.durability=power-loss`
    /// (over eid.toml and the EID_* environment). Repeatable.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The store for this command: sqlite://FILE or postgres://USER:PASSWORD@HOST:PORT/DB
    /// (the same as `--set store.url=URL`). Prefer EID_STORE__URL for a URL with a password:
    /// a command line is visible to other users of the machine.
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
}

impl Common {
    /// The `--set` overrides as (key, value) pairs.
    pub fn overrides(&self) -> Result<Vec<(&str, String)>, crate::failure::Failure> {
        let mut overrides = self
            .set
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v.to_owned())),
                _ => Err(crate::failure::Failure::Usage(format!(
                    "--set {kv}: expected KEY=VALUE, e.g. store.durability=power-loss"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(url) = &self.store {
            overrides.push(("store.url", url.clone()));
        }
        Ok(overrides)
    }

    /// The validated configuration of the data folder with these overrides.
    pub fn config(&self) -> Result<eid_config::Config, crate::failure::Failure> {
        Ok(eid_config::Config::load(&self.data, &self.overrides()?)?)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Listen on this address and port (overrides server.listen); port 0 picks a free one.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a data folder: configuration, root and issuing CA, database.
    Init(InitArgs),
    /// Organisations and their signing-certificate policy.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Persons (card holders) and their entitlement to a signing certificate.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Cards.
    #[command(subcommand)]
    Card(CardCommand),
    /// Certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// OpenID Connect clients (relying parties) of the identity provider.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Move this installation's SQLite store into an empty PostgreSQL database: every
    /// record, the audit log and its signatures, in one transaction. Stop every server
    /// first; afterwards set store.url to the new database.
    MigrateStore {
        /// The PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set
        /// EID_MIGRATE_TO, which keeps a password off the command line).
        #[arg(long, env = "EID_MIGRATE_TO", value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is shown once; only its SHA-256
    /// is stored.
    Add {
        /// The `client_id` (1-128 printable characters without `:`).
        #[arg(long)]
        id: String,
        /// Shown on the login page.
        #[arg(long)]
        name: String,
        /// An exact redirect URI (https, or http on loopback); repeat for more.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// An exact post-logout redirect URI; repeat for more.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Allowed scopes, space-separated (`openid` is always included).
        #[arg(long, default_value = "openid")]
        scope: String,
        /// A public client (no secret; PKCE always required).
        #[arg(long)]
        public: bool,
        /// Let this confidential client skip PKCE (refused for public clients).
        #[arg(long)]
        pkce_optional: bool,
    },
    /// List the registered clients (never a secret).
    List,
    /// Give a confidential client a new secret, shown once; the old one stops working.
    RotateSecret {
        /// The `client_id`.
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The server's public base URL (OpenID Connect issuer; CRL and OCSP URLs derive from it).
    #[arg(long, default_value = "https://localhost:8443")]
    pub public_url: String,
    /// Algorithm of the CA keys to create.
    #[arg(long, default_value = "p256", value_parser = ["p256", "rsa2048", "rsa3072"])]
    pub key_algorithm: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SigningPolicyArg {
    /// No signing certificates for this organisation's card holders.
    Disabled,
    /// Entitled card holders fetch their signing certificate in My Pages.
    SelfService,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add an organisation.
    Add {
        /// Organisation number, ten digits (e.g. 2321000016).
        #[arg(long)]
        number: String,
        /// Name (the certificates' O).
        #[arg(long)]
        name: String,
        /// Signing-certificate policy: the organisation's decision.
        #[arg(long, value_enum, default_value = "disabled")]
        signing: SigningPolicyArg,
        /// Accept keys without an on-card attestation.
        #[arg(long)]
        accept_unattested_keys: bool,
    },
    /// List organisations.
    List,
    /// Set an organisation's signing-certificate policy.
    Policy {
        /// Organisation number.
        number: String,
        /// Signing-certificate policy.
        #[arg(long, value_enum)]
        signing: SigningPolicyArg,
        /// Accept keys without an on-card attestation (default: keep as is).
        #[arg(long)]
        accept_unattested_keys: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Add a person.
    Add {
        /// HSA-id, SE<organisation number>-<local id> (e.g. SE2321000016-A1B2).
        #[arg(long)]
        hsa_id: String,
        /// Given name.
        #[arg(long)]
        given_name: String,
        /// Surname.
        #[arg(long)]
        surname: String,
        /// Organisation number.
        #[arg(long)]
        org: String,
        /// Entitle the person to a signing certificate at once.
        #[arg(long)]
        entitled: bool,
    },
    /// List persons.
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
    },
    /// Entitle a person to a signing certificate (or withdraw it with --withdraw).
    Entitle {
        /// HSA-id.
        hsa_id: String,
        /// Withdraw the entitlement instead.
        #[arg(long)]
        withdraw: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CardKindArg {
    /// Old card with a PIN letter: PIN1, PIN2, PUK.
    TwoPin,
    /// New card (product number 7XX): PIN1 only.
    OnePin,
}

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Personalise a new virtual card for a person: management key, keys generated on the
    /// card, attestation and authentication certificates, and the PIN letter (two-PIN card)
    /// or transport code (one-PIN card), printed once.
    Issue {
        /// HSA-id of the holder.
        #[arg(long)]
        holder: String,
        /// Card kind.
        #[arg(long, value_enum)]
        kind: CardKindArg,
        /// Product number (default 610 for two-PIN cards, 710 for one-PIN cards).
        #[arg(long)]
        product: Option<String>,
        /// Card number (default: a new random one).
        #[arg(long)]
        number: Option<String>,
        /// Where to write the card file (default: the data folder's cards/<number>.card).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Enrol a plain PIV card (a YubiKey) the holder already has, in a PC/SC reader: the
    /// platform sets the card's management key (diversified per card), generates the
    /// authentication key (9A) and writes its certificate; recorded as product 790, one PIN,
    /// active. The card must still have the PIV default management key, and a PIN and PUK
    /// of the holder's own. The holder's PIN is read from the terminal without echo, or
    /// one line of standard input.
    Enroll {
        /// The reader, by its name as `eid card readers` shows it.
        #[arg(long)]
        reader: String,
        /// HSA-id of the holder.
        #[arg(long)]
        holder: String,
    },
    /// Record a card that was personalised elsewhere (its keys already on it).
    Register {
        /// Card number.
        #[arg(long)]
        number: String,
        /// Product number (7XX for one-PIN cards).
        #[arg(long)]
        product: String,
        /// Card kind.
        #[arg(long, value_enum)]
        kind: CardKindArg,
        /// HSA-id of the holder.
        #[arg(long)]
        holder: String,
    },
    /// List cards.
    List {
        /// Only this holder's.
        #[arg(long)]
        holder: Option<String>,
    },
    /// Unblock a one-PIN (7XX) card whose PIN1 is blocked: its PUK (held by the platform)
    /// sets a new transport code, printed once; the holder chooses PIN1 anew. A two-PIN
    /// card's holder unblocks it with the PUK from the PIN letter in the eID app.
    Unblock {
        /// The card file.
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Revoke a card (lost, stolen, destroyed): in one step the card becomes revoked, every
    /// valid certificate on it is revoked, its login sessions and My Pages sessions end and
    /// their access tokens are revoked. Login with it is refused at once on every node.
    Revoke {
        /// Card number.
        card: String,
        /// Why its certificates are revoked (default: key-compromise, as for a lost card).
        #[arg(long, value_enum, default_value = "key-compromise")]
        reason: ReasonArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// Authentication certificate (slot 9A).
    Authentication,
    /// Signing certificate (slot 9C).
    Signing,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Issue a certificate for a key on a card, from a PKCS#10 request (PEM or DER). The
    /// subject is the card holder's from the store; the request's subject is ignored.
    Issue {
        /// Card number.
        #[arg(long)]
        card: String,
        /// Certificate profile.
        #[arg(long, value_enum)]
        profile: ProfileArg,
        /// The certificate request file.
        #[arg(long)]
        csr: PathBuf,
        /// The card is a virtual card (the certificate carries the virtual-card policy).
        #[arg(long = "virtual")]
        virtual_card: bool,
        /// Write the certificate (PEM) to this file as well.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the certificates of a card or a person.
    List {
        /// Card number.
        #[arg(long, conflicts_with = "person", required_unless_present = "person")]
        card: Option<String>,
        /// HSA-id.
        #[arg(long)]
        person: Option<String>,
    },
    /// Revoke one certificate. OCSP answers `revoked` at once; for a key compromise a new
    /// CRL is issued at once too. A lost card: `eid admin card revoke`.
    Revoke {
        /// The serial in hex, as `eid admin cert list` prints it (colons allowed).
        serial: String,
        /// Why (RFC 5280 reason code).
        #[arg(long, value_enum)]
        reason: ReasonArg,
    },
    /// Revoke the signing certificates that were issued but never written to their card
    /// within `ca.undelivered_revoke_after_hours` (`eid serve` does it every hour).
    ExpireUndelivered,
}

/// Revocation reasons of RFC 5280 (§5.3.1). `certificateHold` is not offered: revocation
/// is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReasonArg {
    /// unspecified (0): no reason given.
    Unspecified,
    /// keyCompromise (1): the key may be in other hands (a lost or stolen card).
    KeyCompromise,
    /// affiliationChanged (3): the holder's organisation or name changed.
    AffiliationChanged,
    /// superseded (4): replaced by a new certificate.
    Superseded,
    /// cessationOfOperation (5): no longer needed, the key not suspected.
    CessationOfOperation,
    /// privilegeWithdrawn (9): the holder may no longer use it.
    PrivilegeWithdrawn,
}

/// Commands on a virtual card file, as its holder would use them.
#[derive(Debug, Subcommand)]
pub enum HolderCardCommand {
    /// Show what the card holds: numbers, kind, state, tries left, certificates. Never a
    /// secret.
    Show {
        /// The card file.
        #[arg(required_unless_present = "reader", conflicts_with = "reader")]
        file: Option<PathBuf>,
        /// Instead of a file: the card in this PC/SC reader (e.g. "Virtual PCD 00 00").
        #[arg(long, value_name = "NAME")]
        reader: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The PC/SC readers and whether a card is in each. With --watch, then one line each
    /// time a card is put in or taken out or a reader comes or goes, until Ctrl-C.
    Readers {
        /// Keep watching for cards and readers coming and going.
        #[arg(long)]
        watch: bool,
        /// Print JSON (one object per line with --watch).
        #[arg(long)]
        json: bool,
    },
    /// Activate a one-PIN card: enter the transport code and choose PIN1 (read from the
    /// terminal without echo, or as two lines on standard input).
    Activate {
        /// The card file.
        file: PathBuf,
    },
    /// Put the card in vsmartcard's virtual reader (vpcd in pcscd), where every PC/SC
    /// application sees it (OpenSC, pkcs11-tool, the eID app). Serves until the reader goes
    /// away or the process is stopped (Ctrl-C, SIGTERM): stopping takes the card out. The
    /// card file is the card's memory; leave it to this command while it runs.
    Serve {
        /// The card file.
        file: PathBuf,
        /// The reader slot's address: vpcd's port for "Virtual PCD 00 00" (the next port
        /// is "Virtual PCD 00 01").
        #[arg(long, value_name = "HOST:PORT", default_value = eid_card::vpcd::DEFAULT_VPCD)]
        vpcd: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every hash chain (a changed, inserted or removed entry) and, with the data
    /// folder's key, every signed chain head (history rewritten in the database).
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The CA core under concurrent load: CSR parse, proof-of-possession check, issue and
    /// durable commit. Self-contained: a fresh data folder, removed afterwards.
    Issue(BenchIssueArgs),
    /// Whole card logins over loopback HTTP: browser, eID app with a virtual card, and
    /// relying party. Self-contained: a fresh data folder, removed afterwards.
    Login(BenchLoginArgs),
    /// Whole signing-certificate fetches from My Pages over loopback HTTP: browser and eID
    /// app with a virtual card logged in to My Pages before the clock starts.
    /// Self-contained: a fresh data folder, removed afterwards.
    Enroll(BenchEnrollArgs),
    /// OCSP responses per second over loopback HTTP, measured by `wrk` against the real
    /// server (cached GETs, or `--nonce` POSTs). Self-contained: a fresh data folder,
    /// removed afterwards.
    Ocsp(crate::bench::OcspArgs),
    /// Whole signing-certificate fetches one at a time on a card stack (the card in this
    /// process, in a PC/SC reader through pcscd, or a SoftHSM2 token pair through PKCS#11),
    /// each split into the card's own time and ours. Self-contained but for the stack:
    /// `--stack pcsc` needs pcscd running with vsmartcard's virtual reader.
    Fetch(BenchFetchArgs),
}

/// Where `eid bench fetch` reaches the cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CardStack {
    /// The virtual card in this process.
    InProcess,
    /// The virtual card served into vsmartcard's virtual reader, through pcsc-lite.
    Pcsc,
    /// A SoftHSM2 token pair through its PKCS#11 module.
    Pkcs11,
}

#[derive(Debug, Args)]
pub struct BenchFetchArgs {
    /// The card stack.
    #[arg(long, value_enum, default_value_t = CardStack::InProcess)]
    pub stack: CardStack,
    /// Fetches to time (one card each, one at a time).
    #[arg(long, default_value_t = 9)]
    pub fetches: usize,
    /// With `--stack pcsc`: where vpcd waits for a card.
    #[arg(long, value_name = "HOST:PORT", default_value = eid_card::vpcd::DEFAULT_VPCD)]
    pub vpcd: String,
    /// With `--stack pcsc`: the reader that slot is.
    #[arg(long, value_name = "NAME", default_value = "Virtual PCD 00 00")]
    pub reader: String,
    /// With `--stack pkcs11`: SoftHSM2's PKCS#11 module (its configuration from
    /// `SOFTHSM2_CONF`, or a temporary one the benchmark makes).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/usr/lib/softhsm/libsofthsm2.so"
    )]
    pub module: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchEnrollArgs {
    /// Workers at once (each with its own HTTP clients; a card per fetch).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to measure, in seconds (less if the cards run out first).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Cards provisioned and logged in to My Pages before the clock starts: each fetches
    /// once (a card with a valid signing certificate may not fetch again), so the run
    /// stops early, and says so, when they run out.
    #[arg(long, default_value_t = 3000)]
    pub cards: usize,
}

#[derive(Debug, Args)]
pub struct BenchLoginArgs {
    /// Workers at once (each with its own card and HTTP client).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Time only token exchanges, on codes minted by untimed ceremonies.
    #[arg(long)]
    pub token_only: bool,
    /// Run on PostgreSQL: the server at postgres://USER:PASSWORD@HOST:PORT/DATABASE
    /// (DATABASE only to connect to; needs `psql`). The benchmark creates a database of its
    /// own there (eid_bench_<random>) and drops it at the end. Without it: SQLite in the
    /// temporary data folder.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Server nodes in this process over the one store (2 needs --store: SQLite is one
    /// node's). With 2, every login's steps alternate between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub nodes: u8,
    /// With --store: PostgreSQL connections per node (store.pool_size). Default: 8 for all
    /// nodes together (fewer with fewer workers, or if the server has no room for them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub pool_size: Option<u16>,
}

#[derive(Debug, Args)]
pub struct BenchIssueArgs {
    /// The issuing CA's key.
    #[arg(long, default_value = "p256", value_parser = ["p256", "rsa2048", "rsa3072"])]
    pub key: String,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Commit durability: process (default) or power-loss.
    #[arg(long, default_value = "process", value_parser = ["process", "power-loss"])]
    pub durability: String,
}
