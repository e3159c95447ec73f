//! # mcaside
//!
//! A memcached text-protocol client (classic and meta commands) and, on top of it, a
//! cache-aside layer.
//!
//! ## A tour of the layers
//!
//! Each layer talks only to the one below it.
//!
//! 1. [`proto`]: the **protocol core**. Commands to bytes, bytes to typed replies; no
//!    sockets, no async. Keys and expiries are checked here, before anything is encoded,
//!    and every length the server announces is bounded here before anything is
//!    allocated. Its encoders and decoder are public, for transports of your own.
//! 2. [`conn`]: the **connection**. One socket (TCP, Unix or TLS), one background task
//!    that writes whatever requests are queued in one go and routes replies back to
//!    their callers in order. Dropping a request future never lets its reply reach
//!    anyone else. The connection itself is internal; its module holds what you name to
//!    reach a server (addresses, TLS, credentials).
//! 3. [`cluster`]: the **servers**. Which server holds a key, computed exactly as other
//!    clients of the same fleet compute it (ketama as libmemcached and twemproxy do,
//!    rendezvous as pymemcache does), a few connections per server, and which servers
//!    are dead (failing fast, ejected, or replaced by a gutter pool until they answer).
//! 4. [`Client`]: the **client**. An async method per command, routed to its key's
//!    server, values as `Bytes`, outcomes such as `NOT_STORED` as values rather than
//!    errors; pipelined meta batches; many keys per round trip, split per server.
//! 5. [`cache`]: **cache-aside**, the headline. [`Cache::get_or_load`](cache::Cache::get_or_load)
//!    reads a key or loads it from your database, and survives what breaks the textbook
//!    version: stampedes (one load per key, across processes, by memcached leases),
//!    stale sets (fills conditional on the lease's cas) and invalidation
//!    ([`Cache::write`](cache::Cache::write) invalidates after your commit).
//!
//! ```no_run
//! use std::time::Duration;
//! use mcaside::Client;
//!
//! # async fn demo() -> mcaside::Result<()> {
//! let client = Client::connect("127.0.0.1:11211").await?;
//! client.set("greeting", "hello", Duration::from_secs(60)).await?;
//! let hit = client.get("greeting").await?.expect("just stored");
//! assert_eq!(&hit.value[..], b"hello");
//! # Ok(()) }
//! ```
//!
//! And the same client behind a cache of rows:
//!
//! ```no_run
//! use std::time::Duration;
//! use mcaside::cache::{Cache, StringCodec};
//!
//! # async fn demo(client: mcaside::Client) -> Result<(), mcaside::cache::CacheError> {
//! let names = Cache::builder(client, "user-name", StringCodec)
//!     .ttl(Duration::from_secs(600))
//!     .build()?;
//! let name = names
//!     .get_or_load("42", || async {
//!         // SELECT name FROM users WHERE id = 42
//!         Ok::<_, std::io::Error>(Some("Ada".to_string()))
//!     })
//!     .await?;
//! # let _ = name;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
// Every public type can be printed in a log line or an `assert!`.
#![warn(missing_debug_implementations)]
// On docs.rs (`--cfg docsrs`, nightly), items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
pub mod client;
pub mod cluster;
pub mod conn;
pub mod error;
pub mod proto;

pub use client::{CasOutcome, Client, ClientBuilder, Item, Stats, StoreOptions, join_all};
pub use error::{
    ConnectError, ConnectStep, Error, InputError, ProtocolError, Result, ServerError,
    ServerErrorKind,
};
pub use proto::Expiry;

/// The README's code, compiled as a doc test so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
