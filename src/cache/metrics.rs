//! Counters of what the cache-aside layer did, readable from the API and reported
//! through tracing.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters. All counts are since the cache was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Reads answered from memcached with a fresh value (absent rows included).
    pub hits: u64,
    /// Reads that found no value and so had to wait for or run a load.
    pub misses: u64,
    /// Loader calls (a batch loader call counts once per key loaded).
    pub loads: u64,
    /// Callers that waited for a load already running in this process instead of
    /// starting their own.
    pub coalesced: u64,
    /// Leases won in memcached (this process was chosen to load).
    pub lease_wins: u64,
    /// Polls of memcached while another process held the lease.
    pub lease_waits: u64,
    /// Waits that reached the configured bound.
    pub wait_timeouts: u64,
    /// Stale values served (while another caller refreshed, or after a failed load).
    pub stale_served: u64,
    /// Fills memcached refused because the item changed since the lease was taken:
    /// each one a stale value that was *not* stored.
    pub fills_refused: u64,
    /// Values refreshed before they expired (early recache).
    pub early_refreshes: u64,
    /// Invalidations sent (keys and namespaces).
    pub invalidations: u64,
    /// Errors returned to callers.
    pub errors: u64,
    /// Rows loaded and returned without caching, because their key's server was
    /// marked dead ([`OnServerDown::LoadUncached`](super::OnServerDown)).
    pub uncached: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub loads: AtomicU64,
    pub coalesced: AtomicU64,
    pub lease_wins: AtomicU64,
    pub lease_waits: AtomicU64,
    pub wait_timeouts: AtomicU64,
    pub stale_served: AtomicU64,
    pub fills_refused: AtomicU64,
    pub early_refreshes: AtomicU64,
    pub invalidations: AtomicU64,
    pub errors: AtomicU64,
    pub uncached: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Metrics {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            hits: r(&self.hits),
            misses: r(&self.misses),
            loads: r(&self.loads),
            coalesced: r(&self.coalesced),
            lease_wins: r(&self.lease_wins),
            lease_waits: r(&self.lease_waits),
            wait_timeouts: r(&self.wait_timeouts),
            stale_served: r(&self.stale_served),
            fills_refused: r(&self.fills_refused),
            early_refreshes: r(&self.early_refreshes),
            invalidations: r(&self.invalidations),
            errors: r(&self.errors),
            uncached: r(&self.uncached),
        }
    }
}
