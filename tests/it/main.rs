//! Integration tests: every test talks to its own real memcached (see
//! `tests/support/server.rs`), except the deliberately faulty servers in `faults.rs`.

#[path = "../support/server.rs"]
mod server;

mod cancel;
mod classic;
mod decoder_splits;
mod faults;
mod harness;
mod limits;

use mcaside::Client;
pub use server::Memcached;

/// A client for `server` with default settings.
pub async fn client(server: &Memcached) -> Client {
    Client::connect(server.addr.as_str())
        .await
        .expect("connect to the test server")
}
