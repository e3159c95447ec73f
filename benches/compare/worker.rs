//! The worker: one client, one job, in its own process (the orchestrator starts this
//! same bench binary as `compare worker '<job json>'`, pinned with `taskset`).
//!
//! The worker connects, starts its tasks, and lets them run through three phases:
//! warm-up (requests run and are checked but not counted), the measured window, and
//! stop. Only requests that complete inside the window count, and its CPU time and
//! memcached's are read at the window's two edges, so set-up, connecting and warm-up are
//! outside every figure. Every value read is checked in every phase; a mismatch, a miss
//! or an error is counted and reported, never hidden.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

use crate::clients;
use crate::cpu;
use crate::job::{ClientSpec, Job, Outcome, Runtime};
use crate::values;

pub const WARMUP: u8 = 0;
pub const MEASURE: u8 = 1;
pub const STOP: u8 = 2;

/// Everything a task needs, shared by all of them.
pub struct Ctx {
    pub job: Job,
    pub keys: Vec<String>,
    /// The stored values, built only for set jobs (a get checks without them).
    pub values: Vec<Bytes>,
    phase: AtomicU8,
}

impl Ctx {
    pub fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }
    pub fn running(&self) -> bool {
        self.phase() != STOP
    }
    /// Whether the value read for key `index` is the one stored.
    pub fn check(&self, index: usize, value: &[u8]) -> bool {
        values::check(index, self.job.value_size, self.job.full_check_max, value)
    }
    /// The random source of task `t`.
    pub fn rng(&self, t: usize) -> values::Rng {
        values::Rng::new(self.job.seed ^ ((t as u64 + 1) << 20))
    }
}

/// One task's counts.
pub struct Stats {
    pub requests: u64,
    pub items: u64,
    pub bytes: u64,
    pub mismatches: u64,
    pub misses: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub hist: Histogram<u64>,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds")
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            requests: 0,
            items: 0,
            bytes: 0,
            mismatches: 0,
            misses: 0,
            errors: 0,
            first_error: None,
            hist: histogram(),
        }
    }

    /// A request that began at `t0` completed, moving `items` keys and `bytes` value
    /// bytes; it counts if it completed inside the measured window.
    pub fn done(&mut self, ctx: &Ctx, t0: Instant, items: u64, bytes: u64) {
        if ctx.phase() == MEASURE {
            self.requests += 1;
            self.items += items;
            self.bytes += bytes;
            self.hist
                .saturating_record(t0.elapsed().as_nanos().max(1) as u64);
        }
    }

    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }

    pub fn mismatch(&mut self, what: impl FnOnce() -> String) {
        self.mismatches += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("value mismatch: {}", what()));
        }
    }

    pub fn miss(&mut self, key: &str) {
        self.misses += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("miss on {key}, which was stored"));
        }
    }

    fn merge(&mut self, o: Stats) {
        self.requests += o.requests;
        self.items += o.items;
        self.bytes += o.bytes;
        self.mismatches += o.mismatches;
        self.misses += o.misses;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.hist.add(&o.hist).expect("same bounds");
    }
}

/// The window's edges, as the control loop saw them.
pub struct Window {
    elapsed: Duration,
    client_cpu: Duration,
    server_cpu: Option<Duration>,
}

/// The CPU clocks and the time at the window's start.
pub struct Opened {
    cpu: Duration,
    server: Option<Duration>,
    at: Instant,
}

/// Starts the measured window: reads the clocks, then lets the tasks count.
pub fn open_window(ctx: &Ctx) -> Opened {
    let opened = Opened {
        cpu: cpu::self_cpu(),
        server: cpu::process_cpu(ctx.job.server_pid),
        at: Instant::now(),
    };
    ctx.phase.store(MEASURE, Ordering::Relaxed);
    opened
}

/// Ends the window: tells the tasks to stop, then reads the clocks.
pub fn close_window(ctx: &Ctx, o: Opened) -> Window {
    ctx.phase.store(STOP, Ordering::Relaxed);
    let (elapsed, cpu1, srv1) = (
        o.at.elapsed(),
        cpu::self_cpu(),
        cpu::process_cpu(ctx.job.server_pid),
    );
    Window {
        elapsed,
        client_cpu: cpu1.saturating_sub(o.cpu),
        server_cpu: o.server.zip(srv1).map(|(a, b)| b.saturating_sub(a)),
    }
}

/// Runs the job given as JSON and prints its [`Outcome`] as one JSON line.
pub fn main(job_json: &str) -> ! {
    let job: Job = serde_json::from_str(job_json).expect("a job as JSON");
    let outcome = run(job);
    println!("{}", serde_json::to_string(&outcome).expect("serialize"));
    // Tasks that did not stop (a hung connection) must not keep the process alive.
    std::process::exit(0)
}

fn run(job: Job) -> Outcome {
    let keys = values::keys(&job.key_prefix, job.keys);
    let values = if job.op == crate::job::Op::Set {
        (0..job.keys)
            .map(|i| Bytes::from(values::value(i, job.value_size)))
            .collect()
    } else {
        Vec::new()
    };
    let ctx = Arc::new(Ctx {
        job,
        keys,
        values,
        phase: AtomicU8::new(WARMUP),
    });
    let (stats, window) = match ctx.job.client {
        ClientSpec::Memcache => clients::memcache::run(&ctx),
        ClientSpec::Memcslap => panic!("memcslap is run by the orchestrator"),
        _ => run_async(&ctx),
    };
    let mut all = Stats::new();
    for s in stats {
        all.merge(s);
    }
    let h = &all.hist;
    Outcome {
        requests: all.requests,
        items: all.items,
        bytes: all.bytes,
        elapsed_secs: window.elapsed.as_secs_f64(),
        client_cpu_secs: Some(window.client_cpu.as_secs_f64()),
        server_cpu_secs: window.server_cpu.map(|d| d.as_secs_f64()),
        mismatches: all.mismatches,
        misses: all.misses,
        errors: all.errors,
        first_error: all.first_error,
        cpus: cpu::cpus_allowed(std::process::id()),
        latency_ns: h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect(),
        p50_ns: h.value_at_quantile(0.5),
        p99_ns: h.value_at_quantile(0.99),
        p999_ns: h.value_at_quantile(0.999),
    }
}

/// The async clients: tasks on a tokio runtime; the control loop is one more task.
fn run_async(ctx: &Arc<Ctx>) -> (Vec<Stats>, Window) {
    let rt = match ctx.job.runtime {
        Runtime::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Runtime::Multi(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build(),
    }
    .expect("runtime");
    rt.block_on(async {
        let tasks = match ctx.job.client {
            ClientSpec::Mcaside { connections } => clients::mcaside::start(ctx, connections).await,
            ClientSpec::AsyncMemcached => clients::async_memcached::start(ctx).await,
            ClientSpec::Raw { conns, depth } => clients::raw::start(ctx, conns, depth).await,
            ClientSpec::RawTasks { conns } => clients::raw_tasks::start(ctx, conns).await,
            ClientSpec::Memcache | ClientSpec::Memcslap => unreachable!(),
        };
        // The window's edges are read from a task of its own, between the clients'
        // tasks: this runtime's timer wakes it at the edges.
        let c = ctx.clone();
        let window = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(c.job.warmup_secs)).await;
            let opened = open_window(&c);
            tokio::time::sleep(Duration::from_secs_f64(c.job.secs)).await;
            close_window(&c, opened)
        })
        .await
        .expect("control task");
        let mut stats = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        for t in tasks {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, t).await {
                Ok(Ok(s)) => stats.push(s),
                Ok(Err(e)) => {
                    let mut s = Stats::new();
                    s.error(format!("task panicked: {e}"));
                    stats.push(s);
                }
                Err(_) => {
                    let mut s = Stats::new();
                    s.error("a task did not stop within 30 s of the window's end");
                    stats.push(s);
                }
            }
        }
        (stats, window)
    })
}
