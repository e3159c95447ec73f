//! The orchestrator: starts and pins memcached, preloads each scenario's key space, runs
//! every client of a scenario in its own pinned worker process, round after round, and
//! hands the outcomes to the report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cpu;
use crate::job::{ClientSpec, Job, Op, Outcome};
use crate::opts::{Opts, size_label};
use crate::scenarios::Scenario;
use crate::server::Memcached;
use crate::values;

/// memcached, pinned (or not), with the arguments it was started with.
pub struct Server {
    pub server: Memcached,
    pub args: Vec<String>,
    /// What is loaded: (key prefix, keys).
    loaded: Option<(String, usize)>,
}

/// The memcached arguments a scenario needs: `-I` grows for values near or over the
/// default 1 MiB item size (memcached's items hold key and header too).
pub fn server_args(o: &Opts, value_size: usize) -> Vec<String> {
    let mut args: Vec<String> = [
        "-t".to_string(),
        o.server_threads.to_string(),
        "-m".into(),
        o.server_mem_mb.to_string(),
        "-c".into(),
        "10000".into(),
    ]
    .to_vec();
    let need_mb = (value_size + 4096).div_ceil(1 << 20).next_power_of_two();
    if need_mb > 1 {
        args.extend(["-I".to_string(), format!("{need_mb}m")]);
    }
    args
}

impl Server {
    /// Starts memcached with `args` and pins it to `cpu` if `pin`.
    pub fn start(args: Vec<String>, pin: Option<usize>) -> Server {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Memcached::start_with(&refs);
        if let Some(c) = pin
            && let Err(e) = cpu::pin_process(server.pid(), c)
        {
            panic!(
                "could not pin memcached (pid {}) to CPU {c}: {e}",
                server.pid()
            );
        }
        Server {
            server,
            args,
            loaded: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Makes sure exactly the scenario's key space is stored: flushes and loads it with
    /// quiet `ms` commands unless it is what was loaded last.
    pub fn preload(&mut self, prefix: &str, keys: usize, value_size: usize) -> Result<(), String> {
        let want = (prefix.to_string(), keys);
        if self.loaded.as_ref() == Some(&want) {
            return Ok(());
        }
        self.loaded = None;
        let mut s = TcpStream::connect(&self.server.addr).map_err(|e| e.to_string())?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        roundtrip(&mut s, b"flush_all\r\n", b"OK\r\n")?;
        let mut batch = Vec::with_capacity(2 << 20);
        for i in 0..keys {
            let key = format!("{prefix}{i:06}");
            batch.extend_from_slice(format!("ms {key} {value_size} q\r\n").as_bytes());
            batch.extend_from_slice(&values::value(i, value_size));
            batch.extend_from_slice(b"\r\n");
            if batch.len() >= 1 << 20 || i + 1 == keys {
                batch.extend_from_slice(b"mn\r\n");
                roundtrip(&mut s, &batch, b"MN\r\n")?;
                batch.clear();
            }
        }
        let items = self.server.stat("curr_items");
        if items < keys as u64 {
            return Err(format!(
                "memcached holds {items} items after loading {keys}: raise --server-mem"
            ));
        }
        self.loaded = Some(want);
        Ok(())
    }

    /// memcached's eviction count: a scenario that made it grow ran on a key space
    /// memcached could not hold (its misses say the same).
    pub fn evictions(&self) -> u64 {
        self.server.stat("evictions")
    }
}

/// Writes `req` and reads until the reply is exactly `want` (quiet commands answer
/// nothing unless they fail).
fn roundtrip(s: &mut TcpStream, req: &[u8], want: &[u8]) -> Result<(), String> {
    s.write_all(req).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(want) {
        let n = s.read(&mut buf).map_err(|e| format!("preload: {e}"))?;
        if n == 0 {
            return Err("preload: memcached closed the connection".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got != want {
        return Err(format!(
            "preload: memcached answered {:?}",
            String::from_utf8_lossy(&got[..got.len().min(200)])
        ));
    }
    Ok(())
}

/// The key prefix of a scenario's key space: one per value size, so a stale item of
/// another size can never pass for a value.
pub fn key_prefix(value_size: usize) -> String {
    format!("mc:{}:", size_label(value_size))
}

/// Runs one client once, in its own process, and returns what it measured.
pub fn run_client(
    o: &Opts,
    sc: &Scenario,
    spec: ClientSpec,
    server: &Server,
    pin: Option<usize>,
    memcslap_rate: &mut Option<f64>,
) -> Result<Outcome, String> {
    if spec == ClientSpec::Memcslap {
        return memcslap(o, sc, server, pin, memcslap_rate);
    }
    let job = Job {
        client: spec,
        op: sc.op,
        tasks: sc.tasks,
        value_size: sc.value_size,
        keys: sc.keys,
        key_prefix: key_prefix(sc.value_size),
        warmup_secs: o.warmup,
        secs: o.secs,
        server_addr: server.server.addr.clone(),
        server_pid: server.pid(),
        runtime: o.runtime,
        full_check_max: o.full_check_max,
        raw_read_buf: o.raw_read_buf,
        mcaside_timeout_ms: o.mcaside_timeout_ms,
        seed: o.seed,
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let json = serde_json::to_string(&job).map_err(|e| e.to_string())?;
    let mut cmd = pinned(pin, exe.as_os_str());
    cmd.arg("worker")
        .arg(json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let limit = Duration::from_secs_f64(o.warmup + o.secs + 120.0);
    let (status, stdout, stderr) = run_bounded(cmd, limit)?;
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match (status, line) {
        (true, Some(l)) => serde_json::from_str(l).map_err(|e| format!("worker output: {e}")),
        _ => Err(format!(
            "worker failed: {}",
            stderr
                .lines()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(" | ")
        )),
    }
}

/// `taskset -c <cpu> <program>` when pinning, else the program itself.
///
/// With `COMPARE_WORKER_WRAP` set (words split on spaces), the worker runs under that
/// command instead, for profiling one client with the orchestrator doing the set-up:
/// `COMPARE_WORKER_WRAP="valgrind --tool=callgrind"` counts instructions (the one
/// deterministic measure on a shared, noisy machine), `"perf record -g --"` samples.
fn pinned(pin: Option<usize>, program: &std::ffi::OsStr) -> Command {
    let mut words: Vec<std::ffi::OsString> = Vec::new();
    if let Some(c) = pin {
        words.extend(["taskset".into(), "-c".into(), c.to_string().into()]);
    }
    if let Ok(wrap) = std::env::var("COMPARE_WORKER_WRAP") {
        words.extend(wrap.split_whitespace().map(Into::into));
    }
    words.push(program.to_owned());
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    cmd
}

/// Runs `cmd` to completion, killing it (by its own PID) if it takes longer than
/// `limit`. Returns success, stdout and stderr.
fn run_bounded(mut cmd: Command, limit: Duration) -> Result<(bool, String, String), String> {
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(&mut err).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "timed out after {:.0} s and was killed",
                limit.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok((status.success(), stdout, stderr))
}

/// memcslap (libmemcached-tools) with one thread per task. It runs a request count,
/// not a time, so each round's count comes from the rate of the round before (the
/// first round is preceded by a calibration run of 20,000 requests, as its warm-up). Its keys and
/// values are its own and unchecked; it reports no percentiles, and its CPU is not
/// separable from its own key loading, so only ops/s is kept.
fn memcslap(
    o: &Opts,
    sc: &Scenario,
    server: &Server,
    pin: Option<usize>,
    rate: &mut Option<f64>,
) -> Result<Outcome, String> {
    let test = match sc.op {
        Op::Get => "get",
        Op::Set => "set",
        Op::MultiGet(_) => return Err("memcslap runs get and set only".into()),
    };
    let t = sc.tasks.max(1);
    let once = |per_thread: u64| -> Result<(u64, f64), String> {
        let mut cmd = pinned(pin, "memcslap".as_ref());
        cmd.args([
            format!("--servers={}", server.server.addr),
            format!("--concurrency={t}"),
            format!("--execute-number={per_thread}"),
            format!("--test={test}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let (ok, stdout, stderr) = run_bounded(cmd, Duration::from_secs_f64(o.secs * 10.0 + 60.0))
            .map_err(|e| format!("memcslap: {e} (install libmemcached-tools)"))?;
        let text = stdout + &stderr;
        // "Time to get          128000 keys by   64 threads:     3.638 seconds."
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("Time to {test}")) && l.contains("threads"))
            .ok_or_else(|| format!("memcslap gave no timing (ok={ok}): {}", text.trim()))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let keys: u64 = words
            .get(3)
            .and_then(|w| w.parse().ok())
            .ok_or("memcslap: keys")?;
        let secs: f64 = words
            .iter()
            .rev()
            .nth(1)
            .and_then(|w| w.parse().ok())
            .ok_or("memcslap: secs")?;
        Ok((keys, secs))
    };
    if rate.is_none() {
        let (k, s) = once((20_000 / t as u64).max(20))?;
        *rate = Some(k as f64 / s.max(1e-6));
    }
    let per_thread = ((rate.unwrap() * o.secs) / t as f64).max(100.0) as u64;
    let (keys, secs) = once(per_thread)?;
    *rate = Some(keys as f64 / secs.max(1e-6));
    Ok(Outcome {
        requests: keys,
        items: keys,
        elapsed_secs: secs,
        cpus: pin.map_or("any".into(), |c| c.to_string()),
        ..Outcome::default()
    })
}
