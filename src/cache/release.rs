//! Holding a lease: loading under it, and giving it back when there is nothing to fill
//! (a failed load, a row the codec refuses, a caller cancelled mid-load).
//!
//! A lease is a placeholder item that makes every other reader of the key wait (or
//! poll) until it is filled or expires. A caller that won one and will not fill it
//! gives it back at once, so that nobody waits out the lease TTL for a load that is
//! not coming. Both the single-key paths (meta and classic) and the bulk path use
//! what is here.

use std::time::Duration;

use bytes::Bytes;

use super::{BoxError, CacheError, Codec, Found, Inner};
use crate::Client;

/// Why a lease holder has nothing to fill.
pub(super) struct NotLoaded {
    pub error: CacheError,
    /// The loader failed (rather than the codec refusing its row): stale-if-error may
    /// serve the previous value.
    pub by_loader: bool,
}

impl<C: Codec> Inner<C> {
    /// Runs `loader` as the holder of the lease on `wire` (won with cas `cas`) and seals
    /// its row for the fill: the row, its item data, its shared form and its TTL. A
    /// placeholder lease (`placeholder`) is given back if the caller is cancelled during
    /// the load, if the load fails, or if the codec refuses the row; a value being
    /// refreshed early stays where it is.
    pub(super) async fn load_as_holder<F, Fut, E>(
        &self,
        wire: &str,
        cas: u64,
        placeholder: bool,
        loader: F,
    ) -> Result<(Option<C::Value>, Bytes, Found, Duration), NotLoaded>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let guard = placeholder.then(|| self.lease_guard([(wire, cas)]));
        let (row, took) = self.load(loader).await;
        // Loaded: from here on the lease is filled by the caller or given back below.
        if let Some(guard) = guard {
            guard.disarm();
        }
        let sealed = match row {
            Ok(row) => match self.seal(&row, took) {
                Ok((data, found, ttl)) => Ok((row, data, found, ttl)),
                Err(error) => Err(NotLoaded {
                    error,
                    by_loader: false,
                }),
            },
            Err(error) => Err(NotLoaded {
                error,
                by_loader: true,
            }),
        };
        if sealed.is_err() && placeholder {
            self.give_back(wire, cas).await;
        }
        sealed
    }

    /// Gives back the lease on `wire` (taken with cas `cas`); see [`give_back`].
    pub(super) async fn give_back(&self, wire: &str, cas: u64) {
        give_back(&self.must, self.meta, wire, cas).await;
    }

    /// A guard for placeholder leases (wire key, cas) while this caller loads.
    pub(super) fn lease_guard<'w>(
        &self,
        leases: impl IntoIterator<Item = (&'w str, u64)>,
    ) -> LeaseGuard {
        LeaseGuard {
            client: self.must.clone(),
            meta: self.meta,
            leases: leases
                .into_iter()
                .map(|(w, cas)| (w.to_owned(), cas))
                .collect(),
            armed: true,
        }
    }
}

/// Gives back a lease, so that the next caller need not wait for it to expire: deletes
/// our placeholder if it is still ours (the cas it had when we won it). Meta:
/// `md <key> C<cas>`. Classic commands have no conditional delete, but a `cas` that
/// stores an item already expired is one: it only replaces our placeholder. Both are
/// harmless if the placeholder was filled meanwhile. Best effort: if it fails, the
/// lease expires with its TTL.
async fn give_back(client: &Client, meta: bool, wire: &str, cas: u64) {
    if meta {
        let release = crate::proto::meta::MetaDelete::new().compare_cas(cas);
        let _ = client.meta_delete(wire, &release).await;
    } else {
        let gone = crate::StoreOptions::new().expiry(long_ago());
        let _ = client.cas(wire, b"", cas, gone).await;
    }
}

/// An expiry in the past that every classic server and proxy accepts: an absolute time
/// 30 days and one second after the epoch (exptime 2592001, the smallest number
/// memcached reads as a date rather than as seconds from now). The usual "already
/// expired", -1, is refused by twemproxy, which closes the connection, failing every
/// other request on it, and leaves the lease in place.
fn long_ago() -> crate::Expiry {
    let secs = u64::from(crate::proto::MAX_RELATIVE_EXPTIME) + 1;
    crate::Expiry::At(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The placeholder leases a caller holds while its loader runs. If the caller's future
/// is dropped there (a timeout around `get_or_load`, a `select!`), the guard gives the
/// leases back from a task of its own: otherwise every other caller, in this process
/// and others, would wait for them to expire. A caller that finishes the load
/// [`disarm`](Self::disarm)s it and fills or gives back the leases itself.
pub(super) struct LeaseGuard {
    client: Client,
    meta: bool,
    leases: Vec<(String, u64)>,
    armed: bool,
}

impl LeaseGuard {
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if !self.armed || self.leases.is_empty() {
            return;
        }
        // Outside a runtime (it is shutting down) there is nobody to send them; the
        // leases then expire with their TTL.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (client, meta) = (self.client.clone(), self.meta);
        let leases = std::mem::take(&mut self.leases);
        runtime.spawn(async move {
            let each = leases
                .iter()
                .map(|(w, cas)| give_back(&client, meta, w, *cas));
            crate::join_all(each).await;
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lease_is_given_back_with_a_positive_expiry_in_the_past() {
        assert_eq!(super::long_ago().to_exptime(), Ok(2_592_001));
    }
}
