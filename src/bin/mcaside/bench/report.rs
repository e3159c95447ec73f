//! The results: a report for people, or one JSON line for programs.

use std::fmt::Write;
use std::time::Duration;

use super::args::{Plan, Workload};
use super::json::{self, Object};
use super::preload::Preload;
use super::server_stats::{Kind, ServerStats};
use super::tally::Tally;

/// The percentiles reported, with their names in the report and in the JSON.
const PERCENTILES: [(f64, &str, &str); 4] = [
    (0.50, "p50", "p50_us"),
    (0.90, "p90", "p90_us"),
    (0.99, "p99", "p99_us"),
    (0.999, "p99.9", "p999_us"),
];

pub struct Summary<'a> {
    pub plan: &'a Plan,
    pub preload: &'a Preload,
    /// The measured window: from the end of the warmup to the end of the run.
    pub elapsed: Duration,
    pub tally: &'a Tally,
    pub servers: &'a [ServerStats],
}

impl Summary<'_> {
    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q`, in microseconds; `None` if nothing succeeded.
    fn latency(&self, q: f64) -> Option<u64> {
        let h = &self.tally.latency;
        (!h.is_empty()).then(|| h.value_at_quantile(q))
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
        let pre = self.preload;
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
        let _ = writeln!(
            out,
            "  measured {:.2} s after {:.2} s of warmup\n",
            self.elapsed.as_secs_f64(),
            p.warmup.as_secs_f64()
        );

        let _ = writeln!(
            out,
            "throughput  {:.0} ops/s ({} requests)",
            self.per_sec(t.requests),
            t.requests
        );
        if t.keys() != t.requests {
            let _ = writeln!(out, "            {:.0} keys/s", self.per_sec(t.keys()));
        }
        if t.gets > 0 || !matches!(p.workload, Workload::Set) {
            let rate = t
                .hit_rate()
                .map_or(String::new(), |r| format!(" ({:.2}%)", r * 100.0));
            let _ = writeln!(
                out,
                "gets        {} keys: {} hits{rate}, {} misses",
                t.gets, t.hits, t.misses
            );
        }
        if t.sets > 0 || matches!(p.workload, Workload::Set | Workload::Mixed { .. }) {
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
        if t.latency.is_empty() {
            out.push_str("latency     no successful requests\n");
        } else {
            out.push_str("latency    ");
            for (q, name, _) in PERCENTILES {
                let _ = write!(out, " {name} {} µs ", t.latency.value_at_quantile(q));
            }
            let _ = writeln!(
                out,
                " max {} µs  mean {:.0} µs",
                t.latency.max(),
                t.latency.mean()
            );
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
        let (p, t, pre) = (self.plan, self.tally, self.preload);
        let mut o = Object::new();
        o.str("workload", p.workload.name())
            .str("key_distribution", &p.distribution.to_string())
            .uint("keys", p.keys)
            .uint("value_size", p.value_size as u64)
            .uint("batch", p.batch() as u64)
            .uint("concurrency", p.concurrency as u64)
            .uint("connections", p.connections as u64)
            .uint("servers", self.servers.len() as u64)
            .uint("seed", p.seed)
            .float("warmup_s", Some(p.warmup.as_secs_f64()), 3)
            .float("duration_s", Some(self.elapsed.as_secs_f64()), 3)
            .uint("requests", t.requests)
            .float("ops_per_sec", Some(self.per_sec(t.requests)), 1)
            .float("keys_per_sec", Some(self.per_sec(t.keys())), 1)
            .uint("gets", t.gets)
            .uint("sets", t.sets)
            .uint("hits", t.hits)
            .uint("misses", t.misses)
            .float("hit_rate", t.hit_rate(), 6)
            .uint("errors", t.errors())
            .uint("failed", t.failed)
            .uint("wrong_values", t.wrong)
            .opt_str("first_error", t.first_error.as_deref());
        for (q, _, key) in PERCENTILES {
            o.float(key, self.latency(q).map(|v| v as f64), 0);
        }
        o.float("max_us", self.latency(1.0).map(|v| v as f64), 0)
            .float(
                "mean_us",
                (!t.latency.is_empty()).then(|| t.latency.mean()),
                1,
            )
            .uint("preload_keys", pre.keys)
            .float("preload_s", Some(pre.elapsed.as_secs_f64()), 3)
            .uint("preload_checked", pre.checked)
            .uint("preload_missing", pre.missing)
            .uint("preload_wrong", pre.wrong)
            .raw(
                "server_stats",
                &json::array(self.servers.iter().map(server_json)),
            );
        o.finish()
    }
}

fn server_json(s: &ServerStats) -> String {
    let mut o = Object::new();
    o.str("addr", &s.addr);
    match &s.rows {
        Ok(rows) => {
            for row in rows {
                o.uint(row.name, row.value);
            }
        }
        Err(e) => {
            o.str("error", e);
        }
    }
    o.finish()
}

fn describe_workload(p: &Plan) -> String {
    let pipelined = |s: &str| match p.pipeline {
        1 => s.to_string(),
        n => format!("{s}, {n} requests in flight per worker"),
    };
    match p.workload {
        Workload::Get => pipelined("get"),
        Workload::Set => pipelined("set"),
        Workload::Mget { keys } => format!("mget of {keys} keys"),
        Workload::Mixed { gets, sets } => pipelined(&format!("mixed {gets}:{sets} get:set")),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
