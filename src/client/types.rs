//! The values client methods take and return.

use std::time::Duration;

use bytes::Bytes;

use crate::proto::{Expiry, Value};

/// A cached item: the value, its client flags and, when asked for, its cas unique.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Item {
    /// The value, sliced from the connection's read buffer (no copy).
    pub value: Bytes,
    /// The 32-bit client flags stored with the item.
    pub flags: u32,
    /// The cas unique: present when fetched with `gets`/`gats` (or a meta `c` flag).
    pub cas: Option<u64>,
}

impl From<Value> for Item {
    fn from(v: Value) -> Self {
        Item {
            value: v.data,
            flags: v.flags,
            cas: v.cas,
        }
    }
}

impl Item {
    /// The item in a meta reply: `Some` for `VA` (a hit), `None` for `EN` (a miss),
    /// and `Err(())` for anything else.
    pub(crate) fn from_meta(m: crate::proto::MetaReply) -> Result<Option<Item>, ()> {
        match m.code {
            crate::proto::MetaCode::Value => Ok(Some(Item {
                value: m.value.unwrap_or_default(),
                flags: m.flags.client_flags.unwrap_or(0),
                cas: m.flags.cas,
            })),
            crate::proto::MetaCode::Miss => Ok(None),
            _ => Err(()),
        }
    }
}

/// Flags and expiry for a storage command.
///
/// Anything that converts to an [`Expiry`] converts to `StoreOptions` with flags 0, so
/// most calls pass just a TTL:
///
/// ```no_run
/// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
/// use std::time::Duration;
/// use mcaside::{Expiry, StoreOptions};
/// client.set("a", "1", Duration::from_secs(60)).await?;
/// client.set("b", "2", Expiry::Never).await?;
/// client.set("c", "3", StoreOptions::new().flags(7).expiry(Duration::from_secs(5))).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// The client flags to store with the item.
    pub flags: u32,
    /// When the item expires.
    pub expiry: Expiry,
}

impl StoreOptions {
    /// Flags 0, no expiry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client flags.
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the expiry.
    pub fn expiry(mut self, expiry: impl Into<Expiry>) -> Self {
        self.expiry = expiry.into();
        self
    }
}

impl From<Expiry> for StoreOptions {
    fn from(expiry: Expiry) -> Self {
        StoreOptions { flags: 0, expiry }
    }
}

impl From<std::time::SystemTime> for StoreOptions {
    fn from(t: std::time::SystemTime) -> Self {
        Expiry::At(t).into()
    }
}

impl From<Duration> for StoreOptions {
    fn from(d: Duration) -> Self {
        Expiry::After(d).into()
    }
}

/// The outcome of a `cas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// Stored: the item was unchanged since it was fetched.
    Stored,
    /// Not stored: someone modified the item since it was fetched.
    Exists,
    /// Not stored: the item is gone (deleted, expired or evicted).
    NotFound,
}

/// The reply to `stats`: `(name, value)` pairs in the order the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats(pub Vec<(String, String)>);

impl Stats {
    /// The value of the statistic `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` as a number.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }
}
