//! The same workloads driven through mcaside and through its peers, for side-by-side
//! measurement (used by `compare.rs`, which prints the README's table, and `e2e.rs`,
//! the criterion version).
//!
//! Every driver runs a workload for a fixed time and returns how many operations it did
//! and the latency of each request in an HDR histogram (microseconds). The peers are
//! used the way their documentation suggests: async-memcached needs `&mut self` per
//! call, so each task gets its own connection; the memcache crate is blocking, so each
//! "task" is a thread sharing one client with a connection pool as large as the threads.

#![allow(dead_code)] // each bench uses part of this

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_memcached::AsciiProtocol;
use hdrhistogram::Histogram;

/// The key space: 1,000 keys with 100-byte values, as in the measurements.
pub const KEYS: usize = 1000;
pub const VALUE_SIZE: usize = 100;

pub fn key(i: usize) -> String {
    format!("key:{:06}", i % KEYS)
}

pub fn value() -> Vec<u8> {
    vec![b'v'; VALUE_SIZE]
}

/// What one run measured.
pub struct Sample {
    pub ops: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

impl Sample {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn merge(parts: Vec<(u64, Histogram<u64>)>, elapsed: Duration) -> Sample {
        let mut latency_us = histogram();
        let mut ops = 0;
        for (n, h) in parts {
            ops += n;
            latency_us.add(h).expect("same bounds");
        }
        Sample {
            ops,
            elapsed,
            latency_us,
        }
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn record(h: &mut Histogram<u64>, since: Instant) {
    h.saturating_record(since.elapsed().as_micros().max(1) as u64);
}

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Single-key gets (all hits).
    Get,
    /// Single-key sets of 100-byte values.
    Set,
    /// Gets of 100 keys per request; ops are keys.
    MultiGet100,
}

/// The clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// mcaside, one `Client` shared by all tasks, with this many connections.
    Mcaside { connections: usize },
    /// async-memcached 0.9: one client (one connection) per task.
    AsyncMemcached,
    /// The memcache crate (blocking): one client with a pool, one thread per task.
    Memcache,
}

impl Peer {
    pub fn name(&self) -> String {
        match self {
            Peer::Mcaside { connections } => format!("mcaside ({connections} conn)"),
            Peer::AsyncMemcached => "async-memcached 0.9".into(),
            Peer::Memcache => "memcache 0.21".into(),
        }
    }
}

/// Stores every key of the key space.
pub async fn preload(addr: &str) {
    let c = mcaside::Client::connect(addr).await.expect("connect");
    for i in 0..KEYS {
        c.noreply()
            .set(key(i), value(), mcaside::Expiry::Never)
            .expect("queue");
    }
    // Every connection's noreply sets are behind this read of a key on each of them.
    let all: Vec<String> = (0..KEYS).map(key).collect();
    assert!(
        c.get_many(&all)
            .await
            .expect("get_many")
            .iter()
            .all(Option::is_some)
    );
}

/// How long a run lasts.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// For this long.
    Time(Duration),
    /// This many requests in all, shared among the tasks.
    Requests(u64),
}

/// Connected clients for one peer, ready to run workloads again and again.
pub enum Clients {
    Mcaside(mcaside::Client),
    /// One connection per task; each task owns its own during a run.
    AsyncMemcached(Vec<async_memcached::Client>),
    Memcache(Arc<memcache::Client>),
}

/// Connects `peer` to `addr` for `tasks` concurrent tasks.
pub async fn connect(peer: Peer, addr: &str, tasks: usize) -> Clients {
    match peer {
        Peer::Mcaside { connections } => Clients::Mcaside(
            mcaside::Client::builder()
                .connections(connections)
                .request_timeout(Duration::from_secs(10))
                .connect(addr)
                .await
                .expect("connect"),
        ),
        Peer::AsyncMemcached => {
            let mut clients = Vec::new();
            for _ in 0..tasks {
                clients.push(
                    async_memcached::Client::new(format!("tcp://{addr}"))
                        .await
                        .expect("connect"),
                );
            }
            Clients::AsyncMemcached(clients)
        }
        Peer::Memcache => {
            let url = format!("memcache://{addr}?timeout=10&tcp_nodelay=true");
            let client = tokio::task::spawn_blocking(move || {
                memcache::Client::with_pool_size(url.as_str(), tasks as u32)
            })
            .await
            .expect("join")
            .expect("connect");
            Clients::Memcache(Arc::new(client))
        }
    }
}

/// Runs `workload` with `tasks` concurrent tasks for `budget`.
pub async fn run(
    clients: &mut Clients,
    workload: Workload,
    tasks: usize,
    budget: Budget,
) -> Sample {
    let started = Instant::now();
    let per_task = |t: usize| match budget {
        Budget::Time(_) => u64::MAX,
        Budget::Requests(n) => n / tasks as u64 + u64::from((t as u64) < n % tasks as u64),
    };
    let deadline = match budget {
        Budget::Time(d) => started + d,
        Budget::Requests(_) => started + Duration::from_secs(3600),
    };
    let mut parts = Vec::new();
    match clients {
        Clients::Mcaside(client) => {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let c = client.clone();
                    let limit = per_task(t);
                    tokio::spawn(async move { mcaside_task(c, workload, t, limit, deadline).await })
                })
                .collect();
            for h in handles {
                parts.push(h.await.expect("task"));
            }
        }
        Clients::AsyncMemcached(list) => {
            let handles: Vec<_> = list
                .drain(..)
                .enumerate()
                .map(|(t, c)| {
                    let limit = per_task(t);
                    tokio::spawn(async move {
                        async_memcached_task(c, workload, t, limit, deadline).await
                    })
                })
                .collect();
            for h in handles {
                let (c, ops, hist) = h.await.expect("task");
                list.push(c);
                parts.push((ops, hist));
            }
        }
        Clients::Memcache(client) => {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let c = client.clone();
                    let limit = per_task(t);
                    tokio::task::spawn_blocking(move || {
                        memcache_task(&c, workload, t, limit, deadline)
                    })
                })
                .collect();
            for h in handles {
                parts.push(h.await.expect("thread"));
            }
        }
    }
    Sample::merge(parts, started.elapsed())
}

/// The 100 keys task `t` asks for in a multi-get.
fn keys100(t: usize) -> Vec<String> {
    (0..100).map(|i| key(t * 100 + i)).collect()
}

async fn mcaside_task(
    c: mcaside::Client,
    w: Workload,
    t: usize,
    limit: u64,
    deadline: Instant,
) -> (u64, Histogram<u64>) {
    let (mut ops, mut h, value, keys100) = (0u64, histogram(), value(), keys100(t));
    let mut i = t;
    for _ in 0..limit {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        match w {
            Workload::Get => {
                c.get(key(i)).await.expect("get").expect("hit");
                ops += 1;
            }
            Workload::Set => {
                c.set(key(i), &value, mcaside::Expiry::Never)
                    .await
                    .expect("set");
                ops += 1;
            }
            Workload::MultiGet100 => {
                let got = c.get_many(&keys100).await.expect("get_many");
                ops += got.iter().flatten().count() as u64;
            }
        }
        record(&mut h, t0);
        i += 7;
    }
    (ops, h)
}

async fn async_memcached_task(
    mut c: async_memcached::Client,
    w: Workload,
    t: usize,
    limit: u64,
    deadline: Instant,
) -> (async_memcached::Client, u64, Histogram<u64>) {
    let (mut ops, mut h, value, keys100) = (0u64, histogram(), value(), keys100(t));
    let mut i = t;
    for _ in 0..limit {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        match w {
            Workload::Get => {
                c.get(key(i)).await.expect("get").expect("hit");
                ops += 1;
            }
            Workload::Set => {
                c.set(key(i), value.as_slice(), None, None)
                    .await
                    .expect("set");
                ops += 1;
            }
            Workload::MultiGet100 => {
                ops += c.get_multi(&keys100).await.expect("get_multi").len() as u64;
            }
        }
        record(&mut h, t0);
        i += 7;
    }
    (c, ops, h)
}

fn memcache_task(
    c: &memcache::Client,
    w: Workload,
    t: usize,
    limit: u64,
    deadline: Instant,
) -> (u64, Histogram<u64>) {
    let (mut ops, mut h, value, keys100) = (0u64, histogram(), value(), keys100(t));
    let keys100: Vec<&str> = keys100.iter().map(String::as_str).collect();
    let mut i = t;
    for _ in 0..limit {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        match w {
            Workload::Get => {
                let v: Option<Vec<u8>> = c.get(&key(i)).expect("get");
                v.expect("hit");
                ops += 1;
            }
            Workload::Set => {
                c.set(&key(i), value.as_slice(), 0).expect("set");
                ops += 1;
            }
            Workload::MultiGet100 => {
                let got: std::collections::HashMap<String, Vec<u8>> =
                    c.gets(&keys100).expect("gets");
                ops += got.len() as u64;
            }
        }
        record(&mut h, t0);
        i += 7;
    }
    (ops, h)
}
