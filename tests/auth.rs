//! ASCII authentication (`-Y`) against a real memcached 1.6.18: right, wrong and
//! missing logins, the backoff after a refusal, and a password that no log shows.

#[path = "support/every_command.rs"]
mod every_command;
#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use mcaside::error::{AuthError, ConfigError, ConnectStep};
use mcaside::{Client, Error, Expiry};
use server::Memcached;

#[tokio::test]
async fn authentication_right_wrong_and_missing() {
    let server = Memcached::start_auth("app", "s3cret", &[]);
    let right = Client::builder()
        .credentials("app", "s3cret")
        .connect(server.addr.as_str())
        .await
        .expect("the right password");
    every_command::exercise(&right).await;
    let wrong = Client::builder()
        .credentials("app", "wrong")
        .connect(server.addr.as_str())
        .await;
    match wrong {
        Err(Error::Connect(e)) => {
            assert_eq!(e.step(), ConnectStep::Auth);
            assert!(
                matches!(e.cause(), Error::Auth(AuthError::Refused)),
                "{e:?}"
            );
            assert!(
                e.to_string().ends_with(
                    "but the login failed: authentication: the server refused the user name or password"
                ),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    let missing = Client::builder().connect(server.addr.as_str()).await;
    match missing {
        Err(Error::Connect(e)) => {
            assert!(
                matches!(e.cause(), Error::Auth(AuthError::Unauthenticated)),
                "{e:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    let empty = Client::builder()
        .credentials("", "x")
        .connect("127.0.0.1:1")
        .await;
    assert!(
        matches!(empty, Err(Error::Config(ConfigError::BadUser))),
        "{empty:?}"
    );
}

/// A refused login is retried with the reconnect backoff, not in a tight loop.
#[tokio::test]
async fn a_refused_login_is_retried_with_backoff() {
    let server = Memcached::start_auth("app", "s3cret", &[]);
    let c = Client::builder()
        .credentials("app", "s3cret")
        .connections(1)
        .reconnect_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .connect(server.addr.as_str())
        .await
        .unwrap();
    // The server comes back with another password: every reconnect is refused.
    let port = server.port();
    drop(server);
    let server = Memcached::start_secure(None, Some(("app", "other")), Some((port, 0)), &[]);
    let before = server.stat("total_connections");
    let started = Instant::now();
    let mut auth_errors = 0;
    while started.elapsed() < Duration::from_secs(2) {
        if let Err(Error::Connect(e)) = c.get("k").await
            && matches!(e.cause(), Error::Auth(AuthError::Refused))
        {
            auth_errors += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(auth_errors > 0, "requests fail with the login's error");
    // With a backoff of 100 to 400 ms, 2 s allow about 7 attempts; a tight loop would
    // make thousands. (The harness's own stat connections count too.)
    let attempts = server.stat("total_connections") - before;
    assert!(attempts <= 15, "{attempts} login attempts in 2 s");
}

/// The password appears in no log: not in the TRACE wire log, not in spans, not in
/// the builder's Debug.
#[test]
fn the_password_is_never_logged() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let server = Memcached::start_auth("app", "hunter2secret", &[]);
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let builder = Client::builder().credentials("app", "hunter2secret");
            tracing::info!(?builder, "building");
            let c = builder.connect(server.addr.as_str()).await.unwrap();
            c.set("k", "v", Expiry::Never).await.unwrap();
            let wrong = Client::builder()
                .credentials("app", "wrongpassword9")
                .connect(server.addr.as_str())
                .await;
            assert!(wrong.is_err());
        });
    });
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("set mcaside-auth 0 0 17"),
        "the login is in the wire log:\n{log}"
    );
    assert!(log.contains("<redacted>"), "{log}");
    assert!(
        !log.contains("hunter2secret"),
        "the password leaked:\n{log}"
    );
    assert!(
        !log.contains("wrongpassword9"),
        "the password leaked:\n{log}"
    );
}
