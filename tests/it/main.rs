//! Integration tests: every test talks to its own real memcached (see
//! `tests/support/server.rs`), except the deliberately faulty servers in `faults.rs`.

#[path = "../support/server.rs"]
mod server;

mod bounds;
mod cache;
mod cache_followers;
mod cancel;
mod classic;
mod cluster;
mod decoder_splits;
mod faults;
mod harness;
mod identity;
mod large_values;
mod limits;
mod meta;
mod pipelining;
mod proxy;
mod settings;

use mcaside::Client;
pub use server::Memcached;

/// A client for `server` with default settings.
pub async fn client(server: &Memcached) -> Client {
    Client::connect(server.addr.as_str())
        .await
        .expect("connect to the test server")
}

/// A client for `server` that uses only the classic commands, as it would against an
/// old server or a proxy.
pub async fn classic_client(server: &Memcached) -> Client {
    Client::builder()
        .features(mcaside::proto::Features::CLASSIC)
        .connect(server.addr.as_str())
        .await
        .expect("connect to the test server")
}

/// Both kinds of client, for tests of paths that differ between them.
pub async fn both_clients(server: &Memcached) -> [(&'static str, Client); 2] {
    [
        ("meta", client(server).await),
        ("classic", classic_client(server).await),
    ]
}

pub use mcaside::join_all;

/// Polls a future once, as a timeout or `select!` that then drops it would. True if it
/// had not completed.
pub async fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> bool {
    let mut f = Some(f);
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.take().unwrap().poll(cx).is_pending())).await
}
