//! `eid bench …`: load generators that measure the figures in BENCHMARKS.md. Each is
//! self-contained: it makes a fresh data folder, measures, and removes it.

mod issue;
mod login;

use crate::cli::BenchCommand;
use crate::failure::Outcome;

/// Runs a benchmark.
pub async fn run(cmd: BenchCommand) -> Outcome {
    match cmd {
        BenchCommand::Issue(args) => issue::run(args).await,
        BenchCommand::Login(args) => login::run(args).await,
    }
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
