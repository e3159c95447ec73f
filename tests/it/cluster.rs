//! Several servers in one client: keys where the placement says, multi-key calls split
//! per server in one round trip each, dead servers under each policy, and bad input.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcaside::cache::{Cache, OnServerDown, StringCodec};
use mcaside::cluster::{self, DeadServerPolicy, Ketama, Rendezvous, Server};
use mcaside::error::ConfigError;
use mcaside::proto::meta::MetaGet;
use mcaside::{Client, ClientBuilder, Error, Expiry, InputError};

use crate::Memcached;

fn start(n: usize) -> Vec<Memcached> {
    (0..n).map(|_| Memcached::start()).collect()
}

fn addrs(servers: &[Memcached]) -> Vec<String> {
    servers.iter().map(|s| s.addr.clone()).collect()
}

/// Which of `servers` holds `key`, asked of each server directly.
async fn holder(servers: &[Memcached], key: &str) -> Option<usize> {
    let mut found = None;
    for (i, s) in servers.iter().enumerate() {
        let c = Client::connect(s.addr.as_str()).await.unwrap();
        if c.get(key).await.unwrap().is_some() {
            assert!(found.is_none(), "{key} is on two servers");
            found = Some(i);
        }
    }
    found
}

/// A builder that notices a dead server quickly.
fn quick() -> ClientBuilder {
    Client::builder()
        .connect_timeout(Duration::from_millis(300))
        .request_timeout(Duration::from_millis(500))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .retry_interval(Duration::from_millis(100))
        .dead_after(2)
}

#[tokio::test]
async fn keys_live_where_the_placement_says() {
    let servers = start(3);
    let specs: Vec<String> = servers
        .iter()
        .zip([1, 3, 2])
        .map(|(s, w)| format!("{}:{w}", s.addr))
        .collect();
    let parsed: Vec<Server> = specs.iter().map(|s| s.parse().unwrap()).collect();
    for (name, builder, dist) in [
        (
            "ketama",
            Client::builder(),
            &Ketama as &dyn cluster::Distribution,
        ),
        (
            "rendezvous",
            Client::builder().distribution(Rendezvous),
            &Rendezvous,
        ),
    ] {
        let client = builder.connect_cluster(&specs).await.unwrap();
        assert_eq!(client.servers().count(), 3);
        let keys: Vec<String> = (0..300).map(|i| format!("{name}:{i}")).collect();
        for k in &keys {
            client.set(k, "v", Expiry::Never).await.unwrap();
        }
        let mut used = [0; 3];
        for k in &keys {
            let want = cluster::locate(dist, &parsed, k.as_bytes());
            assert_eq!(client.server_for(k).unwrap(), &parsed[want], "{name} {k}");
            assert_eq!(holder(&servers, k).await, Some(want), "{name} {k}");
            used[want] += 1;
        }
        assert!(used.iter().all(|&n| n > 0), "{name}: {used:?}");
    }
}

/// `get_many`, a meta batch and a bulk cache read of keys on three servers: one round
/// trip on each server, answers in the caller's order.
#[tokio::test]
async fn multi_key_calls_take_one_round_trip_per_server() {
    let servers = start(3);
    let mut proxies = Vec::new();
    for s in &servers {
        proxies.push(crate::proxy::turn_counting_proxy(&s.addr).await);
    }
    let through: Vec<String> = proxies.iter().map(|(a, _)| a.clone()).collect();
    let client = Client::builder()
        .connections(1)
        .connect_cluster(&through)
        .await
        .unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    mcaside::join_all(keys.iter().map(|k| client.set(k, k, Expiry::Never))).await;
    let turns = || -> Vec<u32> {
        proxies
            .iter()
            .map(|(_, t)| t.load(Ordering::SeqCst))
            .collect()
    };

    let mut asked: Vec<&str> = keys.iter().map(String::as_str).collect();
    asked.push("absent");
    asked.reverse();
    let before = turns();
    let got = client.get_many(&asked).await.unwrap();
    let after = turns();
    for (k, item) in asked.iter().zip(&got) {
        match item {
            Some(item) => assert_eq!(item.value, k.as_bytes()),
            None => assert_eq!(*k, "absent"),
        }
    }
    let used: Vec<u32> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(used, [1, 1, 1], "get_many: round trips per server");

    let before = turns();
    let mut batch = client.meta_batch();
    let idx: Vec<usize> = keys
        .iter()
        .map(|k| batch.get(k, &MetaGet::new().return_value()).unwrap())
        .collect();
    let out = batch.send().await.unwrap();
    for (k, i) in keys.iter().zip(idx) {
        assert_eq!(out[i].reply().unwrap().value.as_deref(), Some(k.as_bytes()));
    }
    let used: Vec<u32> = turns().iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(used, [1, 1, 1], "meta batch: round trips per server");

    let cache = Cache::builder(client.clone(), "bulk", StringCodec)
        .build()
        .unwrap();
    let ids: Vec<String> = (0..90).map(|i| format!("id{i}")).collect();
    let rows = |ids: Vec<String>| async move {
        Ok::<_, std::io::Error>(ids.iter().map(|i| Some(format!("row {i}"))).collect())
    };
    cache.get_or_load_many(&ids, rows).await.unwrap();
    let before = turns();
    let warm = cache.get_or_load_many(&ids, rows).await.unwrap();
    let used: Vec<u32> = turns().iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(cache.metrics().loads, 90, "the second read is all hits");
    // The namespace version's server takes one more turn for its lookup.
    assert_eq!(
        used.iter().sum::<u32>(),
        4,
        "bulk cache read of hits: {used:?}"
    );
    assert!(used.iter().all(|&u| u <= 2), "{used:?}");
    for (i, row) in ids.iter().zip(warm) {
        assert_eq!(row.unwrap(), format!("row {i}"));
    }
}

/// Fail fast: after `dead_after` failures the dead server's keys fail at once, typed
/// and named; the other servers carry on; a probe brings it back.
#[tokio::test]
async fn a_dead_server_fails_fast_and_comes_back() {
    let mut servers = start(3);
    let client = quick().connect_cluster(addrs(&servers)).await.unwrap();
    let key_on = |i: usize| {
        (0..)
            .map(|n| format!("key{n}"))
            .find(|k| client.server_for(k).unwrap().addr().to_string() == servers[i].addr)
            .unwrap()
    };
    let (dead_key, live_key) = (key_on(1), key_on(0));
    let dead_addr = servers[1].addr.clone();
    let port = servers[1].port();
    drop(servers.remove(1));
    // The failures that teach the client the server is gone.
    for _ in 0..2 {
        assert!(client.get(&dead_key).await.is_err());
    }
    for _ in 0..20 {
        let started = Instant::now();
        match client.get(&dead_key).await {
            Err(Error::ServerDown { server }) => assert_eq!(server.to_string(), dead_addr),
            other => panic!("want ServerDown, got {other:?}"),
        }
        // No connect timeout (300 ms here) is paid: well under it.
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        client
            .set(&live_key, "1", Expiry::Never)
            .await
            .expect("other servers work");
    }
    let _back = Memcached::start_on(port, &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.get(&dead_key).await.is_err() {
        assert!(Instant::now() < deadline, "the server was not probed back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Eject: the dead server's keys move to the others, and only those; they move back
/// when it returns.
#[tokio::test]
async fn eject_moves_only_the_dead_servers_keys() {
    let mut servers = start(4);
    let client = quick()
        .dead_server_policy(DeadServerPolicy::Eject {
            dead_timeout: Duration::from_millis(200),
        })
        .connect_cluster(addrs(&servers))
        .await
        .unwrap();
    let keys: Vec<String> = (0..100_000).map(|i| format!("user:{i}")).collect();
    let home: Vec<String> = keys
        .iter()
        .map(|k| client.server_for(k).unwrap().to_string())
        .collect();
    let dead = servers[2].addr.clone();
    let port = servers[2].port();
    let on_dead: Vec<&String> = keys
        .iter()
        .zip(&home)
        .filter(|(_, h)| **h == dead)
        .map(|(k, _)| k)
        .collect();
    drop(servers.remove(2));
    for _ in 0..2 {
        assert!(client.get(on_dead[0]).await.is_err());
    }
    client
        .set(on_dead[0], "moved", Expiry::Never)
        .await
        .expect("moved to a live server");
    let mut moved = 0;
    for (k, h) in keys.iter().zip(&home) {
        let now = client.server_for(k).unwrap().to_string();
        if *h == dead {
            assert_ne!(now, dead);
            moved += 1;
        } else {
            assert_eq!(&now, h, "a live server's key moved: {k}");
        }
    }
    let share = moved as f64 / keys.len() as f64;
    eprintln!(
        "eject: {moved} of {} keys moved ({:.1} %), all of them the dead server's",
        keys.len(),
        share * 100.0
    );
    assert!((0.15..0.35).contains(&share), "{share}");
    let _back = Memcached::start_on(port, &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.server_for(on_dead[0]).unwrap().to_string() != dead {
        assert!(Instant::now() < deadline, "the server was not put back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        client.get(on_dead[0]).await.unwrap().is_none(),
        "back on its (new, empty) server"
    );
}

/// Gutter: the dead server's keys go to the gutter pool, with every TTL capped; the
/// regular servers never see them.
#[tokio::test]
async fn the_gutter_takes_a_dead_servers_keys_with_a_short_ttl() {
    let mut servers = start(2);
    let gutter = Memcached::start();
    let client = quick()
        .dead_server_policy(DeadServerPolicy::Gutter {
            servers: vec![gutter.addr.parse().unwrap()],
            max_ttl: Duration::from_secs(5),
        })
        .connect_cluster(addrs(&servers))
        .await
        .unwrap();
    let key = (0..)
        .map(|n| format!("g{n}"))
        .find(|k| client.server_for(k).unwrap().addr().to_string() == servers[1].addr)
        .unwrap();
    drop(servers.remove(1));
    for _ in 0..2 {
        assert!(client.get(&key).await.is_err());
    }
    assert_eq!(
        client.server_for(&key).unwrap().addr().to_string(),
        gutter.addr
    );
    client
        .set(&key, "in the gutter", Expiry::Never)
        .await
        .unwrap();
    assert_eq!(
        &client.get(&key).await.unwrap().unwrap().value[..],
        b"in the gutter"
    );
    let direct = Client::connect(gutter.addr.as_str()).await.unwrap();
    let ttl = direct
        .meta_get(&key, &MetaGet::new().return_ttl())
        .await
        .unwrap()
        .flags
        .ttl;
    assert!(
        matches!(ttl, Some(1..=5)),
        "capped TTL in the gutter: {ttl:?}"
    );
    let alive = Client::connect(servers[0].addr.as_str()).await.unwrap();
    assert!(
        alive.get(&key).await.unwrap().is_none(),
        "not on the live server"
    );
}

/// A server that cannot be reached when the client is built does not keep the others
/// from being used: it starts dead.
#[tokio::test]
async fn an_unreachable_server_at_build_time_starts_dead() {
    let servers = start(2);
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let nowhere = free();
    let mut list = addrs(&servers);
    list.push(nowhere.clone());
    let client = quick().connect_cluster(&list).await.unwrap();
    let key = (0..)
        .map(|n| format!("u{n}"))
        .find(|k| client.server_for(k).is_err())
        .unwrap();
    assert!(
        matches!(client.get(&key).await, Err(Error::ServerDown { server }) if server.to_string() == nowhere)
    );
    // All of them unreachable: that is an error.
    let err = quick().connect_cluster([nowhere, free()]).await;
    assert!(matches!(err, Err(Error::Connect(_))), "{err:?}");
}

/// The cache over a dead server: the loader runs and the row is returned, not cached,
/// and counted; or the error, if so configured.
#[tokio::test]
async fn the_cache_over_a_dead_server_loads_uncached() {
    let mut servers = start(3);
    let client = quick().connect_cluster(addrs(&servers)).await.unwrap();
    let cache = Cache::builder(client.clone(), "dead", StringCodec)
        .build()
        .unwrap();
    // The namespace version first (its server must stay up).
    cache.wire_key("x").await.unwrap();
    let version_server = client.server_for(b"dead#v").unwrap().to_string();
    let victim = servers
        .iter()
        .position(|s| s.addr != version_server)
        .unwrap();
    let victim_addr = servers[victim].addr.clone();
    let mut key = None;
    for n in 0.. {
        let k = format!("row{n}");
        let wire = cache.wire_key(&k).await.unwrap();
        if client.server_for(wire).unwrap().to_string() == victim_addr {
            key = Some(k);
            break;
        }
    }
    let key = key.unwrap();
    // A key on a live server, cached before the other one dies.
    let mut warm = None;
    for n in 0.. {
        let k = format!("warm{n}");
        let wire = cache.wire_key(&k).await.unwrap();
        if client.server_for(wire).unwrap().to_string() != victim_addr {
            warm = Some(k);
            break;
        }
    }
    let warm = warm.unwrap();
    cache
        .get_or_load(&warm, || async {
            Ok::<_, std::io::Error>(Some("w".into()))
        })
        .await
        .unwrap();
    drop(servers.remove(victim));
    let loads = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let load = || {
        let loads = loads.clone();
        async move {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Some("from the database".to_string()))
        }
    };
    for _ in 0..5 {
        // The first two fail on the way to teaching the client the server is dead.
        let _ = cache.get_or_load(&key, load).await;
    }
    let before = loads.load(Ordering::SeqCst);
    for _ in 0..3 {
        let row = cache.get_or_load(&key, load).await.unwrap();
        assert_eq!(row.as_deref(), Some("from the database"));
    }
    assert_eq!(
        loads.load(Ordering::SeqCst) - before,
        3,
        "loaded every time: not cached"
    );
    assert!(cache.metrics().uncached >= 3);
    let rows = cache
        .get_or_load_many(&[key.clone(), warm.clone()], |ks: Vec<String>| async move {
            Ok::<_, std::io::Error>(ks.iter().map(|_| Some("bulk".to_string())).collect())
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        [Some("bulk".into()), Some("w".into())],
        "the live key is a hit"
    );
    let strict = Cache::builder(client.clone(), "dead", StringCodec)
        .on_server_down(OnServerDown::Fail)
        .build()
        .unwrap();
    assert!(strict.get_or_load(&key, load).await.is_err());
}

#[tokio::test]
async fn flush_all_and_stats_reach_every_server() {
    let servers = start(3);
    let client = Client::connect_cluster(addrs(&servers)).await.unwrap();
    let keys: Vec<String> = (0..60).map(|i| format!("f{i}")).collect();
    for k in &keys {
        client.set(k, "1", Expiry::Never).await.unwrap();
    }
    let stats = client.stats_each().await;
    assert_eq!(stats.len(), 3);
    let items: u64 = stats
        .iter()
        .map(|(_, s)| s.as_ref().unwrap().get_u64("curr_items").unwrap())
        .sum();
    assert_eq!(items, 60);
    client.flush_all(None).await.unwrap();
    for k in &keys {
        assert!(client.get(k).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn bad_server_lists_are_refused_before_connecting() {
    // Nothing listens on port 1: each error comes before any connect.
    let none: [&str; 0] = [];
    type Case<'a> = (Vec<&'a str>, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        (none.to_vec(), |e| {
            matches!(e, Error::Config(ConfigError::NoServers))
        }),
        (vec!["127.0.0.1:1", "127.0.0.1:1"], |e| {
            matches!(e, Error::Config(ConfigError::DuplicateServer { .. }))
        }),
        (vec!["127.0.0.1:1:0"], |e| {
            matches!(e, Error::Config(ConfigError::ZeroWeight { .. }))
        }),
        (vec!["127.0.0.1"], |e| {
            matches!(e, Error::Input(InputError::BadAddress { .. }))
        }),
    ];
    for (list, ok) in cases {
        let started = Instant::now();
        let e = Client::connect_cluster(&list).await.expect_err("refused");
        assert!(ok(&e), "{list:?}: {e:?}");
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
