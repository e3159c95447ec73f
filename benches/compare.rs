//! mcaside against its peers, side by side, in one run, on one memcached: the table in
//! README.md and the ratios for the project's performance targets.
//!
//! `cargo bench --bench compare` starts its own `memcached -t 1` (one worker thread, as
//! in the measurements the targets were set from), stores 1,000 keys with 100-byte
//! values, and runs each scenario in interleaved rounds (mcaside, async-memcached,
//! memcache, then again) so that a noisy neighbour on this shared machine hits every
//! client alike. It reports the median ops/s over the rounds, p50 and p99 latency over
//! all of them, and mcaside's ratio to async-memcached twice: the ratio of the medians,
//! and the median of the per-round ratios with their range. A per-round ratio compares
//! two runs seconds apart, so a neighbour's load that comes and goes over the minutes
//! of a bench moves it less. memcslap, when installed, runs the 64-connection get
//! scenario too (ops/s only: it reports no percentiles).
//!
//! Knobs: `MCASIDE_BENCH_SECS` (per run, default 2), `MCASIDE_BENCH_ROUNDS` (default 5),
//! `MCASIDE_BENCH_ONLY` (run only the scenarios whose name contains this text),
//! The 64-task scenarios run mcaside twice: with one connection (on this 2-core
//! machine against `-t 1`, the best batching) and with the default two; the targets
//! allow up to four.

#[path = "../tests/support/server.rs"]
mod server;

#[path = "support/peers.rs"]
mod peers;

use std::time::Duration;

use peers::{Budget, Peer, Sample, Workload};

struct Scenario {
    name: &'static str,
    workload: Workload,
    tasks: usize,
    peers: Vec<Peer>,
    /// The project's target for mcaside's ratio to async-memcached.
    target: f64,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = env_or("MCASIDE_BENCH_SECS", 2);
    let rounds = env_or("MCASIDE_BENCH_ROUNDS", 5) as usize;
    let server = server::Memcached::start_with(&["-t", "1"]);
    let addr = server.addr.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(peers::preload(&addr));

    let all = |mcaside_conns: &[usize]| {
        let ours = mcaside_conns
            .iter()
            .map(|&connections| Peer::Mcaside { connections });
        ours.chain([Peer::AsyncMemcached, Peer::Memcache])
            .collect::<Vec<_>>()
    };
    let scenarios = [
        Scenario {
            name: "1 task, sequential get",
            workload: Workload::Get,
            tasks: 1,
            peers: all(&[1]),
            target: 0.95,
        },
        Scenario {
            name: "64 tasks, get",
            workload: Workload::Get,
            tasks: 64,
            peers: all(&[1, 2]),
            target: 3.0,
        },
        Scenario {
            name: "64 tasks, set",
            workload: Workload::Set,
            tasks: 64,
            peers: all(&[1, 2]),
            target: 3.0,
        },
        Scenario {
            name: "1 task, 100-key multi-get (keys/s)",
            workload: Workload::MultiGet100,
            tasks: 1,
            peers: all(&[1, 2]),
            target: 1.2,
        },
    ];

    println!(
        "machine: {} cores; server: memcached 1.6.18 -t 1 on loopback; values {} bytes; {} s per run, {} rounds",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        peers::VALUE_SIZE,
        secs,
        rounds
    );
    println!();
    println!(
        "| scenario | client | ops/s (median) | p50 µs | p99 µs | vs async-memcached | per round (range) | target |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let only = std::env::var("MCASIDE_BENCH_ONLY").unwrap_or_default();
    for s in scenarios.iter().filter(|s| s.name.contains(only.as_str())) {
        let mut samples: Vec<Vec<Sample>> = s.peers.iter().map(|_| Vec::new()).collect();
        let mut clients: Vec<peers::Clients> = s
            .peers
            .iter()
            .map(|p| runtime.block_on(peers::connect(*p, &addr, s.tasks)))
            .collect();
        let budget = Budget::Time(Duration::from_secs(secs));
        for _ in 0..rounds {
            for (i, c) in clients.iter_mut().enumerate() {
                samples[i].push(runtime.block_on(peers::run(c, s.workload, s.tasks, budget)));
            }
        }
        let medians: Vec<f64> = samples
            .iter()
            .map(|v| median(v.iter().map(Sample::ops_per_sec).collect()))
            .collect();
        let base = s.peers.iter().position(|p| *p == Peer::AsyncMemcached);
        let baseline = base.map(|i| medians[i]);
        for (i, peer) in s.peers.iter().enumerate() {
            let mut h = peers::histogram();
            for sample in &samples[i] {
                h.add(&sample.latency_us).expect("same bounds");
            }
            let ratio = baseline.map(|b| medians[i] / b);
            let is_us = matches!(peer, Peer::Mcaside { .. });
            let paired = base.filter(|&b| b != i).map(|b| {
                let mut r: Vec<f64> = samples[i]
                    .iter()
                    .zip(&samples[b])
                    .map(|(ours, theirs)| ours.ops_per_sec() / theirs.ops_per_sec())
                    .collect();
                r.sort_by(f64::total_cmp);
                format!("{:.2}x ({:.2}-{:.2})", r[r.len() / 2], r[0], r[r.len() - 1])
            });
            println!(
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                s.name,
                peer.name(),
                medians[i],
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                ratio.map_or("".into(), |r| format!("{r:.2}x")),
                paired.unwrap_or_default(),
                if is_us {
                    format!("≥ {:.2}x", s.target)
                } else {
                    String::new()
                },
            );
        }
        if s.workload == Workload::Get
            && s.tasks == 64
            && let Some(ops) = memcslap(&addr, s.tasks)
        {
            let ratio = baseline.map_or(String::new(), |b| format!("{:.2}x", ops / b));
            println!(
                "| {} | memcslap (64 conn) | {ops:.0} | | | {ratio} | | |",
                s.name
            );
        }
    }
    drop(server);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs memcslap's get test with `concurrency` connections, if it is installed.
fn memcslap(addr: &str, concurrency: usize) -> Option<f64> {
    let per_conn = 2_000;
    let out = std::process::Command::new("memcslap")
        .args([
            format!("--servers={addr}"),
            format!("--concurrency={concurrency}"),
            format!("--execute-number={per_conn}"),
            "--test=get".into(),
        ])
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // "Time to get          128000 keys by   64 threads:     3.638 seconds."
    let line = text.lines().find(|l| l.starts_with("Time to get"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let keys: f64 = words.get(3)?.parse().ok()?;
    let secs: f64 = words.iter().rev().nth(1)?.parse().ok()?;
    Some(keys / secs)
}
