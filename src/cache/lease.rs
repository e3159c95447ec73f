//! The read path on a server with meta commands: leases by vivify.
//!
//! One `mg <key> v c f t N<lease ttl> [R<threshold>]` answers everything at once:
//!
//! | reply | meaning | this caller |
//! |---|---|---|
//! | value, no flag | a hit | returns it |
//! | `W`, empty value | a miss, and the lease is ours | loads, fills with `ms ... C<cas>` |
//! | `Z`, empty value | a miss, someone else holds the lease | waits and reads again |
//! | value, `X` `W` | stale (invalidated), and the refresh is ours | loads, fills |
//! | value, `X` `Z` | stale, someone else refreshes | serves it if serve-stale is on, else waits |
//! | value, `W` (no `X`) | a hit close to expiry (`R`): ours to refresh early | loads, fills |
//!
//! The fill carries the cas that came with the lease; if the item changed since (an
//! invalidation deleted it or marked it stale), memcached refuses it (`NF`/`EX`) and the
//! row this caller read, which may predate the change, is not cached.
//!
//! A caller that wins the refresh of a value it may serve (a stale one with
//! serve-stale on, or a valid one close to expiry) hands that value to the callers of
//! this process waiting on it before loading: only the refreshing caller waits.

use super::backoff::Wait;
use super::envelope::{Entry, Stored};
use super::metrics::Counters;
use super::{BoxError, Codec, Found, Inner, KeyLead, Loaded};
use crate::proto::MetaCode;
use crate::proto::meta::{MetaGet, MetaSet};

impl<C: Codec> Inner<C> {
    pub(crate) async fn fetch_meta<F, Fut, E>(
        &self,
        wire: &str,
        loader: F,
        lead: &KeyLead<'_>,
    ) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let c = &self.counters;
        let mut flags = MetaGet::new()
            .return_value()
            .return_cas()
            .return_client_flags()
            .vivify(self.config.lease_ttl);
        if let Some(threshold) = self.config.early_refresh {
            flags = flags.recache(threshold);
        }
        let mut wait = Wait::new(self.config.max_wait, c);
        loop {
            let r = match self.client.meta_get(wire, &flags).await {
                Ok(r) => r,
                Err(e) => return self.on_read_error(e, loader).await,
            };
            let stored = match (r.code, r.value) {
                (MetaCode::Value, Some(data)) => {
                    match self.open(data, r.flags.client_flags.unwrap_or(0)) {
                        Ok(s) => s,
                        Err(e) => return fail(e),
                    }
                }
                // With N, memcached always answers with an item; be safe anyway.
                _ => Stored::Placeholder,
            };
            let entry = match &stored {
                Stored::Value(e) | Stored::Absent(e) => Some(e.clone()),
                Stored::Placeholder => None,
            };
            if r.flags.won {
                Counters::add(&c.lease_wins, 1);
                match (&entry, r.flags.stale) {
                    (None, _) => wait.miss(),
                    (Some(_), false) => {
                        Counters::add(&c.early_refreshes, 1);
                        lead.share_early(Ok(found(&stored)), false);
                    }
                    (Some(_), true) => {
                        if self.config.serve_stale.is_some() {
                            lead.share_early(Ok(found(&stored)), true);
                        }
                    }
                }
                let cas = r.flags.cas.unwrap_or(0);
                return self
                    .load_and_fill(wire, cas, loader, entry.map(|e| (stored, e)))
                    .await;
            }
            match (&stored, r.flags.stale) {
                (Stored::Value(_) | Stored::Absent(_), false) => {
                    Counters::add(&c.hits, 1);
                    return hit(stored);
                }
                (Stored::Value(_) | Stored::Absent(_), true)
                    if self.config.serve_stale.is_some() =>
                {
                    Counters::add(&c.stale_served, 1);
                    return hit(stored);
                }
                _ => {}
            }
            // Someone else is loading (or refreshing a stale value we may not serve).
            if !wait.again().await {
                return self.on_wait_timeout(loader).await;
            }
        }
    }

    /// Loads as the lease holder and fills with the lease's cas. `previous` is the
    /// value that was there (stale, or close to expiry), for stale-if-error.
    async fn load_and_fill<F, Fut, E>(
        &self,
        wire: &str,
        cas: u64,
        loader: F,
        previous: Option<(Stored, Entry)>,
    ) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let c = &self.counters;
        let placeholder = previous.is_none();
        let (row, data, shared, ttl) =
            match self.load_as_holder(wire, cas, placeholder, loader).await {
                Ok(loaded) => loaded,
                Err(not) => {
                    if not.by_loader
                        && self.config.stale_if_error
                        && let Some((stored, _)) = previous
                    {
                        Counters::add(&c.stale_served, 1);
                        return hit(stored);
                    }
                    return fail(not.error);
                }
            };
        let mut fill = MetaSet::new()
            .ttl(ttl)
            .client_flags(super::envelope::flags(C::ID));
        if !self.config.fill_without_cas {
            fill = fill.compare_cas(cas);
        }
        match self.client.meta_set(wire, &data, &fill).await {
            Ok(r) if r.code == MetaCode::Header => {}
            Ok(_) => Counters::add(&c.fills_refused, 1),
            Err(e) => {
                // The row is loaded and correct; only caching it failed. The caller still
                // gets it; the next reader will load again.
                tracing::warn!(target: "mcaside::cache", key = wire, error = %e, "fill failed");
            }
        }
        Loaded {
            shared: Ok(shared),
            own: Some(row),
        }
    }
}

/// The outcome for a value found in memcached.
pub(crate) fn hit<V>(stored: Stored) -> Loaded<V> {
    Loaded {
        shared: Ok(found(&stored)),
        own: None,
    }
}

/// What a value found in memcached gives its callers.
pub(crate) fn found(stored: &Stored) -> Found {
    match stored {
        Stored::Value(e) => Found::Value(e.payload.clone()),
        Stored::Absent(_) => Found::Absent,
        Stored::Placeholder => unreachable!("a placeholder is never returned"),
    }
}

/// The outcome for a failure.
pub(crate) fn fail<V>(e: super::CacheError) -> Loaded<V> {
    Loaded {
        shared: Err(e),
        own: None,
    }
}
