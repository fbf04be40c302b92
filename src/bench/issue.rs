//! `eid bench issue`: the CA core under concurrent load. Each timed operation is what the
//! server does for a certificate request: parse the CSR, check its proof of possession, run
//! the RA checks against the store, sign, and commit durably before answering. The load
//! generator makes the CSRs (fresh P-256 keys) before the clock starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eid_config::Config;
use eid_pki::{CertificateAuthority, Csr, IssueRequest, KeyAlgorithm, Profile, issue};
use eid_store::{Card, CardKind, CardState, Person, Store};

use super::percentile_ms;
use crate::cli::BenchIssueArgs;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};

use super::ORG;
pub(super) const HSA_ID: &str = "SE2321000016-BENCH1";
pub(super) const CARD: &str = "9752000000001";

/// CSRs made per second of measuring: more than the CA can use, so the run never starves.
const CSRS_PER_SECOND: usize = 5_000;

pub async fn run(args: BenchIssueArgs) -> Outcome {
    let algorithm: KeyAlgorithm = args
        .key
        .parse()
        .map_err(|e: eid_pki::UnknownKeyAlgorithm| Failure::Usage(e.to_string()))?;
    let folder =
        super::fresh_data_folder("issue", args.duration, args.concurrency, algorithm).await?;
    let dir = folder.path().to_path_buf();
    let config = Config::load(&dir, &[("store.durability", args.durability.clone())])?;
    let ca = Arc::new(load_ca(&config)?);
    let store = open_store(&config).await?;
    seed(store.as_ref()).await?;

    let count = CSRS_PER_SECOND * args.duration as usize;
    eprintln!("making {count} P-256 certificate requests (not timed)…");
    let csrs = Arc::new(make_csrs(count).await?);

    eprintln!(
        "issuing for {} s with {} requests in flight, CA key {algorithm}, durability {}…",
        args.duration, args.concurrency, args.durability
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (ca, store, csrs, next) = (
            Arc::clone(&ca),
            Arc::clone(&store),
            Arc::clone(&csrs),
            Arc::clone(&next),
        );
        workers.spawn(async move { worker(&ca, store.as_ref(), &csrs, &next, deadline).await });
    }
    let mut latencies = Vec::new();
    let mut errors = 0usize;
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        let (lat, errs) =
            joined.map_err(|e| Failure::Internal(format!("a load task failed: {e}")))?;
        latencies.extend(lat);
        errors += errs.len();
        first_error = first_error.or(errs.into_iter().next());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let issued = latencies.len();

    // The figures count only what is really in the store.
    let recorded = store.certificates_of_card(CARD).await?.len();
    if recorded != issued {
        return Err(Failure::Internal(format!(
            "{issued} certificates reported issued but {recorded} recorded"
        )));
    }
    if next.load(Ordering::Relaxed) >= count {
        eprintln!("note: all {count} requests were used before the time was up");
    }
    eprintln!("issued {issued} in {elapsed:.2} s, {errors} errors");
    if let Some(e) = first_error {
        eprintln!("first error: {e}");
    }
    let rate = issued as f64 / elapsed;
    println!(
        "{rate:.0} certificates/s p50={:.2} p99={:.2}",
        percentile_ms(&mut latencies, 50.0),
        percentile_ms(&mut latencies, 99.0)
    );
    if errors > 0 {
        return Err(Failure::Internal(format!("{errors} requests failed")));
    }
    Ok(())
}

/// Issues until the deadline; returns latencies (µs) and error messages.
async fn worker(
    ca: &CertificateAuthority,
    store: &dyn Store,
    csrs: &[Vec<u8>],
    next: &AtomicUsize,
    deadline: Instant,
) -> (Vec<u64>, Vec<String>) {
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while Instant::now() < deadline {
        let Some(der) = csrs.get(next.fetch_add(1, Ordering::Relaxed)) else {
            break;
        };
        let start = Instant::now();
        let result = match Csr::from_der(der) {
            Ok(csr) => {
                let request = IssueRequest {
                    hsa_id: HSA_ID.into(),
                    card_number: CARD.into(),
                    profile: Profile::Authentication,
                    csr,
                    virtual_card: true,
                };
                let now = crate::admin::now();
                issue(ca, store, &request, "bench", now, &mut rng)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => latencies.push(start.elapsed().as_micros() as u64),
            Err(e) => errors.push(e),
        }
    }
    (latencies, errors)
}

/// One organisation, person and card to issue for.
pub(super) async fn seed(store: &dyn Store) -> Outcome {
    let now = crate::admin::now();
    let event = |action: &str| super::event(now, action);
    super::add_organisation(store, now, true).await?;
    store
        .add_person(
            &Person {
                hsa_id: HSA_ID.into(),
                given_name: "Bench".into(),
                surname: "Marker".into(),
                org_number: ORG.into(),
                signing_entitled: true,
                active: true,
                created_at: now,
            },
            &event("person.add"),
        )
        .await?;
    store
        .add_card(
            &Card {
                card_number: CARD.into(),
                product_number: "610".into(),
                kind: CardKind::TwoPin,
                state: CardState::Active,
                holder: HSA_ID.into(),
                created_at: now,
            },
            &event("card.add"),
        )
        .await?;
    Ok(())
}

/// `count` DER CSRs of fresh P-256 keys, made on every core.
pub(super) async fn make_csrs(count: usize) -> Outcome<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut tasks = Vec::new();
    for t in 0..threads {
        let share = count / threads + usize::from(t < count % threads);
        tasks.push(tokio::task::spawn_blocking(move || {
            (0..share).map(|_| make_csr()).collect::<Outcome<Vec<_>>>()
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.map_err(|e| Failure::Internal(e.to_string()))??);
    }
    Ok(all)
}

fn make_csr() -> Outcome<Vec<u8>> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Failure::Internal(format!("key generation: {e}")))?;
    let params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| Failure::Internal(format!("CSR: {e}")))?;
    Ok(csr.der().to_vec())
}
