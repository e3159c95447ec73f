//! The read path on a server without meta commands: leases by `add`.
//!
//! The strongest lease the classic commands allow. A reader that misses `add`s an empty
//! placeholder under the key (with the lease TTL): `add` succeeds for exactly one
//! reader, the winner. The winner reads the placeholder's cas with `gets`, loads, and
//! fills with `cas`, which fails if the key was deleted (invalidated) or replaced in the
//! meantime: the same protection against stale sets as the meta path. Readers that find
//! the placeholder wait for it to be replaced.
//!
//! Early refresh works like the meta path's `R`, with a lease of its own: a reader that
//! finds a value due for refresh (what may be left of it on the server, whose clock
//! counts whole seconds, is under the threshold) stores the same value again, marked
//! *refreshing*, with `cas` against its unique. Exactly one reader's `cas` succeeds;
//! that reader reads the new unique (`gets`), loads and fills with `cas`; every other
//! reader sees the mark and is served the value. The value stays servable throughout.
//!
//! Weaker than the meta path, and README says so: a lease costs two round trips more
//! (`add`, `gets`), so does taking a refresh (`cas`, `gets`), and an invalidation can
//! only delete, so there is no serving stale values while one caller refreshes.

use bytes::Bytes;

use super::backoff::Wait;
use super::envelope::{self, Stored, now_ms};
use super::lease::{fail, found, hit};
use super::metrics::Counters;
use super::{BoxError, Codec, Inner, KeyLead, Loaded};
use crate::client::CasOutcome;
use crate::{Expiry, Item, StoreOptions};

impl<C: Codec> Inner<C> {
    pub(crate) async fn fetch_classic<F, Fut, E>(
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
        let mut wait = Wait::new(self.config.max_wait, c);
        loop {
            let item = match self.client.gets(wire).await {
                Ok(item) => item,
                Err(e) => return self.on_read_error(e, loader).await,
            };
            let lease = match item {
                Some(item) => match self.open(item.value.clone(), item.flags) {
                    Ok(Stored::Placeholder) => None,
                    Ok(stored @ (Stored::Value(_) | Stored::Absent(_))) => {
                        if self.refresh_due(&item, &stored) {
                            // Whatever comes of the refresh, the value is good meanwhile.
                            lead.share_early(Ok(found(&stored)), false);
                            if let Some(cas) = self.take_refresh(wire, &item, &stored).await {
                                Counters::add(&c.early_refreshes, 1);
                                return self.load_and_cas(wire, cas, Some(stored), loader).await;
                            }
                        }
                        Counters::add(&c.hits, 1);
                        return hit(stored);
                    }
                    Err(e) => return fail(e),
                },
                None => {
                    wait.miss();
                    // Try to take the lease: an empty placeholder only one reader can add.
                    match self.client.add(wire, b"", self.config.lease_ttl).await {
                        Ok(true) => match self.client.gets(wire).await {
                            Ok(Some(p)) if p.value.is_empty() => {
                                Counters::add(&c.lease_wins, 1);
                                p.cas
                            }
                            // Invalidated or filled in the instant between: read again.
                            Ok(_) => continue,
                            Err(e) => return fail(e.into()),
                        },
                        Ok(false) => None,
                        Err(e) => return fail(e.into()),
                    }
                }
            };
            if let Some(cas) = lease {
                return self.load_and_cas(wire, cas, None, loader).await;
            }
            // Someone else holds the lease.
            if !wait.again().await {
                return self.on_wait_timeout(loader).await;
            }
        }
    }

    /// Whether `item` (holding `stored`) is due for early refresh and nobody has taken
    /// the refresh yet.
    pub(super) fn refresh_due(&self, item: &Item, stored: &Stored) -> bool {
        let (Some(threshold), Stored::Value(entry) | Stored::Absent(entry)) =
            (self.config.early_refresh, stored)
        else {
            return false;
        };
        !envelope::is_refreshing(item.flags)
            && super::ttl::refresh_due(now_ms(), entry.expires_at_ms, threshold)
    }

    /// Tries to take the refresh of `item` (read with `gets`, holding `stored`): stores
    /// the same data marked refreshing, with `cas` against the item's unique, so that
    /// one reader succeeds; returns the marked item's cas for the fill. `None` if
    /// another reader took it, the item changed, or memcached failed us (the value is
    /// then simply served).
    pub(super) async fn take_refresh(
        &self,
        wire: &str,
        item: &Item,
        stored: &Stored,
    ) -> Option<u64> {
        let (Stored::Value(entry) | Stored::Absent(entry)) = stored else {
            return None;
        };
        // What is left of it, in whole seconds rounded down: the mark must not make it
        // live longer than it would have.
        let left_ms = entry.expires_at_ms.saturating_sub(now_ms());
        let options = StoreOptions::new()
            .flags(envelope::refreshing_flags(C::ID))
            .expiry(Expiry::secs((left_ms / 1000).max(1)));
        let marked: Bytes = item.value.clone();
        match self.client.cas(wire, &marked, item.cas?, options).await {
            Ok(CasOutcome::Stored) => {}
            _ => return None,
        }
        match self.client.gets(wire).await {
            Ok(Some(now)) if envelope::is_refreshing(now.flags) && now.value == marked => now.cas,
            _ => None,
        }
    }

    /// Loads and fills with `cas`: the unique of our lease placeholder, or, for an early
    /// refresh, of the value marked refreshing (`previous`, served if the load fails
    /// and stale-if-error is on).
    async fn load_and_cas<F, Fut, E>(
        &self,
        wire: &str,
        cas: u64,
        previous: Option<Stored>,
        loader: F,
    ) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let placeholder = previous.is_none();
        let (row, data, shared, ttl) =
            match self.load_as_holder(wire, cas, placeholder, loader).await {
                Ok(loaded) => loaded,
                Err(not) => {
                    if not.by_loader
                        && self.config.stale_if_error
                        && let Some(stored) = previous
                    {
                        Counters::add(&self.counters.stale_served, 1);
                        return hit(stored);
                    }
                    return fail(not.error);
                }
            };
        let options = StoreOptions::new()
            .flags(envelope::flags(C::ID))
            .expiry(Expiry::After(ttl));
        let outcome = if self.config.fill_without_cas {
            self.client
                .set(wire, &data, options)
                .await
                .map(|()| CasOutcome::Stored)
        } else {
            self.client.cas(wire, &data, cas, options).await
        };
        match outcome {
            Ok(CasOutcome::Stored) => {}
            Ok(CasOutcome::Exists | CasOutcome::NotFound) => {
                Counters::add(&self.counters.fills_refused, 1);
            }
            Err(e) => {
                tracing::warn!(target: "mcaside::cache", key = wire, error = %e, "fill failed")
            }
        }
        Loaded {
            shared: Ok(shared),
            own: Some(row),
        }
    }
}
