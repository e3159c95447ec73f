//! How concurrent requests go on the wire, seen through a counting proxy in front of a
//! real memcached: coalesced classic gets, meta forms for single-key commands.

use std::sync::{Arc, Mutex};

use mcaside::proto::Features;
use mcaside::{Client, Expiry};

use crate::Memcached;

/// A proxy that keeps a copy of what the client sent.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    let up = move |chunk: &[u8]| record.lock().unwrap().extend_from_slice(chunk);
    (crate::proxy::proxy(&upstream, up, |_| true).await, sent)
}

/// A classic-only client with one connection, so every get shares one queue.
async fn classic_one_connection(addr: &str) -> Client {
    Client::builder()
        .connections(1)
        .features(Features::CLASSIC)
        .connect(addr)
        .await
        .unwrap()
}

fn lines_starting(sent: &Arc<Mutex<Vec<u8>>>, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&sent.lock().unwrap())
        .split("\r\n")
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn concurrent_classic_gets_share_get_lines() {
    let server = Memcached::start();
    let (addr, sent) = recording_proxy(server.addr.clone()).await;
    let c = classic_one_connection(addr.as_str()).await;
    for i in (0..50).step_by(2) {
        c.set(format!("k{i}"), format!("v{i}"), Expiry::Never)
            .await
            .unwrap();
    }
    let keys: Vec<String> = (0..50)
        .map(|i| format!("k{}", i % 50))
        .chain(["k0".into(), "k1".into()])
        .collect();
    // Each get is its own future, all polled together, as 52 tasks would.
    let gets: Vec<_> = keys.iter().map(|k| c.get(k)).collect();
    let results = crate::join_all(gets).await;
    for (k, r) in keys.iter().zip(results) {
        let i: usize = k[1..].parse().unwrap();
        let got = r.unwrap().map(|item| item.value);
        assert_eq!(
            got.as_deref(),
            i.is_multiple_of(2)
                .then(|| format!("v{i}"))
                .as_deref()
                .map(str::as_bytes),
            "{k}"
        );
    }
    let get_lines = lines_starting(&sent, "get ");
    assert!(
        get_lines.len() <= 3,
        "52 gets should travel in at most 3 lines, got {}: {get_lines:?}",
        get_lines.len()
    );
    assert_eq!(
        get_lines
            .iter()
            .map(|l| l.split(' ').count() - 1)
            .sum::<usize>(),
        52
    );
}

#[tokio::test]
async fn a_noreply_write_between_gets_is_not_overtaken() {
    let server = Memcached::start();
    let (addr, sent) = recording_proxy(server.addr.clone()).await;
    let c = classic_one_connection(addr.as_str()).await;
    c.set("k", "old", Expiry::Never).await.unwrap();
    let first = c.get("k");
    let second = c.get("k");
    let mut first = Box::pin(first);
    let mut second = Box::pin(second);
    // Queue: get k, then a noreply set, then get k: the second get must see the set,
    // so it cannot be merged into the first get's line.
    crate::poll_once(first.as_mut()).await;
    c.noreply().set("k", "new", Expiry::Never).unwrap();
    crate::poll_once(second.as_mut()).await;
    assert_eq!(&first.await.unwrap().unwrap().value[..], b"old");
    assert_eq!(&second.await.unwrap().unwrap().value[..], b"new");
    assert_eq!(lines_starting(&sent, "get ").len(), 2);
}

#[tokio::test]
async fn a_dropped_coalesced_get_leaves_the_others_their_replies() {
    let server = Memcached::start();
    let c = classic_one_connection(server.addr.as_str()).await;
    for k in ["a", "b", "c"] {
        c.set(k, k, Expiry::Never).await.unwrap();
    }
    let mut a = Box::pin(c.get("a"));
    let mut b = Box::pin(c.get("b"));
    let mut cc = Box::pin(c.get("c"));
    for f in [a.as_mut(), b.as_mut(), cc.as_mut()] {
        crate::poll_once(f).await;
    }
    drop(b);
    assert_eq!(&a.await.unwrap().unwrap().value[..], b"a");
    assert_eq!(&cc.await.unwrap().unwrap().value[..], b"c");
    assert_eq!(&c.get("b").await.unwrap().unwrap().value[..], b"b");
}

#[tokio::test]
async fn on_a_meta_server_single_key_commands_use_meta_forms() {
    let server = Memcached::start();
    let (addr, sent) = recording_proxy(server.addr.clone()).await;
    let c = Client::connect(addr.as_str()).await.unwrap();
    c.set("k", "v", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        c.add("k", "x", Expiry::Never)
            .await
            .is_ok_and(|stored| !stored)
    );
    c.get("k").await.unwrap().unwrap();
    let cas = c.gets("k").await.unwrap().unwrap().cas.unwrap();
    assert_eq!(
        c.cas("k", "w", cas, Expiry::Never).await.unwrap(),
        mcaside::CasOutcome::Stored
    );
    assert!(c.delete("k").await.unwrap());
    assert_eq!(lines_starting(&sent, "ms ").len(), 3);
    assert_eq!(lines_starting(&sent, "mg ").len(), 2);
    assert_eq!(lines_starting(&sent, "md ").len(), 1);
    assert!(lines_starting(&sent, "get ").is_empty() && lines_starting(&sent, "set ").is_empty());
}

/// 10,000 gets awaited together on one connection: each is polled when it is queued
/// and once more when its reply is there, not again on every other reply's wake (as
/// `join_all` did before, 415,632 polls here), nor once per pass after tokio's budget
/// for the task's poll is spent.
#[tokio::test]
async fn join_all_polls_each_request_about_twice() {
    use std::future::{Future, poll_fn};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const N: usize = 10_000;
    let server = Memcached::start();
    let c = Client::builder()
        .connections(1)
        .connect(server.addr.as_str())
        .await
        .unwrap();
    let polls = AtomicUsize::new(0);
    let keys: Vec<String> = (0..N).map(|i| format!("k{i}")).collect();
    let gets = keys.iter().map(|k| {
        let mut get = Box::pin(c.get(k));
        let polls = &polls;
        poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            get.as_mut().poll(cx)
        })
    });
    let results = mcaside::join_all(gets).await;
    assert!(results.iter().all(|r| matches!(r, Ok(None))));
    let polls = polls.load(Ordering::Relaxed);
    assert!(polls <= 3 * N, "{polls} polls for {N} gets");
}
