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
    let mut args = vec!["--workload", "mixed", "--ratio", "3:1", "--keys", "500"];
    args.extend(["--batch", "4", "--json"]);
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let (gets, sets) = (u(&j, "gets"), u(&j, "sets"));
    assert!(gets + sets > 1000, "{j}");
    assert_eq!(gets + sets, u(&j, "requests"));
    // Each request is a get with probability 3/4: allow five standard deviations.
    let n = (gets + sets) as f64;
    let get_share = gets as f64 / n;
    let tolerance = 5.0 * (0.75 * 0.25 / n).sqrt();
    assert!(
        (get_share - 0.75).abs() < tolerance,
        "3:1 gave {gets}:{sets}"
    );
    // Sets write the same values as the preload, so every get still hits and checks.
    assert_eq!((u(&j, "errors"), u(&j, "misses")), (0, 0), "{j}");
    assert_eq!(u(&j, "hits"), gets);
    assert_eq!(u(&j, "batch"), 4);
    assert!(server.stat("cmd_set") >= 500 + sets);
    assert!(u(&j["server_stats"][0], "cmd_set") > 0);
}

#[test]
fn mget_counts_keys_and_requests() {
    let server = Memcached::start();
    let mut args = vec![
        "--workload",
        "mget",
        "--batch",
        "10",
        "--keys",
        "1000",
        "--json",
    ];
    args.extend(QUICK);
    let o = bench(&[&server], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let requests = u(&j, "requests");
    assert!(requests > 0);
    assert_eq!(u(&j, "gets"), requests * 10, "{j}");
    assert_eq!(u(&j, "hits"), requests * 10);
    assert_eq!((u(&j, "errors"), u(&j, "misses")), (0, 0));
    let (ops, keys) = (f(&j, "ops_per_sec"), f(&j, "keys_per_sec"));
    assert!((keys - 10.0 * ops).abs() <= ops * 0.01, "{j}");
    // memcached counts each key of a multi-get.
    assert!(server.stat("get_hits") >= requests * 10);
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
    let cases: [(&[&str], &str); 6] = [
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
            &["--ratio", "9:1"],
            "--ratio applies only to --workload mixed",
        ),
        (&["--workload", "mixed", "--ratio", "9"], "expected GET:SET"),
        (&["--duration", "0"], "more than 0 seconds"),
    ];
    for (args, message) in cases {
        let o = bench(&[&server], args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    // Nothing was written to the server: arguments are checked before connecting.
    assert_eq!(server.stat("cmd_set"), 0);

    // Only bench takes several servers.
    let o = Command::new(env!("CARGO_BIN_EXE_mcaside"))
        .args([
            "--server",
            &server.addr,
            "--server",
            &server.addr,
            "get",
            "k",
        ])
        .output()
        .expect("run mcaside");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("only bench takes several"),
        "{}",
        stderr(&o)
    );
}
