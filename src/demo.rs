//! `eid demo`: the whole platform on this machine, on SQLite in a data folder: the server
//! (identity provider, My Pages, CA), the eID app holding the demo cards, a demo
//! organisation with self-service signing certificates and one that has not decided, three
//! card holders and a test relying party. The first run makes the folder; later runs reuse
//! it (`--reset` starts afresh). What a person needs to try it (URLs, every card's codes,
//! the test client's secret) is printed and kept in `DIR/demo.json` (mode 0600).
//!
//! The codes are a demo's: a real PIN letter is printed once and never stored.

use std::path::{Path, PathBuf};

use eid_card::{Card as _, Pin, PinRef};
use eid_config::{Config, KeyAlgorithm};
use eid_idp::ClientSpec;
use eid_ra::PinLetter;
use eid_server::{bind, router, serve};
use eid_store::{CardKind, Organisation, Person, SigningPolicy, Store};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::admin::{event, now};
use crate::cli::DemoArgs;
use crate::failure::{Failure, Outcome};

/// The record `DIR/demo.json` holds (version 1, as issue 5 specifies it).
#[derive(Debug, Serialize, Deserialize)]
struct DemoFile {
    version: u32,
    portal_url: String,
    issuer: String,
    app_url: String,
    test_client: TestClient,
    cards: Vec<DemoCard>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TestClient {
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct DemoCard {
    person: String,
    hsa_id: String,
    card_number: String,
    kind: String,
    product_number: String,
    card_file: String,
    pin1: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pin2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    puk: Option<String>,
    may_fetch_signing_certificate: bool,
}

const DEMO_FILE: &str = "demo.json";
const TEST_CLIENT: &str = "demo-rp";
const TEST_REDIRECT: &str = "http://127.0.0.1:3001/cb";

/// Who the demo has: (given name, surname, HSA-id, organisation, card kind, card number).
const HOLDERS: [(&str, &str, &str, &str, CardKind, &str); 3] = [
    (
        "Anna",
        "Andersson",
        "SE2321000016-A1B2",
        SELF_SERVICE_ORG,
        CardKind::TwoPin,
        "9752000101",
    ),
    (
        "Cecilia",
        "Carlsson",
        "SE2321000016-C3D4",
        SELF_SERVICE_ORG,
        CardKind::OnePin,
        "9752000102",
    ),
    (
        "Bo",
        "Berg",
        "SE5560000001-B5E6",
        UNDECIDED_ORG,
        CardKind::TwoPin,
        "9752000103",
    ),
];
const SELF_SERVICE_ORG: &str = "2321000016";
const UNDECIDED_ORG: &str = "5560000001";

pub async fn run(args: DemoArgs) -> Outcome {
    let dir = std::path::absolute(&args.data)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.data.display())))?;
    if args.reset && dir.exists() {
        if !dir.join(DEMO_FILE).exists() {
            return Err(Failure::Refused(format!(
                "{} is not a demo folder (it has no {DEMO_FILE}); nothing was removed",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Failure::Internal(format!("cannot remove {}: {e}", dir.display())))?;
    }
    // Bind first: the public URL names the port.
    let listener = bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let public_url = format!("http://{addr}");

    let fresh = !dir.join(DEMO_FILE).exists();
    if fresh {
        create(&dir, &public_url).await?;
    }
    let config = Config::load(&dir, &[("server.public_url", public_url.clone())])?;
    let mut demo = read_demo(&dir)?;

    let app = eid_app::App::bind(eid_app::Config {
        cards: demo
            .cards
            .iter()
            .map(|c| PathBuf::from(&c.card_file).into())
            .collect(),
        servers: vec![public_url.clone()],
        port: args.app_port,
    })
    .await
    .map_err(|e| Failure::Usage(format!("the eID app cannot start: {e}")))?;
    let state = crate::serve::build(&config, Some(app.launch_base())).await?;
    if fresh || demo.test_client.client_secret.is_empty() {
        demo.test_client.client_secret = register_test_client(&state.provider).await?;
    }
    demo.portal_url = format!("{public_url}/mypages");
    demo.issuer = public_url.clone();
    demo.app_url = app.url();
    write_demo(&dir, &demo)?;
    print(&dir, &demo, fresh);

    // As `eid serve`: housekeeping, and undelivered signing certificates revoked hourly.
    let _periodic = crate::serve::spawn_periodic(&state, &config);
    let shutdown = crate::serve::shutdown_signals()?;
    let (stop_app, app_stopped) = tokio::sync::oneshot::channel::<()>();
    let app_task = tokio::spawn(app.serve(async {
        let _ = app_stopped.await;
    }));
    println!("listening on {public_url} (Ctrl-C stops the demo)");
    let served = serve(listener, router(state), shutdown).await;
    let _ = stop_app.send(());
    let _ = app_task.await;
    served.map_err(|e| Failure::Internal(e.to_string()))
}

/// A new demo folder: data folder, organisations, persons, personalised cards (the
/// one-PIN card activated as its holder would), then `demo.json` with their codes.
async fn create(dir: &Path, public_url: &str) -> Outcome {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::Refused(format!(
            "{} exists and is not a demo folder; choose another --data",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Internal(format!("cannot make {}: {e}", dir.display())))?;
    let made = populate(dir, public_url).await;
    if made.is_err() {
        // Nothing half-made stays behind: the next run starts afresh.
        let _ = std::fs::remove_dir_all(dir);
    }
    made
}

async fn populate(dir: &Path, public_url: &str) -> Outcome {
    println!(
        "making the demo in {} (once; --reset starts afresh)…",
        dir.display()
    );
    crate::admin::init::build(dir, public_url, KeyAlgorithm::P256, None).await?;
    let config = Config::load(dir, &[])?;
    let store = crate::context::open_store(&config).await?;
    let at = now();
    for (number, name, policy) in [
        (
            SELF_SERVICE_ORG,
            "Region Exempel",
            SigningPolicy::SelfService,
        ),
        (UNDECIDED_ORG, "Vårdbolaget AB", SigningPolicy::Disabled),
    ] {
        let org = Organisation {
            org_number: number.into(),
            name: name.into(),
            signing_policy: policy,
            accept_unattested_keys: false,
            created_at: at,
        };
        store
            .add_organisation(
                &org,
                &event(at, "organisation.add", number, serde_json::json!({})),
            )
            .await?;
    }
    let mut cards = Vec::new();
    for (given, surname, hsa_id, org, kind, number) in HOLDERS {
        let person = Person {
            hsa_id: hsa_id.into(),
            given_name: given.into(),
            surname: surname.into(),
            org_number: org.into(),
            signing_entitled: true,
            active: true,
            created_at: at,
        };
        store
            .add_person(
                &person,
                &event(at, "person.add", hsa_id, serde_json::json!({})),
            )
            .await?;
        let product = match kind {
            CardKind::TwoPin => "610",
            CardKind::OnePin => "710",
        };
        let file = config.cards.virtual_card_dir.join(format!("{number}.card"));
        std::fs::create_dir_all(&config.cards.virtual_card_dir)
            .map_err(|e| Failure::Internal(format!("cannot make the card folder: {e}")))?;
        let letter = crate::admin::card_issue::issue_virtual(
            &config,
            store.as_ref(),
            hsa_id,
            kind,
            product,
            number,
            &file,
        )
        .await?;
        let (pin1, pin2, puk) = match letter {
            PinLetter::TwoPin { pin1, pin2, puk } => (
                pin1.as_str().to_owned(),
                Some(pin2.as_str().to_owned()),
                Some(puk.as_str().to_owned()),
            ),
            PinLetter::OnePin { transport_code } => (activate(&file, &transport_code)?, None, None),
        };
        cards.push(DemoCard {
            person: format!("{given} {surname}"),
            hsa_id: hsa_id.into(),
            card_number: number.into(),
            kind: match kind {
                CardKind::TwoPin => "two-pin",
                CardKind::OnePin => "one-pin",
            }
            .into(),
            product_number: product.into(),
            card_file: file.display().to_string(),
            pin1,
            pin2,
            puk,
            may_fetch_signing_certificate: org == SELF_SERVICE_ORG,
        });
    }
    write_demo(
        dir,
        &DemoFile {
            version: 1,
            portal_url: String::new(),
            issuer: String::new(),
            app_url: String::new(),
            test_client: TestClient {
                client_id: TEST_CLIENT.into(),
                client_secret: String::new(),
                redirect_uri: TEST_REDIRECT.into(),
            },
            cards,
        },
    )
}

/// Activates a new one-PIN card as its holder would: the transport code, then a security
/// code of their choosing (here a random one, recorded for the demo).
fn activate(file: &Path, transport_code: &str) -> Outcome<String> {
    let chosen = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let card = crate::card::open(file)?;
    card.change_pin(
        PinRef::Pin1,
        &Pin::new(transport_code.to_owned()),
        &Pin::new(chosen.clone()),
    )
    .map_err(crate::card::card_failure)?;
    Ok(chosen)
}

async fn register_test_client(
    provider: &eid_idp::Provider<eid_store::AnyStore>,
) -> Outcome<String> {
    let spec = ClientSpec {
        client_id: TEST_CLIENT.into(),
        name: "Testtjänsten".into(),
        confidential: true,
        redirect_uris: vec![TEST_REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        scopes: vec!["openid".into(), "profile".into()],
        pkce_optional: false,
        id_token_alg: None,
    };
    let (_, secret) = provider
        .register_client(&spec, "demo", now(), &mut rand::rng())
        .await
        .map_err(|e| Failure::Internal(format!("cannot register the test client: {e}")))?;
    secret
        .map(|s| s.expose().to_owned())
        .ok_or_else(|| Failure::Internal("the test client got no secret".into()))
}

fn read_demo(dir: &Path) -> Outcome<DemoFile> {
    let path = dir.join(DEMO_FILE);
    let text = crate::context::read_text(&path, "the demo record")?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("{}: {e} (--reset starts afresh)", path.display())))
}

/// Writes `demo.json` (mode 0600) beside itself and renames it into place.
fn write_demo(dir: &Path, demo: &DemoFile) -> Outcome {
    let path = dir.join(DEMO_FILE);
    let partial = dir.join(format!("{DEMO_FILE}.partial"));
    let _ = std::fs::remove_file(&partial);
    let text = serde_json::to_string_pretty(demo)
        .map_err(|e| Failure::Internal(format!("cannot write the demo record: {e}")))?;
    crate::admin::init::write_file(&partial, text.as_bytes(), 0o600)?;
    std::fs::rename(&partial, &path)
        .map_err(|e| Failure::Internal(format!("cannot write {}: {e}", path.display())))
}

fn print(dir: &Path, demo: &DemoFile, fresh: bool) {
    println!();
    println!("eID demo ({})", if fresh { "new" } else { "reused" });
    println!("  My Pages        {}", demo.portal_url);
    println!("  identity provider {}", demo.issuer);
    println!("  eID app         {}", demo.app_url);
    println!(
        "  test client     {} (secret {}, redirect URI {})",
        demo.test_client.client_id, demo.test_client.client_secret, demo.test_client.redirect_uri
    );
    for c in &demo.cards {
        let codes = match (&c.pin2, &c.puk) {
            (Some(pin2), Some(puk)) => format!("PIN1 {}  PIN2 {pin2}  PUK {puk}", c.pin1),
            _ => format!(
                "PIN1 {} (7XX: no PIN2; the PUK is the administrator's)",
                c.pin1
            ),
        };
        println!(
            "  {:<17} card {} ({}, product {}): {codes}{}",
            c.person,
            c.card_number,
            c.kind,
            c.product_number,
            if c.may_fetch_signing_certificate {
                ""
            } else {
                "  [organisation has not decided: no signing certificate]"
            }
        );
    }
    println!("  all of this is in {}", dir.join(DEMO_FILE).display());
}
