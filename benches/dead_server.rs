//! What a dead server costs the rest of a cluster: 4 memcached servers, 64 tasks
//! reading keys spread over all of them; then one server is killed. Reports the live
//! servers' latency percentiles before and after, and how fast the dead server's
//! requests fail once it is marked dead.
//!
//! `cargo bench --bench dead_server` (a few seconds; not run in CI). The machine is
//! shared and noisy: read the figures side by side, from one run.

#[path = "../tests/support/server.rs"]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mcaside::{Client, Error, Expiry};

const TASKS: usize = 64;
const KEYS: usize = 10_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

struct Run {
    live: Histogram<u64>,
    dead: Histogram<u64>,
    other_errors: u64,
}

async fn measure(client: &Client, dead: Option<&str>, secs: f64) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (client, stop) = (client.clone(), stop.clone());
            let dead = dead.map(str::to_owned);
            tokio::spawn(async move {
                let mut run = Run {
                    live: Histogram::new(3).unwrap(),
                    dead: Histogram::new(3).unwrap(),
                    other_errors: 0,
                };
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("key:{}", i % KEYS);
                    i += TASKS;
                    let on_dead = dead.as_deref().is_some_and(|d| {
                        client.server_for(&key).map_or(true, |s| s.to_string() == d)
                    });
                    let started = Instant::now();
                    let r = client.get(&key).await;
                    let ns = started.elapsed().as_nanos() as u64;
                    match (r, on_dead) {
                        (Ok(_), false) => run.live.record(ns).unwrap(),
                        (Err(Error::ServerDown { .. }), true) => run.dead.record(ns).unwrap(),
                        _ => run.other_errors += 1,
                    }
                }
                run
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Run {
        live: Histogram::new(3).unwrap(),
        dead: Histogram::new(3).unwrap(),
        other_errors: 0,
    };
    for t in tasks {
        let r = t.await.unwrap();
        all.live.add(&r.live).unwrap();
        all.dead.add(&r.dead).unwrap();
        all.other_errors += r.other_errors;
    }
    all
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn run() {
    let mut servers: Vec<server::Memcached> = (0..4)
        .map(|_| server::Memcached::start_with(&["-t", "1"]))
        .collect();
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let client = Client::builder()
        .connections(1)
        .connect_cluster(&addrs)
        .await
        .unwrap();
    for i in 0..KEYS {
        client
            .set(format!("key:{i}"), "v".repeat(100), Expiry::Never)
            .await
            .unwrap();
    }
    measure(&client, None, 0.5).await; // warm-up
    let before = measure(&client, None, 2.0).await;
    let dead = servers[1].addr.clone();
    drop(servers.remove(1));
    // Until it is marked dead (2 failures) its requests fail slowly or by I/O error.
    let detect = measure(&client, Some(&dead), 0.5).await;
    let after = measure(&client, Some(&dead), 2.0).await;
    println!("4 servers, 64 tasks, gets of 100-byte values; server {dead} killed");
    println!("| | live gets | p50 µs | p99 µs | p99.9 µs |");
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in [("before", &before), ("after (1 of 4 dead)", &after)] {
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.0} |",
            r.live.len(),
            us(&r.live, 0.5),
            us(&r.live, 0.99),
            us(&r.live, 0.999)
        );
    }
    println!(
        "dead server's requests after detection: {} failed fast, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; \
         {} other errors while it was being detected, {} after",
        after.dead.len(),
        us(&after.dead, 0.5),
        us(&after.dead, 0.99),
        after.dead.max() as f64 / 1000.0,
        detect.other_errors,
        after.other_errors
    );
}
