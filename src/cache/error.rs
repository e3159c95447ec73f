//! The cache-aside layer's error type.

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
        match self {
            CacheError::Memcached(e) | CacheError::Invalidation(e) => Some(e),
            CacheError::Load(e) | CacheError::Write(e) => Some(e.as_ref()),
            CacheError::Codec(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for CacheError {
    fn from(e: crate::Error) -> Self {
        CacheError::Memcached(e)
    }
}
