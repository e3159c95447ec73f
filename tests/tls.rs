//! TLS (`-Z`) and ASCII authentication (`-Y`) against a real memcached 1.6.18, with
//! certificates made at test time.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/every_command.rs"]
mod every_command;
#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use certs::Certs;
use mcaside::conn::TlsConfig;
use mcaside::error::ConfigError;
use mcaside::{Client, Error, Expiry};
use server::Memcached;

fn tls_server(certs: &Certs) -> Memcached {
    Memcached::start_tls(
        &Certs::server_options(&certs.server_cert, &certs.server_key),
        &[],
    )
}

fn trusting(certs: &Certs) -> TlsConfig {
    TlsConfig::new().ca_file(&certs.ca)
}

async fn connect(addr: &str, tls: TlsConfig) -> mcaside::Result<Client> {
    Client::builder()
        .tls(tls)
        .connect_timeout(Duration::from_secs(2))
        .connect(addr)
        .await
}

/// Every classic and meta command, over TLS.
#[tokio::test]
async fn every_command_over_tls() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let c = connect(&server.addr, trusting(&certs))
        .await
        .expect("TLS connect");
    every_command::exercise(&c).await;
    assert!(server.stat("curr_connections") >= 1);
}

/// 64 tasks pipelining on one TLS connection: every value comes back right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_load_over_tls() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let c = Client::builder()
        .tls(trusting(&certs))
        .connections(1)
        .connect(server.addr.as_str())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let c = c.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    let (k, v) = (
                        format!("t{t}:{i}"),
                        format!("{t}-{i}-{}", "x".repeat(i % 50)),
                    );
                    c.set(&k, &v, Expiry::Never).await.unwrap();
                    assert_eq!(c.get(&k).await.unwrap().unwrap().value, v.as_bytes());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The cause of a connect failure (connect errors name the server and the step).
fn cause(e: &Error) -> &Error {
    match e {
        Error::Connect(c) => c.cause(),
        other => other,
    }
}

fn assert_tls_error(result: mcaside::Result<Client>, what: &str, want: &str) {
    let e = result.expect_err(what);
    match cause(&e) {
        Error::Tls(inner) => assert!(inner.to_string().contains(want), "{what}: {e}"),
        _ => panic!("{what}: want a TLS error, got {e:?}"),
    }
    assert!(e.to_string().starts_with("could not connect to "), "{e}");
}

#[tokio::test]
async fn untrusted_wrong_name_and_expired_certificates_are_refused() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    assert_tls_error(
        connect(&server.addr, TlsConfig::new().ca_file(&certs.other_ca)).await,
        "wrong CA",
        "UnknownIssuer",
    );
    assert_tls_error(
        connect(
            &server.addr,
            trusting(&certs).server_name("elsewhere.example"),
        )
        .await,
        "wrong name",
        "not valid for name",
    );
    let expired = Memcached::start_tls(
        &Certs::server_options(&certs.expired_cert, &certs.expired_key),
        &[],
    );
    assert_tls_error(
        connect(&expired.addr, trusting(&certs)).await,
        "expired",
        "expired",
    );
    let wrong = Memcached::start_tls(
        &Certs::server_options(&certs.wrong_name_cert, &certs.wrong_name_key),
        &[],
    );
    assert_tls_error(
        connect(&wrong.addr, trusting(&certs)).await,
        "cert for another name",
        "not valid for name",
    );
    // The name to verify defaults to the host of the address: "localhost" works too.
    let local = server.addr.replace("127.0.0.1", "localhost");
    connect(&local, trusting(&certs))
        .await
        .expect("verified as localhost");
    // And the test-only switch accepts anything.
    connect(
        &wrong.addr,
        TlsConfig::new().dangerously_accept_any_certificate_for_tests(),
    )
    .await
    .expect("verification skipped");
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate() {
    let certs = Certs::new();
    let options = format!(
        "{},ssl_ca_cert={},ssl_verify_mode=2",
        Certs::server_options(&certs.server_cert, &certs.server_key),
        certs.ca.display()
    );
    let server = Memcached::start_tls(&options, &[]);
    // Without one: the server ends the handshake with an alert, which TLS 1.3 delivers
    // at the client's first read (the version probe's): a TLS error all the same.
    let e = connect(&server.addr, trusting(&certs))
        .await
        .expect_err("refused");
    match cause(&e) {
        Error::Tls(inner) => assert!(inner.to_string().contains("CertificateRequired"), "{e}"),
        _ => panic!("without a client certificate: {e:?}"),
    }
    let with = connect(
        &server.addr,
        trusting(&certs).client_cert(&certs.client_cert, &certs.client_key),
    )
    .await
    .expect("with a client certificate");
    with.set("a", "b", Expiry::Never).await.unwrap();
}

#[tokio::test]
async fn plain_and_tls_mixed_up_fail_fast_and_typed() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let started = Instant::now();
    let plain = Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(1))
        .connect(server.addr.as_str())
        .await;
    assert!(plain.is_err(), "a plain client on a TLS port: {plain:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let plain_server = Memcached::start();
    let started = Instant::now();
    let tls = Client::builder()
        .tls(trusting(&certs))
        .connect_timeout(Duration::from_secs(1))
        .connect(plain_server.addr.as_str())
        .await;
    let e = tls.expect_err("a TLS client on a plain port fails");
    assert!(
        matches!(cause(&e), Error::Tls(_) | Error::Timeout),
        "a TLS client on a plain port: {e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_tls_files_are_refused_when_the_client_is_built() {
    let certs = Certs::new();
    // Nothing listens here: the errors below come before any connection.
    let nowhere = "127.0.0.1:1";
    let cases: Vec<(TlsConfig, &std::path::Path)> = vec![
        (
            TlsConfig::new().ca_file("/nonexistent/ca.pem"),
            "/nonexistent/ca.pem".as_ref(),
        ),
        (TlsConfig::new().ca_file(&certs.garbage), &certs.garbage),
        (
            trusting(&certs).client_cert(&certs.client_cert, "/nonexistent/key.pem"),
            "/nonexistent/key.pem".as_ref(),
        ),
        (
            trusting(&certs).client_cert(&certs.client_cert, &certs.server_key),
            &certs.server_key,
        ),
    ];
    for (config, file) in cases {
        match connect(nowhere, config).await {
            Err(Error::Config(ConfigError::Tls { file: Some(f), .. })) => assert_eq!(f, file),
            other => panic!("{}: {other:?}", file.display()),
        }
    }
}

/// A TLS + auth client carries on across a server restart: it reconnects,
/// handshakes and logs in again.
#[tokio::test]
async fn a_restarted_server_gets_a_new_handshake_and_login() {
    let certs = Certs::new();
    let options = Certs::server_options(&certs.server_cert, &certs.server_key);
    let server = Memcached::start_secure(Some(&options), Some(("app", "pw")), None, &[]);
    let (port, plain) = (server.port(), server.plain_port());
    let c = Client::builder()
        .tls(trusting(&certs))
        .credentials("app", "pw")
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    c.set("before", "1", Expiry::Never).await.unwrap();
    drop(server);
    let _server = Memcached::start_secure(
        Some(&options),
        Some(("app", "pw")),
        Some((port, plain)),
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.set("after", "2", Expiry::Never).await {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(&c.get("after").await.unwrap().unwrap().value[..], b"2");
    assert!(c.get("before").await.unwrap().is_none(), "a new server");
}

/// TLS works for every server of a cluster: each one's connections handshake, and
/// keys land on both.
#[tokio::test]
async fn every_server_of_a_cluster_over_tls() {
    let certs = Certs::new();
    let a = tls_server(&certs);
    let b = tls_server(&certs);
    let c = Client::builder()
        .tls(trusting(&certs))
        .connect_cluster([a.addr.as_str(), b.addr.as_str()])
        .await
        .expect("TLS to both servers");
    for i in 0..50 {
        let k = format!("k{i}");
        c.set(&k, &k, Expiry::Never).await.unwrap();
        assert_eq!(c.get(&k).await.unwrap().unwrap().value, k.as_bytes());
    }
    assert!(a.stat("curr_items") > 0 && b.stat("curr_items") > 0);
}
