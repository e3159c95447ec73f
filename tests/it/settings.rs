//! Settings that cannot work are refused, with a typed error, when the client or cache
//! is built: never bent to the nearest value that works.

use std::time::Duration;

use mcaside::cache::{Cache, CacheError, StringCodec};
use mcaside::error::ConfigError;
use mcaside::{Client, Error};

use crate::Memcached;

fn refused(r: mcaside::Result<Client>) -> (&'static str, String) {
    match r {
        Err(Error::Config(ConfigError::OutOfRange { setting, given, .. })) => (setting, given),
        other => panic!("not refused as out of range: {other:?}"),
    }
}

#[tokio::test]
async fn client_settings_out_of_range() {
    let server = Memcached::start();
    let addr = server.addr.as_str();
    assert_eq!(
        refused(Client::builder().connections(0).connect(addr).await),
        ("connections", "0".into())
    );
    assert_eq!(
        refused(Client::builder().write_budget(0).connect(addr).await).0,
        "write_budget"
    );
    assert_eq!(
        refused(Client::builder().max_silent_timeouts(0).connect(addr).await).0,
        "max_silent_timeouts"
    );
    let backwards = Client::builder()
        .reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1))
        .connect(addr)
        .await;
    assert_eq!(refused(backwards).0, "reconnect_backoff");
    // The raw socket is refused the same way.
    assert!(matches!(
        Client::builder().connections(0).connect_raw(addr).await,
        Err(Error::Config(ConfigError::OutOfRange { .. }))
    ));
    // The message names the setting and what it takes.
    let e = Client::builder()
        .connections(0)
        .connect(addr)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad setting: connections: must be at least 1, got 0"
    );
    // In range, and the "none" forms, connect.
    Client::builder()
        .connections(1)
        .write_budget(1)
        .max_silent_timeouts(1)
        .no_silent_timeout_limit()
        .no_request_timeout()
        .no_tcp_keepalive()
        .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(5))
        .connect(addr)
        .await
        .unwrap();
}

#[tokio::test]
async fn ttl_jitter_out_of_range() {
    let server = Memcached::start();
    let client = crate::client(&server).await;
    for bad in [-0.1, 10.5, f64::NAN, f64::INFINITY] {
        let built = Cache::builder(client.clone(), "users", StringCodec)
            .ttl_jitter(bad)
            .build();
        match built {
            Err(CacheError::Config(ConfigError::OutOfRange { setting, .. })) => {
                assert_eq!(setting, "ttl_jitter")
            }
            other => panic!("jitter {bad} not refused: {other:?}"),
        }
    }
    for good in [0.0, 0.5, 10.0] {
        let cache = Cache::builder(client.clone(), "users", StringCodec)
            .ttl_jitter(good)
            .build()
            .unwrap();
        // Every public type prints.
        assert!(format!("{cache:?}").contains("users"));
    }
}
