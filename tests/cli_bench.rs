//! `mcaside bench`, run as a program against real memcached servers: what it reports
//! is checked against what the servers saw.
#![cfg(feature = "cli")]

#[path = "support/server.rs"]
mod server;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use server::Memcached;

/// Runs `mcaside --server A [--server B] bench ARGS`.
fn bench(servers: &[&Memcached], args: &[&str]) -> Output {
    bench_command(servers, args).output().expect("run mcaside")
}

fn bench_command(servers: &[&Memcached], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcaside"));
    for s in servers {
        cmd.args(["--server", &s.addr]);
    }
    cmd.arg("bench").args(args);
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `--json` output: exactly one line, one JSON object.
fn json(o: &Output) -> Value {
    let out = stdout(o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {out}\nstderr: {}", stderr(o));
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

/// Short runs: half a second measured, no warmup.
const QUICK: [&str; 4] = ["--duration", "0.5", "--warmup", "0"];

#[test]
fn get_reports_hits_the_server_saw_and_no_misses() {
    let server = Memcached::start();
    let mut args = vec!["--workload", "get", "--keys", "300", "--concurrency", "8"];
    args.extend(["--connections", "3", "--json"]);
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);

    assert!(f(&j, "ops_per_sec") > 0.0, "{j}");
    assert_eq!(u(&j, "errors"), 0, "{j}");
    assert_eq!(u(&j, "misses"), 0, "every key was preloaded: {j}");
    let hits = u(&j, "hits");
    assert!(hits > 0);
    assert_eq!(hits, u(&j, "requests"));
    assert_eq!(j["workload"], "get");
    assert_eq!((u(&j, "concurrency"), u(&j, "connections")), (8, 3));
    let (p50, p99, p999) = (u(&j, "p50_us"), u(&j, "p99_us"), u(&j, "p999_us"));
    assert!(
        0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= u(&j, "max_us"),
        "{j}"
    );
    let secs = f(&j, "duration_s");
    assert!((0.45..5.0).contains(&secs), "{j}");
    let rate = hits as f64 / secs;
    assert!((f(&j, "ops_per_sec") - rate).abs() <= rate * 0.01, "{j}");

    // The server holds every key, and counted at least the hits reported (plus the
    // preload's read-back).
    assert_eq!(server.stat("curr_items"), 300);
    assert_eq!(u(&j, "preload_checked"), 300);
    assert!(server.stat("get_hits") >= hits + 300);
    // The stats deltas in the report cover the measured window (give or take the
    // requests in flight at its edges).
    let delta = &j["server_stats"][0];
    assert_eq!(delta["addr"], server.addr.as_str());
    assert!(u(delta, "get_hits") + 8 >= hits, "{j}");
    assert!(u(delta, "get_hits") <= server.stat("get_hits"));
    assert_eq!(u(delta, "get_misses"), 0);
    assert_eq!(u(delta, "curr_connections"), 3, "--connections 3");
}

#[test]
fn the_human_report_has_the_numbers_and_no_live_line_off_a_terminal() {
    let server = Memcached::start();
    let mut args = vec!["--keys", "100", "--concurrency", "2"];
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = stdout(&o);
    for want in [
        "mcaside bench: get, 2 workers",
        "preload: 100 keys",
        "all correct",
        "throughput",
        "ops/s",
        "misses",
        "errors      0",
        "p50",
        "p99.9",
        "max",
        &format!("server {}", server.addr),
        "cmd_get",
        "bytes_written",
    ] {
        assert!(report.contains(want), "no {want:?} in:\n{report}");
    }
    assert_eq!(stderr(&o), "", "stderr is not a terminal: no live line");
}

/// Zipf concentrates requests on a few hot keys: memcached's metadump says which keys
/// were ever fetched, and far fewer are than a uniform choice would reach.
#[test]
fn zipf_requests_concentrate_on_hot_keys() {
    const KEYS: u64 = 20_000;
    let zipf_server = Memcached::start();
    let uniform_server = Memcached::start();
    let keys = KEYS.to_string();
    let run = |server: &Memcached, dist: &str| {
        let mut args = vec!["--keys", &keys, "--key-distribution", dist, "--json"];
        args.extend(["--concurrency", "4"]);
        args.extend(QUICK);
        let o = bench(&[server], &args);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&o)
    };
    let zipf = run(&zipf_server, "zipf:1.2");
    let uniform = run(&uniform_server, "uniform");
    assert_eq!(zipf["key_distribution"], "zipf:1.2");
    for j in [&zipf, &uniform] {
        assert_eq!((u(j, "errors"), u(j, "misses")), (0, 0), "{j}");
    }

    // Keys fetched during the run, leaving out those the preload read back.
    let sampled: std::collections::HashSet<u64> = (0..1000).map(|k| k * (KEYS - 1) / 999).collect();
    let fetched = |server: &Memcached| -> (u64, bool) {
        let dump = server.raw_until(b"lru_crawler metadump all\r\n", b"END\r\n");
        let dump = String::from_utf8_lossy(&dump);
        let mut count = 0;
        let mut hottest = false;
        for line in dump.lines().filter(|l| l.contains("fetch=yes")) {
            let index: u64 = line
                .strip_prefix("key=bench%3A")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("unexpected metadump line {line}"));
            hottest |= index == 0;
            count += u64::from(!sampled.contains(&index));
        }
        (count, hottest)
    };
    // With R uniform requests, about (N - 1000)(1 - (1 - 1/N)^R) unsampled keys are hit.
    let expected_uniform =
        |r: u64| (KEYS - 1000) as f64 * (1.0 - (1.0 - 1.0 / KEYS as f64).powf(r as f64));
    let (zipf_fetched, zipf_hottest) = fetched(&zipf_server);
    let (uniform_fetched, _) = fetched(&uniform_server);
    let zipf_expected = expected_uniform(u(&zipf, "requests"));
    let uniform_expected = expected_uniform(u(&uniform, "requests"));
    assert!(zipf_hottest, "key 0 is the most requested under zipf");
    eprintln!(
        "zipf: {zipf_fetched} keys fetched of {zipf_expected:.0} expected if uniform; \
         uniform: {uniform_fetched} of {uniform_expected:.0}"
    );
    assert!(
        (zipf_fetched as f64) < zipf_expected / 2.0,
        "zipf reached {zipf_fetched} keys; uniform would reach {zipf_expected:.0}"
    );
    assert!(
        uniform_fetched as f64 > uniform_expected * 0.8,
        "uniform reached {uniform_fetched} keys, expected about {uniform_expected:.0}"
    );
}

#[test]
fn mixed_follows_the_ratio_and_the_server_sees_the_sets() {
    let server = Memcached::start();
    // memtier's meaning: SET:GET, so 1:3 is three gets for every set; it implies mixed.
    let mut args = vec!["--ratio", "1:3", "--keys", "500"];
    args.extend(["--pipeline", "4", "--json"]);
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(
        (j["workload"].as_str(), j["ratio"].as_str()),
        (Some("mixed"), Some("1:3"))
    );
    let (gets, sets) = (u(&j, "gets"), u(&j, "sets"));
    assert!(gets + sets > 1000, "{j}");
    assert_eq!(gets + sets, u(&j, "requests"));
    // Each request is a get with probability 3/4: allow five standard deviations.
    let n = (gets + sets) as f64;
    let get_share = gets as f64 / n;
    let tolerance = 5.0 * (0.75 * 0.25 / n).sqrt();
    assert!(
        (get_share - 0.75).abs() < tolerance,
        "1:3 gave {sets} sets to {gets} gets"
    );
    // Sets write the same values as the preload, so every get still hits and checks.
    assert_eq!((u(&j, "errors"), u(&j, "misses")), (0, 0), "{j}");
    assert_eq!(u(&j, "hits"), gets);
    assert_eq!((u(&j, "pipeline"), u(&j, "multi_key_get")), (4, 1));
    assert!(server.stat("cmd_set") >= 500 + sets);
    assert!(u(&j["server_stats"][0], "cmd_set") > 0);
    // Latency per command: each row counts its own requests.
    let (get, set) = (&j["get"], &j["set"]);
    assert_eq!(
        (u(get, "requests"), u(set, "requests")),
        (gets, sets),
        "{j}"
    );
    for row in [get, set] {
        assert!(u(row, "p50_us") <= u(row, "p99_us") && u(row, "p99_us") <= u(row, "max_us"));
    }
    assert_eq!(
        u(&j, "max_us"),
        u(get, "max_us").max(u(set, "max_us")),
        "{j}"
    );
}

/// --ratio means SET:GET, as in memtier_benchmark: 1:0 is only sets, 0:1 only gets.
#[test]
fn the_ratio_is_set_to_get() {
    let server = Memcached::start();
    let run = |ratio: &str| {
        let o = bench(
            &[&server],
            &[
                "--ratio",
                ratio,
                "--keys",
                "100",
                "--requests",
                "200",
                "--concurrency",
                "2",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        json(&o)
    };
    let only_sets = run("1:0");
    assert_eq!((u(&only_sets, "sets"), u(&only_sets, "gets")), (400, 0));
    let only_gets = run("0:1");
    assert_eq!((u(&only_gets, "sets"), u(&only_gets, "gets")), (0, 400));
    let mostly_sets = run("4:1");
    let sets = u(&mostly_sets, "sets") as f64;
    // 400 requests, 80 % sets: five standard deviations is 40.
    assert!((sets - 320.0).abs() < 40.0, "{mostly_sets}");
    // The default ratio for mixed is memtier's 1:10.
    let o = bench(
        &[&server],
        &[
            "--workload",
            "mixed",
            "--keys",
            "10",
            "--requests",
            "1",
            "--json",
        ],
    );
    assert_eq!(json(&o)["ratio"], "1:10");
}

/// --requests N: each task sends exactly N measured requests, whatever the pipeline,
/// and requests sent during a warmup are not among them.
#[test]
fn requests_gives_exactly_n_per_task() {
    let server = Memcached::start();
    let args = [
        "--keys",
        "100",
        "--requests",
        "50",
        "--concurrency",
        "3",
        "--pipeline",
        "4",
    ];
    let o = bench(&[&server], &[&args[..], &["--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(u(&j, "requests"), 150, "{j}");
    assert_eq!(u(&j, "requests_per_task"), 50);
    assert_eq!((u(&j, "hits"), u(&j, "errors")), (150, 0));
    // The server's counters over the run agree exactly (no warmup: read before the
    // first request, after the last reply).
    assert_eq!(u(&j["server_stats"][0], "get_hits"), 150, "{j}");
    assert!(f(&j, "duration_s") < 5.0);

    let hits_before = server.stat("get_hits");
    let o = bench(
        &[&server],
        &[&args[..], &["--json", "--warmup", "0.3"]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(u(&j, "requests"), 150, "{j}");
    // (The server's counters are read at the end of the warmup while it goes on, so
    // here they include a few warmup requests.)
    let preload_reads = 100;
    assert!(
        server.stat("get_hits") > hits_before + preload_reads + 150,
        "the warmup sent requests too"
    );
}

/// --rate: the total rate is held, and latency counts from when each request was due,
/// so a stalled server shows in every request it delayed (no coordinated omission).
#[test]
fn rate_holds_and_latency_counts_from_the_due_time() {
    let server = Memcached::start();
    let o = bench(
        &[&server],
        &[
            "--keys",
            "100",
            "--rate",
            "400",
            "--concurrency",
            "4",
            "--json",
            "--duration",
            "1",
            "--warmup",
            "0",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let requests = u(&j, "requests");
    assert!(
        (360..=440).contains(&requests),
        "400/s for 1 s gave {requests}: {j}"
    );
    assert_eq!(f(&j, "rate"), 400.0);
    assert!(
        u(&j, "p50_us") < 20_000,
        "an idle server answers at once: {j}"
    );

    // 100 requests/s for 2 s, and the server frozen for 500 ms in the middle: the 50
    // requests due in that time wait up to 500 ms. Measured from when they could be
    // sent instead, only the 2 in flight (one per worker) would look slow.
    let child = bench_command(
        &[&server],
        &[
            "--keys",
            "10",
            "--rate",
            "100",
            "--concurrency",
            "2",
            "--json",
            "--duration",
            "2",
            "--warmup",
            "0",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run mcaside");
    // Wait until the run has started (past the preload and its read-back of 10 keys).
    let started = server.stat("cmd_get");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.stat("cmd_get") < started + 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "the bench never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.pause();
    std::thread::sleep(Duration::from_millis(500));
    server.resume();
    let o = child.wait_with_output().expect("output");
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let requests = u(&j, "requests");
    // The schedule catches up after the stall: still about 200 requests.
    assert!((170..=215).contains(&requests), "{j}");
    assert!(
        u(&j, "max_us") >= 400_000,
        "the first delayed request waited ~500 ms: {j}"
    );
    // About 25 requests (12 %) waited more than 250 ms.
    assert!(u(&j, "p90_us") >= 150_000, "{j}");
    assert!(u(&j, "p50_us") < 100_000, "{j}");
}

#[test]
fn no_preload_and_large_values_with_max_value() {
    let server = Memcached::start_with(&["-I", "2m", "-m", "64"]);
    let o = bench(
        &[&server],
        &[
            "--keys",
            "100",
            "--no-preload",
            "--requests",
            "20",
            "--concurrency",
            "2",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["preload"], false);
    assert_eq!(
        (u(&j, "misses"), u(&j, "hits")),
        (40, 0),
        "nothing was stored: {j}"
    );
    assert_eq!(server.stat("curr_items"), 0);
    assert_eq!(server.stat("cmd_set"), 0);
    let o = bench(
        &[&server],
        &["--keys", "10", "--no-preload", "--requests", "1"],
    );
    assert!(
        stdout(&o).contains("no preload (--no-preload)"),
        "{}",
        stdout(&o)
    );

    // 1.5 MiB values: refused by the default limit before connecting, fine with
    // --max-value against a server started with -I 2m.
    let big = [
        "--keys",
        "10",
        "--value-size",
        "1536k",
        "--requests",
        "5",
        "--concurrency",
        "2",
    ];
    let o = bench(&[&server], &big);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("raise --max-value"), "{}", stderr(&o));
    let o = bench(
        &[&server],
        &[&big[..], &["--max-value", "2m", "--json"]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!((u(&j, "hits"), u(&j, "errors")), (10, 0), "{j}");
    assert_eq!(
        (u(&j, "value_size"), u(&j, "max_value")),
        (1536 << 10, 2 << 20)
    );
}

#[test]
fn mget_counts_keys_and_requests() {
    let server = Memcached::start();
    let mut args = vec!["--workload", "mget", "--multi-key-get", "10"];
    args.extend(["--pipeline", "2", "--keys", "1000", "--json"]);
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let requests = u(&j, "requests");
    assert!(requests > 0);
    assert_eq!((u(&j, "multi_key_get"), u(&j, "pipeline")), (10, 2));
    assert_eq!(u(&j, "gets"), requests * 10, "{j}");
    assert_eq!(u(&j, "hits"), requests * 10);
    assert_eq!(u(&j["get"], "requests"), requests);
    assert_eq!((u(&j, "errors"), u(&j, "misses")), (0, 0));
    let (ops, keys) = (f(&j, "ops_per_sec"), f(&j, "keys_per_sec"));
    assert!((keys - 10.0 * ops).abs() <= ops * 0.01, "{j}");
    // memcached counts each key of a multi-get.
    assert!(server.stat("get_hits") >= requests * 10);
}

/// On a terminal, the preload shows its progress (under `script`, which gives the
/// program a pseudo-terminal), and the report has a latency row per command.
#[test]
fn preload_progress_on_a_terminal_and_a_row_per_command() {
    let server = Memcached::start();
    let command = format!(
        "{} --server {} bench --keys 100000 --ratio 1:1 --requests 20 --concurrency 2",
        env!("CARGO_BIN_EXE_mcaside"),
        server.addr
    );
    let o = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux's bsdutils) runs a command on a terminal");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(" of 100000 keys stored ("), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  get ") || l.starts_with("  set ") || l.starts_with("  total "))
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let requests = |row: &str| -> u64 { row.split_whitespace().nth(1).unwrap().parse().unwrap() };
    assert_eq!(requests(rows[0]) + requests(rows[1]), 40);
    assert_eq!(requests(rows[2]), 40);
}

#[test]
fn hdr_out_writes_a_percentile_distribution() {
    let server = Memcached::start();
    let path = std::env::temp_dir().join(format!("mcaside-bench-{}.hgrm", std::process::id()));
    let path_arg = path.to_str().expect("a UTF-8 temp path");
    let mut args = vec!["--keys", "100", "--json", "--hdr-out", path_arg];
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let text = std::fs::read_to_string(&path).expect("the .hgrm file");
    let _ = std::fs::remove_file(&path);

    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("       Value     Percentile TotalCount 1/(1-Percentile)")
    );
    assert_eq!(lines.next(), Some(""));
    let (mut rows, mut footer) = (Vec::new(), Vec::new());
    for line in lines {
        if line.starts_with("#[") {
            footer.push(line);
        } else {
            let cols: Vec<f64> = line
                .split_whitespace()
                .map(|c| c.parse().unwrap_or_else(|_| panic!("bad row {line:?}")))
                .collect();
            rows.push(cols);
        }
    }
    assert!(rows.len() > 10, "{text}");
    for pair in rows.windows(2) {
        assert!(pair[0][0] <= pair[1][0], "values rise: {text}");
        assert!(pair[0][1] <= pair[1][1], "percentiles rise: {text}");
        assert!(pair[0][2] <= pair[1][2], "counts rise: {text}");
    }
    let last = rows.last().unwrap();
    assert_eq!(last.len(), 3, "the last row has no 1/(1-p)");
    assert_eq!(last[1], 1.0);
    let requests = u(&j, "requests");
    assert_eq!(last[2] as u64, requests);
    // Milliseconds in the file, microseconds in the JSON.
    assert!(
        (last[0] * 1000.0 - f(&j, "max_us")).abs() <= 1.0,
        "{text}\n{j}"
    );
    assert_eq!(footer.len(), 3, "{text}");
    assert!(footer[0].starts_with("#[Mean    = "));
    assert!(
        footer[1].ends_with(&format!("Total count    = {requests:>12}]")),
        "{text}"
    );
    assert!(footer[2].starts_with("#[Buckets = "));
}

#[test]
fn two_servers_split_the_keys_and_the_load() {
    let a = Memcached::start();
    let b = Memcached::start();
    let mut args = vec!["--keys", "2000", "--json"];
    args.extend(QUICK);
    let o = bench(&[&a, &b], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(u(&j, "servers"), 2);
    assert_eq!((u(&j, "errors"), u(&j, "misses")), (0, 0), "{j}");
    // Every key is stored on exactly one server, and each has a fair share.
    let (items_a, items_b) = (a.stat("curr_items"), b.stat("curr_items"));
    assert_eq!(items_a + items_b, 2000);
    assert!(
        (700..1300).contains(&items_a),
        "{items_a} of 2000 on one server"
    );
    assert!(a.stat("cmd_get") > 0 && b.stat("cmd_get") > 0);
    let stats = j["server_stats"].as_array().expect("an array");
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0]["addr"], a.addr.as_str());
    assert_eq!(stats[1]["addr"], b.addr.as_str());
    let hits: u64 = stats.iter().map(|s| u(s, "get_hits")).sum();
    assert!(hits + 64 >= u(&j, "hits"), "{j}");
}

/// A value read back that is not the one stored is an error, and fails the run.
#[test]
fn a_wrong_value_is_caught() {
    let server = Memcached::start();
    let mut args = vec!["--keys", "10", "--json", "--concurrency", "2"];
    args.extend(["--duration", "1", "--warmup", "0"]);
    let mut child = bench_command(&[&server], &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mcaside");
    // Someone else overwrites the keys with values of the wrong size while it runs.
    let mut other = TcpStream::connect(&server.addr).expect("connect");
    while child.try_wait().expect("wait").is_none() {
        for i in 0..10 {
            write!(other, "set bench:{i} 0 0 5 noreply\r\nWRONG\r\n").expect("write");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().expect("output");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j = json(&o);
    assert!(u(&j, "wrong_values") > 0, "{j}");
    assert_eq!(u(&j, "errors"), u(&j, "failed") + u(&j, "wrong_values"));
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let server = Memcached::start();
    let cases: [(&[&str], &str); 9] = [
        (
            &["--key-distribution", "zipf:abc"],
            "the zipf exponent \"abc\" is not a number",
        ),
        (&["--key-distribution", "zipf:0"], "above 0"),
        (
            &["--key-distribution", "pareto"],
            "expected uniform or zipf:S",
        ),
        (
            &["--workload", "get", "--ratio", "1:9"],
            "--ratio applies only to --workload mixed",
        ),
        (&["--ratio", "9"], "expected SET:GET"),
        (&["--duration", "0"], "more than 0 seconds"),
        (&["--batch", "4"], "Use --pipeline N"),
        (
            &["--requests", "10", "--duration", "1"],
            "cannot be used with",
        ),
        (&["--rate", "0"], "expected requests per second"),
    ];
    for (args, message) in cases {
        let o = bench(&[&server], args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    // Nothing was written to the server: arguments are checked before connecting.
    assert_eq!(server.stat("cmd_set"), 0);

    // Every subcommand takes several servers (a cluster): a missing key is a miss.
    let other = Memcached::start();
    let o = Command::new(env!("CARGO_BIN_EXE_mcaside"))
        .args([
            "--server",
            &server.addr,
            "--server",
            &other.addr,
            "get",
            "k",
        ])
        .output()
        .expect("run mcaside");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}
