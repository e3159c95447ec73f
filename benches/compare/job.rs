//! What the orchestrator asks a worker process to do ([`Job`], passed as one JSON
//! argument) and what the worker answers ([`Outcome`], one JSON line on its stdout).

use serde::{Deserialize, Serialize};

/// What each request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// One key per request, every key present.
    Get,
    /// One key per request, storing the value the key already has (so later gets still
    /// check).
    Set,
    /// This many consecutive keys per request; throughput counts keys.
    MultiGet(usize),
}

impl Op {
    pub fn label(self) -> String {
        match self {
            Op::Get => "get".into(),
            Op::Set => "set".into(),
            Op::MultiGet(n) => format!("{n}-key multi-get"),
        }
    }
}

/// A client, with its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientSpec {
    /// mcaside: one `Client` shared by all tasks; `None` is the builder's default pool.
    Mcaside { connections: Option<usize> },
    /// async-memcached 0.9: one client (one connection) per task.
    AsyncMemcached,
    /// The memcache 0.21 crate (blocking): one thread per task, a pool as large.
    Memcache,
    /// The hand-written reference: `conns` connections, each keeping `depth` requests in
    /// flight (1 x 1 is plain request/response).
    Raw { conns: usize, depth: usize },
    /// The floor of one task per caller (`clients/raw_tasks.rs`): the raw wire, with
    /// each request from a task of its own and handed back through a channel.
    RawTasks { conns: usize },
    /// memcslap from libmemcached-tools, run by the orchestrator itself: its own keys and
    /// values, no check, ops/s only.
    Memcslap,
}

impl ClientSpec {
    pub fn label(self, op: Op) -> String {
        match self {
            ClientSpec::Mcaside { connections: None } => "mcaside (default pool)".into(),
            ClientSpec::Mcaside {
                connections: Some(1),
            } => "mcaside (1 conn)".into(),
            ClientSpec::Mcaside {
                connections: Some(n),
            } => format!("mcaside ({n} conn)"),
            ClientSpec::AsyncMemcached => "async-memcached 0.9".into(),
            ClientSpec::Memcache => "memcache 0.21".into(),
            ClientSpec::Raw { conns, depth } => {
                let verb = match op {
                    Op::Get => "mg",
                    Op::Set => "ms",
                    Op::MultiGet(_) => "get k1..kN",
                };
                if conns == 1 && depth == 1 {
                    format!("raw `{verb}` request/response")
                } else {
                    format!("raw `{verb}` {conns} conn × {depth}")
                }
            }
            ClientSpec::RawTasks { conns } => format!("raw, a task per caller ({conns} conn)"),
            ClientSpec::Memcslap => "memcslap (own keys, unchecked)".into(),
        }
    }

    /// The family a client belongs to, for "best of" and for plot lines.
    pub fn family(self) -> &'static str {
        match self {
            ClientSpec::Mcaside { .. } => "mcaside",
            ClientSpec::AsyncMemcached => "async-memcached",
            ClientSpec::Memcache => "memcache",
            ClientSpec::Raw { .. } => "raw",
            ClientSpec::RawTasks { .. } => "raw-tasks",
            ClientSpec::Memcslap => "memcslap",
        }
    }
}

/// The tokio runtime a worker runs its async clients on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Runtime {
    /// `current_thread`: one thread, the natural fit for a process pinned to one CPU.
    Current,
    /// `multi_thread` with this many worker threads.
    Multi(usize),
}

/// One measured run of one client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub client: ClientSpec,
    pub op: Op,
    pub tasks: usize,
    pub value_size: usize,
    pub keys: usize,
    pub key_prefix: String,
    pub warmup_secs: f64,
    pub secs: f64,
    pub server_addr: String,
    pub server_pid: u32,
    pub runtime: Runtime,
    /// Values up to this size are compared byte for byte, larger ones by stamps.
    pub full_check_max: usize,
    /// The raw reference's read buffer per connection, bytes.
    pub raw_read_buf: usize,
    /// mcaside's request timeout in ms; 0 for none.
    pub mcaside_timeout_ms: u64,
    pub seed: u64,
}

/// What one run measured. Latencies are in nanoseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Requests completed in the measured window.
    pub requests: u64,
    /// Keys read or written by them (requests × keys per request, hits only for reads).
    pub items: u64,
    /// Value bytes read or written by them.
    pub bytes: u64,
    pub elapsed_secs: f64,
    /// The worker's CPU time in the window (all threads, user + system).
    pub client_cpu_secs: Option<f64>,
    /// memcached's CPU time in the window.
    pub server_cpu_secs: Option<f64>,
    /// Values that did not match what was stored.
    pub mismatches: u64,
    /// Reads of a key that should have been there and was not.
    pub misses: u64,
    /// Failed requests (errors, unexpected replies).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Where the worker was allowed to run (`Cpus_allowed_list`).
    pub cpus: String,
    /// The latency histogram as (value ns, count) pairs, for merging across rounds.
    pub latency_ns: Vec<(u64, u64)>,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
}

impl Outcome {
    pub fn items_per_sec(&self) -> f64 {
        self.items as f64 / self.elapsed_secs.max(1e-9)
    }
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed_secs.max(1e-9)
    }
    /// Client CPU per request, µs.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        Some(self.client_cpu_secs? * 1e6 / self.requests.max(1) as f64)
    }
    /// Client CPU per megabyte (10^6 bytes) of values moved, µs.
    pub fn cpu_us_per_mb(&self) -> Option<f64> {
        (self.bytes > 0).then_some(())?;
        Some(self.client_cpu_secs? * 1e6 / (self.bytes as f64 / 1e6))
    }
    /// The client process's CPU during the run, in cores.
    pub fn client_cores(&self) -> Option<f64> {
        Some(self.client_cpu_secs? / self.elapsed_secs.max(1e-9))
    }
    /// memcached's CPU during the run, in cores.
    pub fn server_cores(&self) -> Option<f64> {
        Some(self.server_cpu_secs? / self.elapsed_secs.max(1e-9))
    }
    pub fn failures(&self) -> u64 {
        self.mismatches + self.misses + self.errors
    }
}
