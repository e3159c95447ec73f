//! The TRACE-level wire log shows the exact bytes, and each request has a span.
//!
//! A test binary of its own: it installs a global subscriber, which must not see (or
//! slow down) the other tests, and a thread-local one misses events when tracing's
//! callsite cache is shared with tests running on other threads.

#[path = "support/server.rs"]
mod server;

use std::io::Write;
use std::sync::{Arc, Mutex};

use mcaside::Expiry;

use mcaside::Client;
use server::Memcached;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn wire_bytes_and_request_spans_are_logged() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = Memcached::start();
    let c = Client::connect(server.addr.as_str()).await.unwrap();
    c.set("traced", "a\r\nb", Expiry::Never).await.unwrap();
    assert!(c.get("traced").await.unwrap().is_some());

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // On a server with meta commands, set and get travel as ms and mg, each with the
    // connection's next opaque token.
    assert!(log.contains(r"> ms traced 4 O1\r\na\r\nb\r\n"), "{log}");
    assert!(log.contains(r"< HD O1\r\n"), "{log}");
    assert!(log.contains(r"> mg traced f v O2\r\n"), "{log}");
    assert!(log.contains(r"< VA 4 f0 O2\r\na\r\nb\r\n"), "{log}");
    // The request spans carry the command, key count, server, byte counts and outcome.
    assert!(
        log.contains("cmd=\"set\"") && log.contains("outcome=\"HD\""),
        "{log}"
    );
    assert!(
        log.contains("cmd=\"get\"") && log.contains("outcome=\"VA\""),
        "{log}"
    );
    assert!(
        log.contains("sent=22") && log.contains("received=7"), // " O1" both ways
        "{log}"
    );
    // Every wire line names its server, whoever drove the socket.
    let server_field = format!("server={}", server.addr);
    for line in log.lines().filter(|l| l.contains("mcaside::wire")) {
        assert!(line.contains(&server_field), "{line}");
    }
}
