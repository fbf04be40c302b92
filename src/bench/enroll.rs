//! `eid bench enroll`: whole signing-certificate fetches from My Pages over loopback HTTP,
//! every check on. Before the clock starts (not timed): a fresh data folder, an
//! organisation with self-service signing certificates whose policy demands the card's
//! attestation, persons with personalised in-memory virtual two-PIN cards, the real server
//! in-process on 127.0.0.1, and every card logged in to My Pages in a browser of its own.
//! Then each worker takes a logged-in card that has no signing certificate and walks the
//! fetch as its holder does: the start page (its CSRF token) → *Hämta
//! underskriftscertifikat* (`POST /mypages/fetch`) → the waiting page's launch link → the
//! eID app's own fetch ([`eid_app::SigningFetch::run`]: signing code, key generated on the
//! card under the relayed management key, attestation, request, PIN1 approval, the
//! certificate issued and committed, written to the card, delivery confirmed) → the
//! order's return URL → the start page, which must list the new certificate.
//!
//! A card with a valid signing certificate may not fetch again, so every fetch uses up a
//! card: `--cards` of them are provisioned, and the run stops early, and says so, when they
//! run out. (A fetch also needs a card login of the last 15 minutes: provisioning and
//! measuring together must stay within that.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eid_app::FetchClient;
use eid_card::{Card, Pin};
use eid_config::Config;
use eid_pki::KeyAlgorithm;

use super::browser::{Browser, Page, client};
use super::provision::{self, BenchCard, InProcess};
use super::{collect, report};
use crate::cli::BenchEnrollArgs;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

/// A card holder ready to fetch: the card, and a browser logged in to My Pages with it.
pub(super) struct Holder {
    pub(super) card: BenchCard,
    pub(super) browser: Browser,
}

pub async fn run(args: BenchEnrollArgs) -> Outcome {
    if args.cards == 0 {
        return Err(Failure::Usage("--cards must be at least 1".into()));
    }
    let folder = super::fresh_data_folder(
        "enroll",
        args.duration,
        args.concurrency,
        KeyAlgorithm::P256,
    )
    .await?;
    let config = Config::load(folder.path(), &[])?;
    let ca = Arc::new(load_ca(&config)?);
    let store = open_store(&config).await?;
    let master = provision::master_key(&config)?;

    let provisioning = Instant::now();
    eprintln!(
        "provisioning {} persons with virtual two-PIN cards and logging each in to My Pages \
         (not timed)…",
        args.cards
    );
    // Attestation required: keys without the card's attestation are refused.
    super::add_organisation(store.as_ref(), crate::admin::now(), false).await?;
    let cards = provision::cards(&store, &ca, &master, args.cards, args.concurrency).await?;
    let personalised = provisioning.elapsed();
    // The default rate limits stay: each card logs in once and fetches once.
    let server = InProcess::start(&config, Arc::clone(&store), ca, master, |_| {}).await?;
    let holders = log_in(&server.base, cards, args.concurrency).await;
    let result = match holders {
        Ok(holders) => {
            eprintln!(
                "provisioned in {:.1} s (personalisation {:.1} s, My Pages logins {:.1} s)",
                provisioning.elapsed().as_secs_f64(),
                personalised.as_secs_f64(),
                (provisioning.elapsed() - personalised).as_secs_f64(),
            );
            fetches(&server.base, holders, args.duration, args.concurrency).await
        }
        Err(e) => Err(e),
    };
    server.stop().await;
    drop(store);
    drop(folder);
    result
}

/// Logs every card in to My Pages, `parallel` at a time, each in a browser of its own.
pub(super) async fn log_in(
    base: &str,
    cards: Vec<BenchCard>,
    parallel: usize,
) -> Outcome<Vec<Holder>> {
    let queue = Arc::new(Mutex::new(cards));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let (queue, base) = (Arc::clone(&queue), base.to_owned());
        set.spawn(async move {
            let http = client()?;
            let mut holders = Vec::new();
            while let Some(card) = pop(&queue) {
                let mut browser = Browser::new(&http, &base);
                my_pages_login(&mut browser, &card)
                    .await
                    .map_err(|e| format!("card {}: {e}", card.number))?;
                holders.push(Holder { card, browser });
            }
            Ok::<_, String>(holders)
        });
    }
    let mut holders = Vec::new();
    while let Some(joined) = set.join_next().await {
        let made = joined
            .map_err(|e| Failure::Internal(format!("a login task failed: {e}")))?
            .map_err(|e| Failure::Internal(format!("a My Pages login failed: {e}")))?;
        holders.extend(made);
    }
    Ok(holders)
}

fn pop<T>(queue: &Mutex<Vec<T>>) -> Option<T> {
    queue.lock().ok()?.pop()
}

/// *LOGGA IN* on My Pages with the card: to the provider, the card login, the callback,
/// and the start page, which must offer the fetch for this card.
async fn my_pages_login(browser: &mut Browser, card: &BenchCard) -> Result<(), String> {
    let begin = browser
        .get("/mypages/login", "LOGGA IN")
        .await?
        .expect(303, "LOGGA IN")?;
    let authorize = begin.location("LOGGA IN")?.to_owned();
    let callback = browser
        .card_login(&authorize, &*card.card, &card.pin1)
        .await?;
    if !callback.starts_with(&format!("{}/mypages/signin-oidc?", browser.base())) {
        return Err(format!("login: returned to {callback}"));
    }
    let start = browser
        .follow(&callback, "callback")
        .await?
        .expect(200, "start page")?;
    fetch_offered(&start, card)
}

/// Whether the start page offers *Hämta underskriftscertifikat* for the card.
fn fetch_offered(page: &Page, card: &BenchCard) -> Result<(), String> {
    if page
        .body
        .contains(&format!("name=\"card\" value=\"{}\"", card.number))
    {
        Ok(())
    } else {
        Err(format!(
            "the start page offers no fetch for card {}",
            card.number
        ))
    }
}

/// Fetches until `duration` has passed or the cards run out, `concurrency` at a time.
async fn fetches(base: &str, holders: Vec<Holder>, duration: u64, concurrency: usize) -> Outcome {
    let cards = holders.len();
    eprintln!(
        "fetching signing certificates for {duration} s with {concurrency} workers \
         ({cards} cards)…"
    );
    // Each worker's browser client and eID app, made before the clock starts.
    let clients = (0..concurrency)
        .map(|_| {
            let http = client().map_err(Failure::Internal)?;
            let app = FetchClient::new(&[base.to_owned()])
                .map_err(|e| Failure::Internal(format!("the eID app's client: {e}")))?;
            Ok((http, app))
        })
        .collect::<Outcome<Vec<_>>>()?;
    let queue = Arc::new(Mutex::new(holders));
    let cpu = super::process_cpu();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(duration);
    let ran_out = Arc::new(Mutex::new(None::<Duration>));
    let mut set = tokio::task::JoinSet::new();
    for (http, app) in clients {
        let (queue, ran_out) = (Arc::clone(&queue), Arc::clone(&ran_out));
        set.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            while Instant::now() < deadline {
                let Some(mut holder) = pop(&queue) else {
                    if let Ok(mut at) = ran_out.lock() {
                        at.get_or_insert(started.elapsed());
                    }
                    break;
                };
                holder.browser.use_client(&http);
                let start = Instant::now();
                let Holder { card, browser } = &mut holder;
                match fetch(browser, card, &*card.card, &app).await {
                    Ok(()) => latencies.push(start.elapsed().as_micros() as u64),
                    Err(e) => errors.push(format!("card {}: {e}", holder.card.number)),
                }
            }
            (latencies, errors)
        });
    }
    let (mut latencies, errors) = collect(&mut set).await?;
    let elapsed = started.elapsed();
    if let (Some(before), Some(after)) = (cpu, super::process_cpu())
        && !latencies.is_empty()
    {
        eprintln!(
            "CPU {:.2} ms per enrollment (user and system, the whole process: server, \
             browsers, app and cards)",
            (after - before).as_secs_f64() * 1000.0 / latencies.len() as f64
        );
    }
    if let Some(at) = ran_out.lock().ok().and_then(|at| *at) {
        eprintln!(
            "the {cards} cards ran out after {:.2} s of the {duration} s: the figure is over \
             {:.2} s; give more with --cards",
            at.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }
    report("enrollments", &mut latencies, &errors, elapsed)
}

/// One whole fetch with the holder's card (`reader`: the card as the eID app reaches it),
/// as in the seed procedure's steps 4–7.
pub(super) async fn fetch(
    browser: &mut Browser,
    card: &BenchCard,
    reader: &dyn Card,
    app: &FetchClient,
) -> Result<(), String> {
    let start = browser
        .follow("/mypages", "start page")
        .await?
        .expect(200, "start page")?;
    fetch_offered(&start, card)?;
    let csrf = start.input("csrf")?;
    let wait = browser
        .post_form(
            "/mypages/fetch",
            &[("csrf", &csrf), ("card", &card.number)],
            "Hämta underskriftscertifikat",
        )
        .await?
        .expect(200, "Hämta underskriftscertifikat")?;
    let token = wait.launch_token()?;

    // The eID app, with the card in the reader and the holder's codes.
    let order = app
        .fetch(&token)
        .await
        .map_err(|e| format!("app fetch: {e}"))?;
    if order.order().card_number.as_deref() != Some(card.number.as_str()) {
        return Err("app fetch: the order is for another card".into());
    }
    let issued = order
        .run(
            reader,
            &Pin::new(card.pin2.clone()),
            &Pin::new(card.pin1.clone()),
        )
        .await
        .map_err(|e| format!("app: {e}"))?;

    let back = browser
        .get(&issued.return_url, "return")
        .await?
        .expect(303, "return")?;
    let done = browser
        .follow(back.location("return")?, "start page after the fetch")
        .await?
        .expect(200, "start page after the fetch")?;
    if !done
        .body
        .contains(&format!("class=\"serial\">{}<", issued.serial))
    {
        return Err(format!(
            "the start page does not list the new certificate {}",
            issued.serial
        ));
    }
    Ok(())
}
