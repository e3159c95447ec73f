//! The `bench` command line, and its checked form, [`Plan`].
//!
//! The flags mean what memtier_benchmark's do where memtier has them (`--ratio` is
//! SET:GET, `--pipeline`, `--multi-key-get`, `--requests` per task, `--rate`).
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
/// Keys per multi-key get when `--workload mget` does not say.
const DEFAULT_MULTI_KEY_GET: usize = 16;
/// memtier's default SET:GET ratio.
const DEFAULT_RATIO: (u32, u32) = (1, 10);

#[derive(Args, Debug)]
#[command(after_help = "\
Flags mean what memtier_benchmark's do: --ratio is SET:GET, --requests counts per task,
--pipeline is requests in flight per task, --multi-key-get is keys per get.

Repeat --server (before or after `bench`, but all on the same side) to spread the keys
over several servers, by a hash of the key modulo their number; a server given twice is
refused. Latencies are per request (a multi-key get is one request), in microseconds;
with --rate, from the time each request was due to be sent, so that a stall shows in
the latency of every request it delayed (no coordinated omission).
Exit status: 0 if every request succeeded and every value read back was the one stored;
1 if not; 2 for bad arguments or when the bench could not run.")]
pub struct BenchArgs {
    /// get: single-key gets. set: single-key sets. mget: gets of --multi-key-get keys.
    /// mixed: sets and gets in the proportion --ratio. [default: get, or mixed when
    /// --ratio is given]
    #[arg(long, value_enum)]
    pub workload: Option<WorkloadKind>,
    /// SET:GET weights, as memtier's --ratio: 1:10 is one set for every ten gets; 1:0
    /// only sets, 0:1 only gets. Implies --workload mixed [default: 1:10].
    #[arg(long, value_name = "SET:GET", value_parser = parse_ratio)]
    pub ratio: Option<(u32, u32)>,
    /// How many keys: all are stored before the run (unless --no-preload), and requests
    /// pick among them.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=MAX_KEYS))]
    pub keys: u64,
    /// How requests pick keys: uniform, or zipf:S for a Zipf distribution with exponent S
    /// (zipf:0.99 is a typical cache workload; key 0 is the hottest).
    #[arg(long, value_name = "uniform|zipf:S", default_value = "uniform", value_parser = parse_distribution)]
    pub key_distribution: Distribution,
    /// Bytes per value (k and m suffixes allowed). Above 1m, raise --max-value and start
    /// memcached with a larger -I.
    #[arg(long, value_name = "SIZE", default_value = "100", value_parser = parse_value_size)]
    pub value_size: usize,
    /// Keys per get, sent as one multi-key get (get_many) [default: 16 for --workload
    /// mget; 1 otherwise]. With mixed, every get asks for this many keys.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub multi_key_get: Option<u64>,
    /// Requests each task keeps in flight: a new one goes out as soon as one is answered.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub pipeline: u64,
    /// Worker tasks, sharing one client per server.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub concurrency: u64,
    /// Connections each server's client opens (requests are multiplexed on them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub connections: u64,
    /// Seconds to measure (fractions allowed) [default: 10, unless --requests is given].
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Requests each task sends, measured, instead of running for --duration: the run
    /// ends when every task has sent its N (counting failed ones).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Seconds of load before measuring starts, not counted (fractions allowed)
    /// [default: 1, or 0 with --requests].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub warmup: Option<Duration>,
    /// Requests per second, in total over all tasks, sent at evenly spaced times
    /// [default: as fast as the server answers]. Latency is then measured from the
    /// time each request was due, not from when it could be sent.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Do not store the key space first (gets of keys never stored are misses).
    #[arg(long)]
    pub no_preload: bool,
    /// Seed for key choice and the get/set mix: the same seed gives each task the same
    /// sequence of requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Also write the latency distribution (all commands) to FILE in HdrHistogram's
    /// percentile text format (.hgrm, values in milliseconds), for HdrHistogram's
    /// plotters.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,
    /// Replaced by --pipeline and --multi-key-get.
    #[arg(long, hide = true)]
    pub batch: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadKind {
    Get,
    Set,
    Mget,
    Mixed,
}

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// The SET:GET weights: (0, 1) for get and mget, (1, 0) for set.
    pub sets: u32,
    pub gets: u32,
    /// Keys per get (1: a single-key get; more: one get_many).
    pub keys_per_get: usize,
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self.kind {
            WorkloadKind::Get => "get",
            WorkloadKind::Set => "set",
            WorkloadKind::Mget => "mget",
            WorkloadKind::Mixed => "mixed",
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

/// When the run ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// After this long measured.
    Duration(Duration),
    /// When every task has sent this many measured requests.
    Requests(u64),
}

/// The arguments, checked and in the shape the bench uses them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub workload: Workload,
    pub keys: u64,
    pub distribution: Distribution,
    pub value_size: usize,
    /// Requests in flight per task.
    pub pipeline: usize,
    pub concurrency: usize,
    pub connections: usize,
    pub length: Length,
    pub warmup: Duration,
    /// Requests per second over all tasks; `None`: as fast as possible.
    pub rate: Option<f64>,
    pub preload: bool,
    pub seed: u64,
    /// The client's value limit (`--max-value`).
    pub max_value: usize,
}

impl BenchArgs {
    pub fn plan(&self, max_value: usize) -> Result<Plan, String> {
        if self.batch.is_some() {
            return Err(
                "--batch is gone: it meant two things. Use --pipeline N for \
                        requests in flight per task, --multi-key-get N for keys per get"
                    .into(),
            );
        }
        let kind = match (self.workload, self.ratio) {
            (None, None) => WorkloadKind::Get,
            (None, Some(_)) | (Some(WorkloadKind::Mixed), _) => WorkloadKind::Mixed,
            (Some(kind), None) => kind,
            (Some(_), Some(_)) => {
                return Err("--ratio applies only to --workload mixed (which it implies)".into());
            }
        };
        let (sets, gets) = match kind {
            WorkloadKind::Get | WorkloadKind::Mget => (0, 1),
            WorkloadKind::Set => (1, 0),
            WorkloadKind::Mixed => self.ratio.unwrap_or(DEFAULT_RATIO),
        };
        let keys_per_get = match (kind, self.multi_key_get) {
            (WorkloadKind::Set, Some(_)) => {
                return Err("--multi-key-get applies only to workloads with gets".into());
            }
            (WorkloadKind::Mget, None) => DEFAULT_MULTI_KEY_GET,
            (_, n) => n.map_or(1, |n| n as usize),
        };
        if self.value_size > max_value {
            return Err(format!(
                "--value-size {} is above --max-value ({max_value} bytes): raise --max-value \
                 (and start memcached with a larger -I)",
                self.value_size
            ));
        }
        let length = match (self.duration, self.requests) {
            (_, Some(n)) => Length::Requests(n),
            (Some(d), None) => Length::Duration(d),
            (None, None) => Length::Duration(Duration::from_secs(10)),
        };
        let warmup = self.warmup.unwrap_or(match length {
            Length::Duration(_) => Duration::from_secs(1),
            Length::Requests(_) => Duration::ZERO,
        });
        Ok(Plan {
            workload: Workload {
                kind,
                sets,
                gets,
                keys_per_get,
            },
            keys: self.keys,
            distribution: self.key_distribution,
            value_size: self.value_size,
            pipeline: self.pipeline as usize,
            concurrency: self.concurrency as usize,
            connections: self.connections as usize,
            length,
            warmup,
            rate: self.rate,
            preload: !self.no_preload,
            seed: self.seed,
            max_value,
        })
    }
}

fn parse_ratio(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected SET:GET weights such as 1:10, not {s:?}");
    let (w, g) = s.split_once(':').ok_or_else(bad)?;
    let sets: u32 = w.trim().parse().map_err(|_| bad())?;
    let gets: u32 = g.trim().parse().map_err(|_| bad())?;
    if gets == 0 && sets == 0 {
        return Err("at least one of the SET:GET weights must be above 0".into());
    }
    if u64::from(gets) + u64::from(sets) > u64::from(u32::MAX) {
        return Err("SET:GET weights too large; use smaller numbers in the same ratio".into());
    }
    Ok((sets, gets))
}

fn parse_value_size(s: &str) -> Result<usize, String> {
    match s.trim() {
        "0" => Ok(0),
        _ => crate::parse_size(s),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Ok(r),
        _ => Err(format!(
            "expected requests per second, a number above 0 such as 1000, not {s:?}"
        )),
    }
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
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn plan(args: &[&str]) -> Result<Plan, String> {
        let cmd = Cmd::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cmd.args.plan(1 << 20)
    }

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
        assert_eq!(parse_ratio("1:10"), Ok((1, 10)));
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
        for bad in ["0", "-5", "inf", "x"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memtier_meanings() {
        // --ratio is SET:GET and implies mixed; memtier's default is 1:10.
        let p = plan(&["--ratio", "1:4"]).unwrap();
        assert_eq!(
            (p.workload.kind, p.workload.sets, p.workload.gets),
            (WorkloadKind::Mixed, 1, 4)
        );
        let p = plan(&["--workload", "mixed"]).unwrap();
        assert_eq!((p.workload.sets, p.workload.gets), (1, 10));
        assert!(plan(&["--workload", "get", "--ratio", "1:1"]).is_err());
        // --pipeline and --multi-key-get are separate.
        let p = plan(&["--workload", "mget", "--pipeline", "4"]).unwrap();
        assert_eq!((p.pipeline, p.workload.keys_per_get), (4, 16));
        let p = plan(&["--ratio", "1:1", "--multi-key-get", "8"]).unwrap();
        assert_eq!((p.pipeline, p.workload.keys_per_get), (1, 8));
        assert!(plan(&["--workload", "set", "--multi-key-get", "8"]).is_err());
        assert!(plan(&["--batch", "4"]).unwrap_err().contains("--pipeline"));
        // --requests instead of a duration, and then no warmup unless asked.
        let p = plan(&["--requests", "100"]).unwrap();
        assert_eq!(
            (p.length, p.warmup),
            (Length::Requests(100), Duration::ZERO)
        );
        assert!(plan(&["--requests", "100", "--duration", "1"]).is_err());
        let p = plan(&[]).unwrap();
        assert_eq!(p.length, Length::Duration(Duration::from_secs(10)));
        assert_eq!(p.warmup, Duration::from_secs(1));
        // Values above the client's limit are refused before connecting.
        assert!(
            plan(&["--value-size", "2m"])
                .unwrap_err()
                .contains("--max-value")
        );
        assert_eq!(plan(&["--value-size", "0"]).unwrap().value_size, 0);
    }
}
