//! A few multiplexed connections to one server, and which request goes on which.
//!
//! One connection already carries any number of concurrent requests; more than one
//! lets the server spread the work over its worker threads and keeps one slow reply
//! (a 1 MiB value) from delaying everything behind it. Each connection replaces its own
//! socket in the background when it breaks, with capped exponential backoff.
//!
//! A request for a key always takes the connection that key hashes to. So two requests
//! for the same key are answered in the order they were made even when the first one is
//! a `noreply` write that nobody waits for; a multi-key request is split by connection
//! for the same reason.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::conn::{ConnConfig, Connection, ServerAddr};
use crate::error::Result;

#[derive(Debug)]
pub(crate) struct Pool {
    conns: Box<[Connection]>,
    next: AtomicUsize,
}

impl Pool {
    /// Opens `size` connections to `addr` (at least one).
    pub async fn connect(addr: ServerAddr, config: ConnConfig, size: usize) -> Result<Pool> {
        let mut conns = Vec::with_capacity(size.max(1));
        for _ in 0..size.max(1) {
            conns.push(Connection::connect(addr.clone(), config.clone()).await?);
        }
        Ok(Pool {
            conns: conns.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// Opens `size` connections to `addr` like [`connect`](Self::connect), but a
    /// connection that cannot connect now is returned down and keeps trying in the
    /// background. Returns the first connect error, if there was one.
    pub async fn connect_or_retry(
        addr: ServerAddr,
        config: ConnConfig,
        size: usize,
    ) -> (Pool, Option<crate::Error>) {
        let first = Connection::connect_or_retry(addr.clone(), config.clone()).await;
        let error = first.down_error();
        let mut conns = vec![first];
        for _ in 1..size.max(1) {
            conns.push(Connection::connect_or_retry(addr.clone(), config.clone()).await);
        }
        let pool = Pool {
            conns: conns.into_boxed_slice(),
            next: AtomicUsize::new(0),
        };
        (pool, error)
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// The index of the connection for `key`.
    pub fn index_of(&self, key: &[u8]) -> usize {
        if self.conns.len() == 1 {
            return 0;
        }
        (fnv1a(key) % self.conns.len() as u64) as usize
    }

    pub fn get(&self, index: usize) -> &Connection {
        &self.conns[index]
    }

    /// The index of a connection for a request with no key, in turn.
    pub fn any_index(&self) -> usize {
        if self.conns.len() == 1 {
            return 0;
        }
        self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len()
    }

    /// The first connection (for requests that should always take the same one).
    pub fn first(&self) -> &Connection {
        &self.conns[0]
    }
}

/// FNV-1a: a fast, well-spread hash for picking a connection (not for servers: that
/// placement must match other clients, and comes with the server pool).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
