//! Every reply is proven to be its request's: keys and opaque tokens are checked, and a
//! reply for another request closes the connection instead of reaching a caller.
//! (Issue 10, points 1 to 4.) Each test feeds the client a server that is wrong once,
//! through the fault proxy in front of a real memcached or a small hostile server.

use std::time::{Duration, Instant};

use mcaside::proto::Features;
use mcaside::proto::meta::MetaGet;
use mcaside::{Client, Error, Expiry, ProtocolError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::Memcached;
use crate::proxy::FaultProxy;

async fn classic_one(addr: &str) -> Client {
    Client::builder()
        .connections(1)
        .features(Features::CLASSIC)
        .request_timeout(Duration::from_secs(2))
        .connect(addr)
        .await
        .unwrap()
}

async fn meta_one(addr: &str) -> Client {
    Client::builder()
        .connections(1)
        .request_timeout(Duration::from_secs(2))
        .connect(addr)
        .await
        .unwrap()
}

/// A server that answers every request it reads with `reply(request)`.
async fn hostile(reply: fn(&[u8]) -> Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&reply(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn is_out_of_step(e: &Error) -> bool {
    matches!(e, Error::Protocol(_) | Error::Closed)
}

/// Point 1: a `VALUE` for another key is not this get's value.
#[tokio::test]
async fn a_value_for_another_key_is_refused() {
    let addr = hostile(|_| b"VALUE other 0 3\r\nabc\r\nEND\r\n".to_vec()).await;
    let c = classic_one(&addr).await;
    let err = c.get("k").await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Mismatch(_))),
        "{err:?}"
    );
}

/// Point 1: one extra `END` from the server shifts every later reply by one. No later
/// request may get another key's value.
#[tokio::test]
async fn an_extra_end_never_shifts_a_value_to_another_key() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(&server.addr).await;
    let c = classic_one(&proxy.addr).await;
    for k in ["a", "b", "c", "d", "e"] {
        c.set(k, format!("value of {k}"), Expiry::Never)
            .await
            .unwrap();
    }
    let mut wrong = 0;
    for _ in 0..10 {
        proxy.dup_line(b"END");
        // Alternating get and gets, so that the requests are not merged into one line.
        let results = crate::join_all(["a", "b", "c", "d", "e"].into_iter().enumerate().map(
            |(i, k)| {
                let c = c.clone();
                async move {
                    if i % 2 == 0 {
                        c.get(k).await
                    } else {
                        c.gets(k).await
                    }
                }
            },
        ))
        .await;
        for (k, r) in ["a", "b", "c", "d", "e"].iter().zip(results) {
            match r {
                Ok(Some(item)) if item.value != format!("value of {k}").as_bytes() => wrong += 1,
                Ok(None) if *k != "b" => wrong += 1, // only b can get the stray END
                Ok(_) => {}
                Err(e) => assert!(is_out_of_step(&e), "{e:?}"),
            }
        }
    }
    assert_eq!(wrong, 0, "replies handed to the wrong request");
}

/// Point 2: a stray `VALUE` in the reply to merged gets is an error, not three misses.
#[tokio::test]
async fn a_stray_value_in_merged_gets_is_an_error() {
    let addr = hostile(|req| {
        if req.starts_with(b"get") {
            b"VALUE other 0 1\r\nX\r\nEND\r\n".to_vec()
        } else {
            b"ERROR\r\n".to_vec()
        }
    })
    .await;
    let c = classic_one(&addr).await;
    let results = crate::join_all([c.get("b"), c.get("c"), c.get("d")]).await;
    for r in results {
        let err = r.expect_err("a miss or a value from a stray VALUE line");
        assert!(is_out_of_step(&err), "{err:?}");
    }
}

/// Point 3: a meta reply returning another key (`k`), or another opaque token.
#[tokio::test]
async fn a_meta_reply_for_another_key_or_token_is_refused() {
    // Echoes the request's opaque token (if any), with the key "other".
    let addr = hostile(|req| {
        let token = req
            .split(|&b| b == b' ' || b == b'\r')
            .find(|t| t.starts_with(b"O"))
            .map(|t| t.to_vec())
            .unwrap_or_default();
        [&b"VA 1 kother "[..], &token, b"\r\nX\r\n"].concat()
    })
    .await;
    let c = Client::builder()
        .connections(1)
        .features(Features::ALL)
        .connect(addr.as_str())
        .await
        .unwrap();
    let err = c
        .meta_get("k", &MetaGet::new().return_value().return_key())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Mismatch(_))),
        "{err:?}"
    );
    // O5 answered O7.
    let addr = hostile(|_| b"HD O7\r\n".to_vec()).await;
    let c = Client::builder()
        .connections(1)
        .features(Features::ALL)
        .connect(addr.as_str())
        .await
        .unwrap();
    let err = c
        .meta_get("k", &MetaGet::new().opaque(5u32))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Mismatch(_))),
        "{err:?}"
    );
}

/// Point 3: a plain `get` on a meta server carries an opaque token, so a stray `EN`
/// cannot shift later replies.
#[tokio::test]
async fn a_stray_miss_on_a_meta_server_shifts_nothing() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(&server.addr).await;
    let c = meta_one(&proxy.addr).await;
    for k in ["b", "c", "d"] {
        c.set(k, format!("value of {k}"), Expiry::Never)
            .await
            .unwrap();
    }
    let mut wrong = 0;
    for _ in 0..10 {
        proxy.dup_line(b"EN");
        let results = crate::join_all([c.get("missing"), c.get("b"), c.get("c"), c.get("d")]).await;
        for (k, r) in ["missing", "b", "c", "d"].iter().zip(results) {
            match r {
                Ok(Some(item)) if item.value != format!("value of {k}").as_bytes() => wrong += 1,
                Ok(None) if *k != "missing" => wrong += 1,
                Ok(Some(_)) if *k == "missing" => wrong += 1,
                Ok(_) => {}
                Err(e) => assert!(is_out_of_step(&e), "{e:?}"),
            }
        }
    }
    assert_eq!(wrong, 0, "replies handed to the wrong request");
}

/// Point 4: bytes that arrive on an idle connection (after a lone caller drove it) are
/// read when they arrive and close the connection; they are not kept for the next
/// request.
#[tokio::test]
async fn bytes_on_an_idle_connection_close_it_when_they_arrive() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(&server.addr).await;
    let c = classic_one(&proxy.addr).await;
    c.set("k", "real", Expiry::Never).await.unwrap();
    // A lone caller: the fast path, which leaves the connection idle when done.
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"real");
    assert_eq!(proxy.closed_by_client(), 0);
    proxy.inject(b"VALUE k 0 5\r\nstray\r\nEND\r\n");
    let deadline = Instant::now() + Duration::from_secs(2);
    while proxy.closed_by_client() == 0 {
        assert!(
            Instant::now() < deadline,
            "the stray bytes were not noticed while the connection was idle"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The next request goes out on a new connection and gets its own reply.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match c.get("k").await {
            Ok(v) => {
                assert_eq!(&v.unwrap().value[..], b"real");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(is_out_of_step(&e) || matches!(e, Error::Io(_)), "{e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(proxy.accepted(), 2);
}

/// Point 4, the race: a stray meta reply pushed just as a request goes out carries no
/// token of ours, so it is refused rather than taken for the reply.
#[tokio::test]
async fn a_reply_pushed_as_a_request_goes_out_is_refused() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(&server.addr).await;
    let c = meta_one(&proxy.addr).await;
    c.set("k", "real", Expiry::Never).await.unwrap();
    let mut wrong = 0;
    for _ in 0..10 {
        proxy.inject_on(b"mg ", b"VA 5 f0\r\nstray\r\n");
        match c.get("k").await {
            Ok(Some(item)) if &item.value[..] != b"real" => wrong += 1,
            Ok(None) => wrong += 1,
            Ok(_) => {}
            Err(e) => assert!(is_out_of_step(&e) || matches!(e, Error::Io(_)), "{e:?}"),
        }
    }
    assert_eq!(wrong, 0);
}

/// The proxy's 1-byte writes, delays and resets change nothing about which reply goes
/// where.
#[tokio::test]
async fn one_byte_writes_delays_and_resets_keep_replies_straight() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(&server.addr).await;
    for c in [meta_one(&proxy.addr).await, classic_one(&proxy.addr).await] {
        for i in 0..20 {
            c.set(format!("k{i}"), format!("v{i}"), Expiry::Never)
                .await
                .unwrap();
        }
        proxy.one_byte_writes(true);
        proxy.delay(Duration::from_millis(1));
        let results = crate::join_all((0..20).map(|i| {
            let c = c.clone();
            async move { c.get(format!("k{i}")).await }
        }))
        .await;
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r.unwrap().unwrap().value, format!("v{i}").as_bytes());
        }
        proxy.one_byte_writes(false);
        proxy.delay(Duration::ZERO);
        proxy.reset_connections();
        // After the reset, requests fail with a typed error or succeed on a new
        // connection, and every value that comes back is its key's.
        for i in 0..20 {
            match c.get(format!("k{i}")).await {
                Ok(v) => assert_eq!(v.unwrap().value, format!("v{i}").as_bytes()),
                Err(e) => assert!(
                    matches!(e, Error::Io(_) | Error::Closed | Error::Timeout),
                    "{e:?}"
                ),
            }
        }
    }
}
