//! A soak test (not run in CI; see `scripts/soak`): mixed load from 1,000 tasks on one
//! `Client` while a fault proxy between it and a real memcached injects faults at
//! random and the server is killed and restarted every 30 s. Reports wrong replies
//! (a value that is not its key's: must be 0), lost requests (a call that did not
//! return a value or a typed error within its bound: must be 0), errors by kind, and
//! RSS over time.
//!
//! ```text
//! cargo run --release --example soak -- 600     # seconds (default 60)
//! ```

#[path = "../tests/it/proxy.rs"]
mod proxy;
#[path = "../tests/support/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcaside::proto::meta::MetaGet;
use mcaside::{Client, Error, Expiry};

const TASKS: usize = 1000;
const KEYS: usize = 2000;

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    wrong: AtomicU64,
    lost: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Tally {
    fn error(&self, e: &Error) {
        let kind = match e {
            Error::Input(_) => "input (a bug)",
            Error::Server(_) => "server",
            Error::Protocol(_) => "protocol (out of step: connection closed)",
            Error::Timeout => "timeout",
            Error::Io(_) => "i/o",
            Error::Closed => "closed",
            Error::ValueTooLarge { .. } => "value too large",
            Error::QueueFull => "queue full",
            _ => "other",
        };
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
}

fn key(i: usize) -> String {
    format!("soak:{i}")
}

/// Every value names its key, so a value handed to the wrong request shows.
fn value(k: &str, n: u64) -> String {
    format!("{k}={n}")
}

fn belongs(k: &str, v: &[u8]) -> bool {
    v.starts_with(format!("{k}=").as_bytes())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn one_op(c: &Client, rng: &mut u64, tally: &Tally) {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let r = *rng;
    let k = key((r >> 8) as usize % KEYS);
    let check = |v: &[u8]| {
        if belongs(&k, v) {
            tally.ok.fetch_add(1, Relaxed);
        } else {
            tally.wrong.fetch_add(1, Relaxed);
            eprintln!("WRONG: {k} got {:?}", String::from_utf8_lossy(v));
        }
    };
    match r % 20 {
        0..=10 => match c.get(&k).await {
            Ok(Some(item)) => check(&item.value),
            Ok(None) => {
                tally.ok.fetch_add(1, Relaxed);
            }
            Err(e) => tally.error(&e),
        },
        11..=14 => match c.set(&k, value(&k, r), Expiry::secs(300)).await {
            Ok(()) => {
                tally.ok.fetch_add(1, Relaxed);
            }
            Err(e) => tally.error(&e),
        },
        15 => match c.delete(&k).await {
            Ok(_) => {
                tally.ok.fetch_add(1, Relaxed);
            }
            Err(e) => tally.error(&e),
        },
        16 | 17 => {
            let keys: Vec<String> = (0..5).map(|j| key((r as usize + j * 7) % KEYS)).collect();
            match c.get_many(&keys).await {
                Ok(items) => {
                    for (k, item) in keys.iter().zip(items) {
                        match item {
                            Some(item) if !belongs(k, &item.value) => {
                                tally.wrong.fetch_add(1, Relaxed);
                                eprintln!("WRONG: {k} got {:?}", item.value);
                            }
                            _ => {
                                tally.ok.fetch_add(1, Relaxed);
                            }
                        }
                    }
                }
                Err(e) => tally.error(&e),
            }
        }
        _ => match c
            .meta_get(&k, &MetaGet::new().return_value().return_key())
            .await
        {
            Ok(m) => match m.value {
                Some(v) => check(&v),
                None => {
                    tally.ok.fetch_add(1, Relaxed);
                }
            },
            Err(e) => tally.error(&e),
        },
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(soak(Duration::from_secs(secs)));
}

async fn soak(duration: Duration) {
    let server = server::Memcached::start();
    let port = server.port();
    let server = Arc::new(Mutex::new(Some(server)));
    let proxy = proxy::FaultProxy::start(&format!("127.0.0.1:{port}")).await;
    let client = Client::builder()
        .request_timeout(Duration::from_secs(1))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .connect(proxy.addr.as_str())
        .await
        .expect("connect");
    println!(
        "soak: {TASKS} tasks, {KEYS} keys, {}s, memcached on {port} behind a fault proxy",
        duration.as_secs()
    );
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();

    // The load: every call bounded (its own timeout is 1 s; a call still running after
    // 10 s is lost).
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (c, tally, stop) = (client.clone(), tally.clone(), stop.clone());
            tokio::spawn(async move {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                while !stop.load(Relaxed) {
                    if tokio::time::timeout(Duration::from_secs(10), one_op(&c, &mut rng, &tally))
                        .await
                        .is_err()
                    {
                        tally.lost.fetch_add(1, Relaxed);
                    }
                }
            })
        })
        .collect();

    // The faults: one at random every 200 ms, undone 100 ms later.
    let faults = {
        let (proxy, stop) = (proxy.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut count: BTreeMap<&str, u64> = BTreeMap::new();
            while !stop.load(Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let name = match rng % 10 {
                    0 => {
                        proxy.delay(Duration::from_millis(20));
                        "delay"
                    }
                    1 => {
                        proxy.stall();
                        "stall"
                    }
                    2 => {
                        proxy.one_byte_writes(true);
                        "1-byte writes"
                    }
                    3 => {
                        proxy.dup_line(b"END");
                        "duplicate END"
                    }
                    4 => {
                        proxy.dup_line(b"HD");
                        "duplicate HD"
                    }
                    5 => {
                        proxy.drop_line(b"EN");
                        "drop EN"
                    }
                    6 => {
                        proxy.inject(b"VALUE soak:1 0 9\r\nsoak:2=0\r\nEND\r\n");
                        "inject"
                    }
                    7 => {
                        proxy.reset_connections();
                        "reset"
                    }
                    8 => {
                        proxy.drop_connections();
                        "close"
                    }
                    _ => "none",
                };
                *count.entry(name).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                proxy.delay(Duration::ZERO);
                proxy.resume();
                proxy.one_byte_writes(false);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            count
        })
    };

    // The server: killed and restarted on the same port every 30 s.
    let restarts = {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            let mut next = Instant::now() + Duration::from_secs(30);
            while !stop.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if Instant::now() >= next {
                    drop(server.lock().unwrap().take()); // SIGKILL
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    *server.lock().unwrap() = Some(server::Memcached::start_on(port, &[]));
                    n += 1;
                    next = Instant::now() + Duration::from_secs(30);
                }
            }
            n
        })
    };

    let rss_start = rss_kib();
    let mut rss_max = rss_start;
    while start.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(5).min(duration.saturating_sub(start.elapsed())))
            .await;
        let rss = rss_kib();
        rss_max = rss_max.max(rss);
        let usage = client.buffer_usage();
        println!(
            "t={:>4}s ok={:>9} wrong={} lost={} rss={} KiB buffers={} KiB unsent={} B",
            start.elapsed().as_secs(),
            tally.ok.load(Relaxed),
            tally.wrong.load(Relaxed),
            tally.lost.load(Relaxed),
            rss,
            usage.capacity / 1024,
            usage.unsent
        );
    }
    stop.store(true, Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let faults = faults.await.unwrap();
    let restarts = restarts.await.unwrap();
    println!("\nfaults injected: {faults:?}; server restarts: {restarts}");
    println!("errors by kind: {:?}", tally.errors.lock().unwrap());
    let (wrong, lost) = (tally.wrong.load(Relaxed), tally.lost.load(Relaxed));
    println!(
        "RESULT: ok={} wrong={wrong} lost={lost} rss start={rss_start} KiB max={rss_max} KiB end={} KiB",
        tally.ok.load(Relaxed),
        rss_kib()
    );
    if wrong > 0 || lost > 0 {
        std::process::exit(1);
    }
}
