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
