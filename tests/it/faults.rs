//! Fault tests: deliberately faulty servers (written here, for these tests only) and a
//! real memcached that dies and comes back.

use std::time::{Duration, Instant};

use mcaside::{Client, Error, Expiry, ProtocolError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Memcached;

/// A server that answers every read with `reply` (then closes if `close`).
async fn faulty_server(reply: &'static [u8], close: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let _ = s.write_all(reply).await;
                    if close {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn fast_client(addr: &str) -> Client {
    // These servers answer nothing properly, `version` included: say what they are.
    Client::builder()
        .features(mcaside::proto::Features::CLASSIC)
        .request_timeout(Duration::from_secs(2))
        .connect(addr)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hostile_length_field_costs_no_memory() {
    // 100 GB announced, nothing sent: the block is skipped as it (never) arrives, no
    // memory is set aside for it, and the request times out.
    let addr = faulty_server(b"VALUE k 0 99999999999\r\n", false).await;
    let c = Client::builder()
        .features(mcaside::proto::Features::CLASSIC)
        .request_timeout(Duration::from_millis(300))
        .connect(addr.as_str())
        .await
        .unwrap();
    let err = c.get("k").await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(
        c.buffer_usage().capacity < 256 * 1024,
        "{:?}",
        c.buffer_usage()
    );
}

#[tokio::test]
async fn garbage_is_a_malformed_reply() {
    let addr = faulty_server(b"HELLO THERE\r\n", false).await;
    let c = fast_client(&addr).await;
    let err = c.get("k").await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Malformed(ref l)) if l.contains("HELLO")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_endless_line_is_bounded() {
    static LONG: [u8; 64 * 1024] = [b'A'; 64 * 1024];
    let addr = faulty_server(&LONG, false).await;
    let c = fast_client(&addr).await;
    let err = c.get("k").await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::LineTooLong { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn close_mid_reply_fails_every_request_in_flight() {
    let addr = faulty_server(b"VALUE k 0 10\r\nabc", true).await;
    let c = fast_client(&addr).await;
    let started = Instant::now();
    let results = crate::join_all((0..50).map(|i| {
        let c = c.clone();
        async move { c.get(format!("k{i}")).await }
    }))
    .await;
    for r in results {
        assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "nobody waited for a timeout"
    );
}

#[tokio::test]
async fn unsolicited_bytes_reset_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        // First connection: speak out of turn. Later ones: answer properly.
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"END\r\n").await.unwrap();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(answer_miss(s));
        }
    });
    let c = fast_client(&addr).await;
    // The stray END is noticed as soon as it arrives, before any request can be paired
    // with it; the client reconnects and the next get is answered properly.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut result = c.get("k").await;
    if result.is_err() {
        result = c.get("k").await;
    }
    assert_eq!(result.unwrap(), None);
}

async fn answer_miss(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let _ = s.write_all(b"END\r\n").await;
    }
}

#[tokio::test]
async fn server_dies_and_comes_back() {
    let server = Memcached::start();
    let port = server.port();
    let c = Client::builder()
        .request_timeout(Duration::from_millis(500))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("k", "v", Expiry::Never).await.unwrap();
    drop(server);
    // While it is down, requests fail promptly with a typed error; none hangs.
    for _ in 0..5 {
        let t = Instant::now();
        let err = c.get("k").await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Closed | Error::Io(_) | Error::Timeout | Error::Connect(_)
            ),
            "{err:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
    let _server = Memcached::start_on(port, &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.set("k", "back", Expiry::Never).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("did not recover: {e}"),
        }
    }
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"back");
}

#[tokio::test]
async fn a_connection_closed_while_idle_costs_the_next_request_nothing() {
    // The server closes connections idle for more than a second.
    let server = Memcached::start_with(&["-o", "idle_timeout=1"]);
    let c = Client::builder()
        .connections(1)
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("k", "v", Expiry::Never).await.unwrap();
    // The server's idle sweep runs every few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stat("idle_kicks") == 0 {
        assert!(
            Instant::now() < deadline,
            "the server never closed the idle connection"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the runtime see the server's FIN (it learns of it when it next polls the OS;
    // an idle runtime does at once, a busy test machine may take a moment). From then
    // on the close is found before the next request is sent, which then goes out on a
    // new connection: no error.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"v");
}

/// A request made while the connection is re-dialling (here: stuck in a login the
/// server never answers) fails at its own deadline, not when the connect gives up.
#[tokio::test]
async fn a_request_queued_while_reconnecting_times_out_on_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (redialled, mut redial) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // The first connection: accept the login, then close. Later ones: read and
        // answer nothing.
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        s.write_all(b"STORED\r\n").await.unwrap();
        drop(s);
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = redialled.send(());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(1..) = s.read(&mut buf).await {}
                std::future::pending::<()>().await;
            });
        }
    });
    let timeout = Duration::from_millis(200);
    let c = Client::builder()
        .connections(1)
        .features(mcaside::proto::Features::CLASSIC)
        .credentials("user", "password")
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(timeout)
        .connect(addr.as_str())
        .await
        .unwrap();
    redial.recv().await.unwrap();
    let started = Instant::now();
    let err = c.get("k").await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(waited >= timeout, "timed out early, after {waited:?}");
    assert!(
        waited < Duration::from_secs(2),
        "waited for the connect timeout, {waited:?}"
    );
}
