//! `mcaside bench`: a load generator, in the spirit of memtier_benchmark and memaslap.
//!
//! It stores the whole key space, runs a warmup, then measures for a set time while
//! workers (tasks sharing one multiplexed client per server) send requests back to
//! back. Every hit is checked against the value its key should hold. The report gives
//! throughput, hits and misses, errors, latency percentiles and the servers' own
//! counters over the same time.
//!
//! How the files divide the work:
//! - [`args`]: the command line, checked into a [`args::Plan`];
//! - [`rng`], [`zipf`], [`keyspace`]: which keys requests use and what values they hold;
//! - [`cluster`]: the clients, and which server holds a key;
//! - [`preload`]: filling the key space before the run;
//! - [`worker`]: sending requests (with `mcaside::join_all`); [`tally`]: counting what happened;
//! - [`live`], [`report`], [`json`], [`hgrm`], [`server_stats`]: showing it.
//!
//! Timing: every worker adds each completed request to its own [`Tally`]; this module's
//! clock takes all of them about once a second (for the live line) and keeps what
//! completed inside the measured window. A request counts in the window it completed
//! in, so throughput is exactly completions over the window's length.

mod args;
mod cluster;
mod hgrm;
mod json;
mod keyspace;
mod live;
mod preload;
mod report;
mod rng;
mod server_stats;
mod tally;
mod worker;
mod zipf;

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use args::BenchArgs;

use cluster::Cluster;
use live::Live;
use report::Summary;
use tally::Tally;
use worker::Worker;

/// How often the workers' tallies are collected and the live line redrawn.
const TICK: Duration = Duration::from_secs(1);

pub async fn run(servers: &[String], args: &BenchArgs) -> Result<ExitCode, Box<dyn Error>> {
    let plan = Arc::new(args.plan()?);
    let cluster = Arc::new(Cluster::connect(servers, plan.connections).await?);
    let preload = preload::run(&cluster, plan.keys, plan.value_size).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<Arc<Mutex<Tally>>> = (0..plan.concurrency)
        .map(|_| Arc::new(Mutex::new(Tally::new())))
        .collect();
    let workers: Vec<_> = tallies
        .iter()
        .enumerate()
        .map(|(number, tally)| {
            let worker = Worker::new(
                number,
                Arc::clone(&cluster),
                Arc::clone(&plan),
                Arc::clone(tally),
                Arc::clone(&stop),
            );
            tokio::spawn(worker.run())
        })
        .collect();

    let live = Live::new();
    let warmup_start = Instant::now();
    watch(
        &tallies,
        &live,
        "warmup",
        warmup_start,
        warmup_start + plan.warmup,
    )
    .await;
    let before = server_stats::snapshot(&cluster).await;
    // Whatever completed during the warmup (and while the stats were read) is dropped.
    collect(&tallies);
    let start = Instant::now();
    let (total, end) = watch(&tallies, &live, "run", start, start + plan.duration).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.map_err(|e| format!("a worker failed: {e}"))?;
    }
    let after = server_stats::snapshot(&cluster).await;
    live.clear();

    let servers = server_stats::compare(&cluster, before, after);
    let summary = Summary {
        plan: &plan,
        preload: &preload,
        elapsed: end - start,
        tally: &total,
        servers: &servers,
    };
    let text = if args.json {
        summary.json() + "\n"
    } else {
        summary.human()
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    if let Some(path) = &args.hdr_out {
        std::fs::write(path, hgrm::render(&total.latency))
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    }
    Ok(if total.errors() > 0 || preload.wrong > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Waits until `deadline`, collecting the tallies every [`TICK`] to show the live line.
/// Returns what was collected and when the last collection was (the window's end).
async fn watch(
    tallies: &[Arc<Mutex<Tally>>],
    live: &Live,
    phase: &str,
    from: Instant,
    deadline: Instant,
) -> (Tally, Instant) {
    let mut total = Tally::new();
    let mut last = from;
    while last < deadline {
        tokio::time::sleep_until((last + TICK).min(deadline).into()).await;
        let interval = collect(tallies);
        let now = Instant::now();
        live.show(phase, now - from, &interval, now - last);
        total.add(&interval);
        last = now;
    }
    (total, last)
}

/// Takes what every worker has counted since the last time, leaving them empty.
fn collect(tallies: &[Arc<Mutex<Tally>>]) -> Tally {
    let mut sum = Tally::new();
    for tally in tallies {
        let fresh = Tally::new();
        // Swapped under the lock, merged outside it, so the worker waits a moment only.
        let taken = std::mem::replace(
            &mut *tally.lock().unwrap_or_else(PoisonError::into_inner),
            fresh,
        );
        sum.add(&taken);
    }
    sum
}
