//! `eid bench ocsp`: OCSP responses per second over loopback HTTP, measured by `wrk` (an
//! HTTP load generator nobody here wrote) against the real server, as `eid serve` runs it.
//!
//! Before the clock starts: a fresh data folder, `--certificates` authentication
//! certificates issued by its CA (one in ten revoked), the server on 127.0.0.1, and a `wrk`
//! script that asks about each certificate in turn. By default the requests are RFC 5019
//! GETs without a nonce over keep-alive connections: answered from the pre-signed cache
//! after the warm-up. `--nonce` POSTs requests with a nonce instead: each answer is signed
//! on the spot. It prints the cost of the per-request revocation-marker read and of a
//! cached answer inside the process, then `--runs` runs of `wrk` and their medians; the
//! last line is the figure. `--serve-only` prints the URL and the script and serves until
//! interrupted, for `wrk` by hand (or a profiler).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use eid_config::Config;
use eid_pki::{Csr, IssueRequest, KeyAlgorithm, Profile, issue};
use eid_server::{bind, router, serve};
use eid_store::revocation::RevocationStore;
use eid_store::{RevocationReason, Serial, Store};

use super::issue::{CARD, HSA_ID, make_csrs, seed};
use crate::context::load_ca;
use crate::failure::{Failure, Outcome};

/// `eid bench ocsp`.
#[derive(Debug, Args)]
pub struct OcspArgs {
    /// Certificates issued and asked about (one in ten revoked).
    #[arg(long, default_value_t = 1000)]
    pub certificates: usize,
    /// Seconds each `wrk` run measures.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Keep-alive connections `wrk` holds open.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// `wrk` threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed runs (the medians are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// POST requests with a nonce (signed per request) instead of cached GETs.
    #[arg(long)]
    pub nonce: bool,
    /// Serve and print the URL and the `wrk` script, until interrupted.
    #[arg(long)]
    pub serve_only: bool,
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// One `wrk` run's figures.
#[derive(Debug, Clone, Copy)]
struct WrkRun {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

pub async fn run(args: OcspArgs) -> Outcome {
    if args.certificates == 0 || args.runs == 0 || args.threads == 0 {
        return Err(Failure::Usage(
            "--certificates, --runs and --threads must be at least 1".into(),
        ));
    }
    let folder =
        super::fresh_data_folder("ocsp", args.duration, args.connections, KeyAlgorithm::P256)
            .await?;
    let dir = folder.path().to_path_buf();
    let config = Config::load(&dir, &[])?;
    let ca = Arc::new(load_ca(&config)?);
    let state = crate::serve::build(&config, None).await?;
    let store = state.store.clone();

    eprintln!(
        "issuing {} certificates, revoking one in ten (not timed)…",
        args.certificates
    );
    seed(store.as_ref()).await?;
    let serials = issue_certificates(&ca, store.as_ref(), args.certificates).await?;
    for serial in serials.iter().step_by(10) {
        store
            .revoke_certificate(
                serial,
                RevocationReason::Superseded,
                crate::admin::now(),
                &super::event(crate::admin::now(), "certificate.revoke"),
            )
            .await?;
    }

    let ocsp_path = state.revocation.ocsp_path.clone();
    let requests = requests(ca.issuing_der(), &serials, args.nonce)?;
    let script = dir.join("ocsp.lua");
    std::fs::write(&script, lua_script(&ocsp_path, &requests, args.nonce))
        .map_err(|e| Failure::Internal(format!("cannot write the wrk script: {e}")))?;

    in_process_costs(&state, &requests[0]).await?;

    let listener = bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let base = format!("http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(state.clone()), async {
        let _ = stopped.await;
    }));
    check_answer(&base, &ocsp_path, &requests[0], args.nonce).await?;

    if args.serve_only {
        println!("serving OCSP at {base}{ocsp_path} (Ctrl-C stops)");
        println!(
            "wrk -t{} -c{} -d{}s --latency -s {} {base}",
            args.threads,
            args.connections,
            args.duration,
            script.display()
        );
        crate::serve::shutdown_signals()?.await;
    } else {
        measure(&args, &script, &base).await?;
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

/// Issues `count` authentication certificates on the benchmark's card; their serials.
async fn issue_certificates(
    ca: &eid_pki::CertificateAuthority,
    store: &dyn Store,
    count: usize,
) -> Outcome<Vec<Serial>> {
    let csrs = make_csrs(count).await?;
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let mut serials = Vec::with_capacity(count);
    for der in &csrs {
        let csr = Csr::from_der(der).map_err(|e| Failure::Internal(e.to_string()))?;
        let request = IssueRequest {
            hsa_id: HSA_ID.into(),
            card_number: CARD.into(),
            profile: Profile::Authentication,
            csr,
            virtual_card: true,
        };
        let issued = issue(ca, store, &request, "bench", crate::admin::now(), &mut rng)
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
        serials.push(issued.record.serial);
    }
    Ok(serials)
}

/// One DER request per serial: without a nonce (the GET of an RFC 5019 client), or with a
/// random one.
fn requests(issuing_der: &[u8], serials: &[Serial], nonce: bool) -> Outcome<Vec<Vec<u8>>> {
    serials
        .iter()
        .map(|serial| {
            let value: Option<[u8; 16]> = nonce.then(rand::random);
            eid_pki::ocsp::request(
                issuing_der,
                std::slice::from_ref(serial),
                value.as_ref().map(|v| &v[..]),
            )
            .map_err(|e| Failure::Internal(e.to_string()))
        })
        .collect()
}

/// A `wrk` script asking about each request in turn: GET `<path>/<base64, URL-encoded>`,
/// or POST with the DER body.
fn lua_script(ocsp_path: &str, requests: &[Vec<u8>], post: bool) -> String {
    let below = ocsp_path.trim_end_matches('/');
    let items: Vec<String> = requests
        .iter()
        .map(|der| {
            if post {
                // Decimal escapes: binary-safe in every Lua.
                let body: String = der.iter().map(|b| format!("\\{b}")).collect();
                format!("\"{body}\"")
            } else {
                let encoded = STANDARD
                    .encode(der)
                    .replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D");
                format!("\"{below}/{encoded}\"")
            }
        })
        .collect();
    let request = if post {
        format!(
            "wrk.format(\"POST\", \"{ocsp_path}\", \
             {{[\"Content-Type\"] = \"application/ocsp-request\"}}, items[i])"
        )
    } else {
        "wrk.format(\"GET\", items[i])".to_owned()
    };
    format!(
        "-- Made by `eid bench ocsp`: one request per certificate, in turn.\n\
         local items = {{\n{}\n}}\n\
         local i = 0\n\
         request = function()\n  \
           i = i % #items + 1\n  \
           return {request}\n\
         end\n",
        items.join(",\n")
    )
}

/// CPU time this thread has run, in nanoseconds (Linux `schedstat`), so the in-process
/// costs below hold on a busy machine too; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `f` `n` times on this thread: microseconds per call, of CPU time where the system
/// tells it (else of wall time).
async fn per_call<F, Fut>(n: u32, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let (cpu, wall) = (thread_cpu_ns(), Instant::now());
    for _ in 0..n {
        // Completes without suspending: the thread does not change meanwhile.
        f().await;
    }
    let nanos = match (cpu, thread_cpu_ns()) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64,
        _ => wall.elapsed().as_nanos() as f64,
    };
    nanos / f64::from(n) / 1000.0
}

/// What one request costs inside the process: the revocation-marker read every answer
/// starts with, and a whole answer from the cache (marker read included).
async fn in_process_costs(
    state: &eid_server::AppState<eid_store::AnyStore>,
    request: &[u8],
) -> Outcome {
    const N: u32 = 100_000;
    state.store.revocation_marker().await?;
    let marker = per_call(N, || async {
        let _ = state.store.revocation_marker().await;
    })
    .await;
    let now = crate::admin::now();
    let _ = state.revocation.ocsp.answer(request, now).await;
    let answer = per_call(N, || async {
        let _ = state.revocation.ocsp.answer(request, now).await;
    })
    .await;
    eprintln!(
        "in process, CPU time per call: revocation-marker read {marker:.2} µs, cached answer \
         (marker read included) {answer:.2} µs"
    );
    Ok(())
}

/// The server answers the first request with a successful OCSP response.
async fn check_answer(base: &str, path: &str, der: &[u8], post: bool) -> Outcome {
    let client = reqwest::Client::new();
    let response = if post {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/ocsp-request")
            .body(der.to_vec())
            .send()
            .await
    } else {
        let encoded = STANDARD.encode(der).replace('/', "%2F");
        client
            .get(format!("{base}{}/{encoded}", path.trim_end_matches('/')))
            .send()
            .await
    }
    .map_err(|e| Failure::Internal(format!("the server does not answer: {e}")))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?;
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED successful (0), … }
    let successful = body.windows(3).take(6).any(|w| w == [0x0a, 0x01, 0x00]);
    if !successful {
        return Err(Failure::Internal(format!(
            "the responder did not answer successfully: {body:02x?}"
        )));
    }
    Ok(())
}

/// A warm-up run (fills the cache; not counted), then the timed runs and their medians.
async fn measure(args: &OcspArgs, script: &Path, base: &str) -> Outcome {
    let what = if args.nonce {
        "POST with nonce, signed per request"
    } else {
        "GET, cached"
    };
    eprintln!("warm-up (2 s, not counted)…");
    wrk(args, script, base, 2).await?;
    let mut runs = Vec::with_capacity(args.runs);
    for n in 1..=args.runs {
        let run = wrk(args, script, base, args.duration).await?;
        eprintln!(
            "run {n}: {:.0} responses/s p50={:.2} ms p99={:.2} ms errors={}",
            run.requests_per_second, run.p50_ms, run.p99_ms, run.errors
        );
        runs.push(run);
    }
    let median = |f: fn(&WrkRun) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let errors: u64 = runs.iter().map(|r| r.errors).sum();
    println!(
        "{:.0} OCSP responses/s ({what}) p50={:.2} p99={:.2} errors={errors} (median of {} runs, \
         wrk -t{} -c{} -d{}s)",
        median(|r| r.requests_per_second),
        median(|r| r.p50_ms),
        median(|r| r.p99_ms),
        runs.len(),
        args.threads,
        args.connections,
        args.duration
    );
    if errors > 0 {
        return Err(Failure::Internal(format!("{errors} requests failed")));
    }
    Ok(())
}

/// Runs `wrk` for `seconds` on a blocking thread (the server answers on this runtime).
async fn wrk(args: &OcspArgs, script: &Path, base: &str, seconds: u64) -> Outcome<WrkRun> {
    let command: Vec<String> = vec![
        format!("-t{}", args.threads),
        format!("-c{}", args.connections),
        format!("-d{seconds}s"),
        "--latency".into(),
        "-s".into(),
        script.display().to_string(),
        base.to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new("wrk").args(&command).output())
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?
        .map_err(|e| {
            Failure::Usage(format!(
                "cannot run wrk ({e}); install it (Debian: apt-get install wrk)"
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Failure::Internal(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse_wrk(&text).ok_or_else(|| Failure::Internal(format!("unexpected wrk output:\n{text}")))
}

/// A latency as `wrk` prints it (`512.00us`, `1.20ms`, `1.00s`), in milliseconds.
fn latency_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn parse_wrk(text: &str) -> Option<WrkRun> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let requests_per_second = field("Requests/sec:")?.parse().ok()?;
    let p50_ms = latency_ms(field("50%")?)?;
    let p99_ms = latency_ms(field("99%")?)?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let socket: u64 = field("Socket errors:")
        .map(|l| {
            l.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Some(WrkRun {
        requests_per_second,
        p50_ms,
        p99_ms,
        errors: non_2xx + socket,
    })
}

#[cfg(test)]
mod tests {
    use super::{latency_ms, lua_script, parse_wrk};

    #[test]
    fn wrk_output_is_read() {
        let out = "Running 10s test @ http://127.0.0.1:1\n  2 threads and 32 connections\n  \
                   Latency Distribution\n     50%  512.00us\n     75%  700.00us\n     90%    \
                   1.00ms\n     99%    2.50ms\n  123 requests in 10.00s, 1.00MB read\n  Socket \
                   errors: connect 0, read 2, write 0, timeout 1\nRequests/sec:  12345.67\n";
        let run = parse_wrk(out).unwrap();
        assert_eq!(run.requests_per_second, 12345.67);
        assert_eq!(run.p50_ms, 0.512);
        assert_eq!(run.p99_ms, 2.5);
        assert_eq!(run.errors, 3);
        assert_eq!(latency_ms("1.50s"), Some(1500.0));
        assert!(parse_wrk("nothing").is_none());
    }

    #[test]
    fn the_script_asks_about_each_request_in_turn() {
        let get = lua_script("/ocsp", &[vec![0xfb, 0xff], vec![1]], false);
        assert!(get.contains("\"/ocsp/%2B%2F8%3D\""), "{get}");
        assert!(get.contains("i = i % #items + 1"), "{get}");
        let post = lua_script("/ocsp", &[vec![0x30, 0]], true);
        assert!(post.contains("\"\\48\\0\""), "{post}");
        assert!(post.contains("\"POST\", \"/ocsp\""), "{post}");
    }
}
