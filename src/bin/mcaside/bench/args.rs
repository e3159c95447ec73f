//! The `bench` command line, and its checked form, [`Plan`].
//!
//! Everything a user can get wrong is rejected here, before any connection is opened:
//! single values by clap's value parsers (so the message names the option), the
//! combinations in [`BenchArgs::plan`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// The largest key space: zipf ranks are computed in f64, exact only up to 2^53, and
/// a key space this size already exceeds any server's memory.
const MAX_KEYS: u64 = 1 << 40;
/// The largest value: memcached's own ceiling (`-I 1024m`).
const MAX_VALUE_SIZE: u64 = 1 << 30;

#[derive(Args, Debug)]
#[command(after_help = "\
Repeat --server (before or after `bench`, but all on the same side) to spread the keys
over several servers, by a hash of the key modulo their number.
Latencies are measured per request (an mget is one request), in microseconds.
The exit status is 1 if any request failed or any value read back was not the one
stored, 2 for bad arguments or when the bench could not run.")]
pub struct BenchArgs {
    /// get: single-key gets. set: single-key sets. mget: get_many of --batch keys.
    /// mixed: single-key gets and sets in the proportion --ratio.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Get)]
    pub workload: WorkloadKind,
    /// GET:SET weights for --workload mixed [default: 9:1].
    #[arg(long, value_name = "GET:SET", value_parser = parse_ratio)]
    pub ratio: Option<(u32, u32)>,
    /// How many keys: all are stored before the run, and requests pick among them.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=MAX_KEYS))]
    pub keys: u64,
    /// How requests pick keys: uniform, or zipf:S for a Zipf distribution with exponent S
    /// (zipf:0.99 is a typical cache workload; key 0 is the hottest).
    #[arg(long, value_name = "uniform|zipf:S", default_value = "uniform", value_parser = parse_distribution)]
    pub key_distribution: Distribution,
    /// Bytes per value.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=MAX_VALUE_SIZE))]
    pub value_size: u64,
    /// For mget: keys per get_many [default: 16]. For get, set and mixed: how many
    /// requests one worker has in flight at once, pipelined like memtier's --pipeline
    /// [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub batch: Option<u64>,
    /// Worker tasks, sharing one client per server.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub concurrency: u64,
    /// Connections each server's client opens (requests are multiplexed on them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub connections: u64,
    /// Seconds to measure (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_positive_secs)]
    pub duration: Duration,
    /// Seconds of load before measuring starts, not counted (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    pub warmup: Duration,
    /// Seed for key choice and the get/set mix: the same seed gives each worker the same
    /// sequence of requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Also write the latency distribution to FILE in HdrHistogram's percentile text
    /// format (.hgrm, values in milliseconds), for HdrHistogram's plotters.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadKind {
    Get,
    Set,
    Mget,
    Mixed,
}

/// What each request does, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Get,
    Set,
    /// `get_many` of this many keys.
    Mget {
        keys: usize,
    },
    /// Each request a get or a set, with these weights.
    Mixed {
        gets: u32,
        sets: u32,
    },
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::Mget { .. } => "mget",
            Workload::Mixed { .. } => "mixed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Uniform,
    Zipf(f64),
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Uniform => f.write_str("uniform"),
            Distribution::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

/// The arguments, checked and in the shape the bench uses them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub workload: Workload,
    pub keys: u64,
    pub distribution: Distribution,
    pub value_size: usize,
    /// Requests in flight per worker (1 for mget, whose batch is its key count).
    pub pipeline: usize,
    pub concurrency: usize,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub seed: u64,
}

impl BenchArgs {
    pub fn plan(&self) -> Result<Plan, String> {
        let batch = self.batch.map(|b| b as usize);
        let workload = match self.workload {
            WorkloadKind::Get => Workload::Get,
            WorkloadKind::Set => Workload::Set,
            WorkloadKind::Mget => Workload::Mget {
                keys: batch.unwrap_or(16),
            },
            WorkloadKind::Mixed => {
                let (gets, sets) = self.ratio.unwrap_or((9, 1));
                Workload::Mixed { gets, sets }
            }
        };
        if self.ratio.is_some() && self.workload != WorkloadKind::Mixed {
            return Err("--ratio applies only to --workload mixed".into());
        }
        let pipeline = match workload {
            Workload::Mget { .. } => 1,
            _ => batch.unwrap_or(1),
        };
        Ok(Plan {
            workload,
            keys: self.keys,
            distribution: self.key_distribution,
            value_size: self.value_size as usize,
            pipeline,
            concurrency: self.concurrency as usize,
            connections: self.connections as usize,
            duration: self.duration,
            warmup: self.warmup,
            seed: self.seed,
        })
    }
}

impl Plan {
    /// Keys per request.
    pub fn batch(&self) -> usize {
        match self.workload {
            Workload::Mget { keys } => keys,
            _ => self.pipeline,
        }
    }
}

fn parse_ratio(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected GET:SET weights such as 9:1, not {s:?}");
    let (g, w) = s.split_once(':').ok_or_else(bad)?;
    let gets: u32 = g.trim().parse().map_err(|_| bad())?;
    let sets: u32 = w.trim().parse().map_err(|_| bad())?;
    if gets == 0 && sets == 0 {
        return Err("at least one of the GET:SET weights must be above 0".into());
    }
    if u64::from(gets) + u64::from(sets) > u64::from(u32::MAX) {
        return Err("GET:SET weights too large; use smaller numbers in the same ratio".into());
    }
    Ok((gets, sets))
}

fn parse_distribution(s: &str) -> Result<Distribution, String> {
    if s == "uniform" {
        return Ok(Distribution::Uniform);
    }
    let Some(exponent) = s.strip_prefix("zipf:") else {
        return Err("expected uniform or zipf:S, such as zipf:0.99".into());
    };
    match exponent.parse::<f64>() {
        Ok(e) if e.is_finite() && e > 0.0 => Ok(Distribution::Zipf(e)),
        Ok(_) => Err(format!(
            "the zipf exponent must be a number above 0 (use uniform for 0), not {exponent:?}"
        )),
        Err(_) => Err(format!(
            "the zipf exponent {exponent:?} is not a number; expected zipf:S, such as zipf:0.99"
        )),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("expected a number of seconds such as 10 or 0.5, not {s:?}"))
}

fn parse_positive_secs(s: &str) -> Result<Duration, String> {
    match parse_secs(s)? {
        Duration::ZERO => Err("must be more than 0 seconds".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions() {
        assert_eq!(parse_distribution("uniform"), Ok(Distribution::Uniform));
        assert_eq!(
            parse_distribution("zipf:0.99"),
            Ok(Distribution::Zipf(0.99))
        );
        for bad in [
            "zipf:abc", "zipf:", "zipf:0", "zipf:-1", "zipf:inf", "zipf", "normal",
        ] {
            assert!(parse_distribution(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ratios_and_seconds() {
        assert_eq!(parse_ratio("9:1"), Ok((9, 1)));
        assert_eq!(parse_ratio("0:1"), Ok((0, 1)));
        for bad in ["9", "0:0", "a:1", "9:1:1", "-1:2"] {
            assert!(parse_ratio(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert!(parse_positive_secs("0").is_err());
        for bad in ["-1", "NaN", "1e300", "ten"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
