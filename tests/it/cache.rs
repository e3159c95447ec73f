//! The cache-aside layer against a real memcached: every feature, on both kinds of
//! server where their paths differ. (The multi-process herd and the stale-set
//! interleavings have test binaries of their own: cache_herd.rs, cache_stale_sets.rs.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mcaside::cache::{BytesCodec, Cache, CacheError, OnWaitTimeout, StringCodec};
use mcaside::proto::meta::MetaGet;
use mcaside::{Client, Expiry};

use crate::{Memcached, both_clients, client};

/// A loader returning `value` after `delay`, counting its calls in `calls`.
fn counted(
    calls: &AtomicU32,
    value: Option<&str>,
    delay: Duration,
) -> impl Future<Output = Result<Option<String>, std::io::Error>> {
    calls.fetch_add(1, Ordering::SeqCst);
    let value = value.map(str::to_owned);
    async move {
        tokio::time::sleep(delay).await;
        Ok(value)
    }
}

/// A loader that counts its call, says it has started, and returns `value` only once
/// the test releases it: orders a test's steps by cause rather than by sleeps.
fn gated(
    calls: &AtomicU32,
    value: &str,
    started: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
) -> impl Future<Output = Result<Option<String>, std::io::Error>> {
    calls.fetch_add(1, Ordering::SeqCst);
    let value = value.to_owned();
    async move {
        let _ = started.send(());
        release.await.expect("the test releases the loader");
        Ok(Some(value))
    }
}

#[tokio::test]
async fn miss_load_hit_on_both_kinds_of_server() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        let calls = AtomicU32::new(0);
        let load = || counted(&calls, Some("row"), Duration::ZERO);
        assert_eq!(
            cache.get_or_load("k", load).await.unwrap().as_deref(),
            Some("row")
        );
        assert_eq!(
            cache.get_or_load("k", load).await.unwrap().as_deref(),
            Some("row")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{kind}: loaded once");
        let m = cache.metrics();
        assert_eq!(
            (m.misses, m.hits, m.loads, m.lease_wins),
            (1, 1, 1, 1),
            "{kind}: {m:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_in_one_process_load_once() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_load("hot", || {
                            counted(&calls, Some("row"), Duration::from_millis(50))
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().as_deref(), Some("row"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{kind}");
        let m = cache.metrics();
        assert_eq!(m.loads, 1, "{kind}: {m:?}");
        assert!(
            m.coalesced >= 90,
            "{kind}: most callers joined the one load: {m:?}"
        );
    }
}

#[tokio::test]
async fn absent_rows_are_cached_for_the_negative_ttl() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec)
            .negative_ttl(Duration::from_secs(1))
            .ttl_jitter(0.0)
            .build()
            .unwrap();
        let calls = AtomicU32::new(0);
        for _ in 0..100 {
            let v = cache
                .get_or_load("missing", || counted(&calls, None, Duration::ZERO))
                .await;
            assert_eq!(v.unwrap(), None);
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{kind}: one load for a flood of lookups"
        );
        // memcached's clock has whole seconds: a 1 s item lives under 2 s.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        cache
            .get_or_load("missing", || counted(&calls, None, Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "{kind}: loaded again after the negative TTL"
        );
    }
}

#[tokio::test]
async fn ttls_are_spread_by_jitter() {
    let server = Memcached::start();
    let c = client(&server).await;
    let cache = Cache::builder(c.clone(), "spread", StringCodec)
        .ttl(Duration::from_secs(1000))
        .ttl_jitter(0.5)
        .build()
        .unwrap();
    let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    cache
        .get_or_load_many(&keys, |ks: Vec<String>| async move {
            Ok::<_, std::io::Error>(ks.into_iter().map(Some).collect())
        })
        .await
        .unwrap();
    let mut ttls = Vec::new();
    for k in &keys {
        let wire = cache.wire_key(k).await.unwrap();
        let r = c
            .meta_get(&wire, &MetaGet::new().return_ttl())
            .await
            .unwrap();
        ttls.push(r.flags.ttl.unwrap());
    }
    assert!(ttls.iter().all(|t| (995..=1500).contains(t)), "{ttls:?}");
    let (min, max) = (ttls.iter().min().unwrap(), ttls.iter().max().unwrap());
    assert!(
        max - min >= 250,
        "keys written together expire spread out: {min}..{max}"
    );
}

#[tokio::test]
async fn long_odd_and_binary_keys() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, BytesCodec).build().unwrap();
        let long_a = [b"x".repeat(300), b"a".to_vec()].concat();
        let long_b = [b"x".repeat(300), b"b".to_vec()].concat();
        let keys: Vec<Vec<u8>> = vec![
            long_a.clone(),
            long_b.clone(),
            b"with spaces and\r\nnewlines".to_vec(),
            "Jürgen Müller".as_bytes().to_vec(),
            vec![0, 1, 2, 255],
            b"has#hash".to_vec(),
            b"plain".to_vec(),
        ];
        for (i, k) in keys.iter().enumerate() {
            let value = bytes::Bytes::from(format!("value {i}"));
            let got = cache
                .get_or_load(k, || async move { Ok::<_, std::io::Error>(Some(value)) })
                .await
                .unwrap();
            assert_eq!(got.unwrap(), format!("value {i}").as_bytes(), "{kind}");
        }
        // Read back: each key kept its own value (the long ones share 300 bytes).
        for (i, k) in keys.iter().enumerate() {
            let got = cache
                .get_or_load(k, || async {
                    Err::<Option<bytes::Bytes>, _>(std::io::Error::other("must be cached"))
                })
                .await
                .unwrap();
            assert_eq!(got.unwrap(), format!("value {i}").as_bytes(), "{kind}");
        }
        assert_eq!(
            cache.wire_key(b"plain").await.unwrap().rsplit(':').next(),
            Some("plain")
        );
        let wire = cache.wire_key(&long_a).await.unwrap();
        assert!(wire.len() <= 250 && wire.contains('#'), "{wire}");
    }
}

#[tokio::test]
async fn invalidating_a_namespace_leaves_other_namespaces_alone() {
    let server = Memcached::start();
    let c = client(&server).await;
    let users = Cache::builder(c.clone(), "users", StringCodec)
        .build()
        .unwrap();
    let posts = Cache::builder(c, "posts", StringCodec).build().unwrap();
    let calls = AtomicU32::new(0);
    for k in ["1", "2", "3"] {
        users
            .get_or_load(k, || counted(&calls, Some("u"), Duration::ZERO))
            .await
            .unwrap();
        posts
            .get_or_load(k, || counted(&calls, Some("p"), Duration::ZERO))
            .await
            .unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    users.invalidate_namespace().await.unwrap();
    for k in ["1", "2", "3"] {
        users
            .get_or_load(k, || counted(&calls, Some("u2"), Duration::ZERO))
            .await
            .unwrap();
        posts
            .get_or_load(k, || counted(&calls, Some("p2"), Duration::ZERO))
            .await
            .unwrap();
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        9,
        "only the users were loaded again"
    );
    assert_eq!(
        users
            .get_or_load("1", || counted(&calls, None, Duration::ZERO))
            .await
            .unwrap()
            .as_deref(),
        Some("u2")
    );
    assert_eq!(
        posts
            .get_or_load("1", || counted(&calls, None, Duration::ZERO))
            .await
            .unwrap()
            .as_deref(),
        Some("p")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_while_one_refreshes_within_the_bound() {
    let server = Memcached::start();
    let c = client(&server).await;
    let cache = Cache::builder(c, "stale", StringCodec)
        .serve_stale(Duration::from_secs(2))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    cache
        .get_or_load("k", || counted(&calls, Some("v1"), Duration::ZERO))
        .await
        .unwrap();
    cache.invalidate("k").await.unwrap();
    // One caller refreshes and is held mid-load; another, arriving meanwhile, gets v1
    // without waiting for it (the refresh only finishes once the stale read is back).
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel();
    let refresher = {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .get_or_load("k", || gated(&calls, "v2", started_tx, release_rx))
                .await
        })
    };
    started.await.expect("the refresher is loading");
    let other = Cache::builder(client(&server).await, "stale", StringCodec)
        .serve_stale(Duration::from_secs(2))
        .build()
        .unwrap();
    let stale = tokio::time::timeout(
        Duration::from_secs(5),
        other.get_or_load("k", || counted(&calls, Some("never"), Duration::ZERO)),
    )
    .await
    .expect("served at once, not after the refresh")
    .unwrap();
    assert_eq!(stale.as_deref(), Some("v1"));
    release.send(()).unwrap();
    assert_eq!(refresher.await.unwrap().unwrap().as_deref(), Some("v2"));
    assert_eq!(
        other
            .get_or_load("k", || counted(&calls, None, Duration::ZERO))
            .await
            .unwrap()
            .as_deref(),
        Some("v2")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(other.metrics().stale_served, 1);

    // The bound: a stale value nobody refreshes is gone once the bound has passed.
    cache.invalidate("k").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let v = other
        .get_or_load("k", || counted(&calls, Some("v3"), Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        v.as_deref(),
        Some("v3"),
        "never served older than the bound"
    );
}

#[tokio::test]
async fn stale_if_error_serves_the_stale_value_when_the_reload_fails() {
    let server = Memcached::start();
    let c = client(&server).await;
    let build = |on| {
        Cache::builder(c.clone(), "sie", StringCodec)
            .serve_stale(Duration::from_secs(30))
            .stale_if_error(on)
            .build()
            .unwrap()
    };
    let (with, without) = (build(true), build(false));
    let failing = || async { Err::<Option<String>, _>(std::io::Error::other("database down")) };
    with.get_or_load("k", || async {
        Ok::<_, std::io::Error>(Some("v1".to_string()))
    })
    .await
    .unwrap();
    with.invalidate("k").await.unwrap();
    assert_eq!(
        with.get_or_load("k", failing).await.unwrap().as_deref(),
        Some("v1")
    );
    assert_eq!(with.metrics().stale_served, 1);
    without.invalidate("k").await.unwrap();
    let err = without.get_or_load("k", failing).await.unwrap_err();
    assert!(
        matches!(err, CacheError::Load(ref e) if e.to_string() == "database down"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refresh_keeps_a_hot_key_from_ever_missing() {
    let server = Memcached::start();
    let c = client(&server).await;
    // memcached's TTLs are whole seconds and R wins strictly below the threshold: a
    // 3 s item is refreshed when 1 s is left.
    let cache = Cache::builder(c, "hot", StringCodec)
        .ttl(Duration::from_secs(3))
        .ttl_jitter(0.0)
        .early_refresh(Duration::from_secs(2))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    // Readers hammer the key for more than two TTLs.
    let deadline = Instant::now() + Duration::from_millis(7500);
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let v = cache
                        .get_or_load("k", || {
                            counted(&calls, Some("v"), Duration::from_millis(20))
                        })
                        .await
                        .unwrap();
                    assert_eq!(v.as_deref(), Some("v"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    for r in readers {
        r.await.unwrap();
    }
    let m = cache.metrics();
    assert_eq!(m.misses, 1, "only the first read missed: {m:?}");
    assert!(
        m.early_refreshes >= 2,
        "refreshed before each expiry: {m:?}"
    );
}

#[tokio::test]
async fn bulk_reads_load_only_the_missing_keys_in_one_call() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        cache
            .get_or_load("b", || async {
                Ok::<_, std::io::Error>(Some("cached b".to_string()))
            })
            .await
            .unwrap();
        let batches = AtomicU32::new(0);
        let loader = |ks: Vec<&'static str>| {
            batches.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(ks, ["a", "c", "d"], "only the missing keys, in order");
                Ok::<_, std::io::Error>(
                    ks.iter()
                        .map(|k| (*k != "d").then(|| format!("row {k}")))
                        .collect(),
                )
            }
        };
        let got = cache
            .get_or_load_many(&["a", "b", "c", "d"], loader)
            .await
            .unwrap();
        assert_eq!(
            got,
            [
                Some("row a".into()),
                Some("cached b".into()),
                Some("row c".into()),
                None
            ],
            "{kind}"
        );
        assert_eq!(batches.load(Ordering::SeqCst), 1);
        // Now everything is cached, the absent row included.
        let again = cache
            .get_or_load_many(&["a", "b", "c", "d"], |_: Vec<&'static str>| async {
                Err::<Vec<Option<String>>, _>(std::io::Error::other("not called"))
            })
            .await
            .unwrap();
        assert_eq!(again, got, "{kind}");
    }
}

#[tokio::test]
async fn bulk_reads_of_cold_keys_take_a_few_round_trips_in_all() {
    let server = Memcached::start();
    let (addr, turns) = crate::proxy::turn_counting_proxy(&server.addr).await;
    for kind in ["meta", "classic"] {
        let mut builder = Client::builder().connections(1);
        if kind == "classic" {
            builder = builder.features(mcaside::proto::Features::CLASSIC);
        }
        let c = builder.connect(addr.as_str()).await.unwrap();
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        // The namespace version is read (and created) once, before counting.
        cache
            .get_or_load("warm", || async { Ok::<_, std::io::Error>(None) })
            .await
            .unwrap();
        let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        let (before, wins_before) = (turns.load(Ordering::SeqCst), cache.metrics().lease_wins);
        let got = cache
            .get_or_load_many(&keys, |ks: Vec<String>| async move {
                Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("row {k}"))).collect())
            })
            .await
            .unwrap();
        let used = turns.load(Ordering::SeqCst) - before;
        assert_eq!(got[49].as_deref(), Some("row k49"), "{kind}");
        assert_eq!(cache.metrics().lease_wins - wins_before, 50, "{kind}");
        // Meta: one mg batch that also takes the leases, one ms batch of fills. Classic:
        // gets of all 50, their adds, then their gets, then their cas fills. Taking
        // leases or filling one key at a time would be over a hundred.
        println!("{kind}: 50 cold keys in {used} round trips");
        assert!(used <= 10, "{kind}: 50 cold keys took {used} round trips");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_and_single_callers_of_one_key_share_one_load() {
    let server = Memcached::start();
    let cache = Cache::builder(client(&server).await, "share", StringCodec)
        .build()
        .unwrap();
    let loads = Arc::new(AtomicU32::new(0));
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel();
    let single = {
        let (cache, loads) = (cache.clone(), loads.clone());
        tokio::spawn(async move {
            cache
                .get_or_load("x", || gated(&loads, "row x", started_tx, release_rx))
                .await
        })
    };
    started.await.expect("the single caller is loading x");
    // The single load of x is held until the bulk caller has loaded y, so the bulk
    // caller can only get x by joining that load.
    let l = loads.clone();
    let bulk = cache.get_or_load_many(&["x", "y"], move |ks: Vec<&'static str>| {
        l.fetch_add(ks.len() as u32, Ordering::SeqCst);
        let _ = release.send(());
        async move {
            assert_eq!(ks, ["y"], "x is already being loaded in this process");
            Ok::<_, std::io::Error>(vec![Some("row y".to_string())])
        }
    });
    let bulk = tokio::time::timeout(Duration::from_secs(10), bulk)
        .await
        .expect("the bulk caller loads y while x is still loading")
        .unwrap();
    assert_eq!(bulk, [Some("row x".into()), Some("row y".into())]);
    assert_eq!(single.await.unwrap().unwrap().as_deref(), Some("row x"));
    assert_eq!(loads.load(Ordering::SeqCst), 2, "x once, y once");
}

#[tokio::test]
async fn the_wrong_codec_is_a_typed_error() {
    let server = Memcached::start();
    let c = client(&server).await;
    let strings = Cache::builder(c.clone(), "mixed", StringCodec)
        .build()
        .unwrap();
    let bytes = Cache::builder(c.clone(), "mixed", BytesCodec)
        .build()
        .unwrap();
    strings
        .get_or_load("k", || async {
            Ok::<_, std::io::Error>(Some("text".to_string()))
        })
        .await
        .unwrap();
    let err = bytes
        .get_or_load("k", || async {
            Ok::<_, std::io::Error>(Some(bytes::Bytes::new()))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::WrongCodec {
                expected: "bytes",
                found: 2
            }
        ),
        "{err:?}"
    );
    // An item this layer did not write is not misread either.
    let wire = strings.wire_key("foreign").await.unwrap();
    c.set(&wire, "plain set", Expiry::Never).await.unwrap();
    let err = strings
        .get_or_load("foreign", || async { Ok::<_, std::io::Error>(None) })
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::Foreign), "{err:?}");
}

#[cfg(feature = "json")]
#[tokio::test]
async fn serde_json_codec() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Profile {
        id: u64,
        email: String,
    }
    let server = Memcached::start();
    let cache = Cache::builder(
        client(&server).await,
        "json",
        mcaside::cache::JsonCodec::<Profile>::new(),
    )
    .build()
    .unwrap();
    let load = || async {
        Ok::<_, std::io::Error>(Some(Profile {
            id: 7,
            email: "a@b".into(),
        }))
    };
    assert_eq!(
        cache.get_or_load("7", load).await.unwrap().unwrap().email,
        "a@b"
    );
    let cached = cache
        .get_or_load("7", || async { Ok::<_, std::io::Error>(None) })
        .await
        .unwrap();
    assert_eq!(
        cached,
        Some(Profile {
            id: 7,
            email: "a@b".into()
        })
    );
}

#[tokio::test]
async fn a_lease_held_elsewhere_is_waited_for_up_to_the_bound() {
    let server = Memcached::start();
    for policy in [OnWaitTimeout::Fail, OnWaitTimeout::LoadWithoutStoring] {
        let c = client(&server).await;
        let cache = Cache::builder(c.clone(), "wait", StringCodec)
            .lease_ttl(Duration::from_secs(30))
            .max_wait(Duration::from_millis(300), policy)
            .build()
            .unwrap();
        // Another "process" took the lease and never fills it.
        let key = format!("k{policy:?}");
        let wire = cache.wire_key(&key).await.unwrap();
        let lease = c
            .meta_get(&wire, &MetaGet::new().vivify(Expiry::secs(30)))
            .await
            .unwrap();
        assert!(lease.flags.won);
        let t = Instant::now();
        let r = cache
            .get_or_load(&key, || async {
                Ok::<_, std::io::Error>(Some("mine".to_string()))
            })
            .await;
        let waited = t.elapsed();
        assert!(
            // At least most of the 300 ms bound; far less than the 30 s lease (the
            // upper end leaves room for a loaded CI machine).
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        match policy {
            OnWaitTimeout::Fail => assert!(matches!(r, Err(CacheError::WaitTimeout)), "{r:?}"),
            OnWaitTimeout::LoadWithoutStoring => {
                assert_eq!(r.unwrap().as_deref(), Some("mine"));
                let item = c
                    .meta_get(&wire, &MetaGet::new().return_value())
                    .await
                    .unwrap();
                assert_eq!(
                    item.value.as_deref(),
                    Some(&b""[..]),
                    "not stored: the lease is not ours"
                );
            }
            other => panic!("untested policy {other:?}"),
        }
        assert_eq!(cache.metrics().wait_timeouts, 1);
    }
}

#[tokio::test]
async fn a_write_whose_caller_gives_up_after_the_commit_still_invalidates() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        let old = cache
            .get_or_load("k", || async {
                Ok::<_, std::io::Error>(Some("old".to_string()))
            })
            .await
            .unwrap();
        assert_eq!(old.as_deref(), Some("old"));
        // The caller stops waiting the moment the database write has committed (a
        // timeout that fires just then): `write` is dropped right after it.
        let (committed_tx, committed) = tokio::sync::oneshot::channel();
        tokio::select! {
            biased;
            r = cache.write("k", || async move {
                let _ = committed_tx.send(());
                Ok::<_, std::io::Error>(())
            }) => panic!("{kind}: the caller gave up first: {r:?}"),
            _ = committed => {}
        }
        let now = cache
            .get_or_load("k", || async {
                Ok::<_, std::io::Error>(Some("new".to_string()))
            })
            .await
            .unwrap();
        assert_eq!(
            now.as_deref(),
            Some("new"),
            "{kind}: the invalidation went out"
        );
    }
}

#[tokio::test]
async fn write_runs_the_write_then_invalidates() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        let row = Arc::new(std::sync::Mutex::new("old".to_string()));
        let load = || {
            let row = row.clone();
            async move { Ok::<_, std::io::Error>(Some(row.lock().unwrap().clone())) }
        };
        assert_eq!(
            cache.get_or_load("k", load).await.unwrap().as_deref(),
            Some("old")
        );
        // A failed write invalidates nothing.
        let err = cache
            .write("k", || async {
                Err::<(), _>(std::io::Error::other("constraint violated"))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, CacheError::Write(_)), "{err:?}");
        assert_eq!(cache.metrics().invalidations, 0);
        let r = row.clone();
        cache
            .write("k", || async move {
                *r.lock().unwrap() = "new".to_string();
                Ok::<_, std::io::Error>(())
            })
            .await
            .unwrap();
        assert_eq!(
            cache.get_or_load("k", load).await.unwrap().as_deref(),
            Some("new"),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_failed_invalidation_is_returned() {
    let server = Memcached::start();
    let c = Client::builder()
        .request_timeout(Duration::from_millis(300))
        .reconnect_backoff(Duration::from_secs(5), Duration::from_secs(5))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    let cache = Cache::builder(c, "lost", StringCodec).build().unwrap();
    cache
        .get_or_load("k", || async {
            Ok::<_, std::io::Error>(Some("v".to_string()))
        })
        .await
        .unwrap();
    drop(server);
    let err = cache.invalidate("k").await.unwrap_err();
    assert!(matches!(err, CacheError::Invalidation(_)), "{err:?}");
    let err = cache
        .write("k", || async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    assert!(
        matches!(err, CacheError::Invalidation(_)),
        "the write happened, the invalidation did not: {err:?}"
    );
    assert!(cache.metrics().errors >= 2);
}

#[tokio::test]
async fn a_bad_namespace_is_refused() {
    let server = Memcached::start();
    let c = client(&server).await;
    for ns in ["", "has space", "a:b", "a#b", &"n".repeat(65)] {
        assert!(
            matches!(
                Cache::builder(c.clone(), ns, StringCodec).build(),
                Err(CacheError::BadNamespace(_))
            ),
            "{ns:?}"
        );
    }
}

/// A cache whose leases outlive any wait: 30 s leases, waits bounded at 5 s, then an
/// error. A caller left waiting on a lease nobody gave back fails with `WaitTimeout`
/// rather than succeeding late.
fn strict<C: mcaside::cache::Codec>(c: &Client, namespace: &str, codec: C) -> Cache<C> {
    Cache::builder(c.clone(), namespace, codec)
        .lease_ttl(Duration::from_secs(30))
        .max_wait(Duration::from_secs(5), OnWaitTimeout::Fail)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_failed_load_gives_the_lease_back_at_once() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = strict(&c, kind, StringCodec);
        let err = cache
            .get_or_load("k", || async {
                Err::<Option<String>, _>(std::io::Error::other("db down"))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, CacheError::Load(_)), "{kind}: {err:?}");
        // The next caller takes the lease at once instead of waiting 30 s for it.
        let t = Instant::now();
        let v = cache
            .get_or_load("k", || async {
                Ok::<_, std::io::Error>(Some("v".to_string()))
            })
            .await;
        assert_eq!(v.unwrap().as_deref(), Some("v"), "{kind}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{kind}: {:?}",
            t.elapsed()
        );
        let m = cache.metrics();
        assert_eq!((m.lease_wins, m.lease_waits), (2, 0), "{kind}: {m:?}");
    }
}

/// Strings, except that it refuses to encode "unencodable": a codec that can fail, as
/// JSON can for some values.
struct PickyCodec;

impl mcaside::cache::Codec for PickyCodec {
    type Value = String;
    const ID: u8 = 200;
    const NAME: &'static str = "picky";
    fn encode(&self, value: &String) -> Result<bytes::Bytes, mcaside::cache::CodecError> {
        if value == "unencodable" {
            return Err(mcaside::cache::CodecError::new("refused"));
        }
        Ok(bytes::Bytes::copy_from_slice(value.as_bytes()))
    }
    fn decode(&self, b: bytes::Bytes) -> Result<String, mcaside::cache::CodecError> {
        String::from_utf8(b.to_vec())
            .map_err(|e| mcaside::cache::CodecError::with_source("not UTF-8", e))
    }
}

#[tokio::test]
async fn a_row_the_codec_refuses_gives_the_lease_back_at_once() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let picky = strict(&c, kind, PickyCodec);
        let single = picky
            .get_or_load("a", || async {
                Ok::<_, std::io::Error>(Some("unencodable".to_string()))
            })
            .await;
        assert!(
            matches!(single, Err(CacheError::Codec(_))),
            "{kind}: {single:?}"
        );
        let bulk = picky
            .get_or_load_many(&["b", "c"], |_: Vec<&'static str>| async {
                Ok::<_, std::io::Error>(vec![Some("unencodable".to_string()), Some("fine".into())])
            })
            .await;
        assert!(
            matches!(bulk, Err(CacheError::Codec(_))),
            "{kind}: {bulk:?}"
        );
        // Another process takes the refused rows' leases at once; "c" was filled.
        let other = strict(&c, kind, PickyCodec);
        for (k, want) in [("a", "row a"), ("b", "row b"), ("c", "fine")] {
            let v = other
                .get_or_load(k, || async {
                    Ok::<_, std::io::Error>(Some(format!("row {k}")))
                })
                .await;
            assert_eq!(v.unwrap().as_deref(), Some(want), "{kind}: {k}");
        }
        let m = other.metrics();
        assert_eq!(
            (m.lease_wins, m.lease_waits, m.hits),
            (2, 0, 1),
            "{kind}: {m:?}"
        );
    }
}

#[tokio::test]
async fn a_caller_cancelled_mid_load_gives_the_lease_back() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = strict(&c, kind, StringCodec);
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (_never_released, release) = tokio::sync::oneshot::channel::<()>();
        let calls = AtomicU32::new(0);
        // The caller gives up (a request timeout around it, say) while its loader runs.
        tokio::select! {
            r = cache.get_or_load("k", || gated(&calls, "never stored", started_tx, release)) => {
                panic!("{kind}: the load cannot finish: {r:?}")
            }
            _ = started => {}
        }
        // Another process takes the lease instead of waiting 30 s for it (its 5 s
        // wait bound would fail first).
        let other = strict(&c, kind, StringCodec);
        let v = other
            .get_or_load("k", || async {
                Ok::<_, std::io::Error>(Some("v".to_string()))
            })
            .await;
        assert_eq!(v.unwrap().as_deref(), Some("v"), "{kind}");
        assert_eq!(other.metrics().lease_wins, 1, "{kind}");

        // The same for a bulk read cancelled while its batch loader runs.
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let bulk = cache.get_or_load_many(&["m", "n"], |_: Vec<&'static str>| async move {
            let _ = started_tx.send(());
            std::future::pending::<Result<Vec<Option<String>>, std::io::Error>>().await
        });
        tokio::select! {
            r = bulk => panic!("{kind}: the load cannot finish: {r:?}"),
            _ = started => {}
        }
        let v = other
            .get_or_load_many(&["m", "n"], |ks: Vec<&'static str>| async move {
                Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("row {k}"))).collect())
            })
            .await;
        assert_eq!(
            v.unwrap(),
            [Some("row m".to_string()), Some("row n".to_string())],
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_failed_batch_load_gives_every_lease_back_at_once() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = strict(&c, kind, StringCodec);
        // A loader that fails, and one that answers with the wrong number of rows.
        let failed = cache
            .get_or_load_many(&["x", "y"], |_: Vec<&'static str>| async {
                Err::<Vec<Option<String>>, _>(std::io::Error::other("db down"))
            })
            .await;
        assert!(
            matches!(failed, Err(CacheError::Load(_))),
            "{kind}: {failed:?}"
        );
        let short = cache
            .get_or_load_many(&["z"], |_: Vec<&'static str>| async {
                Ok::<Vec<Option<String>>, std::io::Error>(vec![])
            })
            .await;
        assert!(
            matches!(short, Err(CacheError::Load(_))),
            "{kind}: {short:?}"
        );
        assert_eq!(cache.metrics().errors, 2, "{kind}: both counted");
        // Another process (another Cache: no shared in-process flights) takes each
        // lease at once instead of waiting 30 s for it.
        let other = strict(&c, kind, StringCodec);
        for k in ["x", "y", "z"] {
            let v = other
                .get_or_load(k, || async {
                    Ok::<_, std::io::Error>(Some(format!("row {k}")))
                })
                .await;
            assert_eq!(v.unwrap(), Some(format!("row {k}")), "{kind}");
        }
        let m = other.metrics();
        assert_eq!((m.lease_wins, m.lease_waits), (3, 0), "{kind}: {m:?}");
    }
}

/// A proxy in front of memcached that forwards everything until the client sends
/// `trigger`; from then on it forwards requests but drops every reply, as a server
/// that hung mid-conversation would.
async fn proxy_going_silent_after(upstream: &str, trigger: &'static [u8]) -> String {
    use std::sync::atomic::AtomicBool;
    let silent = Arc::new(AtomicBool::new(false));
    let silence = silent.clone();
    let up = move |chunk: &[u8]| {
        if chunk.windows(trigger.len()).any(|w| w == trigger) {
            silence.store(true, Ordering::SeqCst);
        }
    };
    let down = move |_: &[u8]| !silent.load(Ordering::SeqCst);
    crate::proxy::proxy(upstream, up, down).await
}

#[tokio::test]
async fn a_bulk_read_that_memcached_fails_hands_the_error_to_its_followers() {
    let server = Memcached::start();
    // The bulk read is the first request with a lease (`N30`): its replies never come.
    let addr = proxy_going_silent_after(&server.addr, b" N30").await;
    let c = Client::builder()
        .connections(1)
        .request_timeout(Duration::from_millis(300))
        .connect(addr.as_str())
        .await
        .unwrap();
    let cache = Cache::builder(c, "fails", StringCodec)
        .lease_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    let never = |_: Vec<&'static str>| async {
        Err::<Vec<Option<String>>, _>(std::io::Error::other("the loader is not reached"))
    };
    // The first bulk call leads "k"; the second, in the same process, follows it.
    let (leader, follower) = tokio::join!(
        cache.get_or_load_many(&["k"], never),
        cache.get_or_load_many(&["k"], never),
    );
    assert!(
        matches!(leader, Err(CacheError::Memcached(mcaside::Error::Timeout))),
        "{leader:?}"
    );
    assert!(
        matches!(
            follower,
            Err(CacheError::Memcached(mcaside::Error::Timeout))
        ),
        "the follower gets the leader's error, not a wait timeout: {follower:?}"
    );
    assert_eq!(cache.metrics().coalesced, 1);
}

#[tokio::test]
async fn a_bulk_fill_that_memcached_fails_still_returns_the_loaded_rows() {
    let server = Memcached::start();
    // The fill is the first request with a cas to compare (`C<cas>`): no reply to it.
    let addr = proxy_going_silent_after(&server.addr, b" C").await;
    let c = Client::builder()
        .connections(1)
        .request_timeout(Duration::from_millis(300))
        .connect(addr.as_str())
        .await
        .unwrap();
    let cache = Cache::builder(c, "fills", StringCodec).build().unwrap();
    let got = cache
        .get_or_load_many(&["k1", "k2"], |ks: Vec<&'static str>| async move {
            Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("row {k}"))).collect())
        })
        .await;
    // As in get_or_load: the rows are loaded and correct, only caching them failed.
    assert_eq!(
        got.unwrap(),
        [Some("row k1".to_string()), Some("row k2".to_string())]
    );
}

#[tokio::test]
async fn a_bulk_read_of_no_keys_sends_nothing() {
    let server = Memcached::start();
    let cache = Cache::builder(client(&server).await, "none", StringCodec)
        .build()
        .unwrap();
    let (gets, sets) = (server.stat("cmd_get"), server.stat("cmd_set"));
    let got = cache
        .get_or_load_many(&[] as &[&str], |_: Vec<&str>| async {
            Err::<Vec<Option<String>>, _>(std::io::Error::other("not called"))
        })
        .await
        .unwrap();
    assert!(got.is_empty());
    assert_eq!(
        (server.stat("cmd_get"), server.stat("cmd_set")),
        (gets, sets)
    );
}

#[tokio::test]
async fn a_key_asked_twice_in_a_bulk_read_is_loaded_once_without_waiting() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec).build().unwrap();
        let asked = std::sync::Mutex::new(Vec::new());
        let got = cache
            .get_or_load_many(&["a", "b", "a"], |ks: Vec<&'static str>| {
                asked.lock().unwrap().extend(ks.iter().copied());
                async move {
                    Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("row {k}"))).collect())
                }
            })
            .await
            .unwrap();
        assert_eq!(
            got,
            [
                Some("row a".into()),
                Some("row b".into()),
                Some("row a".into())
            ],
            "{kind}"
        );
        assert_eq!(*asked.lock().unwrap(), ["a", "b"], "{kind}");
        let m = cache.metrics();
        // Before the fix, the second "a" waited on the first one's lease until the wait
        // bound ran out, and was then loaded a second time.
        assert_eq!((m.lease_waits, m.wait_timeouts), (0, 0), "{kind}: {m:?}");
    }
}

/// MurmurHash3 x64 128 (seed 0), the hash that named long and odd keys before SHA-256,
/// with the one operation an attacker needs: finding the 16-byte block that steers the
/// hash's state from wherever it is to any state wanted. Nothing in it is secret, so a
/// second key with the same hash as any known key is a computation away.
mod murmur {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    const A1: u64 = 0x52dc_e729;
    const A2: u64 = 0x3849_5ab5;

    /// The inverse of an odd number modulo 2^64 (Newton's iteration).
    fn inverse(a: u64) -> u64 {
        let mut x = a;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    }

    fn words(b: &[u8]) -> (u64, u64) {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
        )
    }

    /// One block's step of the state.
    fn block((mut h1, mut h2): (u64, u64), (k1, k2): (u64, u64)) -> (u64, u64) {
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(A1);
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(A2);
        (h1, h2)
    }

    /// The state after the whole blocks of `data` (whose length is a multiple of 16).
    pub fn state(data: &[u8]) -> (u64, u64) {
        assert_eq!(data.len() % 16, 0);
        data.chunks(16).fold((0, 0), |h, b| block(h, words(b)))
    }

    /// The block that takes the state `from` to `to`: every step of a block can be
    /// undone.
    pub fn steer((h1, h2): (u64, u64), (t1, t2): (u64, u64)) -> [u8; 16] {
        let inv5 = inverse(5);
        let x1 = t1.wrapping_sub(A1).wrapping_mul(inv5).wrapping_sub(h2);
        let m1 = x1.rotate_right(27) ^ h1;
        let x2 = t2.wrapping_sub(A2).wrapping_mul(inv5).wrapping_sub(t1);
        let m2 = x2.rotate_right(31) ^ h2;
        let k1 = m1
            .wrapping_mul(inverse(C2))
            .rotate_right(31)
            .wrapping_mul(inverse(C1));
        let k2 = m2
            .wrapping_mul(inverse(C1))
            .rotate_right(33)
            .wrapping_mul(inverse(C2));
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&k1.to_le_bytes());
        out[8..].copy_from_slice(&k2.to_le_bytes());
        assert_eq!(
            block((h1, h2), (k1, k2)),
            (t1, t2),
            "the block steers the state"
        );
        out
    }

    fn fmix(mut k: u64) -> u64 {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }

    /// The whole hash, as the reference implementation computes it.
    pub fn hash(data: &[u8]) -> (u64, u64) {
        let full = data.len() / 16 * 16;
        let (mut h1, mut h2) = state(&data[..full]);
        let tail = &data[full..];
        let (mut k1, mut k2) = (0u64, 0u64);
        for (i, &b) in tail.iter().enumerate() {
            if i < 8 {
                k1 ^= u64::from(b) << (8 * i);
            } else {
                k2 ^= u64::from(b) << (8 * (i - 8));
            }
        }
        if tail.len() > 8 {
            h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        }
        if !tail.is_empty() {
            h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        }
        h1 ^= data.len() as u64;
        h2 ^= data.len() as u64;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix(h1);
        h2 = fmix(h2);
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        (h1, h2)
    }

    /// A key of the victim's length that differs from it only in bytes `at..at + 32`
    /// and has the same MurmurHash3: a block of the attacker's choosing, then the block
    /// that steers the state back to the victim's.
    pub fn collide(victim: &[u8], at: usize, chosen: &[u8; 16]) -> Vec<u8> {
        let mut key = victim.to_vec();
        key[at..at + 16].copy_from_slice(chosen);
        let from = state(&key[..at + 16]);
        let to = state(&victim[..at + 32]);
        key[at + 16..at + 32].copy_from_slice(&steer(from, to));
        key
    }

    #[test]
    fn matches_the_reference_vectors() {
        assert_eq!(hash(b""), (0, 0));
        assert_eq!(
            hash(b"hello"),
            (0xcbd8_a7b3_41bd_9b02, 0x5b1e_906a_48ae_1d19)
        );
        assert_eq!(
            hash(b"0123456789abcdefX"),
            (0xcdeb_d2ac_b570_d6f7, 0x8f72_1197_8210_4b27)
        );
    }
}

/// Two caller keys with the same readable prefix and the same MurmurHash3 (the victim's
/// 320-byte URL and a key that differs from it in bytes 208-239, past the readable
/// prefix) once shared a wire key: whoever cached under one was served under the other.
#[tokio::test]
async fn a_key_built_to_collide_with_another_gets_its_own_wire_key() {
    let server = Memcached::start();
    let mut victim = b"https://shop.example.com/account/orders?user=ada.lovelace%40example.com\
        &session="
        .to_vec();
    while victim.len() < 320 {
        victim.extend_from_slice(b"a1b2c3d4e5f6");
    }
    victim.truncate(320);
    let attacker = murmur::collide(&victim, 208, b"&user=mallory...");
    assert_ne!(attacker, victim);
    assert_eq!(
        murmur::hash(&attacker),
        murmur::hash(&victim),
        "a real MurmurHash3 collision"
    );
    assert_eq!(attacker[..208], victim[..208], "the same readable prefix");
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, BytesCodec).build().unwrap();
        let row =
            |r: &'static str| async move { Ok::<_, std::io::Error>(Some(bytes::Bytes::from(r))) };
        let stored = cache
            .get_or_load(&attacker, || row("the attacker's row"))
            .await
            .unwrap();
        assert_eq!(stored.unwrap(), "the attacker's row");
        let got = cache
            .get_or_load(&victim, || row("the victim's row"))
            .await
            .unwrap();
        assert_eq!(
            got.unwrap(),
            "the victim's row",
            "{kind}: served another key's row"
        );
        assert_ne!(
            cache.wire_key(&attacker).await.unwrap(),
            cache.wire_key(&victim).await.unwrap(),
            "{kind}"
        );
    }
}

/// The sequence from issue 11: `write` reads the namespace version V; inside the write,
/// the namespace is invalidated (V+1); a reader misses under V+1, takes its lease and
/// reads the old row; the write commits; the write invalidates. The reader's fill must
/// be refused (or undone), so that the next reader gets the new row, not the old one
/// until its TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_covers_a_namespace_invalidated_while_it_ran() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        // Three caches, as if three processes: the writer, the one invalidating the
        // namespace, and the reader.
        let build = || {
            Cache::builder(c.clone(), kind, StringCodec)
                .build()
                .unwrap()
        };
        let (writer, admin, reader) = (build(), build(), build());
        let row = Arc::new(std::sync::Mutex::new("old".to_string()));
        let load_row = |row: &Arc<std::sync::Mutex<String>>| {
            let row = row.clone();
            move || async move { Ok::<_, std::io::Error>(Some(row.lock().unwrap().clone())) }
        };
        assert_eq!(
            writer
                .get_or_load("k", load_row(&row))
                .await
                .unwrap()
                .as_deref(),
            Some("old")
        );
        let (read_tx, read) = tokio::sync::oneshot::channel();
        let (fill, fill_rx) = tokio::sync::oneshot::channel::<()>();
        let (reader, r) = (reader.clone(), row.clone());
        let (mut read_tx, mut fill_rx) = (Some(read_tx), Some(fill_rx));
        let w = row.clone();
        let reader_task = std::sync::Mutex::new(None);
        writer
            .write("k", || async {
                admin.invalidate_namespace().await.unwrap();
                let (read_tx, fill_rx) = (read_tx.take().unwrap(), fill_rx.take().unwrap());
                *reader_task.lock().unwrap() = Some(tokio::spawn(async move {
                    reader
                        .get_or_load("k", move || async move {
                            let old = r.lock().unwrap().clone();
                            let _ = read_tx.send(());
                            fill_rx.await.unwrap();
                            Ok::<_, std::io::Error>(Some(old))
                        })
                        .await
                }));
                read.await
                    .expect("the reader took its lease and read the row");
                *w.lock().unwrap() = "new".to_string(); // the commit
                Ok::<_, std::io::Error>(())
            })
            .await
            .unwrap();
        fill.send(()).unwrap();
        let raced = reader_task.lock().unwrap().take().unwrap();
        // The racing read began before the commit: the old row is a fair answer to it.
        assert_eq!(raced.await.unwrap().unwrap().as_deref(), Some("old"));
        let next = build();
        assert_eq!(
            next.get_or_load("k", load_row(&row))
                .await
                .unwrap()
                .as_deref(),
            Some("new"),
            "{kind}: the old row stayed cached after the write"
        );
    }
}

/// Classic early refresh honours the threshold and memcached's whole-second clock: a
/// hot key read through `gets` is refreshed once its remaining TTL is under the
/// threshold, before memcached (whose clock ticks in whole seconds, so an item can
/// expire up to a second before the client reckons) drops it. Before, XFetch fired only
/// in the last few load times (here 20 ms) and readers missed at every expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_early_refresh_keeps_a_hot_key_from_ever_missing() {
    let server = Memcached::start();
    let c = crate::classic_client(&server).await;
    // The client cannot tell what is left of an item on the server to better than a
    // second, and counts on the least: a 5 s item with a 2 s threshold is refreshed
    // once the client reckons 3 s are left.
    let cache = Cache::builder(c, "hot", StringCodec)
        .ttl(Duration::from_secs(5))
        .ttl_jitter(0.0)
        .early_refresh(Duration::from_secs(2))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let deadline = Instant::now() + Duration::from_millis(7500);
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let v = cache
                        .get_or_load("k", || {
                            counted(&calls, Some("v"), Duration::from_millis(20))
                        })
                        .await
                        .unwrap();
                    assert_eq!(v.as_deref(), Some("v"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    for r in readers {
        r.await.unwrap();
    }
    let m = cache.metrics();
    assert_eq!(m.misses, 1, "only the first read missed: {m:?}");
    assert!(
        m.early_refreshes >= 2,
        "refreshed before each expiry: {m:?}"
    );
    // One refresh each time the value comes due (every 2 s or so), not one per reader:
    // the refresh is won by one caller.
    assert!(m.loads <= 6, "{m:?}");
}

/// `get_or_load_many` honours the options `get_or_load` does: stale-if-error serves
/// the stale values when the batch load fails (counted as `stale_served`), a stale
/// value served while another caller refreshes counts as `stale_served`, not a hit,
/// and early refresh reloads hot keys close to expiry.
#[tokio::test]
async fn bulk_reads_honour_stale_if_error_and_count_stale_values() {
    let server = Memcached::start();
    let c = client(&server).await;
    let build = || {
        Cache::builder(c.clone(), "bulk-stale", StringCodec)
            .serve_stale(Duration::from_secs(30))
            .stale_if_error(true)
            .build()
            .unwrap()
    };
    let cache = build();
    let rows = |ks: Vec<&'static str>| async move {
        Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("{k} v1"))).collect())
    };
    cache
        .get_or_load_many(&["a", "b", "c"], rows)
        .await
        .unwrap();
    for k in ["a", "b", "c"] {
        cache.invalidate(k).await.unwrap();
    }
    let got = cache
        .get_or_load_many(&["a", "b"], |_: Vec<&'static str>| async {
            Err::<Vec<Option<String>>, _>(std::io::Error::other("database down"))
        })
        .await
        .expect("stale-if-error: the stale values, not the error");
    assert_eq!(got, [Some("a v1".to_string()), Some("b v1".to_string())]);
    let m = cache.metrics();
    assert_eq!((m.stale_served, m.hits), (2, 0), "{m:?}");

    // Another process refreshes "c" (holds its win); this one gets the stale value.
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel();
    let calls = Arc::new(AtomicU32::new(0));
    let refresher = build();
    let refreshing = {
        let calls = calls.clone();
        tokio::spawn(async move {
            refresher
                .get_or_load("c", || gated(&calls, "c v2", started_tx, release_rx))
                .await
        })
    };
    started.await.unwrap();
    let other = build();
    let got = other
        .get_or_load_many(&["c"], |_: Vec<&'static str>| async {
            Err::<Vec<Option<String>>, _>(std::io::Error::other("not called"))
        })
        .await
        .unwrap();
    assert_eq!(got, [Some("c v1".to_string())]);
    let m = other.metrics();
    assert_eq!((m.stale_served, m.hits), (1, 0), "{m:?}");
    release.send(()).unwrap();
    refreshing.await.unwrap().unwrap();
}

#[tokio::test]
async fn bulk_reads_refresh_hot_keys_early() {
    let server = Memcached::start();
    let version = Arc::new(AtomicU32::new(1));
    let load = |ks: Vec<&'static str>| {
        let v = version.load(Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(ks.iter().map(|k| Some(format!("{k} v{v}"))).collect()) }
    };
    let mut caches = Vec::new();
    for (kind, c) in both_clients(&server).await {
        let cache = Cache::builder(c, kind, StringCodec)
            .ttl(Duration::from_secs(10))
            .ttl_jitter(0.0)
            .early_refresh(Duration::from_secs(8))
            .build()
            .unwrap();
        cache.get_or_load_many(&["a", "b"], load).await.unwrap();
        caches.push((kind, cache));
    }
    // Past the threshold on both kinds of server (memcached's clock has ticked at
    // least three times; the classic path counts on a second less than it reckons),
    // well before expiry.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    for (kind, cache) in caches {
        version.store(2, Ordering::SeqCst);
        let got = cache.get_or_load_many(&["a", "b"], load).await.unwrap();
        assert_eq!(
            got,
            [Some("a v2".to_string()), Some("b v2".to_string())],
            "{kind}"
        );
        let m = cache.metrics();
        assert_eq!((m.early_refreshes, m.misses), (2, 2), "{kind}: {m:?}");
        // Refreshed: the next read is a hit of the new values.
        version.store(3, Ordering::SeqCst);
        let got = cache.get_or_load_many(&["a", "b"], load).await.unwrap();
        assert_eq!(
            got,
            [Some("a v2".to_string()), Some("b v2".to_string())],
            "{kind}"
        );
        assert_eq!(cache.metrics().hits, 2, "{kind}");
    }
}
