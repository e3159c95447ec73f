//! The cache-aside layer's stampede protection, tested the way it is meant to be used:
//! several OS processes sharing one real memcached in front of one real database (a
//! SQLite file), with the database counting its own loads.
//!
//! - [`a_herd_of_four_processes_loads_each_cold_key_once`]: 4 processes x 250 tasks
//!   miss one cold key at the same moment, 20 times over. In-process coalescing alone
//!   would give 4 loads per key (one per process); only memcached's lease (`mg ... N`)
//!   brings it down to 1 across processes. The loads are counted by the database
//!   (`UPDATE ... loads = loads + 1`), not by the library's own metrics, so a bug in
//!   the metrics cannot hide a second load.
//! - [`a_lease_holder_killed_mid_load_is_replaced_within_the_lease_ttl`]: the process
//!   holding a lease is SIGKILLed while it loads. The dead holder's lease must keep
//!   the others from loading until it expires, then exactly one of them must load, and
//!   no waiter may wait past its bound, whether its bound is shorter than the takeover
//!   (it fails with `WaitTimeout`) or longer (it gets the new winner's value).
//!
//! A process is the test binary itself run again (`current_exe`), with
//! `MCASIDE_HERD_ROLE` telling the same test function to do a child's part: that way
//! the children need no separate binary and run exactly the library code under test.
//! Run with `--nocapture` to see the per-trial figures.

#[path = "support/server.rs"]
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcaside::Client;
use mcaside::cache::{BoxError, Cache, CacheError, OnWaitTimeout, StringCodec};
use server::Memcached;

/// Which child part a re-run of this binary plays ("herd" or "holder"); unset in the
/// parent.
const ROLE: &str = "MCASIDE_HERD_ROLE";
const ADDR: &str = "MCASIDE_HERD_ADDR";
const DB: &str = "MCASIDE_HERD_DB";
const KEY: &str = "MCASIDE_HERD_KEY";
/// The wall-clock millisecond at which every herd task calls `get_or_load`: the only
/// clock that separate processes share.
const START_MS: &str = "MCASIDE_HERD_START_MS";
const PROC: &str = "MCASIDE_HERD_PROC";

/// The namespace every process uses, so that they all contend for the same wire key.
const NAMESPACE: &str = "herd";

/// Both tests' parents take this lock: the lease test measures waits against bounds a
/// few hundred milliseconds wide, which 4 herd processes x 250 tasks running at the
/// same time on a 2-core machine would blur.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------
// Test 1: the herd.
// ---------------------------------------------------------------------------------

const HERD_TEST: &str = "a_herd_of_four_processes_loads_each_cold_key_once";
const TRIALS: usize = 20;
const PROCESSES: usize = 4;
const TASKS: usize = 250;
/// How far ahead of the spawn the common start is: enough for 4 processes to start,
/// build a runtime and connect on 2 busy cores, short enough that 20 trials fit in a
/// few seconds. A child that starts later still runs (its tasks simply start at once).
const START_LEAD: Duration = Duration::from_millis(400);
/// The load's duration: long enough that every process misses while it runs.
const LOAD_TIME: Duration = Duration::from_millis(50);

#[test]
fn a_herd_of_four_processes_loads_each_cold_key_once() {
    if let Ok(role) = std::env::var(ROLE) {
        assert_eq!(role, "herd", "{ROLE}={role} ran the wrong test");
        return herd_child();
    }
    let _serial = serial();
    let server = Memcached::start();
    let dir = TempDir::new("herd");
    let db = dir.path.join("db.sqlite");
    create_db(&db);
    // Create the namespace's version once, here: otherwise the first trial also
    // measures every caller's first lookup of it (a miss, an `add` and a re-read each,
    // not coalesced), which is not the key's herd and would blur its request count.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let client = Client::connect(server.addr.as_str())
                .await
                .expect("connect");
            let cache = Cache::builder(client, NAMESPACE, StringCodec)
                .build()
                .expect("cache");
            cache
                .wire_key("warm-up")
                .await
                .expect("the namespace version");
        });

    let started = Instant::now();
    let mut loads_per_trial = Vec::new();
    let mut requests_per_trial = Vec::new();
    let mut latest_child_ms = i64::MIN;
    for trial in 0..TRIALS {
        // A fresh key per trial, so every trial starts cold.
        let key = format!("row-{trial}");
        add_row(&db, &key);
        let before = server_stats(&server);
        let start_ms = now_ms() + START_LEAD.as_millis() as u64;
        let children: Vec<Reaped> = (0..PROCESSES)
            .map(|p| {
                spawn_child(
                    HERD_TEST,
                    "herd",
                    &[
                        (ADDR, server.addr.clone()),
                        (DB, db.display().to_string()),
                        (KEY, key.clone()),
                        (START_MS, start_ms.to_string()),
                        (PROC, p.to_string()),
                    ],
                )
            })
            .collect();
        let outputs: Vec<Output> = children.into_iter().map(Reaped::finish).collect();
        let after = server_stats(&server);

        let mut metrics = Vec::new();
        for (p, out) in outputs.iter().enumerate() {
            assert!(
                out.status.success(),
                "trial {trial}: process {p} failed ({}):\n{}",
                out.status,
                output_text(out)
            );
            metrics.push(child_metrics(out).unwrap_or_else(|| {
                panic!(
                    "trial {trial}: process {p} printed no metrics:\n{}",
                    output_text(out)
                )
            }));
        }
        let db_loads = loads(&db, &key);
        let total = |name: &str| metrics.iter().map(|m| m[name]).sum::<i64>();
        latest_child_ms = latest_child_ms.max(metrics.iter().map(|m| m["late_ms"]).max().unwrap());

        let delta = |name: &str| {
            after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
        };
        let requests = requests(&after) - requests(&before);
        // Each process shares one namespace-version lookup and one read of the key
        // among its 250 tasks; the rest are the losers' polls and the winner's fill.
        println!(
            "trial {trial:2}: db loads {db_loads}; memcached requests {requests} \
             (cmd_get +{}, cmd_set +{}) for {} calls",
            delta("cmd_get"),
            delta("cmd_set"),
            PROCESSES * TASKS,
        );
        for (p, m) in metrics.iter().enumerate() {
            println!(
                "    process {p}: lease_wins {} lease_waits {} coalesced {} hits {} misses {} \
                 loads {} wait_timeouts {} (tasks ready {} ms after the start)",
                m["lease_wins"],
                m["lease_waits"],
                m["coalesced"],
                m["hits"],
                m["misses"],
                m["loads"],
                m["wait_timeouts"],
                m["late_ms"],
            );
        }

        // The database's count is the claim; the processes' own counts must agree.
        assert_eq!(
            db_loads, 1,
            "trial {trial}: {PROCESSES} processes x {TASKS} tasks loaded the cold key \
             {db_loads} times from the database"
        );
        assert_eq!(
            total("loads"),
            1,
            "trial {trial}: the processes ran {} loaders",
            total("loads")
        );
        assert_eq!(
            total("lease_wins"),
            1,
            "trial {trial}: {} processes won the lease",
            total("lease_wins")
        );
        loads_per_trial.push(db_loads);
        requests_per_trial.push(requests);
    }

    requests_per_trial.sort_unstable();
    println!(
        "herd: {TRIALS} trials of {PROCESSES} processes x {TASKS} tasks in {:.1} s; database \
         loads per trial {loads_per_trial:?}; memcached requests per trial (sum of cmd_* and \
         deletes) min {} median {} max {}; latest child ready {latest_child_ms} ms after the \
         common start",
        started.elapsed().as_secs_f64(),
        requests_per_trial[0],
        requests_per_trial[TRIALS / 2],
        requests_per_trial[TRIALS - 1],
    );
}

/// One herd process: 250 tasks that call `get_or_load` for the key at the common start,
/// then a line of metrics on stdout for the parent.
fn herd_child() {
    let addr = env(ADDR);
    let db = PathBuf::from(env(DB));
    let key = env(KEY);
    let start_ms: u64 = env(START_MS).parse().expect("start ms");
    let proc_no = env(PROC);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let client = Client::connect(addr.as_str()).await.expect("connect");
        let cache = Cache::builder(client, NAMESPACE, StringCodec)
            .ttl(Duration::from_secs(60))
            .lease_ttl(Duration::from_secs(5))
            // Far longer than a 50 ms load: a timeout here is a failure, never a second
            // load that would muddle the count.
            .max_wait(Duration::from_secs(5), OnWaitTimeout::Fail)
            .build()
            .expect("cache");
        // Measured against this process's monotonic clock from here on, so that all 250
        // tasks wake in the same timer tick; a late child gets a start in the past and
        // goes at once.
        let wait = Duration::from_millis(start_ms.saturating_sub(now_ms()));
        let start = tokio::time::Instant::now() + wait;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let cache = cache.clone();
                let key = key.clone();
                let db = db.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(start).await;
                    let loader_key = key.clone();
                    cache
                        .get_or_load(&key, move || async move {
                            tokio::task::spawn_blocking(move || {
                                load_row(&db, &loader_key, LOAD_TIME)
                            })
                            .await
                            .expect("the loader's thread")
                            .map(Some)
                        })
                        .await
                })
            })
            .collect();
        let late_ms = now_ms() as i64 - start_ms as i64;
        let expected = row_value(&key);
        let joined = tokio::time::timeout(Duration::from_secs(20), async {
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.expect("task"));
            }
            results
        })
        .await
        .expect("the herd's calls did not finish within 20 s");
        for (i, r) in joined.into_iter().enumerate() {
            match r {
                Ok(Some(v)) => assert_eq!(v, expected, "task {i}"),
                other => panic!("task {i}: {other:?}"),
            }
        }
        let m = cache.metrics();
        println!(
            "HERD_CHILD proc={proc_no} late_ms={late_ms} hits={} misses={} loads={} coalesced={} \
             lease_wins={} lease_waits={} wait_timeouts={} errors={}",
            m.hits,
            m.misses,
            m.loads,
            m.coalesced,
            m.lease_wins,
            m.lease_waits,
            m.wait_timeouts,
            m.errors
        );
    });
}

/// The `key=value` pairs of a child's metrics line.
fn child_metrics(out: &Output) -> Option<HashMap<String, i64>> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest prints the test's name on the same line before the test's own output.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("HERD_CHILD ").map(|(_, rest)| rest))?;
    Some(
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------
// Test 2: the lease holder killed mid-load.
// ---------------------------------------------------------------------------------

const HOLDER_TEST: &str = "a_lease_holder_killed_mid_load_is_replaced_within_the_lease_ttl";
const HOLDER_KEY: &str = "orphaned";
/// Short, so the test is quick; memcached counts it in whole seconds, so the lease
/// really expires 1 to 2 s after it was taken.
const LEASE_TTL: Duration = Duration::from_secs(2);
/// Long enough to outlast the dead lease (at most `LEASE_TTL` plus a poll and a load):
/// these waiters must get the new winner's value.
const PATIENT_WAIT: Duration = Duration::from_secs(4);
/// Shorter than any lease expiry (at least 1 s): these waiters must give up, on time.
const IMPATIENT_WAIT: Duration = Duration::from_millis(500);
/// How long after the holder is seen loading it is killed: the waiters are polling by
/// then, so they wait across the kill.
const KILL_AFTER: Duration = Duration::from_millis(300);
/// What a call may take beyond its bound: the last poll's round trip, and for the new
/// winner its 50 ms load and its fill, on a 2-core machine.
const WAIT_MARGIN: Duration = Duration::from_millis(300);
const WAITERS_PER_CACHE: usize = 20;

#[test]
fn a_lease_holder_killed_mid_load_is_replaced_within_the_lease_ttl() {
    if let Ok(role) = std::env::var(ROLE) {
        assert_eq!(role, "holder", "{ROLE}={role} ran the wrong test");
        return holder_child();
    }
    let _serial = serial();
    let server = Memcached::start();
    let dir = TempDir::new("holder");
    let db = dir.path.join("db.sqlite");
    create_db(&db);
    add_row(&db, HOLDER_KEY);

    let mut holder = spawn_child(
        HOLDER_TEST,
        "holder",
        &[
            (ADDR, server.addr.clone()),
            (DB, db.display().to_string()),
            (KEY, HOLDER_KEY.to_owned()),
        ],
    );
    // The holder's loader counts itself in the database before it sleeps: a count of 1
    // means it has the lease and is loading.
    let deadline = Instant::now() + Duration::from_secs(15);
    while loads(&db, HOLDER_KEY) == 0 {
        if let Some(status) = holder.try_wait() {
            panic!(
                "the holder exited before loading ({status}):\n{}",
                holder.finish_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the holder did not start loading within 15 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let loading_seen = Instant::now();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let loader_starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
        // Each group has its own client and cache, so that, as far as memcached can
        // tell, the groups are separate processes that race for the lease; within a
        // group the 20 callers coalesce.
        let mut calls = Vec::new();
        for group in ["patient-a", "patient-b", "patient-c"] {
            let cache = waiter_cache(&server, PATIENT_WAIT).await;
            calls.extend(spawn_waiters(
                group,
                &cache,
                PATIENT_WAIT,
                &db,
                &loader_starts,
            ));
        }
        let impatient = waiter_cache(&server, IMPATIENT_WAIT).await;
        calls.extend(spawn_waiters(
            "impatient",
            &impatient,
            IMPATIENT_WAIT,
            &db,
            &loader_starts,
        ));
        // Created now, used after the kill: connecting then would delay that group.
        let late = waiter_cache(&server, PATIENT_WAIT).await;

        tokio::time::sleep_until((loading_seen + KILL_AFTER).into()).await;
        assert_eq!(
            loads(&db, HOLDER_KEY),
            1,
            "someone loaded while the lease holder was alive and loading"
        );
        let killed_at = holder.kill();
        println!(
            "holder killed {} ms after it was seen loading",
            ms(killed_at - loading_seen)
        );
        // Waiters that arrive while the dead holder's lease still blocks the key.
        calls.extend(spawn_waiters(
            "late",
            &late,
            PATIENT_WAIT,
            &db,
            &loader_starts,
        ));

        let mut done = Vec::new();
        for call in calls {
            let call = tokio::time::timeout(Duration::from_secs(15), call)
                .await
                .expect("a waiter's call hung for 15 s")
                .expect("waiter task");
            done.push(call);
        }

        // Every call ended within its bound (plus the margin), whatever it returned.
        let mut longest: HashMap<&str, (Duration, Duration)> = HashMap::new();
        for c in &done {
            let e = longest.entry(c.group).or_insert((Duration::ZERO, c.bound));
            e.0 = e.0.max(c.took);
            assert!(
                c.took <= c.bound + WAIT_MARGIN,
                "{} waiter took {} ms, bound {} ms (+{} ms margin): {:?}",
                c.group,
                ms(c.took),
                ms(c.bound),
                ms(WAIT_MARGIN),
                c.result
            );
        }
        let mut groups: Vec<_> = longest.into_iter().collect();
        groups.sort();
        for (group, (took, bound)) in groups {
            println!(
                "longest {group} waiter: {} ms (bound {} ms)",
                ms(took),
                ms(bound)
            );
        }

        let value = row_value(HOLDER_KEY);
        for c in &done {
            if c.group == "impatient" {
                assert!(
                    matches!(c.result, Err(CacheError::WaitTimeout)),
                    "an impatient waiter (bound {} ms, shorter than any lease expiry) got \
                     {:?} after {} ms",
                    ms(c.bound),
                    c.result,
                    ms(c.took)
                );
            } else {
                assert_eq!(
                    c.result.as_ref().ok().cloned().flatten().as_deref(),
                    Some(value.as_str()),
                    "a {} waiter (bound {} ms, longer than the lease) got {:?} after {} ms",
                    c.group,
                    ms(c.bound),
                    c.result,
                    ms(c.took)
                );
            }
        }

        // Exactly one takeover, timed against the lease's possible expiry.
        let starts = loader_starts.lock().unwrap().clone();
        assert_eq!(
            starts.len(),
            1,
            "{} loads after the holder died",
            starts.len()
        );
        assert_eq!(
            loads(&db, HOLDER_KEY),
            2,
            "the database saw other loads than the holder's and one more"
        );
        let takeover = starts[0] - loading_seen;
        let first_value = done
            .iter()
            .filter(|c| c.result.is_ok())
            .map(|c| c.started + c.took)
            .min()
            .expect("a waiter with the value");
        println!(
            "new winner loaded {} ms after the holder was seen loading, {} ms after the kill; \
             the value reached the first waiter {} ms after the kill (lease TTL {} ms)",
            ms(takeover),
            ms(starts[0].saturating_duration_since(killed_at)),
            ms(first_value.saturating_duration_since(killed_at)),
            ms(LEASE_TTL),
        );
        // Lower bound: the dead holder's lease held the others off until memcached's
        // 1-second clock expired it (1 s at the earliest, less the few ms between the
        // lease and the moment the test saw the holder loading).
        assert!(
            takeover >= LEASE_TTL - Duration::from_millis(1200),
            "a waiter took over {} ms after the lease was taken: before it could expire",
            ms(takeover)
        );
        // Upper bound: the lease expires within LEASE_TTL of being taken (which was
        // before the test saw the holder loading); then one poll pause (100 ms at most),
        // and room for a busy 2-core CI machine to schedule a process.
        assert!(
            takeover <= LEASE_TTL + Duration::from_millis(800),
            "the new winner loaded {} ms after the lease was taken (lease TTL {} ms)",
            ms(takeover),
            ms(LEASE_TTL)
        );

        // The same from the waiters' side: the value reached them within the lease TTL
        // of the kill, with a second for memcached's clock, a poll and the 50 ms load.
        assert!(
            first_value.saturating_duration_since(killed_at) <= LEASE_TTL + Duration::from_secs(1),
            "the value reached the first waiter {} ms after the kill (lease TTL {} ms)",
            ms(first_value.saturating_duration_since(killed_at)),
            ms(LEASE_TTL)
        );

        // The new winner's fill is in memcached: a fresh reader hits without loading.
        let reader = waiter_cache(&server, PATIENT_WAIT).await;
        let hit = reader
            .get_or_load(HOLDER_KEY, || async {
                Err::<Option<String>, BoxError>("the new winner's value should be cached".into())
            })
            .await
            .expect("a hit");
        assert_eq!(hit.as_deref(), Some(value.as_str()));
    });
}

/// The lease holder: takes the lease on the cold key, counts its load in the database
/// (the parent's signal that it is loading), then sleeps until it is killed.
fn holder_child() {
    let addr = env(ADDR);
    let db = PathBuf::from(env(DB));
    let key = env(KEY);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let client = Client::connect(addr.as_str()).await.expect("connect");
        let cache = Cache::builder(client, NAMESPACE, StringCodec)
            .lease_ttl(LEASE_TTL)
            .build()
            .expect("cache");
        let loader_key = key.clone();
        let r = cache
            .get_or_load(&key, move || async move {
                tokio::task::spawn_blocking(move || count_load(&db, &loader_key))
                    .await
                    .expect("the loader's thread")?;
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, BoxError>(Some("the holder was never killed".to_owned()))
            })
            .await;
        panic!("the holder was meant to be killed mid-load, but its call returned {r:?}");
    });
}

/// A waiter's call, timed.
struct Call {
    group: &'static str,
    bound: Duration,
    started: Instant,
    took: Duration,
    result: Result<Option<String>, CacheError>,
}

async fn waiter_cache(server: &Memcached, max_wait: Duration) -> Cache<StringCodec> {
    let client = Client::connect(server.addr.as_str())
        .await
        .expect("connect");
    Cache::builder(client, NAMESPACE, StringCodec)
        .ttl(Duration::from_secs(60))
        .lease_ttl(LEASE_TTL)
        .max_wait(max_wait, OnWaitTimeout::Fail)
        .build()
        .expect("cache")
}

/// Starts `WAITERS_PER_CACHE` calls of `get_or_load` on the holder's key, each timing
/// itself; a loader that runs records when it started and counts itself in the
/// database.
fn spawn_waiters(
    group: &'static str,
    cache: &Cache<StringCodec>,
    bound: Duration,
    db: &Path,
    loader_starts: &Arc<Mutex<Vec<Instant>>>,
) -> Vec<tokio::task::JoinHandle<Call>> {
    (0..WAITERS_PER_CACHE)
        .map(|_| {
            let cache = cache.clone();
            let db = db.to_owned();
            let loader_starts = loader_starts.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let result = cache
                    .get_or_load(HOLDER_KEY, move || async move {
                        loader_starts.lock().unwrap().push(Instant::now());
                        tokio::task::spawn_blocking(move || load_row(&db, HOLDER_KEY, LOAD_TIME))
                            .await
                            .expect("the loader's thread")
                            .map(Some)
                    })
                    .await;
                Call {
                    group,
                    bound,
                    started,
                    took: started.elapsed(),
                    result,
                }
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// The database: one table, one row per key, with the count of loads of that row.
// ---------------------------------------------------------------------------------

fn open_db(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open the database");
    // Several processes share the file; a writer waits for another instead of failing.
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn
}

fn create_db(path: &Path) {
    let conn = open_db(path);
    // WAL: the parent's reads of the counts never block a loader's write.
    conn.pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    conn.execute_batch(
        "CREATE TABLE counters (key TEXT PRIMARY KEY, value TEXT NOT NULL, \
         loads INTEGER NOT NULL DEFAULT 0)",
    )
    .expect("create table");
}

fn row_value(key: &str) -> String {
    format!("the row {key}, from sqlite")
}

fn add_row(db: &Path, key: &str) {
    open_db(db)
        .execute(
            "INSERT INTO counters (key, value) VALUES (?1, ?2)",
            (key, row_value(key)),
        )
        .expect("insert a row");
}

/// Counts one load of `key` in the database.
fn count_load(db: &Path, key: &str) -> Result<(), BoxError> {
    let changed = open_db(db).execute(
        "UPDATE counters SET loads = loads + 1 WHERE key = ?1",
        [key],
    )?;
    if changed != 1 {
        return Err(format!("no row {key} to load").into());
    }
    Ok(())
}

/// A loader's work: count the load, take `time` (a slow query), read the row.
fn load_row(db: &Path, key: &str, time: Duration) -> Result<String, BoxError> {
    count_load(db, key)?;
    std::thread::sleep(time);
    Ok(
        open_db(db).query_row("SELECT value FROM counters WHERE key = ?1", [key], |r| {
            r.get(0)
        })?,
    )
}

fn loads(db: &Path, key: &str) -> i64 {
    open_db(db)
        .query_row("SELECT loads FROM counters WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .expect("read the count")
}

// ---------------------------------------------------------------------------------
// Processes, files, clocks.
// ---------------------------------------------------------------------------------

/// A child process, killed (and reaped) on drop if the test did not wait for it, so a
/// failing parent leaves no 60-second sleeper behind.
struct Reaped(Option<Child>);

impl Reaped {
    /// Waits for the child to exit, with its output.
    fn finish(mut self) -> Output {
        self.0
            .take()
            .unwrap()
            .wait_with_output()
            .expect("wait for a child")
    }

    fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().unwrap().try_wait().expect("poll a child")
    }

    /// The output of a child that has exited.
    fn finish_text(self) -> String {
        output_text(&self.finish())
    }

    /// SIGKILLs the child, checks that the signal is what ended it, and returns when.
    fn kill(&mut self) -> Instant {
        use std::os::unix::process::ExitStatusExt;
        let mut child = self.0.take().unwrap();
        child.kill().expect("SIGKILL the holder");
        let at = Instant::now();
        let status = child.wait().expect("reap the holder");
        assert_eq!(
            status.signal(),
            Some(9),
            "the holder ended otherwise: {status}"
        );
        at
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs this test binary again, as `role` in test `test`.
fn spawn_child(test: &str, role: &str, vars: &[(&str, String)]) -> Reaped {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Reaped(Some(cmd.spawn().expect("spawn a child")))
}

fn output_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The server's numeric statistics.
fn server_stats(server: &Memcached) -> HashMap<String, u64> {
    let reply = server.raw_until(b"stats\r\n", b"END\r\n");
    String::from_utf8_lossy(&reply)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            (parts.next() == Some("STAT")).then_some(())?;
            let name = parts.next()?;
            let value = parts.next()?.parse().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Requests the server has served: every `cmd_*` count (`cmd_get` counts `get` and
/// `mg`, `cmd_set` counts `set`, `add`, `cas` and `ms`) plus deletes, which have no
/// `cmd_` count of their own.
fn requests(stats: &HashMap<String, u64>) -> u64 {
    stats
        .iter()
        .filter(|(k, _)| k.starts_with("cmd_") || *k == "delete_hits" || *k == "delete_misses")
        .map(|(_, v)| v)
        .sum()
}

/// A fresh directory for one test's database, removed at the end.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(test: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "mcaside-cache-herd-{test}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
