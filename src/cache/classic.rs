//! The read path on a server without meta commands: leases by `add`.
//!
//! The strongest lease the classic commands allow. A reader that misses `add`s an empty
//! placeholder under the key (with the lease TTL): `add` succeeds for exactly one
//! reader, the winner. The winner reads the placeholder's cas with `gets`, loads, and
//! fills with `cas`, which fails if the key was deleted (invalidated) or replaced in the
//! meantime: the same protection against stale sets as the meta path. Readers that find
//! the placeholder wait for it to be replaced.
//!
//! Weaker than the meta path, and README says so: a lease costs two round trips more
//! (`add`, `gets`), an invalidation can only delete (so there is no serving stale
//! values while one caller refreshes), and early refresh is probabilistic (XFetch:
//! a reader may decide to reload a value close to its expiry, and several may decide
//! at once, though rarely).

use super::backoff::Wait;
use super::envelope::{Stored, now_ms};
use super::lease::{fail, hit};
use super::metrics::Counters;
use super::{BoxError, Codec, Inner, Loaded};
use crate::client::CasOutcome;
use crate::{Expiry, StoreOptions};

impl<C: Codec> Inner<C> {
    pub(crate) async fn fetch_classic<F, Fut, E>(&self, wire: &str, loader: F) -> Loaded<C::Value>
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
                Err(e) => return fail(e.into()),
            };
            let cas = match item {
                Some(item) => {
                    let cas = item.cas.unwrap_or(0);
                    match self.open(item.value, item.flags) {
                        Ok(Stored::Placeholder) => None,
                        Ok(stored @ (Stored::Value(_) | Stored::Absent(_))) => {
                            let entry = match &stored {
                                Stored::Value(e) | Stored::Absent(e) => e.clone(),
                                Stored::Placeholder => unreachable!(),
                            };
                            let early = self.config.early_refresh.is_some()
                                && super::ttl::xfetch(
                                    now_ms(),
                                    entry.expires_at_ms,
                                    entry.load_ms,
                                    self.config.xfetch_beta,
                                );
                            if !early {
                                Counters::add(&c.hits, 1);
                                return hit(stored);
                            }
                            Counters::add(&c.early_refreshes, 1);
                            Some((cas, false))
                        }
                        Err(e) => return fail(e),
                    }
                }
                None => {
                    wait.miss();
                    // Try to take the lease: an empty placeholder only one reader can add.
                    match self.client.add(wire, b"", self.config.lease_ttl).await {
                        Ok(true) => match self.client.gets(wire).await {
                            Ok(Some(p)) if p.value.is_empty() => {
                                Counters::add(&c.lease_wins, 1);
                                p.cas.map(|cas| (cas, true))
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
            if let Some((cas, placeholder)) = cas {
                return self.load_and_cas(wire, cas, placeholder, loader).await;
            }
            // Someone else holds the lease.
            if !wait.again().await {
                return self.on_wait_timeout(loader).await;
            }
        }
    }

    /// Loads and fills with `cas`, the unique of our lease placeholder (`placeholder`)
    /// or of the value being refreshed early.
    async fn load_and_cas<F, Fut, E>(
        &self,
        wire: &str,
        cas: u64,
        placeholder: bool,
        loader: F,
    ) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let (row, data, shared, ttl) =
            match self.load_as_holder(wire, cas, placeholder, loader).await {
                Ok(loaded) => loaded,
                Err(not) => return fail(not.error),
            };
        let options = StoreOptions::new()
            .flags(super::envelope::flags(C::ID))
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
