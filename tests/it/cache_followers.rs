//! Callers of one `Cache` that arrive while another caller of the same cache reloads a
//! key: they get the value the reloading caller already has (stale within the bound,
//! or still valid while it is refreshed early) at once, and only the reloading caller
//! waits for the load. Before, in-process coalescing made them wait for the whole
//! reload while callers in *other* processes were served from memcached at once.
//!
//! The last test measures the wait, for the README.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mcaside::Client;
use mcaside::cache::{Cache, StringCodec};

use crate::{Memcached, classic_client, client};

type Held = (
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<Option<String>, mcaside::cache::CacheError>>,
);

/// Starts a reload of `key` in `cache` whose loader returns `value` only when released;
/// returns once the loader runs, with its release and the reloading caller's task.
async fn hold_a_reload(cache: &Cache<StringCodec>, key: &'static str, value: &'static str) -> Held {
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let cache = cache.clone();
    let task = tokio::spawn(async move {
        let r = cache
            .get_or_load(key, move || async move {
                let _ = started_tx.send(());
                release_rx.await.expect("released by the test");
                Ok::<_, std::io::Error>(Some(value.to_string()))
            })
            .await;
        let _ = done_tx.send(());
        r
    });
    tokio::time::timeout(Duration::from_secs(10), started)
        .await
        .expect("the reload starts")
        .expect("the loader runs");
    (done, release, task)
}

/// A caller of the same cache, which must be answered while the reload is held.
async fn follower(cache: &Cache<StringCodec>, key: &str) -> Option<String> {
    let read = cache.get_or_load(key, || async {
        Err::<Option<String>, _>(std::io::Error::other("a follower never loads"))
    });
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("answered while the reload is still running, not after it")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_process_caller_gets_the_stale_value_while_another_reloads() {
    let server = Memcached::start();
    let cache = Cache::builder(client(&server).await, "stale", StringCodec)
        .serve_stale(Duration::from_secs(30))
        .build()
        .unwrap();
    cache
        .get_or_load("k", || async {
            Ok::<_, std::io::Error>(Some("v1".to_string()))
        })
        .await
        .unwrap();
    cache.invalidate("k").await.unwrap();
    let (mut done, release, task) = hold_a_reload(&cache, "k", "v2").await;
    assert_eq!(follower(&cache, "k").await.as_deref(), Some("v1"));
    assert_eq!(follower(&cache, "k").await.as_deref(), Some("v1"));
    assert!(done.try_recv().is_err(), "the reload was still running");
    let m = cache.metrics();
    assert_eq!(
        (m.stale_served, m.loads),
        (2, 2),
        "the first load and the reload: {m:?}"
    );
    release.send(()).unwrap();
    assert_eq!(task.await.unwrap().unwrap().as_deref(), Some("v2"));
}

/// Early refresh, on both kinds of server: while one caller refreshes a value that is
/// still valid, the others get that value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_process_caller_gets_the_valid_value_while_another_refreshes_it() {
    let server = Memcached::start();
    let clients: [(&str, Client); 2] = [
        ("meta", client(&server).await),
        ("classic", classic_client(&server).await),
    ];
    let mut caches = Vec::new();
    for (kind, c) in clients {
        let cache = Cache::builder(c, kind, StringCodec)
            .ttl(Duration::from_secs(10))
            .ttl_jitter(0.0)
            .early_refresh(Duration::from_secs(9))
            .build()
            .unwrap();
        cache
            .get_or_load("k", || async {
                Ok::<_, std::io::Error>(Some("v1".to_string()))
            })
            .await
            .unwrap();
        caches.push((kind, cache));
    }
    // Past the threshold for both (memcached's clock has ticked at least once).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for (kind, cache) in caches {
        let (mut done, release, task) =
            tokio::time::timeout(Duration::from_secs(10), hold_a_reload(&cache, "k", "v2"))
                .await
                .unwrap_or_else(|_| panic!("{kind}: the early refresh never started"));
        assert_eq!(follower(&cache, "k").await.as_deref(), Some("v1"), "{kind}");
        assert!(
            done.try_recv().is_err(),
            "{kind}: the refresh was still running"
        );
        release.send(()).unwrap();
        assert_eq!(
            task.await.unwrap().unwrap().as_deref(),
            Some("v2"),
            "{kind}"
        );
        let m = cache.metrics();
        assert_eq!(
            (m.early_refreshes, m.misses, m.loads),
            (1, 1, 2),
            "{kind}: {m:?}"
        );
    }
}

/// How long callers of the reloading process wait while a 1 s reload runs: callers
/// arrive every 10 ms from 10 ms after the reload starts; each one's wait is timed.
/// Printed for the README (run with `--nocapture`); what is asserted is only the cause:
/// every one of them was answered before the reload finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn how_long_a_same_process_caller_waits_while_a_reload_runs() {
    const RELOAD: Duration = Duration::from_secs(1);
    const CALLERS: u32 = 90;
    let server = Memcached::start();
    // Checked after both have been measured, so that both figures are printed.
    let mut late = Vec::new();
    for kind in ["serve-stale", "early refresh"] {
        let mut builder = Cache::builder(client(&server).await, "timed", StringCodec)
            .ttl(Duration::from_secs(10))
            .ttl_jitter(0.0);
        builder = match kind {
            "serve-stale" => builder.serve_stale(Duration::from_secs(30)),
            _ => builder.early_refresh(Duration::from_secs(9)),
        };
        let cache = builder.build().unwrap();
        let key = if kind == "serve-stale" { "s" } else { "e" };
        cache
            .get_or_load(key, || async {
                Ok::<_, std::io::Error>(Some("v1".to_string()))
            })
            .await
            .unwrap();
        match kind {
            "serve-stale" => cache.invalidate(key).await.unwrap(),
            _ => tokio::time::sleep(Duration::from_millis(2100)).await,
        }
        let loads = Arc::new(AtomicU32::new(0));
        let reload_started = Instant::now();
        let reloader = {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                let v = cache
                    .get_or_load(key, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        async {
                            tokio::time::sleep(RELOAD).await;
                            Ok::<_, std::io::Error>(Some("v2".to_string()))
                        }
                    })
                    .await;
                (v, Instant::now())
            })
        };
        let callers: Vec<_> = (1..=CALLERS)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(
                        (reload_started + Duration::from_millis(10 * u64::from(i))).into(),
                    )
                    .await;
                    let asked = Instant::now();
                    let v = cache
                        .get_or_load(key, || async {
                            Ok::<_, std::io::Error>(Some("vX".to_string()))
                        })
                        .await
                        .unwrap();
                    let answered = Instant::now();
                    (v, answered - asked, answered)
                })
            })
            .collect();
        let mut waits = Vec::new();
        let mut last_answer = reload_started;
        for c in callers {
            let (v, waited, answered) = c.await.unwrap();
            assert!(v.is_some(), "{kind}");
            waits.push(waited);
            last_answer = last_answer.max(answered);
        }
        let (v, reloaded) = reloader.await.unwrap();
        assert_eq!(v.unwrap().as_deref(), Some("v2"), "{kind}");
        waits.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{kind}: {CALLERS} same-process callers during a {RELOAD:?} reload waited \
             p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms; loads {}",
            ms(waits[waits.len() / 2]),
            ms(waits[waits.len() * 9 / 10]),
            ms(waits[waits.len() - 1]),
            loads.load(Ordering::SeqCst),
        );
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "{kind}: only the reloader loads"
        );
        if last_answer >= reloaded {
            late.push(kind);
        }
    }
    assert!(
        late.is_empty(),
        "{late:?}: callers were answered only after the reload finished"
    );
}
