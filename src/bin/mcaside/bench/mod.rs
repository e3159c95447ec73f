//! `mcaside bench`: a load generator, in the spirit of memtier_benchmark and memaslap.
//!
//! It stores the whole key space (unless `--no-preload`), runs a warmup, then measures
//! for a set time or a set number of requests per task, while workers (tasks sharing
//! one multiplexed client per server) send requests back to back or at a fixed
//! `--rate`. Every hit is checked against the value its key should hold. The report
//! gives throughput, hits and misses, errors, latency percentiles for gets and sets
//! apart, and the servers' own counters over the same time.
//!
//! How the files divide the work:
//! - [`args`]: the command line, checked into a [`args::Plan`];
//! - [`rng`], [`keyspace`]: which keys requests use and what values they hold;
//! - [`cluster`]: the clients, and which server holds a key;
//! - [`preload`]: filling the key space before the run;
//! - [`worker`]: sending requests (lanes for `--pipeline`, the `--rate` schedule);
//!   [`tally`]: counting what happened;
//! - [`live`], [`report`], [`hgrm`], [`server_stats`]: showing it.
//!
//! Timing: every worker adds each completed request to its own [`Tally`]; this module's
//! clock takes all of them about once a second (for the live line). Run for a
//! duration, it keeps what completed inside the measured window, so throughput is
//! exactly completions over the window's length. Run for `--requests`, it keeps every
//! request sent after the warmup, and the window ends with the last reply.

mod args;
mod cluster;
mod hgrm;
mod keyspace;
mod live;
mod preload;
mod report;
mod rng;
mod server_stats;
mod tally;
mod worker;

use std::error::Error;
use std::io::Write;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcaside::join_all;
use mcaside::proto::Limits;

pub use args::BenchArgs;

use args::Length;
use cluster::Cluster;
use live::Live;
use report::Summary;
use tally::Tally;
use worker::{Run, Worker};

/// How often the workers' tallies are collected and the live line redrawn.
const TICK: Duration = Duration::from_secs(1);

pub async fn run(
    servers: &[mcaside::cluster::Server],
    args: &BenchArgs,
    client: mcaside::ClientBuilder,
    limits: Limits,
) -> Result<ExitCode, Box<dyn Error>> {
    let plan = Arc::new(args.plan(limits.max_value)?);
    let addrs: Vec<String> = servers.iter().map(ToString::to_string).collect();
    let cluster = Arc::new(Cluster::connect(&addrs, plan.connections, client).await?);
    let live = Live::new();
    let preload = match plan.preload {
        true => Some(preload::run(&cluster, plan.keys, plan.value_size, &live).await?),
        false => None,
    };

    let warmup = !plan.warmup.is_zero();
    // Without a warmup, the servers' counters are read before the first request.
    let mut before = match warmup {
        true => None,
        false => Some(server_stats::snapshot(&cluster).await),
    };
    let run = Arc::new(Run {
        cluster: Arc::clone(&cluster),
        plan: Arc::clone(&plan),
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(!warmup),
        origin: Instant::now(),
    });
    let tallies: Vec<Arc<Mutex<Tally>>> = (0..plan.concurrency)
        .map(|_| Arc::new(Mutex::new(Tally::new())))
        .collect();
    let workers: Vec<_> = tallies
        .iter()
        .enumerate()
        .map(|(number, tally)| {
            let worker = Worker::new(number, Arc::clone(&run), Arc::clone(tally));
            tokio::spawn(worker.run())
        })
        .collect();
    let mut workers = pin!(join_all(workers));

    let mut start = run.origin;
    if warmup {
        watch(&tallies, &live, "warmup", start, start + plan.warmup).await;
        before = Some(server_stats::snapshot(&cluster).await);
        // Whatever completed during the warmup (and while the stats were read) is
        // dropped; with --requests, lanes record only what they send from here on.
        collect(&tallies);
        run.measuring.store(true, Ordering::Release);
        start = Instant::now();
    }
    let (total, end) = match plan.length {
        Length::Duration(d) => {
            let (total, end) = watch(&tallies, &live, "run", start, start + d).await;
            run.stop.store(true, Ordering::Relaxed);
            for w in workers.await {
                w.map_err(|e| format!("a worker failed: {e}"))?;
            }
            (total, end)
        }
        Length::Requests(_) => {
            let mut total = Tally::new();
            let mut last = start;
            let finished = loop {
                match tokio::time::timeout(TICK, workers.as_mut()).await {
                    Ok(finished) => break finished,
                    Err(_) => {
                        let interval = collect(&tallies);
                        let now = Instant::now();
                        live.show("run", now - start, &interval, now - last);
                        total.add(&interval);
                        last = now;
                    }
                }
            };
            let mut end = start;
            for w in finished {
                let last_reply = w.map_err(|e| format!("a worker failed: {e}"))?;
                end = end.max(last_reply.unwrap_or(start));
            }
            total.add(&collect(&tallies));
            (total, end)
        }
    };
    let after = server_stats::snapshot(&cluster).await;
    live.clear();

    let before = before.expect("read before measuring");
    let servers = server_stats::compare(&cluster, before, after);
    let summary = Summary {
        plan: &plan,
        preload: preload.as_ref(),
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
    let wrong_preload = preload.as_ref().is_some_and(|p| p.wrong > 0);
    Ok(if total.errors() > 0 || wrong_preload {
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
