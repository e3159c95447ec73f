//! mcaside against its peers and against the limit, measured the fair way (issues 13
//! and 14): the README's tables and plots, and the ratios the performance targets are
//! stated in.
//!
//! # What fair means here
//!
//! - **Each client in its own process, on its own core.** The orchestrator (this bench
//!   binary) starts memcached 1.6.18 with `-t 1` and pins it to CPU 1 with `taskset`,
//!   then runs every client as a separate worker process (this same binary re-executed
//!   as `compare worker '<job json>'`) pinned to CPU 0. No client shares a process, an
//!   allocator, a runtime or a core with another client or with the server. Where the
//!   machine has fewer than 2 cores or no `taskset`, nothing is pinned and the report's
//!   first lines say so.
//! - **A key space larger than any batch.** 10,000 keys by default (`--keys`), fewer for
//!   large values so that keys × size stays within `--keyspace-bytes` (128 MiB), never
//!   fewer than twice the batch or 64. Each task draws its keys at random
//!   (xorshift, same generator and cost for every client). The key space is flushed and
//!   preloaded (quiet `ms`, from the orchestrator) whenever the value size changes.
//! - **Warm-up, then a measured window.** Each worker connects, runs its tasks for
//!   `--warmup` seconds uncounted, then for `--secs` seconds counted. Only requests that
//!   complete inside the window count; connecting and warm-up are outside every figure.
//! - **Interleaved rounds.** Client A, B, C, ... then again, `--rounds` times, each run a
//!   fresh process, so that a neighbour's load on a shared machine hits every client
//!   alike. Per client: the median over rounds; per pair: the ratio of the medians, and
//!   the median of the per-round ratios with their range.
//! - **Every value read is checked** against what was stored. A value is a function of
//!   its key's index and size (stamps `[index]` at both ends, a filler letter between),
//!   so workers check without keeping copies: byte for byte up to `--full-check-max`
//!   (4 KiB), by length and stamps above it (the same check for every client, so CPU
//!   figures stay comparable). Mismatches, misses and errors are counted and reported;
//!   any of them makes the run fail (exit status 1), with the first one described.
//! - **Latency in HDR histograms** (ns, 3 significant digits), per request from its call
//!   to its answer; p50/p99/p99.9 over all rounds of a client (histograms merged).
//! - **CPU, both sides.** The worker reads its own CPU time (getrusage: all threads,
//!   user + system) and memcached's (`/proc/<pid>/stat` utime + stime, clock ticks) at
//!   the window's edges: client µs per request, client and server cores.
//!
//! # The clients
//!
//! - `mcaside`, one `Client` shared by all tasks, for each `--connections` value
//!   (`default`: the builder's pool; by default also 1 and 4). The best median is marked
//!   "best pool". Request timeout 10 s (`--mcaside-timeout-ms`, 0 = none).
//! - `async-memcached` 0.9: a client (a connection) per task, as its `&mut self` API
//!   needs. The baseline of the `÷ async-memcached` columns.
//! - `memcache` 0.21 (blocking): a thread per task, a pool as large (`with_pool_size`,
//!   whose r2d2 pool checks each connection out with a `version` round trip: its
//!   default, kept as users get it).
//! - `raw`: the hand-written reference (`compare/clients/raw.rs`), the limit of this
//!   machine's loopback and memcached: `mg`/`ms` pipelines over N connections × K
//!   requests in flight (`--raw-conns` 1,2,4 × `--raw-depth` 16,64, K capped at tasks / N;
//!   one task is plain request/response), one `get k1 .. k100` per multi-get, replies
//!   parsed in place in one reused buffer per connection and discarded, large values
//!   checked as they stream through it, large set values written vectored. The best
//!   configuration's median is the reference line of the `÷ reference` columns. It is a
//!   throughput limit: with fewer requests in flight than the clients have tasks, its
//!   latencies are not the clients' to match.
//! - `raw-tasks` (`compare/clients/raw_tasks.rs`), get and set only: the floor of any
//!   client that serves each caller from a task of its own. The raw wire again, but
//!   each request is made by its own task and its reply handed back through a tokio
//!   oneshot, by a reader task per connection (a writer task flushes what callers
//!   queue): no timeouts, no reply identity, no drop safety. What it costs above `raw`
//!   is what task-per-caller costs at all on this runtime; what a client costs above
//!   it is its own machinery (`--raw-conns` sets its connections too).
//! - `memcslap` (libmemcached-tools), small-value get and set scenarios up to 1,000
//!   tasks: one thread per task, its own keys and values, unchecked, ops/s only.
//!
//! Async clients run on a tokio `current_thread` runtime in their worker (the natural
//! fit for one pinned core; `--runtime multi:N` for a multi-thread one).
//!
//! # Scenarios
//!
//! Named on the command line (groups, names, or name prefixes; `--list` prints all):
//! - `table` (the default): issue 13's table: `get-64`, `set-64`, `get-1000`, `get-1`,
//!   `mget100-1` (100-key multi-get, 1 task, keys/s). 100-byte values.
//! - `concurrency`: get of 100-byte values at 1, 8, 64, 512, 4,096 tasks
//!   (`conc-get-<T>`, `--conc-tasks`): throughput and p99.
//! - `sizes`: the value-size curves of issues 13 and 14: `size-<get|set>-<T>t-<size>`
//!   for sizes 100 B, 1, 4, 16, 64, 100, 128, 512 KiB and 1 MiB (`--sizes`), 1 and 16
//!   tasks (`--size-tasks`), get and set (`--size-ops`): bytes/s and client CPU per MB.
//!   memcached gets `-I 2m` (and the clients a raised value limit) for 1 MiB values.
//! - `all`: everything.
//!
//! A run costs about (clients × rounds × (warm-up + secs + ~1 s of start-up)) per
//! scenario: with the defaults about 2.5 minutes per `table` or `concurrency` scenario
//! (11 client configurations), 2 per `sizes` one, so `table` and `concurrency` take
//! about a quarter of an hour each, `sizes` over an hour, `all` nearly two.
//!
//! # Running it
//!
//! ```text
//! cargo bench --bench compare                                  # issue 13's table
//! cargo bench --bench compare -- concurrency --plots docs/bench
//! cargo bench --bench compare -- sizes --plots docs/bench
//! cargo bench --bench compare -- size-get-16t --rounds 3
//! cargo bench --bench compare -- get-64 --connections default,1,2,4 --raw-depth 8,16,32
//! cargo bench --bench compare -- --secs 0.3 --rounds 1 --warmup 0.1   # a quick check
//! cargo bench --bench compare -- --help                        # every knob
//! ```
//!
//! Output: a markdown table per scenario and a summary table per group on stdout (also
//! to `--markdown FILE`), progress on stderr, JSON lines to `--json` (default
//! `target/compare/results.jsonl`): one `{"type":"run"}` record with the settings and
//! whether processes were pinned, one `{"type":"round"}` per client per round (the
//! worker's raw outcome: requests, items, bytes, window, CPU seconds, percentiles in ns,
//! mismatches, misses, errors), one `{"type":"summary"}` per scenario (everything in
//! the tables, with spreads); and PNG plots of the concurrency and value-size curves to
//! `--plots DIR` (`concurrency.png`, `sizes-<op>-<T>t.png`). The exit status is 1 if
//! any value mismatched, any stored key missed, any request failed or any worker did.
//!
//! With one task, a request waits for the other core to wake twice per round trip
//! (client and server pinned apart): those figures measure wake-up latency as much as
//! either side, for every client alike.
//!
//! Run it on a quiet machine: on a shared one the figures are noise. Nothing here is
//! run by CI beyond building it.
//!
//! # Profiling one client
//!
//! `COMPARE_WORKER_WRAP` runs every worker under a command, with the orchestrator still
//! starting, loading and pinning memcached. Instruction counts are the one measure that
//! holds still on a shared machine, so A/B a change with callgrind and divide the
//! worker's instructions by its requests (or, for a multi-get, by `values::check`
//! calls, one per key):
//!
//! ```text
//! CARGO_PROFILE_BENCH_DEBUG=line-tables-only cargo bench --bench compare --no-run
//! COMPARE_WORKER_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p" \
//!     target/release/deps/compare-<hash> get-64 --rounds 1 --warmup 0.3 --secs 3 \
//!     --clients mcaside --connections 1
//! callgrind_annotate --inclusive=yes /tmp/cg.<pid>     # Context::run_task = the worker
//! ```
//!
//! Counts move by about 1 % from run to run (how requests fall into batches depends on
//! timing), so a change smaller than that needs a harness of its own: the protocol
//! core, having no I/O, counts exactly (decode a buffer of replies in a loop).

#[path = "../tests/support/server.rs"]
mod server;

// The harness's own modules, in benches/compare/ (named by path: a bench's modules
// otherwise resolve beside it, among the other benches).
#[path = "compare/clients/mod.rs"]
mod clients;
#[path = "compare/cpu.rs"]
mod cpu;
#[path = "compare/job.rs"]
mod job;
#[path = "compare/opts.rs"]
mod opts;
#[path = "compare/orchestrate.rs"]
mod orchestrate;
#[path = "compare/plot.rs"]
mod plot;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/scenarios.rs"]
mod scenarios;
#[path = "compare/values.rs"]
mod values;
#[path = "compare/worker.rs"]
mod worker;

use std::io::Write;
use std::process::ExitCode;

use opts::Opts;
use orchestrate::Server;
use report::ScenarioSummary;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        worker::main(args.get(1).map_or("", String::as_str));
    }
    let opts = match Opts::parse(args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("compare: {e}\n");
            }
            eprint!("{}", opts::USAGE);
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    values::self_check();
    let selected = match scenarios::select(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.list {
        for s in scenarios::all(&opts) {
            println!("{:<24} {:<12} {}", s.name, s.group, s.title());
        }
        return ExitCode::SUCCESS;
    }
    // A client that cannot run fails the run; better now than after minutes of others.
    let memcslap_needed = selected
        .iter()
        .any(|s| s.clients.contains(&job::ClientSpec::Memcslap));
    if memcslap_needed
        && !std::process::Command::new("memcslap")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        eprintln!(
            "compare: memcslap is not installed: `apt-get install -y libmemcached-tools`, \
             or leave it out with --clients mcaside,async-memcached,memcache,raw"
        );
        return ExitCode::from(2);
    }
    orchestrate_all(&opts, &selected)
}

/// A sink for the report: stdout and, if asked, a markdown file.
struct Out {
    md: Option<std::fs::File>,
}

impl Out {
    fn say(&mut self, text: &str) {
        println!("{text}");
        if let Some(f) = &mut self.md {
            let _ = writeln!(f, "{text}");
        }
    }
}

fn orchestrate_all(o: &Opts, selected: &[scenarios::Scenario]) -> ExitCode {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cannot = if o.no_pin {
        Some("--no-pin".to_string())
    } else {
        cpu::cannot_pin(o.client_cpu, o.server_cpu)
    };
    let (client_pin, server_pin) = match &cannot {
        None => (Some(o.client_cpu), Some(o.server_cpu)),
        Some(_) => (None, None),
    };
    let mut out = Out {
        md: o.markdown.as_ref().map(|p| {
            if let Some(d) = p.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            std::fs::File::create(p).expect("create the markdown file")
        }),
    };
    if let Some(d) = o.json.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    let mut json = std::fs::File::create(&o.json).expect("create the JSON lines file");
    let mut emit = |v: serde_json::Value| {
        let _ = writeln!(json, "{v}");
    };

    let pinning = match &cannot {
        None => format!(
            "clients pinned to CPU {}, memcached to CPU {} (taskset)",
            o.client_cpu, o.server_cpu
        ),
        Some(why) => format!("NOT PINNED ({why}): clients and memcached share every core"),
    };
    let version =
        std::process::Command::new(std::env::var("MEMCACHED").unwrap_or("memcached".into()))
            .arg("-V")
            .output()
            .map(|v| String::from_utf8_lossy(&v.stdout).trim().to_string())
            .unwrap_or_else(|_| "memcached (version unknown)".into());
    out.say(&format!(
        "machine: {cores} cores; {version} -t {}; {pinning}\n\
         each client in its own process; {} round(s) of {} s after {} s of warm-up; every value checked (byte for byte up to {} B)\n",
        o.server_threads,
        o.rounds,
        o.secs,
        o.warmup,
        o.full_check_max
    ));
    emit(serde_json::json!({
        "type": "run",
        "cores": cores,
        "memcached": version,
        "pinned": cannot.is_none(),
        "not_pinned_because": cannot,
        "client_cpu": client_pin,
        "server_cpu": server_pin,
        "secs": o.secs,
        "warmup": o.warmup,
        "rounds": o.rounds,
        "runtime": format!("{:?}", o.runtime),
        "full_check_max": o.full_check_max,
        "scenarios": selected.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
    }));

    // Within a group, scenarios that need the same memcached run together, so that
    // it is restarted (and the keys reloaded) once per setting, not at every size.
    let mut groups: Vec<&str> = Vec::new();
    for sc in selected {
        if !groups.contains(&sc.group) {
            groups.push(sc.group);
        }
    }
    let mut selected = selected.to_vec();
    selected.sort_by_key(|sc| {
        let group = groups.iter().position(|g| *g == sc.group);
        (group, orchestrate::server_args(o, sc.value_size))
    });
    let mut server: Option<Server> = None;
    let mut summaries: Vec<ScenarioSummary> = Vec::new();
    let mut failed = false;
    for sc in &selected {
        let args = orchestrate::server_args(o, sc.value_size);
        if server.as_ref().map(|s| &s.args) != Some(&args) {
            drop(server.take());
            let s = Server::start(args, server_pin);
            eprintln!(
                "[compare] memcached {} (pid {}, CPUs {})",
                s.args.join(" "),
                s.pid(),
                cpu::cpus_allowed(s.pid())
            );
            server = Some(s);
        }
        let srv = server.as_mut().expect("started");
        let prefix = orchestrate::key_prefix(sc.value_size);
        if let Err(e) = srv.preload(&prefix, sc.keys, sc.value_size) {
            out.say(&format!("### `{}`: preload failed: {e}\n", sc.name));
            failed = true;
            continue;
        }
        let evictions0 = srv.evictions();
        let mut rounds: Vec<Vec<Result<job::Outcome, String>>> = vec![Vec::new(); sc.clients.len()];
        let mut memcslap_rate = None;
        for r in 0..o.rounds {
            for (i, &spec) in sc.clients.iter().enumerate() {
                let label = spec.label(sc.op);
                let res = orchestrate::run_client(o, sc, spec, srv, client_pin, &mut memcslap_rate);
                match &res {
                    Ok(x) => {
                        eprintln!(
                            "[compare] {} round {}/{}: {:<34} {:>9} {}{}",
                            sc.name,
                            r + 1,
                            o.rounds,
                            label,
                            report::rate(x.items_per_sec()),
                            sc.unit(),
                            if x.failures() > 0 { "  FAILURES" } else { "" }
                        );
                        if spec != job::ClientSpec::Memcslap
                            && let Some(pin) = client_pin
                            && x.cpus != pin.to_string()
                        {
                            eprintln!(
                                "[compare] warning: worker ran on CPUs {}, not {pin}",
                                x.cpus
                            );
                        }
                    }
                    Err(e) => {
                        eprintln!("[compare] {} round {}: {label} FAILED: {e}", sc.name, r + 1)
                    }
                }
                let mut record = serde_json::json!({
                    "type": "round",
                    "scenario": sc.name,
                    "round": r + 1,
                    "client": label,
                    "spec": spec,
                });
                match &res {
                    Ok(x) => {
                        let mut v = serde_json::to_value(x).expect("serialize");
                        v.as_object_mut().expect("object").remove("latency_ns");
                        record["outcome"] = v;
                        record["items_per_sec"] = x.items_per_sec().into();
                        record["bytes_per_sec"] = x.bytes_per_sec().into();
                        record["cpu_us_per_request"] = x.cpu_us_per_request().into();
                        record["server_cores"] = x.server_cores().into();
                    }
                    Err(e) => record["error"] = e.clone().into(),
                }
                emit(record);
                rounds[i].push(res);
            }
        }
        let evictions = srv.evictions().saturating_sub(evictions0);
        let summary = report::summarize(sc, &rounds, evictions);
        failed |= summary.failures() > 0;
        out.say(&report::markdown(&summary, o.rounds, o.secs));
        let mut v = serde_json::to_value(&summary).expect("serialize");
        v["type"] = "summary".into();
        emit(v);
        summaries.push(summary);
    }
    drop(server);

    for group in ["table", "concurrency", "sizes"] {
        if let Some(t) = report::group_table(group, &summaries) {
            out.say(&t);
        }
    }
    if let Some(dir) = &o.plots {
        let note = if cannot.is_none() {
            format!("{cores} cores, pinned; {} x {} s", o.rounds, o.secs)
        } else {
            format!("NOT PINNED; {} x {} s", o.rounds, o.secs)
        };
        match plot::write_all(dir, &summaries, &note) {
            Ok(files) => {
                for f in files {
                    out.say(&format!("plot: {}", f.display()));
                }
            }
            Err(e) => {
                out.say(&format!("plots failed: {e}"));
                failed = true;
            }
        }
    }
    out.say(&format!("JSON lines: {}", o.json.display()));
    if failed {
        out.say("FAILED: a value mismatch, a miss, an error or a failed run above (marked ⚠).");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
