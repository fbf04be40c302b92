//! `eid bench …`: load generators that measure the figures in BENCHMARKS.md. Each is
//! self-contained: it makes a fresh data folder, measures, and removes it.

mod browser;
mod enroll;
mod issue;
mod login;
mod ocsp;
mod provision;
mod stack;
mod token;

pub use ocsp::OcspArgs;

use eid_store::{AuditEvent, Organisation, SigningPolicy, Store};
use time::OffsetDateTime;

use crate::cli::BenchCommand;
use crate::failure::Outcome;

/// Runs a benchmark.
pub async fn run(cmd: BenchCommand) -> Outcome {
    match cmd {
        BenchCommand::Issue(args) => issue::run(args).await,
        BenchCommand::Login(args) => login::run(args).await,
        BenchCommand::Enroll(args) => enroll::run(args).await,
        BenchCommand::Fetch(args) => stack::run(args).await,
        BenchCommand::Ocsp(args) => ocsp::run(args).await,
    }
}

/// The organisation every benchmark provisions.
const ORG: &str = "2321000016";

/// Checks the common arguments and makes a fresh data folder (configuration, CA of
/// `algorithm`, database) in a temporary directory, removed when the result is dropped.
async fn fresh_data_folder(
    name: &str,
    duration: u64,
    concurrency: usize,
    algorithm: eid_pki::KeyAlgorithm,
) -> Outcome<tempfile::TempDir> {
    fresh_data_folder_on(name, duration, concurrency, algorithm, None).await
}

/// Fails unless `--duration` and `--concurrency` are at least 1.
fn check_load(duration: u64, concurrency: usize) -> Outcome {
    if duration == 0 || concurrency == 0 {
        return Err(crate::failure::Failure::Usage(
            "--duration and --concurrency must be at least 1".into(),
        ));
    }
    Ok(())
}

/// [`fresh_data_folder`] whose configuration names `store` (a store URL, e.g. an empty
/// PostgreSQL database's, whose schema is made here) instead of the folder's SQLite file.
async fn fresh_data_folder_on(
    name: &str,
    duration: u64,
    concurrency: usize,
    algorithm: eid_pki::KeyAlgorithm,
    store: Option<&str>,
) -> Outcome<tempfile::TempDir> {
    check_load(duration, concurrency)?;
    let folder = tempfile::Builder::new()
        .prefix(&format!("eid-bench-{name}-"))
        .tempdir()
        .map_err(|e| {
            crate::failure::Failure::Internal(format!("cannot make a temporary folder: {e}"))
        })?;
    crate::admin::init::build(folder.path(), "https://localhost:8443", algorithm, store).await?;
    Ok(folder)
}

/// An audit event of the benchmark's provisioning.
fn event(now: OffsetDateTime, action: &str) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: "bench".into(),
        action: action.into(),
        subject: "bench".into(),
        details: serde_json::json!({}),
    }
}

/// Adds the benchmarks' organisation (self-service signing certificates).
async fn add_organisation(
    store: &dyn Store,
    now: OffsetDateTime,
    accept_unattested_keys: bool,
) -> Outcome {
    let org = Organisation {
        org_number: ORG.into(),
        name: "Benchmark Region".into(),
        signing_policy: SigningPolicy::SelfService,
        accept_unattested_keys,
        created_at: now,
    };
    Ok(store
        .add_organisation(&org, &event(now, "organisation.add"))
        .await?)
}

/// What the workers of a timed run bring back: latencies in microseconds, and errors.
type Results = (Vec<u64>, Vec<String>);

/// Joins the workers of a timed run and gathers their results.
async fn collect(set: &mut tokio::task::JoinSet<Results>) -> Outcome<Results> {
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (lat, errs) = joined
            .map_err(|e| crate::failure::Failure::Internal(format!("a load task failed: {e}")))?;
        latencies.extend(lat);
        errors.extend(errs);
    }
    Ok((latencies, errors))
}

/// Prints the figure of a timed run (its last line: `<N> <what>/s p50=<ms> p99=<ms>
/// errors=<n>`), the first error on stderr; fails if any operation failed.
fn report(
    what: &str,
    latencies: &mut [u64],
    errors: &[String],
    elapsed: std::time::Duration,
) -> Outcome {
    report_tagged(what, latencies, errors, elapsed, "")
}

/// [`report`]'s figure line with `tags` (words such as `store=postgres nodes=2`) after the
/// error count: `<N> <what>/s p50=<ms> p99=<ms> errors=<n> <tags>`.
fn report_tagged(
    what: &str,
    latencies: &mut [u64],
    errors: &[String],
    elapsed: std::time::Duration,
    tags: &str,
) -> Outcome {
    let elapsed = elapsed.as_secs_f64();
    eprintln!(
        "{} {what} in {elapsed:.2} s, {} errors",
        latencies.len(),
        errors.len()
    );
    if let Some(e) = errors.first() {
        eprintln!("first error: {e}");
    }
    let rate = latencies.len() as f64 / elapsed;
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" {tags}")
    };
    println!(
        "{rate:.0} {what}/s p50={:.2} p99={:.2} errors={}{tags}",
        percentile_ms(latencies, 50.0),
        percentile_ms(latencies, 99.0),
        errors.len()
    );
    if !errors.is_empty() {
        return Err(crate::failure::Failure::Internal(format!(
            "{} {what} failed",
            errors.len()
        )));
    }
    Ok(())
}

/// The CPU time this process has used so far, all threads, user and system (Linux:
/// `/proc/self/stat`, in `USER_HZ` ticks, which the kernel reports at 100 a second); `None`
/// elsewhere.
fn process_cpu() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command's name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// Latency percentiles in milliseconds from samples in microseconds (sorted in place).
pub fn percentile_ms(samples: &mut [u64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    let index = rank.clamp(1, samples.len()) - 1;
    samples[index] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::percentile_ms;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&mut s, 50.0), 50.0);
        assert_eq!(percentile_ms(&mut s, 99.0), 99.0);
        assert_eq!(percentile_ms(&mut [], 99.0), 0.0);
    }
}
