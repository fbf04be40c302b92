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
    /// `http://127.0.0.1:<port>`: the server's public URL, issuer and My Pages' origin.
    pub base: String,
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
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let base = format!("http://{addr}");
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
