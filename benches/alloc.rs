//! Heap allocations per operation, against a real memcached, in steady state.
//!
//! The project's target is at most 2 heap allocations per `get` hit once the connection
//! is warm. Allocation counts, unlike timings, are exact and repeatable, so this is the
//! benchmark that tells whether a change to the request path added or removed one.
//!
//! A counting global allocator wraps the system allocator. For each operation (`get` hit
//! and miss, `set` of 100 bytes, `get_many` of 100 keys) it warms up, then counts every
//! allocation made by *any* thread of the process over N sequential calls: the
//! connection's I/O task and tokio's workers allocate on the client's behalf, and
//! those allocations count as much as the caller's. This runs on a `current_thread`
//! runtime, on a `multi_thread` one (where the calls are made from a spawned task, as a
//! request handler would make them), and once more with the client held to the classic
//! commands, the path a server without meta commands (or a proxy) gets.
//!
//! To see *where* the allocations come from, set `MCASIDE_ALLOC_TRACE=1`: after
//! counting, a few more calls of each kind are made with a backtrace captured for every
//! allocation, and the distinct call sites are printed with how many times per call
//! each one allocated. File and line numbers need debug info, which the bench profile
//! leaves out, so ask for it through the environment (Cargo.toml stays as it is):
//!
//! ```text
//! MCASIDE_ALLOC_TRACE=1 CARGO_PROFILE_BENCH_DEBUG=line-tables-only cargo bench --bench alloc
//! ```
//!
//! Run with `cargo bench --bench alloc`. It needs `memcached` installed and panics (so
//! exits non-zero) without it. Run without `--bench` (as `cargo test --benches` does),
//! it makes a hundred times fewer calls: a smoke test, not a measurement.

#[path = "../tests/support/server.rs"]
mod server;

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mcaside::Client;
use mcaside::proto::Features;

// ---------------------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------------------

/// Counts calls into the allocator. `alloc`, `alloc_zeroed` and `realloc` each count as
/// one allocation. `realloc` counts because in steady state it is the tell-tale of a
/// buffer or `Vec` that is rebuilt or regrown on every call instead of being reused;
/// it costs an allocator round trip (and usually a copy) like a fresh allocation, and a
/// target that ignored it could be met by growing one `Vec` from empty on every call.
/// `dealloc` is not counted: every allocation is freed sooner or later, so counting
/// frees would only double the number without telling anything new.
struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Bytes requested: the size for `alloc`, the new size for `realloc` (what the allocator
/// had to find room for, not the growth).
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed, for what kept values hold (see [`kept_memory`]).
static LIVE: AtomicI64 = AtomicI64::new(0);
/// How many more allocations to capture a backtrace for; 0 when tracing is off.
static TRACE_LEFT: AtomicUsize = AtomicUsize::new(0);
static TRACES: Mutex<Vec<Trace>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while this thread captures a backtrace: what the capture allocates is the
    /// tracer's doing, and recursing into the tracer from it would never end.
    /// (A `const` thread-local of a `Cell<bool>` needs no allocation to exist, which
    /// is what makes it usable inside the allocator.)
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

struct Trace {
    kind: &'static str,
    size: usize,
    backtrace: Backtrace,
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping around it neither touches the memory nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record("alloc", layout.size());
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record("alloc_zeroed", layout.size());
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record("realloc", new_size);
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        // SAFETY: as for `alloc`; `ptr` and `layout` come from this same allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn record(kind: &'static str, size: usize) {
    if IN_TRACE.get() {
        return;
    }
    ALLOCS.fetch_add(1, Relaxed);
    BYTES.fetch_add(size as u64, Relaxed);
    if TRACE_LEFT.load(Relaxed) > 0 {
        capture(kind, size);
    }
}

#[cold]
fn capture(kind: &'static str, size: usize) {
    if TRACE_LEFT
        .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
        .is_err()
    {
        return;
    }
    IN_TRACE.set(true);
    // Unresolved: symbolication happens when the trace is printed, after measuring.
    let backtrace = Backtrace::force_capture();
    TRACES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Trace {
            kind,
            size,
            backtrace,
        });
    IN_TRACE.set(false);
}

#[derive(Clone, Copy)]
struct Counts {
    allocs: u64,
    bytes: u64,
}

fn counts() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

// ---------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------

const KEY: &str = "alloc-bench:hit";
const MISSING: &str = "alloc-bench:missing";
const VALUE_LEN: usize = 100;
const MANY: usize = 100;
/// Calls whose allocations are traced per operation with `MCASIDE_ALLOC_TRACE=1`: a few,
/// so that a site that allocates on some calls only (a buffer regrown now and then)
/// shows as a fraction.
const TRACED_CALLS: usize = 8;
/// At most this many backtraces per operation: a runaway would otherwise fill memory.
const MAX_TRACES: usize = 4096;

#[derive(Clone, Copy)]
struct Plan {
    warmup: usize,
    calls: usize,
    many_calls: usize,
    trace: bool,
}

/// Allocations of one operation.
struct Measured {
    name: &'static str,
    calls: usize,
    per_call: f64,
    bytes_per_call: f64,
    per_key: Option<f64>,
    elapsed: Duration,
}

impl Measured {
    fn print(&self) {
        let micros = self.elapsed.as_secs_f64() * 1e6 / self.calls as f64;
        print!(
            "allocations per {}: {:.2} ({:.0} bytes; {} calls, {micros:.1} µs/call)",
            self.name, self.per_call, self.bytes_per_call, self.calls
        );
        match self.per_key {
            Some(k) => println!("; {k:.2} per key"),
            None => println!(),
        }
    }
}

/// Runs `op` `warmup` times, then counts the allocations of `calls` more.
async fn measure<F, Fut>(name: &'static str, warmup: usize, calls: usize, mut op: F) -> Measured
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..warmup {
        op().await;
    }
    let start = Instant::now();
    let before = counts();
    for _ in 0..calls {
        op().await;
    }
    let after = counts();
    Measured {
        name,
        calls,
        per_call: (after.allocs - before.allocs) as f64 / calls as f64,
        bytes_per_call: (after.bytes - before.bytes) as f64 / calls as f64,
        per_key: None,
        elapsed: start.elapsed(),
    }
}

/// Captures a backtrace of every allocation made during `TRACED_CALLS` more calls of
/// `op`, and prints their distinct call sites.
async fn trace<F, Fut>(name: &str, mut op: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    TRACES.lock().unwrap().clear();
    TRACE_LEFT.store(MAX_TRACES, Relaxed);
    for _ in 0..TRACED_CALLS {
        op().await;
    }
    TRACE_LEFT.store(0, Relaxed);
    let traces = std::mem::take(&mut *TRACES.lock().unwrap());
    print_sites(name, &traces);
}

/// Every operation, measured and printed (and with `plan.trace`, traced) on the
/// runtime this runs on. Returns the allocations per get hit.
async fn workload(addr: String, features: Option<Features>, plan: Plan) -> f64 {
    let mut builder = Client::builder();
    if let Some(f) = features {
        builder = builder.features(f);
    }
    let client = builder.connect(addr.as_str()).await.expect("connect");
    let value = vec![b'v'; VALUE_LEN];
    let ttl = Duration::from_secs(600);
    client.set(KEY, &value, ttl).await.expect("set");
    let keys: Vec<String> = (0..MANY).map(|i| format!("alloc-bench:many:{i}")).collect();
    for k in &keys {
        client.set(k, &value, ttl).await.expect("set");
    }
    client.delete(MISSING).await.expect("delete");

    let c = &client;
    let get_hit = || async move {
        let item = c.get(KEY).await.expect("get").expect("a hit");
        black_box(item);
    };
    let get_miss = || async move {
        assert!(c.get(MISSING).await.expect("get").is_none());
    };
    let value = &value;
    let set = || async move {
        c.set(KEY, value, ttl).await.expect("set");
    };
    let keys = &keys;
    let get_many = || async move {
        let items = c.get_many(keys).await.expect("get_many");
        assert!(items.iter().all(Option::is_some));
        black_box(items);
    };

    let hit = measure("get hit", plan.warmup, plan.calls, get_hit).await;
    hit.print();
    measure("get miss", plan.warmup, plan.calls, get_miss)
        .await
        .print();
    measure("set", plan.warmup, plan.calls, set).await.print();
    let mut many = measure(
        "get_many(100 keys)",
        plan.warmup / MANY,
        plan.many_calls,
        get_many,
    )
    .await;
    many.per_key = Some(many.per_call / MANY as f64);
    many.print();

    if plan.trace {
        trace("get hit", get_hit).await;
        trace("set", set).await;
        trace("get_many(100 keys)", get_many).await;
    }
    hit.per_call
}

/// Heap bytes held per byte of value by values a caller keeps, for each value size:
/// 16 tasks on one client get values concurrently (so replies share the read buffer,
/// as under load) and keep every value; the growth of live heap bytes, divided by the
/// bytes kept. Small values are slices of a shared read chunk, which they keep alive;
/// from [`mcaside::proto::OWN_BUFFER_MIN`] on, each has a buffer of its own, its size.
async fn kept_memory(addr: String, full: bool) -> Vec<(usize, f64)> {
    const TASKS: usize = 16;
    let client = Client::builder()
        .connect(addr.as_str())
        .await
        .expect("connect");
    let ttl = Duration::from_secs(600);
    let mut out = Vec::new();
    for size in [100, 4 << 10, 16 << 10, 64 << 10, 512 << 10] {
        let keys: Vec<String> = (0..TASKS)
            .map(|i| format!("alloc-bench:kept:{size}:{i}"))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            client
                .set(k, &vec![b'a' + i as u8; size], ttl)
                .await
                .expect("set");
        }
        // Enough values that the connection's own buffers are noise beside them.
        let kept_target: usize = if full { 64 << 20 } else { 4 << 20 };
        let rounds = (kept_target / (size * TASKS)).max(1);
        let before = LIVE.load(Relaxed);
        let mut kept = Vec::with_capacity(rounds * TASKS);
        for _ in 0..rounds {
            let mut set = tokio::task::JoinSet::new();
            for k in &keys {
                let (c, k) = (client.clone(), k.clone());
                set.spawn(async move { c.get(&k).await.expect("get").expect("a hit") });
            }
            while let Some(item) = set.join_next().await {
                let item = item.expect("task");
                assert_eq!(item.value.len(), size);
                kept.push(item);
            }
        }
        // What the vector of handles itself takes is not the values' doing.
        let handles = (kept.capacity() * std::mem::size_of_val(&kept[0])) as i64;
        let held = LIVE.load(Relaxed) - before - handles;
        let ratio = held as f64 / (kept.len() * size) as f64;
        println!(
            "kept {} values of {size} bytes: {ratio:.2} heap bytes per value byte",
            kept.len()
        );
        out.push((size, ratio));
        drop(kept);
    }
    out
}

fn main() {
    // Cargo passes `--bench` when running benchmarks and not when testing them.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 100 };
    let plan = Plan {
        warmup: 10_000 / scale,
        calls: 100_000 / scale,
        many_calls: 10_000 / scale,
        trace: std::env::var_os("MCASIDE_ALLOC_TRACE").is_some_and(|v| v != "0"),
    };

    let server = server::Memcached::start();
    println!(
        "memcached on {}; default client (2 connections, 1 s request timeout); \
         {VALUE_LEN}-byte values; counting allocations on every thread",
        server.addr
    );
    if !full {
        println!("(not run with --bench: smoke test with 1/{scale} of the calls)");
    }
    let current_thread = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let mut hits = Vec::new();

    let title = "tokio current_thread runtime";
    println!("\n== {title} ==");
    let hit = current_thread().block_on(workload(server.addr.clone(), None, plan));
    hits.push((title, hit));

    let title = "tokio multi_thread runtime (2 workers; calls from a spawned task)";
    println!("\n== {title} ==");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = server.addr.clone();
    let hit = rt.block_on(async move {
        tokio::spawn(workload(addr, None, plan))
            .await
            .expect("workload task")
    });
    drop(rt);
    hits.push((title, hit));

    // The forms a classic-only server (an old memcached, a proxy) gets: `get`, `set`
    // and coalesced multi-key `get` lines instead of `mg`/`ms`. A different code path
    // with its own allocations, so it is measured too.
    let title = "tokio current_thread runtime, classic commands only (Features::CLASSIC)";
    println!("\n== {title} ==");
    let hit =
        current_thread().block_on(workload(server.addr.clone(), Some(Features::CLASSIC), plan));
    hits.push((title, hit));

    println!("\n== memory held by kept values (current_thread runtime, 16 tasks) ==");
    let kept = current_thread().block_on(kept_memory(server.addr.clone(), full));

    println!("\ntarget: at most 2 allocations per get hit in steady state");
    for (title, hit) in hits {
        let verdict = if hit <= 2.0 { "met" } else { "NOT met" };
        println!("  {verdict:7} {hit:.2}  {title}");
    }
    println!("target: at most 1.1 heap bytes per byte of a kept value of 16 KiB or more");
    for (size, ratio) in kept {
        if size >= 16 << 10 {
            let verdict = if ratio <= 1.1 { "met" } else { "NOT met" };
            println!("  {verdict:7} {ratio:.2}  {size}-byte values");
        }
    }
    if !plan.trace {
        println!("(set MCASIDE_ALLOC_TRACE=1 to see where they come from)");
    }
}

// ---------------------------------------------------------------------------------------
// Printing backtraces as call sites
// ---------------------------------------------------------------------------------------

/// One frame of a resolved backtrace, as `std::backtrace::Backtrace` prints it.
struct Frame {
    symbol: String,
    location: Option<String>,
}

/// Splits the printed form of a backtrace into frames. `Backtrace::frames` is unstable,
/// so this reads the stable `Display` output: `N: symbol` lines, each followed by an
/// optional `at path:line:col` line.
fn frames(backtrace: &Backtrace) -> Vec<Frame> {
    let text = backtrace.to_string();
    let mut frames: Vec<Frame> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(location) = line.strip_prefix("at ") {
            if let Some(last) = frames.last_mut() {
                last.location = Some(short_path(location));
            }
        } else if let Some((n, symbol)) = line.split_once(": ")
            && n.chars().all(|c| c.is_ascii_digit())
        {
            frames.push(Frame {
                symbol: short_symbol(symbol),
                location: None,
            });
        }
    }
    frames
}

/// Paths in this crate relative to it (`src/conn/queue.rs:152:23`); dependencies' paths
/// from their crate directory on (`tokio-1.54.1/src/...`).
fn short_path(path: &str) -> String {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    let path = path.strip_prefix(manifest).unwrap_or(path);
    let path = path.strip_prefix("./").unwrap_or(path);
    const REGISTRY: &str = "/registry/src/";
    match path.find(REGISTRY) {
        Some(i) => {
            let rest = &path[i + REGISTRY.len()..];
            rest.split_once('/').map_or(rest, |(_, r)| r).to_string()
        }
        None => path.to_string(),
    }
}

/// A symbol without its hash suffix and without generic arguments, which for async
/// code run to hundreds of characters and say nothing the location does not.
fn short_symbol(symbol: &str) -> String {
    let symbol = match symbol.rsplit_once("::h") {
        Some((s, h)) if h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()) => s,
        _ => symbol,
    };
    let mut out = String::with_capacity(symbol.len());
    let mut depth = 0usize;
    for c in symbol.chars() {
        match c {
            // A leading `<` opens `<T as Trait>::f`, which is kept; any other `<` opens
            // a generic argument list, which is dropped.
            '<' if depth > 0 || !out.is_empty() => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Frames that only say "the allocator was called": this file's allocator and tracer,
/// `alloc::` and `core::` internals, the standard library's allocation shims.
fn is_plumbing(f: &Frame) -> bool {
    let s = f.symbol.as_str();
    let loc = f.location.as_deref().unwrap_or("");
    (loc.starts_with("benches/alloc.rs") && !s.contains("workload"))
        || loc.contains("/rustc/")
        || loc.starts_with("library/")
        || [
            "std::backtrace",
            "alloc::",
            "<alloc::",
            "core::",
            "<core::",
            "__rust",
            "__rdl",
        ]
        .iter()
        .any(|p| s.starts_with(p))
}

fn in_crate(f: &Frame) -> bool {
    f.location.as_deref().is_some_and(|l| l.starts_with("src/"))
        || f.symbol.starts_with("mcaside::")
        || f.symbol.starts_with("<mcaside::")
}

/// The lines that identify one allocation site: the library frames just above the
/// allocator, then the first frames in this crate's `src/`, the first marked `>>`
/// because it is the line to change.
fn site(frames: &[Frame]) -> String {
    let frames: Vec<&Frame> = frames.iter().filter(|f| !is_plumbing(f)).collect();
    let first = frames.iter().position(|f| in_crate(f));
    let (from, to) = match first {
        // Up to two frames of the library that allocated on the crate's behalf, and up
        // to three of the crate's own: the line, and how it was reached.
        Some(i) => (i.saturating_sub(2), (i + 3).min(frames.len())),
        // Not on the crate's behalf (the runtime's own bookkeeping, say).
        None => (0, frames.len().min(5)),
    };
    let mut text = String::new();
    for (i, f) in frames[from..to].iter().enumerate() {
        let mark = if Some(from + i) == first { ">>" } else { "  " };
        let loc = f.location.as_deref().unwrap_or("no debug info");
        text.push_str(&format!("    {mark} {}  ({loc})\n", f.symbol));
    }
    text
}

/// Prints each distinct allocation site with how often it allocated per call.
fn print_sites(name: &str, traces: &[Trace]) {
    println!(
        "\n-- where the allocations of {TRACED_CALLS} `{name}` calls come from ({} in all) --",
        traces.len()
    );
    if traces.len() >= MAX_TRACES {
        println!("(stopped after {MAX_TRACES} backtraces)");
    }
    // (kind, site) -> (allocations, bytes); `order` keeps first-seen order for ties.
    // The kind is part of the key so that a `Vec` allocated once and then regrown shows
    // as one `alloc` and some `realloc`s, which call for different fixes.
    type Site = (&'static str, String);
    let mut sites: HashMap<Site, (usize, usize)> = HashMap::new();
    let mut order: Vec<Site> = Vec::new();
    for t in traces {
        let key = (t.kind, site(&frames(&t.backtrace)));
        let entry = sites.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0, 0)
        });
        entry.0 += 1;
        entry.1 += t.size;
    }
    order.sort_by_key(|s| std::cmp::Reverse(sites[s].0));
    for key in &order {
        let (n, bytes) = sites[key];
        println!(
            "  {:.2} per call ({}, {} bytes on average):",
            n as f64 / TRACED_CALLS as f64,
            key.0,
            bytes / n
        );
        print!("{}", key.1);
    }
}
