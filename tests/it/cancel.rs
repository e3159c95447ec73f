//! Dropped and timed-out requests never hand their reply to the next caller.

use std::time::Duration;

use mcaside::{Client, Error, Expiry};

use crate::{Memcached, client};

#[tokio::test]
async fn timed_out_get_of_a_then_get_of_b() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("A", "value of A", Expiry::Never).await.unwrap();
    c.set("B", "value of B", Expiry::Never).await.unwrap();
    for _ in 0..200 {
        assert!(
            crate::poll_once(std::pin::pin!(c.get("A"))).await,
            "the get of A was in flight"
        );
        let b = c.get("B").await.unwrap().unwrap();
        assert_eq!(&b.value[..], b"value of B");
    }
}

#[tokio::test]
async fn select_drops_a_request_mid_flight() {
    let server = Memcached::start();
    let c = client(&server).await;
    let big = vec![b'a'; 900_000];
    c.set("A", &big, Expiry::Never).await.unwrap();
    c.set("B", "b", Expiry::Never).await.unwrap();
    let mut abandoned = 0;
    for _ in 0..20 {
        tokio::select! {
            r = c.get("A") => assert_eq!(r.unwrap().unwrap().value.len(), big.len()),
            _ = tokio::task::yield_now() => abandoned += 1,
        }
        assert_eq!(&c.get("B").await.unwrap().unwrap().value[..], b"b");
    }
    assert!(
        abandoned > 0,
        "some gets of A were dropped before their reply"
    );
}

#[tokio::test]
async fn request_timeout_on_a_stopped_server_then_recovery() {
    let server = Memcached::start();
    let c = Client::builder()
        .request_timeout(Duration::from_millis(200))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("A", "value of A", Expiry::Never).await.unwrap();
    c.set("B", "value of B", Expiry::Never).await.unwrap();
    server.pause();
    let err = c.get("A").await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    server.resume();
    // The server now answers the abandoned get of A first; that reply must be dropped.
    let b = c.get("B").await.unwrap().unwrap();
    assert_eq!(&b.value[..], b"value of B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_get_their_own_replies() {
    let server = Memcached::start();
    let c = client(&server).await;
    for i in 0..64 {
        c.set(format!("key{i}"), format!("value{i}"), Expiry::Never)
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                for round in 0..300 {
                    let key = format!("key{}", (i + round) % 64);
                    let want = format!("value{}", (i + round) % 64);
                    // Every few rounds, abandon a request to stir the queue.
                    if round % 7 == 0 {
                        crate::poll_once(std::pin::pin!(c.get(&key))).await;
                    }
                    let got = c.get(&key).await.unwrap().unwrap();
                    assert_eq!(got.value, want.as_bytes());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn a_stashed_request_does_not_stall_others() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("A", "a", Expiry::Never).await.unwrap();
    c.set("B", "b", Expiry::Never).await.unwrap();
    // Poll a get once (on an idle connection it takes the fast path and drives the
    // socket itself), then keep it without polling it again.
    let mut stashed = Box::pin(c.get("A"));
    let first =
        std::future::poll_fn(|cx| std::task::Poll::Ready(stashed.as_mut().poll(cx).is_pending()))
            .await;
    assert!(first, "the stashed get was in flight");
    // Another task's requests still complete: the I/O task takes over driving.
    let other = c.clone();
    let got = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::spawn(async move { other.get("B").await }),
    )
    .await
    .expect("not stalled by the stashed future")
    .unwrap()
    .unwrap();
    assert_eq!(&got.unwrap().value[..], b"b");
    // And the stashed future, polled again, gets its own reply.
    assert_eq!(&stashed.await.unwrap().unwrap().value[..], b"a");
}

/// The connection keeps one timer for all its requests' deadlines: requests started at
/// different moments against a stopped server each fail at their own deadline, none
/// early (a sweep for an earlier deadline must not take later ones with it) and none
/// much late (the timer is re-armed for the next deadline), and the stream is still in
/// step once the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_times_out_at_its_own_deadline() {
    let server = Memcached::start();
    let timeout = Duration::from_millis(300);
    let c = Client::builder()
        .connections(1)
        .request_timeout(timeout)
        .no_silent_timeout_limit()
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("B", "value of B", Expiry::Never).await.unwrap();
    server.pause();
    let tasks: Vec<_> = (0..40u64)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 15)).await;
                let started = std::time::Instant::now();
                let r = c.get(format!("k{i}")).await;
                (r, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (r, waited) = t.await.unwrap();
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        assert!(waited >= timeout, "timed out early, after {waited:?}");
        // Generous, as tests run side by side on a small machine: a timer left at a
        // past deadline, or never re-armed, would leave these waiting for good.
        assert!(
            waited < timeout + Duration::from_secs(2),
            "timed out late, after {waited:?}"
        );
    }
    server.resume();
    let b = c.get("B").await.unwrap().unwrap();
    assert_eq!(&b.value[..], b"value of B");
}
