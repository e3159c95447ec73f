//! Keys, sizes and bytes at and past the limits.

use std::time::Duration;

use mcaside::{Error, Expiry, InputError, ServerErrorKind};

use crate::{Memcached, client};

#[tokio::test]
async fn keys_of_250_and_251_bytes() {
    let server = Memcached::start();
    let c = client(&server).await;
    let k250 = "k".repeat(250);
    c.set(&k250, "v", Expiry::Never).await.unwrap();
    assert_eq!(&c.get(&k250).await.unwrap().unwrap().value[..], b"v");
    let k251 = "k".repeat(251);
    let before = (server.stat("cmd_get"), server.stat("cmd_set"));
    assert!(matches!(
        c.set(&k251, "v", Expiry::Never).await,
        Err(Error::Input(InputError::KeyTooLong { len: 251 }))
    ));
    assert!(matches!(
        c.get(&k251).await,
        Err(Error::Input(InputError::KeyTooLong { .. }))
    ));
    assert_eq!(
        (server.stat("cmd_get"), server.stat("cmd_set")),
        before,
        "nothing reached the server"
    );
}

#[tokio::test]
async fn bad_keys_are_rejected_with_nothing_sent() {
    let server = Memcached::start();
    let c = client(&server).await;
    let classic = crate::classic_client(&server).await;
    c.set("a", "precious", Expiry::Never).await.unwrap();
    let before = (
        server.stat("cmd_get"),
        server.stat("cmd_set"),
        server.stat("cmd_flush"),
    );
    let bad: [&[u8]; 7] = [
        b"with space",
        b"cr\rin",
        b"lf\nin",
        b"nul\0in",
        b"a\r\nflush_all",
        b"tab\tin",
        b"",
    ];
    for key in bad {
        for result in [
            c.get(key).await.map(drop),
            c.set(key, "v", Expiry::Never).await,
            c.delete(key).await.map(drop),
            c.incr(key, 1).await.map(drop),
            c.touch(key, Expiry::Never).await.map(drop),
            c.get_many([&b"fine"[..], key]).await.map(drop),
            classic.get_many([&b"fine"[..], key]).await.map(drop),
            c.noreply().set(key, "v", Expiry::Never),
        ] {
            assert!(
                matches!(result, Err(Error::Input(_))),
                "{key:?}: {result:?}"
            );
        }
    }
    assert_eq!(
        (
            server.stat("cmd_get"),
            server.stat("cmd_set"),
            server.stat("cmd_flush")
        ),
        before,
        "no command reached the server"
    );
    // In particular the injected flush_all never ran.
    assert_eq!(&c.get("a").await.unwrap().unwrap().value[..], b"precious");
}

#[tokio::test]
async fn binary_values_with_crlf_and_nul() {
    let server = Memcached::start();
    let c = client(&server).await;
    let value: Vec<u8> = b"\r\nEND\r\n\0VALUE x 0 1\r\n"
        .iter()
        .copied()
        .chain(0..=255u8)
        .collect();
    c.set("bin", &value, Expiry::Never).await.unwrap();
    assert_eq!(&c.get("bin").await.unwrap().unwrap().value[..], &value[..]);
    c.set("empty", "", Expiry::Never).await.unwrap();
    assert_eq!(&c.get("empty").await.unwrap().unwrap().value[..], b"");
    // And the stream is still in step afterwards.
    assert_eq!(
        c.get_many(["bin", "empty"])
            .await
            .unwrap()
            .iter()
            .flatten()
            .count(),
        2
    );
}

#[tokio::test]
async fn values_at_and_over_the_item_size_limit() {
    let server = Memcached::start();
    let c = mcaside::Client::builder()
        .request_timeout(Duration::from_secs(10))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    let limit = c
        .stats_group("settings")
        .await
        .unwrap()
        .get_u64("item_size_max")
        .unwrap() as usize;
    assert_eq!(limit, 1 << 20);

    // The limit covers the whole item (header, key, value), so find the largest value
    // that fits by bisection, with the real server as the judge.
    let stores = |n: usize| {
        let c = c.clone();
        async move {
            match c.set("big", vec![b'x'; n], Expiry::Never).await {
                Ok(()) => true,
                Err(Error::Server(e)) => {
                    assert_eq!(e.kind, ServerErrorKind::Server);
                    assert_eq!(e.message, "object too large for cache");
                    false
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    let (mut lo, mut hi) = (limit - 1024, limit);
    assert!(stores(lo).await && !stores(hi).await);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if stores(mid).await {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    assert!(limit - lo < 100, "largest storable value is {lo} bytes");
    // At the limit: stored and read back intact.
    let at: Vec<u8> = (0..lo).map(|i| (i % 251) as u8).collect();
    c.set("big", &at, Expiry::Never).await.unwrap();
    assert_eq!(c.get("big").await.unwrap().unwrap().value.len(), lo);
    assert_eq!(&c.get("big").await.unwrap().unwrap().value[..], &at[..]);
    // One byte over: SERVER_ERROR, and the connection carries on. The server also
    // unlinks the key's old value, so that a failed set cannot leave stale data behind.
    assert!(!stores(lo + 1).await);
    assert_eq!(c.get("big").await.unwrap(), None);
    println!("item_size_max {limit}: largest value for a 3-byte key is {lo} bytes");
}

#[tokio::test]
async fn values_over_the_local_limit_are_not_sent() {
    let server = Memcached::start();
    let c = client(&server).await;
    let before = server.stat("cmd_set");
    let err = c
        .set("k", vec![0u8; 2 << 20], Expiry::Never)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Input(InputError::ValueTooLarge { len, .. }) if len == 2 << 20));
    assert_eq!(server.stat("cmd_set"), before);
}

#[tokio::test]
async fn a_larger_item_size_with_raised_limits() {
    let server = Memcached::start_with(&["-I", "4m"]);
    let c = mcaside::Client::builder()
        .limits(mcaside::proto::Limits::new().max_value(4 << 20))
        .request_timeout(Duration::from_secs(10))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    let value = vec![7u8; 3 << 20];
    c.set("k", &value, Expiry::Never).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().unwrap().value.len(), 3 << 20);
}
