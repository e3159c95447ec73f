//! From rounds of outcomes to the report: per client the median over rounds, the
//! latency percentiles over all rounds (histograms merged), the ratios of medians to
//! the raw reference and to async-memcached, and the median and range of the per-round
//! ratios (each round compares two runs seconds apart, so a neighbour's load that comes
//! and goes moves it less). Rendered as markdown tables and as JSON lines.

use serde::Serialize;

use crate::job::{ClientSpec, Outcome};
use crate::opts::size_label;
use crate::scenarios::Scenario;
use crate::worker::histogram;

/// The median and range of some per-round figures.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Option<Spread> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// One client's figures in one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ClientSummary {
    pub label: String,
    pub family: &'static str,
    pub client: ClientSpec,
    /// Rounds that produced an outcome.
    pub rounds_ok: usize,
    /// Per-round problems: worker failures, and rounds with mismatches, misses or
    /// errors. Any of them fails the run.
    pub problems: Vec<String>,
    /// Per-round remarks that do not fail the run (a round in which no request
    /// completed: a client too slow for the window).
    pub notes: Vec<String>,
    pub mismatches: u64,
    pub misses: u64,
    pub errors: u64,
    /// Items (ops, or keys for multi-gets) per second.
    pub rate: Option<Spread>,
    pub bytes_per_sec: Option<Spread>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub cpu_us_per_request: Option<Spread>,
    pub cpu_us_per_mb: Option<Spread>,
    pub client_cores: Option<Spread>,
    pub server_cores: Option<Spread>,
    /// Ratio of medians, and per-round ratios, to the reference and to async-memcached.
    pub vs_reference: Option<f64>,
    pub vs_reference_rounds: Option<Spread>,
    pub vs_async: Option<f64>,
    pub vs_async_rounds: Option<Spread>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioSummary {
    pub scenario: String,
    pub group: &'static str,
    pub title: String,
    pub op: String,
    pub tasks: usize,
    pub value_size: usize,
    pub keys: usize,
    pub unit: &'static str,
    /// The label of the raw configuration with the best median: the reference line.
    pub reference: Option<String>,
    /// The mcaside pool with the best median.
    pub best_mcaside: Option<String>,
    pub evictions: u64,
    pub clients: Vec<ClientSummary>,
}

impl ScenarioSummary {
    pub fn client(&self, label: &str) -> Option<&ClientSummary> {
        self.clients.iter().find(|c| c.label == label)
    }
    pub fn best_of(&self, family: &str) -> Option<&ClientSummary> {
        self.clients
            .iter()
            .filter(|c| c.family == family && c.rate.is_some())
            .max_by(|a, b| a.rate.unwrap().median.total_cmp(&b.rate.unwrap().median))
    }
    pub fn failures(&self) -> u64 {
        self.clients
            .iter()
            .map(|c| c.mismatches + c.misses + c.errors + (c.problems.len() as u64))
            .sum()
    }
}

/// `rounds[i][r]`: client `i`'s outcome in round `r`.
pub fn summarize(
    sc: &Scenario,
    rounds: &[Vec<Result<Outcome, String>>],
    evictions: u64,
) -> ScenarioSummary {
    let mut clients: Vec<ClientSummary> = sc
        .clients
        .iter()
        .zip(rounds)
        .map(|(&spec, rs)| client_summary(sc, spec, rs))
        .collect();
    let best = |family: &str| {
        clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.family == family && c.rate.is_some())
            .max_by(|a, b| {
                a.1.rate
                    .unwrap()
                    .median
                    .total_cmp(&b.1.rate.unwrap().median)
            })
            .map(|(i, _)| i)
    };
    let reference = best("raw");
    let best_mcaside = best("mcaside");
    let baseline = clients
        .iter()
        .position(|c| c.client == ClientSpec::AsyncMemcached);
    let per_round = |i: usize, base: usize| -> Option<Spread> {
        let r: Vec<f64> = rounds[i]
            .iter()
            .zip(&rounds[base])
            .filter_map(|(a, b)| {
                Some(a.as_ref().ok()?.items_per_sec() / b.as_ref().ok()?.items_per_sec())
            })
            .collect();
        Spread::of(r)
    };
    let medians: Vec<Option<f64>> = clients.iter().map(|c| c.rate.map(|r| r.median)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        if let Some(r) = reference.filter(|&r| r != i) {
            c.vs_reference = medians[i].zip(medians[r]).map(|(a, b)| a / b);
            c.vs_reference_rounds = per_round(i, r);
        }
        if let Some(b) = baseline.filter(|&b| b != i) {
            c.vs_async = medians[i].zip(medians[b]).map(|(a, b)| a / b);
            c.vs_async_rounds = per_round(i, b);
        }
    }
    ScenarioSummary {
        scenario: sc.name.clone(),
        group: sc.group,
        title: sc.title(),
        op: sc.op.label(),
        tasks: sc.tasks,
        value_size: sc.value_size,
        keys: sc.keys,
        unit: sc.unit(),
        reference: reference.map(|i| clients[i].label.clone()),
        best_mcaside: best_mcaside.map(|i| clients[i].label.clone()),
        evictions,
        clients,
    }
}

fn client_summary(
    sc: &Scenario,
    spec: ClientSpec,
    rs: &[Result<Outcome, String>],
) -> ClientSummary {
    let ok: Vec<&Outcome> = rs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    for (r, o) in rs.iter().enumerate() {
        match o {
            Err(e) => problems.push(format!("round {}: {e}", r + 1)),
            Ok(o) if o.failures() > 0 => problems.push(format!(
                "round {}: {} mismatches, {} misses, {} errors; first: {}",
                r + 1,
                o.mismatches,
                o.misses,
                o.errors,
                o.first_error.as_deref().unwrap_or("?")
            )),
            Ok(o) if o.requests == 0 => notes.push(format!(
                "round {}: no request completed inside the {:.1} s window",
                r + 1,
                o.elapsed_secs
            )),
            Ok(_) => {}
        }
    }
    let mut h = histogram();
    for o in &ok {
        for &(v, n) in &o.latency_ns {
            let _ = h.record_n(v, n);
        }
    }
    let pct = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0);
    let spread =
        |f: &dyn Fn(&Outcome) -> Option<f64>| Spread::of(ok.iter().filter_map(|o| f(o)).collect());
    ClientSummary {
        label: spec.label(sc.op),
        family: spec.family(),
        client: spec,
        rounds_ok: ok.len(),
        problems,
        notes,
        mismatches: ok.iter().map(|o| o.mismatches).sum(),
        misses: ok.iter().map(|o| o.misses).sum(),
        errors: ok.iter().map(|o| o.errors).sum(),
        rate: spread(&|o| Some(o.items_per_sec())),
        bytes_per_sec: spread(&|o| (o.bytes > 0).then(|| o.bytes_per_sec())),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        p999_us: pct(0.999),
        cpu_us_per_request: spread(&|o| o.cpu_us_per_request()),
        cpu_us_per_mb: spread(&|o| o.cpu_us_per_mb()),
        client_cores: spread(&|o| o.client_cores()),
        server_cores: spread(&|o| o.server_cores()),
        vs_reference: None,
        vs_reference_rounds: None,
        vs_async: None,
        vs_async_rounds: None,
    }
}

/// 1234567 as `1.23M`, 353412 as `353.4k`.
pub fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.2}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn us(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |r| format!("{r:.2}"))
}

fn ratio_range(x: Option<Spread>) -> String {
    x.map_or("–".into(), |s| {
        format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
    })
}

/// The markdown table of one scenario.
pub fn markdown(s: &ScenarioSummary, rounds: usize, secs: f64) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "### `{}`: {}\n\n{} rounds of {} s per client; reference: {}.\n\n",
        s.scenario,
        s.title,
        rounds,
        secs,
        s.reference.as_deref().unwrap_or("none"),
    ));
    let large = s.value_size >= 1024 || s.group == "sizes";
    t.push_str(&format!("| client | {} |", s.unit));
    if large {
        t.push_str(" MB/s | client µs/MB |");
    }
    t.push_str(
        " p50 µs | p99 µs | p99.9 µs | client µs/req | client cores | server cores | ÷ reference | ÷ reference per round (range) | ÷ async-memcached | ÷ async-memcached per round (range) |\n",
    );
    t.push_str("|---|---:|");
    if large {
        t.push_str("---:|---:|");
    }
    t.push_str("---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &s.clients {
        let mut name = c.label.clone();
        if s.reference.as_deref() == Some(c.label.as_str()) {
            name = format!("**{name}** (reference)");
        } else if s.best_mcaside.as_deref() == Some(c.label.as_str()) {
            name = format!("**{name}** (best pool)");
        }
        if !c.problems.is_empty() {
            name.push_str(" ⚠");
        }
        t.push_str(&format!(
            "| {name} | {} |",
            c.rate.map_or("failed".into(), |r| rate(r.median))
        ));
        if large {
            t.push_str(&format!(
                " {} | {} |",
                c.bytes_per_sec
                    .map_or("–".into(), |b| format!("{:.0}", b.median / 1e6)),
                us(c.cpu_us_per_mb.map(|x| x.median)),
            ));
        }
        t.push_str(&format!(
            " {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            us(c.p50_us),
            us(c.p99_us),
            us(c.p999_us),
            us(c.cpu_us_per_request.map(|x| x.median)),
            c.client_cores
                .map_or("–".into(), |x| format!("{:.2}", x.median)),
            c.server_cores
                .map_or("–".into(), |x| format!("{:.2}", x.median)),
            ratio(c.vs_reference),
            ratio_range(c.vs_reference_rounds),
            ratio(c.vs_async),
            ratio_range(c.vs_async_rounds),
        ));
    }
    let problems: Vec<String> = s
        .clients
        .iter()
        .flat_map(|c| {
            let p = c
                .problems
                .iter()
                .map(move |p| format!("- ⚠ {}: {p}", c.label));
            p.chain(
                c.notes
                    .iter()
                    .map(move |n| format!("- note, {}: {n}", c.label)),
            )
        })
        .collect();
    if s.evictions > 0 {
        t.push_str(&format!(
            "\n- ⚠ memcached evicted {} items during this scenario\n",
            s.evictions
        ));
    }
    if !problems.is_empty() {
        t.push('\n');
        t.push_str(&problems.join("\n"));
        t.push('\n');
    }
    t
}

/// One line per scenario of a group: the issue-13 shape (async-memcached, mcaside's
/// best pool, the reference, and the ratios that the targets are stated in), and the
/// floor of one task per caller (`clients/raw_tasks.rs`) where it ran.
pub fn group_table(group: &str, all: &[ScenarioSummary]) -> Option<String> {
    let rows: Vec<&ScenarioSummary> = all.iter().filter(|s| s.group == group).collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = format!(
        "### Summary: {group}\n\n| scenario | async-memcached 0.9 | mcaside (default pool) | mcaside (best pool) | raw reference | mcaside best ÷ reference | mcaside best ÷ async-memcached | mcaside default ÷ reference | mcaside default ÷ async-memcached | floor: a task per caller (÷ reference) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for s in rows {
        let fig = |c: Option<&ClientSummary>| -> String {
            let Some(c) = c else { return "–".into() };
            let Some(r) = c.rate else {
                return "failed".into();
            };
            let mut out = format!("{} {}", rate(r.median), s.unit);
            if s.value_size >= 1024
                && let Some(b) = c.bytes_per_sec
            {
                out.push_str(&format!(" ({:.0} MB/s)", b.median / 1e6));
            }
            out
        };
        let best = s.best_of("mcaside");
        let default = s.client("mcaside (default pool)");
        let reference = s.reference.as_deref().and_then(|r| s.client(r));
        let with_label = |c: Option<&ClientSummary>| match c {
            Some(c) => format!(
                "{} {}",
                fig(Some(c)),
                c.label.trim_start_matches("mcaside ")
            ),
            None => "–".into(),
        };
        let rr = |c: Option<&ClientSummary>| -> String {
            c.map_or("–".into(), |c| {
                format!(
                    "{} / {}",
                    ratio(c.vs_reference),
                    ratio_range(c.vs_reference_rounds)
                )
            })
        };
        let ra = |c: Option<&ClientSummary>| -> String {
            c.map_or("–".into(), |c| {
                format!("{} / {}", ratio(c.vs_async), ratio_range(c.vs_async_rounds))
            })
        };
        t.push_str(&format!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.scenario,
            s.title,
            fig(s.client("async-memcached 0.9")),
            fig(default),
            with_label(best),
            match reference {
                Some(r) => format!("{} ({})", fig(Some(r)), r.label.trim_start_matches("raw ")),
                None => "–".into(),
            },
            rr(best),
            ra(best),
            rr(default),
            ra(default),
            match s.best_of("raw-tasks") {
                Some(f) => format!(
                    "{} ({}; {})",
                    fig(Some(f)),
                    f.label
                        .trim_start_matches("raw, a task per caller (")
                        .trim_end_matches(')'),
                    ratio(f.vs_reference)
                ),
                None => "–".into(),
            },
        ));
    }
    t.push_str("\nRatios: ratio of medians / median of per-round ratios (range).\n");
    Some(t)
}

/// A value size for titles.
pub fn size(n: usize) -> String {
    size_label(n)
}
