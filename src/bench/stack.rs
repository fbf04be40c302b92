//! `eid bench fetch`: whole signing-certificate fetches one at a time on a chosen card stack,
//! each split into the card's own time and ours. Issue 7's figure: beyond the card's
//! operations, our overhead (server, HTTP, the app's logic and checks, and for PC/SC the
//! transport's thread hand-offs) should stay under 50 ms per fetch.
//!
//! Before the clock starts, as `eid bench enroll` (`enroll.rs`): a fresh data folder, an
//! organisation whose policy demands the card's attestation, persons with personalised
//! virtual two-PIN cards, the real server in-process and every card logged in to My Pages.
//! Then, one card at a time, the fetch of `enroll::fetch` with the card reached through the
//! stack:
//!
//! - `in-process`: the virtual card in this process (`VirtualReader`), as in `eid demo`;
//! - `pcsc`: the card served into vsmartcard's virtual reader (`vpcd` in the machine's
//!   pcscd; not timed) and reached through pcsc-lite (`PcscTransport`), as the eID app with
//!   `--reader` reaches a card;
//! - `pkcs11`: the card a SoftHSM2 token pair (`token.rs`; the organisation then accepts
//!   keys without attestation, which a token cannot give), as the eID app with `--pkcs11`
//!   reaches it.
//!
//! The card's own time is the time spent in the card's operations (the `Card` trait's
//! calls: for PC/SC the commands through pcscd, vpcd and the socket; for PKCS#11 the
//! module's calls). Everything else in the fetch's wall-clock time is ours.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eid_app::FetchClient;
use eid_card::pcsc::{self, PcscTransport};
use eid_card::vpcd::VpcdCard;
use eid_card::{Card, CardClient, CardError};
use eid_config::Config;
use eid_pki::KeyAlgorithm;

use super::browser::{Browser, client};
use super::enroll::{self, Holder};
use super::provision::{self, BenchCard, InProcess};
use super::token::{self, TimedCard};
use crate::cli::{BenchFetchArgs, CardStack};
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

/// How long a served card may take to show in the reader.
const INSERT_WAIT: Duration = Duration::from_secs(10);

pub async fn run(args: BenchFetchArgs) -> Outcome {
    if args.fetches == 0 {
        return Err(Failure::Usage("--fetches must be at least 1".into()));
    }
    if args.stack == CardStack::Pkcs11
        && let Some(child) = token::with_softhsm()
    {
        return child;
    }
    if args.stack == CardStack::Pcsc {
        // Fail before provisioning when there is no reader to serve the cards into.
        let readers = pcsc::readers().map_err(|e| Failure::Refused(format!("PC/SC: {e}")))?;
        if !readers.iter().any(|r| r.name == args.reader) {
            return Err(Failure::Refused(format!(
                "no reader {:?} in pcscd (start pcscd with vsmartcard-vpcd, or give --reader)",
                args.reader
            )));
        }
    }
    let folder = super::fresh_data_folder("fetch", 1, 1, KeyAlgorithm::P256).await?;
    let config = Config::load(folder.path(), &[])?;
    let ca = Arc::new(load_ca(&config)?);
    let store = open_store(&config).await?;
    let master = provision::master_key(&config)?;
    // A token gives no attestation: its organisation accepts keys without one.
    let tokens = args.stack == CardStack::Pkcs11;
    eprintln!(
        "provisioning {} persons with two-PIN cards ({}) and logging each in to My Pages \
         (not timed)…",
        args.fetches,
        if tokens {
            "SoftHSM2 token pairs"
        } else {
            "virtual cards"
        }
    );
    super::add_organisation(store.as_ref(), crate::admin::now(), tokens).await?;
    let cards = if tokens {
        token::cards(&store, &ca, &args.module, args.fetches).await?
    } else {
        provision::cards(&store, &ca, &master, args.fetches, 4).await?
    };
    let server = InProcess::start(&config, Arc::clone(&store), ca, master, |_| {}).await?;
    let result = match enroll::log_in(&server.base, cards, 4).await {
        Ok(holders) => fetches(&server.base, holders, &args).await,
        Err(e) => Err(e),
    };
    server.stop().await;
    drop(store);
    drop(folder);
    result
}

/// One fetch per holder, in turn; prints each and the medians.
async fn fetches(base: &str, holders: Vec<Holder>, args: &BenchFetchArgs) -> Outcome {
    let http = client().map_err(Failure::Internal)?;
    let app = FetchClient::new(&[base.to_owned()])
        .map_err(|e| Failure::Internal(format!("the eID app's client: {e}")))?;
    let stack = match args.stack {
        CardStack::InProcess => "in-process virtual card",
        CardStack::Pcsc => "PC/SC (pcscd, vpcd)",
        CardStack::Pkcs11 => "PKCS#11 module",
    };
    eprintln!(
        "{} fetches, one at a time, through the {stack}…",
        holders.len()
    );
    let (mut totals, mut cards, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    for (i, mut holder) in holders.into_iter().enumerate() {
        holder.browser.use_client(&http);
        let (total, card) = match args.stack {
            CardStack::InProcess => in_process(&mut holder, &app).await,
            CardStack::Pcsc => through_pcsc(&mut holder, &app, args).await,
            CardStack::Pkcs11 => {
                let Holder { card, browser } = &mut holder;
                timed_fetch(browser, card, &*card.card, &app).await
            }
        }
        .map_err(|e| {
            Failure::Internal(format!(
                "fetch {} (card {}): {e}",
                i + 1,
                holder.card.number
            ))
        })?;
        let own = total.saturating_sub(card);
        println!(
            "fetch {}: {:.1} ms, card {:.1} ms, ours {:.1} ms",
            i + 1,
            ms(total),
            ms(card),
            ms(own)
        );
        totals.push(total);
        cards.push(card);
        ours.push(own);
    }
    println!(
        "median of {} fetches through the {stack}: {:.1} ms, of which the card {:.1} ms and ours {:.1} ms",
        totals.len(),
        ms(median(&mut totals)),
        ms(median(&mut cards)),
        ms(median(&mut ours))
    );
    Ok(())
}

/// The fetch with the card in this process.
async fn in_process(
    holder: &mut Holder,
    app: &FetchClient,
) -> Result<(Duration, Duration), String> {
    let reader = holder
        .card
        .reader
        .clone()
        .ok_or("the card is not a virtual card")?;
    timed_fetch(
        &mut holder.browser,
        &holder.card,
        &CardClient::new(reader),
        app,
    )
    .await
}

/// The fetch with the card served into the virtual reader and reached through pcsc-lite.
async fn through_pcsc(
    holder: &mut Holder,
    app: &FetchClient,
    args: &BenchFetchArgs,
) -> Result<(Duration, Duration), String> {
    let reader = holder
        .card
        .reader
        .clone()
        .ok_or("the card is not a virtual card")?;
    let mut card = reader
        .pull_out()
        .ok_or("the card is not in its in-process reader")?;
    let vpcd = VpcdCard::connect(&args.vpcd).map_err(|e| e.to_string())?;
    let remover = vpcd.remover().map_err(|e| e.to_string())?;
    let serving = std::thread::spawn(move || {
        let ended = vpcd.serve(&mut card);
        (card, ended)
    });
    let result = async {
        let transport = connect_when_in(&args.reader).await?;
        timed_fetch(
            &mut holder.browser,
            &holder.card,
            &CardClient::new(transport),
            app,
        )
        .await
    }
    .await;
    remover.remove();
    let (card, _) = serving
        .join()
        .map_err(|_| "the card's serving thread panicked".to_owned())?;
    let _ = reader.insert(card);
    result
}

/// Connects to the card in `reader` once it shows there and answers (a card just put in
/// may be reset once more by the reader as it settles).
async fn connect_when_in(reader: &str) -> Result<PcscTransport, String> {
    let deadline = Instant::now() + INSERT_WAIT;
    loop {
        let name = reader.to_owned();
        let connected = tokio::task::spawn_blocking(move || {
            let card = CardClient::new(PcscTransport::connect(&name, Duration::from_secs(5))?);
            card.select()?;
            Ok::<_, CardError>(card.into_transport())
        })
        .await
        .map_err(|e| e.to_string())?;
        match connected {
            Ok(transport) => return Ok(transport),
            Err(CardError::CardRemoved) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(format!("the card in {reader}: {e}")),
        }
    }
}

/// The whole fetch with `card`, timing the card's operations.
async fn timed_fetch(
    browser: &mut Browser,
    bench: &BenchCard,
    card: &dyn Card,
    app: &FetchClient,
) -> Result<(Duration, Duration), String> {
    let timed = TimedCard::new(card);
    let start = Instant::now();
    enroll::fetch(browser, bench, &timed, app).await?;
    Ok((start.elapsed(), timed.spent()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}
