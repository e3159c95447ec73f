//! The client and the cache-aside layer through twemproxy (`nutcracker`), a real proxy
//! in front of a real memcached: a proxy that speaks only the classic commands, passes
//! `version` through (`VERSION 1.6.18`), and closes the client's connection on any
//! command it cannot parse (`mn`, `mg`, a negative expiry).
//!
//! - The client finds out that meta commands are missing by trying one (`mn`) at
//!   connect time, not by the version string, and keeps every connection it hands out.
//! - A classic lease is given back with a `cas` whose expiry is in the past, written as
//!   a positive absolute time (2592001: 30 days and a second after the epoch) that the
//!   proxy accepts, not as -1, which it rejects by closing the connection: for a failed
//!   load, a cancelled holder and a failed bulk load.

#[path = "support/server.rs"]
mod server;

#[path = "support/nutcracker.rs"]
mod nutcracker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mcaside::cache::{Cache, CacheError, OnWaitTimeout, StringCodec};
use mcaside::proto::{Feature, Features};
use mcaside::{Client, Expiry};
use nutcracker::Nutcracker;
use server::Memcached;

/// A cache whose leases outlive its waits: a lease nobody gave back makes the next
/// caller fail with `WaitTimeout` (after 2 s) instead of succeeding late.
fn strict(c: &Client, namespace: &str) -> Cache<StringCodec> {
    Cache::builder(c.clone(), namespace, StringCodec)
        .lease_ttl(Duration::from_secs(30))
        .max_wait(Duration::from_secs(2), OnWaitTimeout::Fail)
        .build()
        .unwrap()
}

/// Three memcached behind one twemproxy, placed by ketama over md5.
fn three_behind_twemproxy() -> (Vec<Memcached>, Nutcracker) {
    let servers: Vec<Memcached> = (0..3).map(|_| Memcached::start()).collect();
    let specs: Vec<String> = servers.iter().map(|s| format!("{}:1", s.addr)).collect();
    let proxy = Nutcracker::start_pool(&specs, "ketama", "md5", &[]);
    (servers, proxy)
}

/// A client straight to each server, to see where twemproxy put a key.
async fn direct_clients(servers: &[Memcached]) -> Vec<Client> {
    mcaside::join_all(servers.iter().map(|s| Client::connect(s.addr.as_str())))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn a_client_through_twemproxy_finds_it_classic_and_keeps_its_connections() {
    let server = Memcached::start();
    let proxy = Nutcracker::start(&server.addr);
    let c = Client::builder()
        .connections(2)
        .connect(proxy.addr.as_str())
        .await
        .expect("connect through twemproxy");
    assert!(
        !c.features().has(Feature::Meta),
        "twemproxy says VERSION 1.6.18 but has no meta commands"
    );
    // Every connection works at once: none was left closed by the probe. Keys spread
    // over both connections.
    let keys: Vec<String> = (0..64).map(|i| format!("key{i}")).collect();
    for k in &keys {
        c.set(k, k.as_str(), Expiry::Never).await.unwrap();
    }
    let got = mcaside::join_all(keys.iter().map(|k| c.get(k))).await;
    for (k, g) in keys.iter().zip(got) {
        assert_eq!(g.unwrap().unwrap().value, k.as_bytes());
    }
    // And the cache-aside layer works through it, single and bulk.
    let cache = Cache::builder(c.clone(), "proxied", StringCodec)
        .build()
        .unwrap();
    let v = cache
        .get_or_load("k", || async {
            Ok::<_, std::io::Error>(Some("row".to_string()))
        })
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("row"));
    let v = cache
        .get_or_load_many(&["a", "k"], |ks: Vec<&'static str>| async move {
            Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("row {k}"))).collect())
        })
        .await
        .unwrap();
    assert_eq!(v, [Some("row a".to_string()), Some("row".to_string())]);

    // The same detection, straight to memcached, finds the meta commands.
    let direct = Client::connect(server.addr.as_str()).await.unwrap();
    assert!(direct.features().has(Feature::Meta));
}

/// A client on one connection that keeps reading an unrelated key until stopped, and
/// counts the reads that failed: a give-back that made the proxy close the connection
/// fails the reads in flight with it.
fn unrelated_reads(c: &Client) -> (Arc<AtomicBool>, tokio::task::JoinHandle<(u32, u32)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (c, halt) = (c.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let (mut ok, mut failed) = (0, 0);
        while !halt.load(Ordering::SeqCst) {
            match c.get("unrelated").await {
                Ok(Some(_)) => ok += 1,
                _ => failed += 1,
            }
            // A read that fails at once would never yield: let the runtime breathe.
            tokio::task::yield_now().await;
        }
        (ok, failed)
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_leases_given_back_through_twemproxy_free_the_key_at_once() {
    let server = Memcached::start();
    let proxy = Nutcracker::start(&server.addr);
    // Pinned to the classic commands, so this tests the give-back, not the detection.
    let c = Client::builder()
        .connections(1)
        .features(Features::CLASSIC)
        .connect(proxy.addr.as_str())
        .await
        .unwrap();
    c.set("unrelated", "x", Expiry::Never).await.unwrap();
    let cache = strict(&c, "giveback");
    let (stop, reads) = unrelated_reads(&c);
    let next = |k: &'static str| {
        let other = strict(&c, "giveback");
        async move {
            let t = Instant::now();
            let v = other
                .get_or_load(k, || async {
                    Ok::<_, std::io::Error>(Some(format!("row {k}")))
                })
                .await;
            (v, t.elapsed(), other.metrics())
        }
    };

    // A failed load.
    let err = cache
        .get_or_load("failed", || async {
            Err::<Option<String>, _>(std::io::Error::other("db down"))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::Load(_)), "{err:?}");
    let (v, took, m) = next("failed").await;
    assert_eq!(v.unwrap().as_deref(), Some("row failed"), "after {took:?}");
    assert_eq!((m.lease_wins, m.lease_waits), (1, 0), "{m:?}");

    // A holder cancelled mid-load (its guard gives the lease back from a task).
    let (started_tx, started) = tokio::sync::oneshot::channel();
    tokio::select! {
        r = cache.get_or_load("cancelled", || async move {
            let _ = started_tx.send(());
            std::future::pending::<Result<Option<String>, std::io::Error>>().await
        }) => panic!("the load cannot finish: {r:?}"),
        _ = started => {}
    }
    let (v, took, m) = next("cancelled").await;
    assert_eq!(
        v.unwrap().as_deref(),
        Some("row cancelled"),
        "after {took:?}"
    );
    assert_eq!(m.lease_wins, 1, "{m:?}");

    // A failed bulk load: every lease back.
    let failed = cache
        .get_or_load_many(&["x", "y"], |_: Vec<&'static str>| async {
            Err::<Vec<Option<String>>, _>(std::io::Error::other("db down"))
        })
        .await;
    assert!(matches!(failed, Err(CacheError::Load(_))), "{failed:?}");
    for k in ["x", "y"] {
        let (v, took, m) = next(k).await;
        assert_eq!(v.unwrap(), Some(format!("row {k}")), "after {took:?}");
        assert_eq!((m.lease_wins, m.lease_waits), (1, 0), "{k}: {m:?}");
    }

    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = reads.await.unwrap();
    assert!(ok > 0);
    assert_eq!(
        failed, 0,
        "unrelated reads on the same connection failed ({ok} did not)"
    );
}

/// twemproxy answers a multi-key `get` spanning servers with its hits out of the order
/// asked when a miss comes before them (asked `get a1 b1 a2`, `a1` a miss on `a2`'s
/// server, it sends `a2` then `b1`). Every hit still reaches the key it answers, in
/// `get_many` and in single gets merged into one line, and the connection stays up.
#[tokio::test]
async fn hits_twemproxy_reorders_reach_their_own_keys() {
    let (servers, proxy) = three_behind_twemproxy();
    let c = Client::builder()
        .connections(1)
        .connect(proxy.addr.as_str())
        .await
        .unwrap();
    let direct = direct_clients(&servers).await;
    // Which server twemproxy puts each key on: set through it, look on each.
    let mut on: Vec<Vec<String>> = vec![Vec::new(); servers.len()];
    for i in 0..60 {
        let key = format!("reorder:{i}");
        c.set(&key, key.as_str(), Expiry::Never).await.unwrap();
        for (s, d) in direct.iter().enumerate() {
            if d.get(&key).await.unwrap().is_some() {
                on[s].push(key.clone());
            }
        }
    }
    let (a, b) = match on
        .iter()
        .filter(|keys| keys.len() >= 2)
        .take(2)
        .collect::<Vec<_>>()[..]
    {
        [a, b] => (a, b),
        _ => panic!("60 keys over 3 servers left two with fewer than 2: {on:?}"),
    };
    let (a1, a2, b1) = (a[0].clone(), a[1].clone(), b[0].clone());
    c.delete(&a1).await.unwrap();

    let found = c.get_many(&[&a1, &b1, &a2]).await.unwrap();
    let values: Vec<Option<Vec<u8>>> = found
        .into_iter()
        .map(|i| i.map(|i| i.value.to_vec()))
        .collect();
    assert_eq!(
        values,
        [
            None,
            Some(b1.clone().into_bytes()),
            Some(a2.clone().into_bytes())
        ]
    );

    // The same three as single gets queued together, which the client merges into one
    // `get a1 b1 a2` line (a fourth, queued first, takes the socket alone).
    let first = a[1].clone();
    let (_, g1, g2, g3) = tokio::join!(c.get(&first), c.get(&a1), c.get(&b1), c.get(&a2));
    assert!(g1.unwrap().is_none());
    assert_eq!(g2.unwrap().unwrap().value, b1.as_bytes());
    assert_eq!(g3.unwrap().unwrap().value, a2.as_bytes());
    // Still the one connection, in step.
    assert_eq!(c.get(&b1).await.unwrap().unwrap().value, b1.as_bytes());
}

/// Tests that need nutcracker fail, and say how to install it, when it is missing.
#[test]
fn a_missing_nutcracker_fails_with_install_instructions() {
    if std::env::var_os("MCASIDE_NUTCRACKER_PROBE").is_some() {
        let server = Memcached::start();
        let _proxy = Nutcracker::start(&server.addr);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_missing_nutcracker_fails_with_install_instructions",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env("MCASIDE_NUTCRACKER_PROBE", "1")
        .env("NUTCRACKER", "/nonexistent/nutcracker")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the inner run must fail:\n{text}");
    assert!(text.contains("apt-get install -y nutcracker"), "{text}");
}

/// Twemproxy in front of three servers (ketama, md5), used as one server: the client
/// finds it classic by itself, and the cache-aside layer's guarantees hold through it:
/// a herd of callers from several clients (as several processes would be) costs one
/// load per key, and a fill that raced with an invalidation is refused (the classic
/// lease: `add`, `gets`, `cas`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_and_stale_set_protection_hold_through_twemproxy_over_three_servers() {
    let (servers, proxy) = three_behind_twemproxy();
    let clients: Vec<Client> =
        mcaside::join_all((0..4).map(|_| Client::connect(proxy.addr.as_str())))
            .await
            .into_iter()
            .map(|c| c.expect("connect through twemproxy"))
            .collect();
    assert!(clients.iter().all(|c| !c.features().has(Feature::Meta)));
    let caches: Vec<Cache<StringCodec>> = clients.iter().map(|c| strict(c, "herd")).collect();

    // A herd: 4 clients × 50 tasks ask for each of 10 cold keys at once.
    let loads = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for cache in &caches {
        for t in 0..50 {
            let (cache, loads) = (cache.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                for k in 0..10 {
                    let key = format!("user:{}", (k + t) % 10);
                    let (loads, name) = (loads.clone(), key.clone());
                    let row = cache
                        .get_or_load(&key, || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, std::io::Error>(Some(format!("row of {name}")))
                        })
                        .await
                        .unwrap();
                    assert!(row.unwrap().starts_with("row of user:"));
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        10,
        "one load per key for 2,000 calls"
    );
    // The keys went to all three servers, as twemproxy placed them.
    let direct = direct_clients(&servers).await;
    let wire = caches[0].wire_key("user:0").await.unwrap();
    let on: usize = mcaside::join_all(direct.iter().map(|c| c.get(&wire)))
        .await
        .into_iter()
        .filter(|g| matches!(g, Ok(Some(_))))
        .count();
    assert_eq!(on, 1);

    // A stale set: a reader loads the old row, the writer commits and invalidates while
    // it loads; its fill must be refused, so the next read loads the new row.
    let (reader, writer) = (caches[0].clone(), caches[1].clone());
    let db = Arc::new(std::sync::Mutex::new("old".to_string()));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let db_reader = db.clone();
    let slow_read = tokio::spawn(async move {
        reader
            .get_or_load("account:7", || async move {
                let seen = db_reader.lock().unwrap().clone();
                started_tx.send(()).unwrap();
                release_rx.await.unwrap();
                Ok::<_, std::io::Error>(Some(seen))
            })
            .await
            .unwrap()
    });
    started_rx.await.unwrap();
    let db_writer = db.clone();
    writer
        .write("account:7", || async move {
            *db_writer.lock().unwrap() = "new".into();
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap();
    release_tx.send(()).unwrap();
    assert_eq!(
        slow_read.await.unwrap().as_deref(),
        Some("old"),
        "it read before the write"
    );
    let fresh = caches[2]
        .get_or_load("account:7", || async {
            Ok::<_, std::io::Error>(Some("new".to_string()))
        })
        .await
        .unwrap();
    assert_eq!(fresh.as_deref(), Some("new"), "the stale fill was refused");
    assert_eq!(caches[0].metrics().fills_refused, 1);
}
