//! The write side: invalidating keys and namespaces, and writes that invalidate.
//!
//! Invalidate **after** the database commit, never before. Invalidating first leaves a
//! window in which a reader misses, reads the *old* row (the write has not committed),
//! and caches it, where it stays until its TTL: the very stale value the invalidation
//! was meant to prevent. Invalidating after the commit, any reader that read the old row
//! took its lease before the invalidation, so the invalidation changes the item's cas
//! and that reader's fill is refused. [`Cache::write`] runs the two in that order.
//!
//! **Which wire key.** A key lives under its namespace's version, which a namespace
//! invalidation may move on at any moment, also while a write runs. The invalidation
//! must hit the key under the version current *after* the commit: a reader that read
//! the old row under a version that was current during the write, and is still current
//! now, may be about to fill it. So the version is looked up afresh once the commit is
//! done, never taken from a lookup that began before it (as a lookup shared with
//! concurrent readers may have). The versions current in between and no longer current
//! need nothing: versions only grow, so nobody reads under them again (the namespace
//! invalidation that moved on from them invalidated everything under them).
//! [`Cache::write`] also invalidates under the version it read before the write, in the
//! same poll as the commit returns, so that a caller who gives up right then (a timeout
//! around `write`) still leaves no old row behind in the common case, where the version
//! did not move.

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
    ///
    /// The namespace's version is looked up afresh for it (one `get`, not shared with
    /// lookups that began before the call).
    pub async fn invalidate(&self, key: impl AsRef<[u8]>) -> Result<(), CacheError> {
        let inner = &*self.inner;
        let wire = match inner.fresh_namespace_version().await {
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
        // The wire key under the version before the write first: once the write has
        // committed, that invalidation is queued in the same poll, with no round trip in
        // between where a caller that gives up (a timeout around `write`) would leave
        // the old row cached. With it goes a fresh lookup of the version, and if the
        // namespace moved on during the write, the key is invalidated under the new
        // version too (see the module docs). If memcached cannot tell the version
        // before the write, the write still runs and only the fresh lookup counts.
        let inner = &*self.inner;
        let key = key.as_ref();
        let early = inner.namespace_version().await.ok();
        let out = write()
            .await
            .map_err(|e| CacheError::Write(std::sync::Arc::from(e.into())))?;
        let wire_at = |version| keys::wire_key(&inner.namespace, version, key);
        let Some(version) = early else {
            self.invalidate(key).await?;
            return Ok(out);
        };
        if inner.config.invalidate_early_version_only {
            self.invalidate_at(&wire_at(version)).await?;
            return Ok(out);
        }
        let (at_early, now) = super::both(
            self.invalidate_at(&wire_at(version)),
            inner.fresh_namespace_version(),
        )
        .await;
        at_early?;
        match now {
            Ok(now) if now == version => {}
            Ok(now) => self.invalidate_at(&wire_at(now)).await?,
            Err(e) => return Err(self.invalidation_failed(e)),
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
                if inner.must.incr(&vk, 1).await?.is_some() {
                    return Ok(());
                }
                // No version yet (or evicted): any fresh one invalidates everything.
                if inner
                    .must
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
        // Callers of this process that come after the invalidation must not join a
        // fetch that began before it (and may have read the value it invalidated): the
        // fetches in progress are forgotten before it is sent (in case this call is
        // cancelled) and those begun while it was on its way, once it is done.
        self.flights.forget(wire);
        let sent = self.send_invalidation(wire).await;
        self.flights.forget(wire);
        sent
    }

    async fn send_invalidation(&self, wire: &str) -> Result<(), CacheError> {
        match (self.meta, self.config.serve_stale) {
            (true, Some(max_staleness)) => {
                // Mark stale and bump the cas: a fill racing with this is refused, and
                // the stale value lives at most `max_staleness` longer.
                let md = MetaDelete::new().invalidate().ttl(max_staleness);
                self.must.meta_delete(wire, &md).await?;
            }
            (true, None) => {
                self.must.meta_delete(wire, &MetaDelete::new()).await?;
            }
            (false, _) => {
                self.must.delete(wire).await?;
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
                    if let Some(version) = flight.wait_done().await {
                        return version;
                    }
                }
            }
        }
    }

    /// The namespace's version, read by a lookup that begins now: for invalidations,
    /// which must not use a version read before the write they follow.
    pub(crate) async fn fresh_namespace_version(&self) -> Result<u64, CacheError> {
        self.lookup_version(&keys::version_key(&self.namespace))
            .await
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
