//! Every classic command and every reply kind, against a real memcached.

use std::time::{Duration, SystemTime};

use mcaside::client::CasOutcome;
use mcaside::{Error, Expiry, ServerErrorKind, StoreOptions};

use crate::{Memcached, both_clients, client};

#[tokio::test]
async fn set_get_gets_with_flags() {
    let server = Memcached::start();
    let c = client(&server).await;
    assert_eq!(c.get("k").await.unwrap(), None);
    c.set("k", "hello", StoreOptions::new().flags(u32::MAX))
        .await
        .unwrap();
    let item = c.get("k").await.unwrap().unwrap();
    assert_eq!(&item.value[..], b"hello");
    assert_eq!(item.flags, u32::MAX);
    assert_eq!(item.cas, None, "get does not return the cas unique");
    let item = c.gets("k").await.unwrap().unwrap();
    assert!(item.cas.is_some_and(|c| c > 0));
}

#[tokio::test]
async fn add_replace_append_prepend() {
    let server = Memcached::start();
    let c = client(&server).await;
    assert!(
        !c.replace("k", "x", Expiry::Never).await.unwrap(),
        "replace of a missing key"
    );
    assert!(
        !c.append("k", "x").await.unwrap(),
        "append to a missing key"
    );
    assert!(
        !c.prepend("k", "x").await.unwrap(),
        "prepend to a missing key"
    );
    assert_eq!(c.get("k").await.unwrap(), None, "nothing was created");
    assert!(
        c.add("k", "mid", StoreOptions::new().flags(3))
            .await
            .unwrap()
    );
    assert!(
        !c.add("k", "again", Expiry::Never).await.unwrap(),
        "add of a present key"
    );
    assert!(c.append("k", "-end").await.unwrap());
    assert!(c.prepend("k", "start-").await.unwrap());
    let item = c.get("k").await.unwrap().unwrap();
    assert_eq!(&item.value[..], b"start-mid-end");
    assert_eq!(item.flags, 3, "append and prepend keep the flags");
    assert!(c.replace("k", "new", Expiry::Never).await.unwrap());
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"new");
}

#[tokio::test]
async fn cas_stored_exists_not_found() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("k", "v1", Expiry::Never).await.unwrap();
    let cas = c.gets("k").await.unwrap().unwrap().cas.unwrap();
    assert_eq!(
        c.cas("k", "v2", cas, Expiry::Never).await.unwrap(),
        CasOutcome::Stored
    );
    // The same unique again: the item changed since, so EXISTS.
    assert_eq!(
        c.cas("k", "v3", cas, Expiry::Never).await.unwrap(),
        CasOutcome::Exists
    );
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"v2");
    assert_eq!(
        c.cas("missing", "v", cas, Expiry::Never).await.unwrap(),
        CasOutcome::NotFound
    );
}

#[tokio::test]
async fn delete_touch_gat_gats() {
    let server = Memcached::start();
    let c = client(&server).await;
    assert!(!c.delete("k").await.unwrap());
    assert!(!c.touch("k", Duration::from_secs(10)).await.unwrap());
    c.set("k", "v", Expiry::Never).await.unwrap();
    assert!(c.touch("k", Duration::from_secs(100)).await.unwrap());
    let hit = c.gat("k", Duration::from_secs(200)).await.unwrap().unwrap();
    assert_eq!((&hit.value[..], hit.cas), (&b"v"[..], None));
    let hit = c
        .gats("k", Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert!(hit.cas.is_some());
    let exp = remaining_ttl(&server, "k");
    assert!(
        (295..=300).contains(&exp),
        "gats set the TTL to 300, server says {exp}"
    );
    assert_eq!(
        c.gat("missing", Duration::from_secs(1)).await.unwrap(),
        None
    );
    assert!(c.delete("k").await.unwrap());
    assert_eq!(c.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn multi_key_retrievals() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        c.set("a", "1", StoreOptions::new().flags(5)).await.unwrap();
        c.set("c", "3", Expiry::Never).await.unwrap();
        let got = c.get_many(["a", "b", "c", "a"]).await.unwrap();
        let values: Vec<_> = got
            .iter()
            .map(|i| i.as_ref().map(|i| i.value.clone()))
            .collect();
        assert_eq!(
            values,
            [Some("1".into()), None, Some("3".into()), Some("1".into())],
            "{kind}"
        );
        assert_eq!(got[0].as_ref().unwrap().flags, 5, "{kind}");
        assert_eq!(got[0].as_ref().unwrap().cas, None, "{kind}");
        let got = c.gets_many(["a", "c"]).await.unwrap();
        assert!(
            got.iter().all(|i| i.as_ref().unwrap().cas.is_some()),
            "{kind}"
        );
        let got = c
            .gat_many(["a", "zz"], Duration::from_secs(500))
            .await
            .unwrap();
        assert!(got[0].is_some() && got[1].is_none(), "{kind}");
        assert!(remaining_ttl(&server, "a") > 490, "{kind}");
        let got = c.gats_many(["c"], Expiry::Never).await.unwrap();
        assert!(got[0].as_ref().unwrap().cas.is_some(), "{kind}");
        assert_eq!(remaining_ttl(&server, "c"), -1, "{kind}");
        assert!(
            c.get_many(Vec::<&str>::new()).await.unwrap().is_empty(),
            "{kind}"
        );
        c.flush_all(None).await.unwrap();
    }
}

#[tokio::test]
async fn ten_thousand_key_get_many() {
    let server = Memcached::start();
    let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i:05}")).collect();
    for (kind, c) in both_clients(&server).await {
        for k in keys.iter().step_by(2) {
            c.noreply().set(k, k, Expiry::Never).unwrap();
        }
        let (hits, misses) = (server.stat("get_hits"), server.stat("get_misses"));
        let got = c.get_many(&keys).await.unwrap();
        assert_eq!(got.len(), 10_000);
        for (i, (k, item)) in keys.iter().zip(&got).enumerate() {
            if i % 2 == 0 {
                assert_eq!(
                    &item.as_ref().expect("stored").value[..],
                    k.as_bytes(),
                    "{kind}"
                );
            } else {
                assert!(item.is_none(), "{kind}: {k} was never stored");
            }
        }
        assert_eq!(server.stat("get_hits") - hits, 5_000, "{kind}");
        assert_eq!(server.stat("get_misses") - misses, 5_000, "{kind}");
        c.flush_all(None).await.unwrap();
    }
}

#[tokio::test]
async fn incr_decr_wrap_and_floor() {
    let server = Memcached::start();
    let c = client(&server).await;
    assert_eq!(c.incr("n", 1).await.unwrap(), None, "incr of a missing key");
    c.set("n", u64::MAX.to_string(), Expiry::Never)
        .await
        .unwrap();
    assert_eq!(c.incr("n", 1).await.unwrap(), Some(0), "incr wraps at 2^64");
    assert_eq!(c.incr("n", 41).await.unwrap(), Some(41));
    assert_eq!(c.decr("n", 100).await.unwrap(), Some(0), "decr stops at 0");
    assert_eq!(c.decr("missing", 1).await.unwrap(), None);
}

#[tokio::test]
async fn incr_on_non_number_then_the_connection_still_works() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("word", "abc", Expiry::Never).await.unwrap();
    let err = c.incr("word", 1).await.unwrap_err();
    let Error::Server(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.kind, ServerErrorKind::Client);
    assert_eq!(e.message, "cannot increment or decrement non-numeric value");
    c.set("after", "ok", Expiry::Never).await.unwrap();
    assert_eq!(&c.get("after").await.unwrap().unwrap().value[..], b"ok");
}

#[tokio::test]
async fn one_second_exptime_disappears() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("short", "v", Duration::from_secs(1)).await.unwrap();
    assert!(c.get("short").await.unwrap().is_some());
    // The server's clock ticks in whole seconds: a 1 s item lives between 0 and 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(c.get("short").await.unwrap(), None);
}

#[tokio::test]
async fn negative_exptime_is_immediately_expired() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("k", "v", Expiry::Never).await.unwrap();
    c.set("k", "gone", Expiry::Expired).await.unwrap();
    assert_eq!(c.get("k").await.unwrap(), None);
    // An absolute time in the past does the same.
    let past = SystemTime::now() - Duration::from_secs(3600);
    c.set("k2", "v", past).await.unwrap();
    assert_eq!(c.get("k2").await.unwrap(), None);
}

#[tokio::test]
async fn thirty_day_rule_both_ways() {
    let server = Memcached::start();
    let c = client(&server).await;
    const DAY: u64 = 86_400;

    // Exactly 30 days is still relative.
    c.set("d30", "v", Duration::from_secs(30 * DAY))
        .await
        .unwrap();
    let ttl = remaining_ttl(&server, "d30");
    assert!(
        (30 * DAY - 5..=30 * DAY).contains(&(ttl as u64)),
        "ttl {ttl}"
    );

    // 31 days is past the relative limit: sent as an absolute time, it still means
    // 31 days from now.
    c.set("d31", "v", Duration::from_secs(31 * DAY))
        .await
        .unwrap();
    assert!(c.get("d31").await.unwrap().is_some());
    let ttl = remaining_ttl(&server, "d31");
    assert!(
        (31 * DAY - 5..=31 * DAY + 1).contains(&(ttl as u64)),
        "ttl {ttl}"
    );

    // What the server does with 31 days sent naively as seconds: 1970-02-01, dead.
    let raw = server.raw_until(
        format!("set naive 0 {} 1\r\nv\r\nget naive\r\n", 31 * DAY).as_bytes(),
        b"END\r\n",
    );
    assert_eq!(raw, b"STORED\r\nEND\r\n");

    // An absolute time an hour from now.
    c.set("abs", "v", SystemTime::now() + Duration::from_secs(3600))
        .await
        .unwrap();
    let ttl = remaining_ttl(&server, "abs");
    assert!((3590..=3601).contains(&ttl), "ttl {ttl}");

    // 2038 and beyond cannot be expressed.
    let err = c
        .set("far", "v", Duration::from_secs(100 * 365 * DAY))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Input(mcaside::InputError::ExpiryOutOfRange)
    ));
}

#[tokio::test]
async fn noreply_writes_then_a_read() {
    let server = Memcached::start();
    let c = client(&server).await;
    let n = c.noreply();
    n.set("a", "1", Expiry::Never).unwrap();
    n.add("a", "ignored", Expiry::Never).unwrap();
    n.add("b", "2", Expiry::Never).unwrap();
    n.append("a", "+").unwrap();
    n.prepend("a", "+").unwrap();
    n.replace("b", "22", Expiry::Never).unwrap();
    n.set("num", "10", Expiry::Never).unwrap();
    n.incr("num", 5).unwrap();
    n.decr("num", 1).unwrap();
    n.set("del", "x", Expiry::Never).unwrap();
    n.delete("del").unwrap();
    n.touch("b", Duration::from_secs(1000)).unwrap();
    n.cas("b", "never", 1, Expiry::Never).unwrap(); // wrong cas: silently not stored
    n.verbosity(0).unwrap();
    // A failing noreply command (too large) is silent too, and does not shift replies.
    n.set("huge", vec![0u8; 1 << 20], Expiry::Never).unwrap();
    let got = c.get_many(["a", "b", "num", "del", "huge"]).await.unwrap();
    let v = |i: usize| {
        got[i]
            .as_ref()
            .map(|x| String::from_utf8(x.value.to_vec()).unwrap())
    };
    assert_eq!(v(0).as_deref(), Some("+1+"));
    assert_eq!(v(1).as_deref(), Some("22"));
    assert_eq!(v(2).as_deref(), Some("14"));
    assert_eq!(v(3), None);
    assert_eq!(v(4), None);
    assert!(remaining_ttl(&server, "b") > 990);
    n.flush_all(None).unwrap();
    assert_eq!(c.get("a").await.unwrap(), None);
}

#[tokio::test]
async fn flush_all_version_stats_verbosity() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("k", "v", Expiry::Never).await.unwrap();
    c.flush_all(None).await.unwrap();
    assert_eq!(c.get("k").await.unwrap(), None);
    c.set("k", "v", Expiry::Never).await.unwrap();
    c.flush_all(Some(Duration::from_secs(2))).await.unwrap();
    assert!(
        c.get("k").await.unwrap().is_some(),
        "a delayed flush has not happened yet"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(c.get("k").await.unwrap(), None);

    let version = c.version().await.unwrap();
    assert!(version.starts_with("1."), "{version}");
    let stats = c.stats().await.unwrap();
    assert_eq!(stats.get("version"), Some(version.as_str()));
    assert_eq!(stats.get_u64("pid"), Some(u64::from(server.pid())));
    let settings = c.stats_group("settings").await.unwrap();
    assert_eq!(settings.get_u64("item_size_max"), Some(1 << 20));
    c.verbosity(1).await.unwrap();
    c.verbosity(0).await.unwrap();
    let err = c.stats_group("bogus").await.unwrap_err();
    assert!(
        matches!(err, Error::Server(ref e) if e.kind == ServerErrorKind::Error),
        "{err:?}"
    );
    assert!(c.get("still-works").await.unwrap().is_none());
}

#[tokio::test]
async fn quit_then_the_client_reconnects() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("k", "v", Expiry::Never).await.unwrap();
    let before = server.stat("total_connections");
    c.quit().unwrap();
    // The next request may race the server's close; the client reconnects either way,
    // and a request caught by the close fails with `Closed` rather than hanging.
    let mut got = None;
    for _ in 0..50 {
        match c.get("k").await {
            Ok(v) => {
                got = v;
                if server.stat("total_connections") > before {
                    break;
                }
            }
            Err(Error::Closed) => {}
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(&got.unwrap().value[..], b"v");
    assert!(
        server.stat("total_connections") > before,
        "a new connection was opened"
    );
}

#[tokio::test]
async fn unix_socket() {
    let server = Memcached::start_unix();
    let c = client(&server).await;
    c.set("k", "over a unix socket", Expiry::Never)
        .await
        .unwrap();
    assert_eq!(
        &c.get("k").await.unwrap().unwrap().value[..],
        b"over a unix socket"
    );
    assert_eq!(c.server().to_string(), server.addr);
}

/// The item's remaining TTL in seconds as the server reports it (`mg <key> t`), -1 for
/// none. (Not `me`: on 1.6.18 its `exp=` field has the wrong sign.)
pub fn remaining_ttl(server: &Memcached, key: &str) -> i64 {
    let reply = server.raw_until(format!("mg {key} t\r\n").as_bytes(), b"\r\n");
    let text = String::from_utf8(reply).unwrap();
    text.trim_end()
        .strip_prefix("HD t")
        .unwrap_or_else(|| panic!("no TTL in {text:?}"))
        .parse()
        .unwrap()
}
