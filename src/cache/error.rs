//! The cache-aside layer's error type.
//!
//! Like [`crate::Error`], each cause is printed once: a `CacheError`'s `Display` is the
//! whole message, the wrapped error's included, and
//! [`source`](std::error::Error::source) skips what that message already showed, so a
//! reporter walking the chain (anyhow, eyre) prints nothing twice.

use std::fmt;
use std::sync::Arc;

use super::CodecError;

/// Any error a loader or a write returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in the cache-aside layer. `Clone`, so that one load's
/// failure reaches every caller that waited for it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheError {
    /// memcached failed (see [`crate::Error`]).
    Memcached(crate::Error),
    /// The loader failed, and no stale value was served instead.
    Load(Arc<dyn std::error::Error + Send + Sync>),
    /// The caller's database write (in [`Cache::write`](super::Cache::write)) failed;
    /// nothing was invalidated.
    Write(Arc<dyn std::error::Error + Send + Sync>),
    /// The invalidation after a committed write failed: the cached value may be stale
    /// until its TTL runs out. The database write *did* happen.
    Invalidation(crate::Error),
    /// The item was written with another codec.
    WrongCodec {
        /// This cache's codec.
        expected: &'static str,
        /// The codec id found in the item's flags.
        found: u8,
    },
    /// The item was not written by this layer (its flags or header are not ours).
    Foreign,
    /// The codec could not encode or decode a value.
    Codec(CodecError),
    /// A wait for another caller's load reached its bound.
    WaitTimeout,
    /// Not a valid namespace name.
    BadNamespace(String),
    /// A setting out of range, found when the cache was built (see
    /// [`CacheBuilder::build`](super::CacheBuilder::build)).
    Config(crate::error::ConfigError),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Memcached(e) => write!(f, "memcached: {e}"),
            CacheError::Load(e) => write!(f, "load failed: {e}"),
            CacheError::Write(e) => write!(f, "write failed (nothing invalidated): {e}"),
            CacheError::Invalidation(e) => {
                write!(
                    f,
                    "written, but the invalidation failed (the cache may be stale): {e}"
                )
            }
            CacheError::WrongCodec { expected, found } => {
                write!(f, "item written with codec #{found}, read with {expected}")
            }
            CacheError::Foreign => f.write_str("item not written by the cache-aside layer"),
            CacheError::Codec(e) => write!(f, "codec: {e}"),
            CacheError::WaitTimeout => f.write_str("timed out waiting for another caller's load"),
            CacheError::BadNamespace(ns) => {
                write!(f, "invalid namespace {ns:?} (1 to 64 of A-Z a-z 0-9 _ . -)")
            }
            CacheError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The wrapped error's message is part of ours: its source is the next one.
        match self {
            CacheError::Memcached(e) | CacheError::Invalidation(e) => e.source(),
            CacheError::Load(e) | CacheError::Write(e) => e.source(),
            CacheError::Codec(e) => e.source(),
            CacheError::Config(e) => e.source(),
            _ => None,
        }
    }
}

impl From<crate::Error> for CacheError {
    fn from(e: crate::Error) -> Self {
        CacheError::Memcached(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(e) = next {
            out.push(e.to_string());
            next = e.source();
        }
        out
    }

    #[derive(Debug)]
    struct Root;
    impl fmt::Display for Root {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the root cause")
        }
    }
    impl std::error::Error for Root {}

    #[derive(Debug)]
    struct Db(Root);
    impl fmt::Display for Db {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("database unavailable")
        }
    }
    impl std::error::Error for Db {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let load = CacheError::Load(Arc::new(Db(Root)));
        assert_eq!(
            chain(&load),
            ["load failed: database unavailable", "the root cause"]
        );
        let write = CacheError::Write(Arc::new(Db(Root)));
        assert_eq!(
            chain(&write),
            [
                "write failed (nothing invalidated): database unavailable",
                "the root cause"
            ]
        );
        let memcached = CacheError::Memcached(crate::Error::Timeout);
        assert_eq!(chain(&memcached), ["memcached: timed out"]);
        let invalidation = CacheError::Invalidation(crate::Error::Closed);
        assert_eq!(chain(&invalidation).len(), 1);
    }
}
