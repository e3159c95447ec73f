//! Bounds on what the client sends and keeps (issue 10, points 5 to 9): durations that
//! do not fit the wire, line lengths the server closes on, values over the limit,
//! memory while the server stalls, a server that goes silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcaside::proto::Features;
use mcaside::proto::meta::MetaGet;
use mcaside::{Client, Error, Expiry, InputError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::{Memcached, both_clients};

/// Point 5: `Duration::MAX` is out of range everywhere, never a wrap to "never" or
/// "now".
#[tokio::test]
async fn duration_max_is_out_of_range_and_nothing_is_sent() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        c.set("k", "kept", Expiry::Never).await.unwrap();
        let before = (server.stat("cmd_set"), server.stat("cmd_flush"));
        let out_of_range =
            |r: mcaside::Result<()>| matches!(r, Err(Error::Input(InputError::ExpiryOutOfRange)));
        assert!(out_of_range(c.set("k", "v", Duration::MAX).await), "{kind}");
        assert!(
            out_of_range(c.noreply().set("k", "v", Duration::MAX)),
            "{kind}"
        );
        assert!(
            out_of_range(c.noreply().flush_all(Some(Duration::MAX))),
            "{kind}"
        );
        assert!(
            out_of_range(c.flush_all(Some(Duration::MAX)).await),
            "{kind}"
        );
        assert!(
            out_of_range(c.touch("k", Duration::MAX).await.map(drop)),
            "{kind}"
        );
        assert!(
            out_of_range(c.gat("k", Duration::MAX).await.map(drop)),
            "{kind}"
        );
        assert_eq!(
            (server.stat("cmd_set"), server.stat("cmd_flush")),
            before,
            "{kind}: nothing reached the server"
        );
        assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"kept");
    }
    let c = crate::client(&server).await;
    for flags in [
        MetaGet::new().recache(Duration::MAX),
        MetaGet::new().vivify(Duration::MAX),
        MetaGet::new().touch(Duration::MAX),
    ] {
        assert!(matches!(
            c.meta_get("k", &flags).await,
            Err(Error::Input(InputError::ExpiryOutOfRange))
        ));
    }
}

/// Point 6: `gat`/`gats` of many long keys stay under the line length memcached
/// 1.6.18 closes the connection on, and a request in flight beside them is unharmed.
#[tokio::test]
async fn long_gat_and_gats_lines_are_split_by_bytes() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        // 200 keys: about 100 per connection, a 24 KiB `gat` line if sent as one.
        let keys: Vec<String> = (0..200)
            .map(|i| format!("{i:05}{}", "k".repeat(240)))
            .collect();
        for k in &keys {
            c.set(k, "v", Expiry::Never).await.unwrap();
        }
        let conns = server.stat("total_connections");
        let (gat, gats, other) = tokio::join!(
            c.gat_many(&keys, Duration::from_secs(600)),
            c.gats_many(&keys, Duration::from_secs(600)),
            c.get(&keys[0]),
        );
        for r in [gat.unwrap(), gats.unwrap()] {
            assert_eq!(r.iter().flatten().count(), keys.len(), "{kind}");
        }
        assert!(other.unwrap().is_some());
        assert_eq!(
            server.stat("total_connections"),
            conns + 1, // the stat's own connection
            "{kind}: no connection was closed and re-opened"
        );
    }
}

/// Point 7: a value over `max_value` fails its own request, skipped as it streams; the
/// 199 requests around it and the connection are unharmed.
#[tokio::test]
async fn an_oversized_value_fails_alone() {
    let server = Memcached::start_with(&["-I", "2m"]);
    let big_client = Client::builder()
        .limits(mcaside::proto::Limits::new().max_value(2 << 20))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    big_client
        .set("big", vec![b'x'; 1_500_000], Expiry::Never)
        .await
        .unwrap();
    for (kind, c) in both_clients(&server).await {
        let c = Client::builder()
            .connections(1)
            .features(c.features())
            .request_timeout(Duration::from_secs(5))
            .connect(server.addr.as_str())
            .await
            .unwrap();
        for i in 0..199 {
            c.set(format!("small{i}"), format!("v{i}"), Expiry::Never)
                .await
                .unwrap();
        }
        let conns = server.stat("total_connections");
        let results = crate::join_all((0..200).map(|i| {
            let c = c.clone();
            async move {
                if i == 100 {
                    c.get("big").await
                } else {
                    c.get(format!("small{}", if i > 100 { i - 1 } else { i }))
                        .await
                }
            }
        }))
        .await;
        for (i, r) in results.into_iter().enumerate() {
            if i == 100 {
                let err = r.unwrap_err();
                assert!(
                    matches!(err, Error::ValueTooLarge { len: 1_500_000, .. }),
                    "{kind}: {err:?}"
                );
            } else {
                let n = if i > 100 { i - 1 } else { i };
                assert_eq!(
                    r.unwrap().unwrap().value,
                    format!("v{n}").as_bytes(),
                    "{kind}"
                );
            }
        }
        assert_eq!(
            server.stat("total_connections"),
            conns + 1, // the stat's own connection
            "{kind}: connection kept"
        );
        assert!(
            c.buffer_usage().capacity < 1 << 20,
            "{:?}",
            c.buffer_usage()
        );
    }
}

/// Point 8: while the server is stopped, the bytes queued per connection stay within
/// the budget, requests past it fail typed, the sets whose callers gave up before
/// they were written are not applied when the server comes back, and the buffers
/// shrink back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_costs_bounded_memory() {
    let server = Memcached::start_with(&["-m", "256"]);
    let budget = 1 << 20;
    let c = Client::builder()
        .connections(1)
        .write_budget(budget)
        .request_timeout(Duration::from_millis(500))
        .no_silent_timeout_limit()
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("warm", "x", Expiry::Never).await.unwrap();
    let before = server.stat("cmd_set");
    server.pause();
    let (attempted, ok, peak) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let stop = Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let (c, attempted, ok, peak) = (c.clone(), attempted.clone(), ok.clone(), peak.clone());
            tokio::spawn(async move {
                let value = vec![b'v'; 100_000];
                while Instant::now() < stop {
                    attempted.fetch_add(1, Ordering::Relaxed);
                    match c.set(format!("k{t}"), &value, Expiry::Never).await {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::Timeout | Error::QueueFull) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                    peak.fetch_max(c.buffer_usage().unsent, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    server.resume();
    // Let the server drain what reached it, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.set("after", "x", Expiry::Never).await.unwrap();
    let applied = server.stat("cmd_set") - before - 1;
    let (attempted, ok) = (
        attempted.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed),
    );
    println!(
        "attempted {attempted}, ok {ok}, applied {applied}, peak unsent {}",
        peak.load(Ordering::Relaxed)
    );
    assert!(
        // Callers are let in while the queue is under the budget; several let in at
        // once (one per worker thread) can each add one value over it.
        peak.load(Ordering::Relaxed) <= budget + 4 * 100_100,
        "unsent bytes over budget: {}",
        peak.load(Ordering::Relaxed)
    );
    // What the kernel's socket buffers took before the stop was noticed is applied;
    // what the client still held for callers that had given up is not.
    assert!(
        applied < attempted as u64 / 2,
        "{applied} of {attempted} attempted sets were applied after the server came back"
    );
    let usage = c.buffer_usage();
    assert!(
        usage.capacity < 512 * 1024,
        "buffers did not shrink back: {usage:?}"
    );
}

/// Point 8: a write that must go out (an invalidation) is sent even though its caller
/// was gone before it was written.
#[tokio::test]
async fn a_must_send_write_goes_out_after_its_caller_is_gone() {
    let server = Memcached::start();
    for (kind, c) in both_clients(&server).await {
        c.set("inv", "old", Expiry::Never).await.unwrap();
        server.pause();
        // Queued behind a stopped server, then abandoned by its caller.
        let quick = c.must_send();
        assert!(crate::poll_once(std::pin::pin!(quick.delete("inv"))).await);
        let gone = c.clone();
        assert!(crate::poll_once(std::pin::pin!(gone.set("plain", "x", Expiry::Never))).await);
        server.resume();
        let deadline = Instant::now() + Duration::from_secs(2);
        while c.get("inv").await.ok().flatten().is_some() {
            assert!(
                Instant::now() < deadline,
                "{kind}: the must-send delete never ran"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Point 9: a server that keeps the connection open but answers nothing is abandoned
/// after `max_silent_timeouts` timeouts in a row, and dialled again.
#[tokio::test]
async fn a_silent_server_is_abandoned_and_redialled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            // Reads everything, answers nothing, never closes.
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(1..) = s.read(&mut buf).await {}
                std::future::pending::<()>().await;
            });
        }
    });
    let c = Client::builder()
        .connections(1)
        .features(Features::CLASSIC)
        .request_timeout(Duration::from_millis(100))
        .max_silent_timeouts(3)
        .connect(addr.as_str())
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(c.get("k").await, Err(Error::Timeout)));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while accepted.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the silent connection was never dropped and re-dialled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Point 9: TCP keepalive is set on the client's sockets (read back with `ss`).
#[tokio::test]
async fn tcp_keepalive_is_set() {
    let server = Memcached::start();
    let c = Client::builder()
        .connections(1)
        .tcp_keepalive(Duration::from_secs(7))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("k", "v", Expiry::Never).await.unwrap();
    let out = std::process::Command::new("ss")
        .args(["-tnoH", "state", "established"])
        .args(["dst", &server.addr])
        .output()
        .expect("ss (iproute2) is installed by ./scripts/test");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no client socket to {}: {text}", server.addr));
    // `timer:(keepalive,6.992ms,0)` (ss's way of printing 6.992 s), counting down from
    // the 7 s asked for; without it, a Linux socket has no keepalive timer at all, or
    // the 2-hour default (`119min`).
    let timer = line
        .split("timer:(keepalive,")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .unwrap_or_else(|| panic!("no keepalive timer: {line}"));
    assert!(
        timer.starts_with(['6', '7']) && !timer.contains("min"),
        "{line}"
    );
}
