//! The write side: invalidating keys and namespaces, and writes that invalidate.
//!
//! Invalidate **after** the database commit, never before. Invalidating first leaves a
//! window in which a reader misses, reads the *old* row (the write has not committed),
//! and caches it, where it stays until its TTL: the very stale value the invalidation
//! was meant to prevent. Invalidating after the commit, any reader that read the old row
//! took its lease before the invalidation, so the invalidation changes the item's cas
//! and that reader's fill is refused. [`Cache::write`] runs the two in that order.

use super::flight::Joined;
use super::metrics::Counters;
use super::{BoxError, Cache, CacheError, Codec, Inner, keys};
use crate::Expiry;
use crate::proto::meta::MetaDelete;

impl<C: Codec> Cache<C> {
    /// Removes `key` from the cache (or, with serve-stale, marks it stale, so readers
    /// may get the old value for at most the configured staleness while one of them
    /// reloads). Call it after the database commit (see the module docs for why).
    /// A failure is returned: the cached value may then be stale until its TTL.
    pub async fn invalidate(&self, key: impl AsRef<[u8]>) -> Result<(), CacheError> {
        let inner = &*self.inner;
        let wire = match inner.namespace_version().await {
            Ok(version) => keys::wire_key(&inner.namespace, version, key.as_ref()),
            Err(e) => return Err(self.invalidation_failed(e)),
        };
        self.invalidate_at(&wire).await
    }

    async fn invalidate_at(&self, wire: &str) -> Result<(), CacheError> {
        let invalidated = self.inner.invalidate_wire(wire).await;
        invalidated.map_err(|e| self.invalidation_failed(e))
    }

    fn invalidation_failed(&self, e: CacheError) -> CacheError {
        Counters::add(&self.inner.counters.errors, 1);
        match e {
            CacheError::Memcached(e) => CacheError::Invalidation(e),
            other => other,
        }
    }

    /// Runs the caller's database write, then invalidates `key`: the safe order.
    ///
    /// If the write fails, nothing is invalidated ([`CacheError::Write`]). If the write
    /// succeeds but the invalidation fails, [`CacheError::Invalidation`] says so: the
    /// write did commit, and the cached value may be stale until its TTL.
    ///
    /// ```no_run
    /// # async fn f(users: mcaside::cache::Cache<mcaside::cache::StringCodec>) -> Result<(), mcaside::cache::CacheError> {
    /// users
    ///     .write("123", || async {
    ///         // UPDATE users SET email = ... WHERE id = 123; COMMIT
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn write<T, F, Fut, E>(
        &self,
        key: impl AsRef<[u8]>,
        write: F,
    ) -> Result<T, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        // The wire key first: once the write has committed, the invalidation is queued
        // in the same poll, with no round trip in between where a caller that gives up
        // (a timeout around `write`) would leave the old row cached. (If memcached
        // cannot tell the version now, the write still runs, and the lookup is tried
        // again after it.)
        let inner = &*self.inner;
        let early = inner.namespace_version().await.ok();
        let out = write()
            .await
            .map_err(|e| CacheError::Write(std::sync::Arc::from(e.into())))?;
        match early {
            Some(version) => {
                let wire = keys::wire_key(&inner.namespace, version, key.as_ref());
                self.invalidate_at(&wire).await?;
            }
            None => self.invalidate(key).await?,
        }
        Ok(out)
    }

    /// Invalidates every key of the namespace at once, by moving it to a new version:
    /// one `incr`, whatever the number of keys. The old items are never read again and
    /// age out of memcached.
    pub async fn invalidate_namespace(&self) -> Result<(), CacheError> {
        let inner = &*self.inner;
        let vk = keys::version_key(&inner.namespace);
        let result = async {
            loop {
                if inner.client.incr(&vk, 1).await?.is_some() {
                    return Ok(());
                }
                // No version yet (or evicted): any fresh one invalidates everything.
                if inner
                    .client
                    .add(&vk, fresh_version().to_string(), Expiry::Never)
                    .await?
                {
                    return Ok(());
                }
            }
        }
        .await;
        Counters::add(&inner.counters.invalidations, 1);
        result.map_err(|e: crate::Error| {
            Counters::add(&inner.counters.errors, 1);
            CacheError::Invalidation(e)
        })
    }
}

impl<C: Codec> Inner<C> {
    pub(crate) async fn invalidate_wire(&self, wire: &str) -> Result<(), CacheError> {
        Counters::add(&self.counters.invalidations, 1);
        match (self.meta, self.config.serve_stale) {
            (true, Some(max_staleness)) => {
                // Mark stale and bump the cas: a fill racing with this is refused, and
                // the stale value lives at most `max_staleness` longer.
                let md = MetaDelete::new().invalidate().ttl(max_staleness);
                self.client.meta_delete(wire, &md).await?;
            }
            (true, None) => {
                self.client.meta_delete(wire, &MetaDelete::new()).await?;
            }
            (false, _) => {
                self.client.delete(wire).await?;
            }
        }
        Ok(())
    }

    /// The namespace's current version: one lookup, shared by the callers of this
    /// process that ask at the same time.
    pub(crate) async fn namespace_version(&self) -> Result<u64, CacheError> {
        let vk = keys::version_key(&self.namespace);
        loop {
            match self.versions.join(&vk) {
                Joined::Leader(lead) => return lead.finish(self.lookup_version(&vk).await),
                Joined::Follower(flight) => {
                    if let Some(version) = flight.wait().await {
                        return version;
                    }
                }
            }
        }
    }

    /// Reads the namespace's version. A namespace without one (new, or its version
    /// evicted) gets a fresh one, never one used before.
    async fn lookup_version(&self, vk: &str) -> Result<u64, CacheError> {
        loop {
            if let Some(item) = self.client.get(vk).await? {
                return std::str::from_utf8(&item.value)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or(CacheError::Foreign);
            }
            // Whoever adds first sets it; everyone reads the winner's.
            self.client
                .add(&vk, fresh_version().to_string(), Expiry::Never)
                .await?;
        }
    }
}

/// A version no earlier version can equal: the time in microseconds. Versions only ever
/// grow by one per namespace invalidation, far slower than the clock.
fn fresh_version() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}
