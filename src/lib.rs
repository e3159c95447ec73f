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
//!    allocated.
//! 2. [`conn`]: the **connection**. One socket (TCP or Unix), one background task that
//!    writes whatever requests are queued in one go and routes replies back to their
//!    callers in order. Dropping a request future never lets its reply reach anyone else.
//! 3. [`Client`]: the **client**. An async method per command, values as `Bytes`,
//!    outcomes such as `NOT_STORED` as values rather than errors.
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

#![warn(missing_docs)]
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
