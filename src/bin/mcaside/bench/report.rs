//! The results: a report for people, or one JSON line for programs.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::args::{Length, Plan};
use super::preload::Preload;
use super::server_stats::{Kind, ServerStats};
use super::tally::{Command, Tally};

/// The percentiles reported, with their names in the report.
const PERCENTILES: [(f64, &str); 4] = [
    (0.50, "p50"),
    (0.90, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
];

pub struct Summary<'a> {
    pub plan: &'a Plan,
    /// `None` with --no-preload.
    pub preload: Option<&'a Preload>,
    /// The measured window: from the end of the warmup to the end of the run.
    pub elapsed: Duration,
    pub tally: &'a Tally,
    pub servers: &'a [ServerStats],
}

/// Latency percentiles in microseconds; all `None` when nothing succeeded.
#[derive(Serialize)]
struct Latency {
    p50_us: Option<u64>,
    p90_us: Option<u64>,
    p99_us: Option<u64>,
    p999_us: Option<u64>,
    max_us: Option<u64>,
    mean_us: Option<f64>,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let at = |q| (!h.is_empty()).then(|| h.value_at_quantile(q));
        Latency {
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: (!h.is_empty()).then(|| h.max()),
            mean_us: (!h.is_empty()).then(|| round(h.mean(), 1)),
        }
    }
}

/// One command's row: `get` (single- and multi-key) or `set`.
#[derive(Serialize)]
struct CommandJson {
    requests: u64,
    failed: u64,
    ops_per_sec: f64,
    #[serde(flatten)]
    latency: Latency,
}

#[derive(Serialize)]
struct ServerJson<'a> {
    addr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(flatten)]
    counters: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct Json<'a> {
    workload: &'static str,
    /// SET:GET, as memtier's --ratio.
    ratio: String,
    key_distribution: String,
    keys: u64,
    value_size: usize,
    /// The client's value limit (--max-value).
    max_value: usize,
    pipeline: usize,
    multi_key_get: usize,
    concurrency: usize,
    connections: usize,
    servers: usize,
    seed: u64,
    /// The --rate asked for; `null` when unthrottled.
    rate: Option<f64>,
    /// --requests per task; `null` for a timed run.
    requests_per_task: Option<u64>,
    warmup_s: f64,
    duration_s: f64,
    requests: u64,
    ops_per_sec: f64,
    keys_per_sec: f64,
    gets: u64,
    sets: u64,
    hits: u64,
    misses: u64,
    hit_rate: Option<f64>,
    errors: u64,
    failed: u64,
    wrong_values: u64,
    first_error: Option<&'a str>,
    #[serde(flatten)]
    latency: Latency,
    get: CommandJson,
    set: CommandJson,
    preload: bool,
    preload_keys: u64,
    preload_s: f64,
    preload_checked: u64,
    preload_missing: u64,
    preload_wrong: u64,
    server_stats: Vec<ServerJson<'a>>,
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

impl Summary<'_> {
    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn command_json(&self, c: Command) -> CommandJson {
        let per = self.tally.command(c);
        CommandJson {
            requests: per.requests,
            failed: per.failed,
            ops_per_sec: round(self.per_sec(per.requests), 1),
            latency: Latency::of(&per.latency),
        }
    }

    pub fn human(&self) -> String {
        let (p, t) = (self.plan, self.tally);
        let mut out = String::new();
        let servers = self.servers.len();
        let _ = writeln!(
            out,
            "mcaside bench: {}, {} workers, {} connection{} to each of {servers} server{}",
            describe_workload(p),
            p.concurrency,
            p.connections,
            plural(p.connections as u64),
            plural(servers as u64),
        );
        let _ = writeln!(
            out,
            "  {} keys ({}), {}-byte values, seed {}",
            p.keys, p.distribution, p.value_size, p.seed
        );
        match self.preload {
            None => out.push_str("  no preload (--no-preload): gets of keys not yet set miss\n"),
            Some(pre) => {
                let _ = write!(
                    out,
                    "  preload: {} keys in {:.2} s; {} read back",
                    pre.keys,
                    pre.elapsed.as_secs_f64(),
                    pre.checked
                );
                if pre.missing == 0 && pre.wrong == 0 {
                    out.push_str(", all correct\n");
                } else {
                    let _ = writeln!(out, ": {} missing, {} wrong", pre.missing, pre.wrong);
                }
            }
        }
        let length = match p.length {
            Length::Duration(_) => String::new(),
            Length::Requests(n) => format!(" ({n} requests per worker)"),
        };
        let _ = writeln!(
            out,
            "  measured {:.2} s{length} after {:.2} s of warmup\n",
            self.elapsed.as_secs_f64(),
            p.warmup.as_secs_f64()
        );

        let _ = write!(
            out,
            "throughput  {:.0} ops/s ({} requests)",
            self.per_sec(t.requests),
            t.requests
        );
        match p.rate {
            Some(rate) => {
                let _ = writeln!(out, "; --rate {rate} asked");
            }
            None => out.push('\n'),
        }
        if t.keys() != t.requests {
            let _ = writeln!(out, "            {:.0} keys/s", self.per_sec(t.keys()));
        }
        if t.gets > 0 || p.workload.gets > 0 {
            let rate = t
                .hit_rate()
                .map_or(String::new(), |r| format!(" ({:.2}%)", r * 100.0));
            let _ = writeln!(
                out,
                "gets        {} keys: {} hits{rate}, {} misses",
                t.gets, t.hits, t.misses
            );
        }
        if t.sets > 0 || p.workload.sets > 0 {
            let _ = writeln!(out, "sets        {} keys", t.sets);
        }
        let _ = write!(out, "errors      {}", t.errors());
        if t.errors() > 0 {
            let _ = write!(
                out,
                ": {} failed requests, {} wrong values",
                t.failed, t.wrong
            );
            if let Some(e) = &t.first_error {
                let _ = write!(out, " (first failure: {e})");
            }
        }
        out.push('\n');

        let since = match p.rate {
            Some(_) => "from the time each request was due",
            None => "from send to reply",
        };
        let _ = writeln!(out, "\nlatency (µs, {since})");
        let _ = write!(out, "  {:<6} {:>10} {:>11}", "", "requests", "ops/s");
        for (_, name) in PERCENTILES {
            let _ = write!(out, " {name:>8}");
        }
        let _ = writeln!(out, " {:>8} {:>8}", "max", "mean");
        let mut rows = Vec::new();
        for (c, name) in [(Command::Get, "get"), (Command::Set, "set")] {
            let per = t.command(c);
            let asked = match c {
                Command::Get => p.workload.gets > 0,
                Command::Set => p.workload.sets > 0,
            };
            if asked || per.requests > 0 {
                rows.push((name, per.requests, &per.latency));
            }
        }
        if rows.len() > 1 {
            rows.push(("total", t.requests, &t.latency));
        }
        for (name, requests, h) in rows {
            let _ = write!(
                out,
                "  {name:<6} {requests:>10} {:>11.0}",
                self.per_sec(requests)
            );
            if h.is_empty() {
                out.push_str("  no successful requests\n");
                continue;
            }
            for (q, _) in PERCENTILES {
                let _ = write!(out, " {:>8}", h.value_at_quantile(q));
            }
            let _ = writeln!(out, " {:>8} {:>8.0}", h.max(), h.mean());
        }

        for server in self.servers {
            let _ = write!(out, "\nserver {}", server.addr);
            match &server.rows {
                Err(e) => {
                    let _ = writeln!(out, ": stats unavailable: {e}");
                }
                Ok(rows) => {
                    let _ = writeln!(
                        out,
                        " (its counters, from the start of measuring to the end of the load)"
                    );
                    for row in rows {
                        let _ = match row.kind {
                            Kind::Delta => writeln!(
                                out,
                                "  {:<18} {:>14}  {:>12.0}/s",
                                row.name,
                                row.value,
                                self.per_sec(row.value)
                            ),
                            Kind::Now => {
                                writeln!(out, "  {:<18} {:>14}  (at the end)", row.name, row.value)
                            }
                        };
                    }
                }
            }
        }
        out
    }

    pub fn json(&self) -> String {
        let (p, t) = (self.plan, self.tally);
        let pre = self.preload;
        let json = Json {
            workload: p.workload.name(),
            ratio: format!("{}:{}", p.workload.sets, p.workload.gets),
            key_distribution: p.distribution.to_string(),
            keys: p.keys,
            value_size: p.value_size,
            max_value: p.max_value,
            pipeline: p.pipeline,
            multi_key_get: p.workload.keys_per_get,
            concurrency: p.concurrency,
            connections: p.connections,
            servers: self.servers.len(),
            seed: p.seed,
            rate: p.rate,
            requests_per_task: match p.length {
                Length::Requests(n) => Some(n),
                Length::Duration(_) => None,
            },
            warmup_s: round(p.warmup.as_secs_f64(), 3),
            duration_s: round(self.elapsed.as_secs_f64(), 3),
            requests: t.requests,
            ops_per_sec: round(self.per_sec(t.requests), 1),
            keys_per_sec: round(self.per_sec(t.keys()), 1),
            gets: t.gets,
            sets: t.sets,
            hits: t.hits,
            misses: t.misses,
            hit_rate: t.hit_rate().map(|r| round(r, 6)),
            errors: t.errors(),
            failed: t.failed,
            wrong_values: t.wrong,
            first_error: t.first_error.as_deref(),
            latency: Latency::of(&t.latency),
            get: self.command_json(Command::Get),
            set: self.command_json(Command::Set),
            preload: pre.is_some(),
            preload_keys: pre.map_or(0, |p| p.keys),
            preload_s: pre.map_or(0.0, |p| round(p.elapsed.as_secs_f64(), 3)),
            preload_checked: pre.map_or(0, |p| p.checked),
            preload_missing: pre.map_or(0, |p| p.missing),
            preload_wrong: pre.map_or(0, |p| p.wrong),
            server_stats: self.servers.iter().map(server_json).collect(),
        };
        serde_json::to_string(&json).expect("plain data serializes")
    }
}

fn server_json(s: &ServerStats) -> ServerJson<'_> {
    let (error, counters) = match &s.rows {
        Ok(rows) => (None, rows.iter().map(|r| (r.name, r.value)).collect()),
        Err(e) => (Some(e.as_str()), Default::default()),
    };
    ServerJson {
        addr: &s.addr,
        error,
        counters,
    }
}

fn describe_workload(p: &Plan) -> String {
    let w = &p.workload;
    let gets = match w.keys_per_get {
        1 => "get".to_string(),
        n => format!("get of {n} keys"),
    };
    let mut s = match (w.sets, w.gets) {
        (_, 0) => "set".to_string(),
        (0, _) => gets,
        (sets, g) => format!("mixed {sets}:{g} set:{gets}"),
    };
    if p.pipeline > 1 {
        let _ = write!(s, ", {} requests in flight per worker", p.pipeline);
    }
    if let Some(rate) = p.rate {
        let _ = write!(s, ", {rate} requests/s in all");
    }
    s
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
