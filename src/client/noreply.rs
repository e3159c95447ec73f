//! Fire-and-forget writes: the classic `noreply` commands.
//!
//! The server sends nothing back for these, not even errors (on 1.6.18, `noreply`
//! suppresses `SERVER_ERROR object too large` too), so there is nothing to wait for and
//! nothing to report: the methods return as soon as the command is queued, after the
//! same local validation as everywhere else. Replies to later requests are not disturbed,
//! because a noreply command never takes a place in the reply queue.
//!
//! Later requests on the same client are written after it, so a `get` following a
//! `noreply` set of the same key sees the set.

use std::time::Duration;

use super::gutter::Capped;
use super::{Client, Route, StoreOptions};
use crate::error::Result;
use crate::proto::Expiry;
use crate::proto::encode::{self, ArithOp, Store, StoreVerb};

/// The `noreply` forms of the write commands; from [`Client::noreply`].
///
/// ```no_run
/// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
/// use std::time::Duration;
/// client.noreply().set("k", "v", Duration::from_secs(60))?;
/// assert!(client.get("k").await?.is_some()); // written after the set
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NoReply<'a> {
    pub(super) client: &'a Client,
}

impl NoReply<'_> {
    /// `set ... noreply`.
    pub fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        o: impl Into<StoreOptions>,
    ) -> Result<()> {
        self.store(StoreVerb::Set, key.as_ref(), value.as_ref(), o.into())
    }

    /// `add ... noreply`.
    pub fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        o: impl Into<StoreOptions>,
    ) -> Result<()> {
        self.store(StoreVerb::Add, key.as_ref(), value.as_ref(), o.into())
    }

    /// `replace ... noreply`.
    pub fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        o: impl Into<StoreOptions>,
    ) -> Result<()> {
        self.store(StoreVerb::Replace, key.as_ref(), value.as_ref(), o.into())
    }

    /// `append ... noreply`.
    pub fn append(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.store(
            StoreVerb::Append,
            key.as_ref(),
            value.as_ref(),
            StoreOptions::default(),
        )
    }

    /// `prepend ... noreply`.
    pub fn prepend(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.store(
            StoreVerb::Prepend,
            key.as_ref(),
            value.as_ref(),
            StoreOptions::default(),
        )
    }

    /// `cas ... noreply`.
    pub fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        cas: u64,
        o: impl Into<StoreOptions>,
    ) -> Result<()> {
        self.store(StoreVerb::Cas(cas), key.as_ref(), value.as_ref(), o.into())
    }

    fn store(&self, verb: StoreVerb, key: &[u8], value: &[u8], o: StoreOptions) -> Result<()> {
        let limits = *self.client.limits();
        let expiry = match verb {
            StoreVerb::Append | StoreVerb::Prepend => o.expiry,
            _ => o.expiry.capped(self.client.ttl_cap(key)),
        };
        let cmd = Store {
            verb,
            key,
            flags: o.flags,
            expiry,
            value,
            noreply: true,
        };
        self.client.send(Route::Key(key), verb.verb(), |b| {
            encode::store(b, &cmd, &limits)
        })
    }

    /// `delete <key> noreply`.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.client.send(Route::Key(key.as_ref()), "delete", |b| {
            encode::delete(b, key.as_ref(), true)
        })
    }

    /// `incr <key> <delta> noreply`.
    pub fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<()> {
        self.client.send(Route::Key(key.as_ref()), "incr", |b| {
            encode::arith(b, ArithOp::Incr, key.as_ref(), delta, true)
        })
    }

    /// `decr <key> <delta> noreply`.
    pub fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<()> {
        self.client.send(Route::Key(key.as_ref()), "decr", |b| {
            encode::arith(b, ArithOp::Decr, key.as_ref(), delta, true)
        })
    }

    /// `touch <key> <exptime> noreply`.
    pub fn touch(&self, key: impl AsRef<[u8]>, expiry: impl Into<Expiry>) -> Result<()> {
        let expiry = expiry.into().capped(self.client.ttl_cap(key.as_ref()));
        self.client.send(Route::Key(key.as_ref()), "touch", |b| {
            encode::touch(b, key.as_ref(), expiry, true)
        })
    }

    /// `flush_all [delay] noreply`, on every connection of every server, so that no
    /// later request of this client, whatever its key, can overtake it (flushing is
    /// idempotent).
    pub fn flush_all(&self, delay: Option<Duration>) -> Result<()> {
        self.every_connection("flush_all", |b| encode::flush_all(b, delay, true))
    }

    /// `verbosity <level> noreply`, on every connection (see [`flush_all`](Self::flush_all)).
    pub fn verbosity(&self, level: u32) -> Result<()> {
        self.every_connection("verbosity", |b| {
            encode::verbosity(b, level, true);
            Ok(())
        })
    }

    fn every_connection(
        &self,
        cmd: &'static str,
        encode: impl Fn(&mut bytes::BytesMut) -> std::result::Result<(), crate::InputError>,
    ) -> Result<()> {
        for id in self.client.connections() {
            self.client.send(Route::Conn(id), cmd, &encode)?;
        }
        Ok(())
    }
}
