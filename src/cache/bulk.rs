//! Many keys at once: one round trip for the reads, one call of a batch loader for the
//! misses, and still one load per key across callers.
//!
//! Every key this caller leads (see [`super::flight`]) is read in one pipelined batch
//! (`mg ... N` on a meta server: hits come back and leases are won in the same round
//! trip). Keys whose lease another process holds are read again, all together, with a
//! doubling pause, up to the wait bound. Then the batch loader is called once, with
//! every key that needs loading, *after* their leases were taken (a row read before its
//! lease could predate an invalidation), and the fills go back in one more batch, each
//! with its lease's cas. Keys another caller of this process is fetching are waited for.
//!
//! Every option of [`get_or_load`](Cache::get_or_load) holds here too, key by key:
//! serve-stale (a stale value another caller refreshes is served, and counted as
//! `stale_served`), early refresh (`mg ... R` on a meta server, the refresh mark on a
//! classic one: hot keys close to expiry are loaded with the misses), stale-if-error
//! (when the batch load fails, keys that had a stale or early-refreshed value get it),
//! and the values this caller may serve while it reloads go to the callers of this
//! process waiting on those keys at once.

use std::collections::{HashMap, HashSet};

use super::envelope::Stored;
use super::flight::{Joined, Waited};
use super::lease::found;
use super::metrics::Counters;
use super::{BoxError, Cache, CacheError, Codec, Found, Shared, keys};

/// A key this caller is to load.
struct ToLoad<'w> {
    wire: &'w str,
    /// The cas to fill with: of our lease placeholder, or of the value being refreshed.
    /// `None`: loaded without storing (the wait for another's lease timed out).
    cas: Option<u64>,
    /// The value there was (stale, or being refreshed early): no placeholder to give
    /// back, and what stale-if-error serves.
    previous: Option<Stored>,
}

impl ToLoad<'_> {
    /// The lease to give back if nothing is filled: only a placeholder's.
    fn placeholder(&self) -> Option<(&str, u64)> {
        match (self.previous.is_none(), self.cas) {
            (true, Some(cas)) => Some((self.wire, cas)),
            _ => None,
        }
    }
}

/// What a batch read found for a key this caller leads, beyond results and loads: a
/// value it may hand to its followers before the load (`stale`, or valid).
type EarlyValues<'w> = Vec<(&'w str, Found, bool)>;
use crate::client::BatchOutcome;
use crate::proto::MetaCode;
use crate::proto::meta::{MetaGet, MetaSet};

impl<C: Codec> Cache<C> {
    /// [`get_or_load`](Cache::get_or_load) for many keys. `loader` is called at most
    /// once, with the keys that need loading (in the order given: the misses, and the
    /// hot keys due for early refresh), and must return one entry per key it was given:
    /// `Some(row)`, or `None` for a row that does not exist. The result has one entry
    /// per key asked.
    ///
    /// Every option of the cache applies as it does to `get_or_load`, key by key:
    /// serve-stale, early refresh, stale-if-error (if the loader fails, the keys that
    /// had a stale or early-refreshed value get it; the call fails if any key has
    /// neither), the wait bound and its policy, and the same counters.
    pub async fn get_or_load_many<K, F, Fut, E>(
        &self,
        keys: &[K],
        loader: F,
    ) -> Result<Vec<Option<C::Value>>, CacheError>
    where
        K: AsRef<[u8]> + Clone,
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<Vec<Option<C::Value>>, E>>,
        E: Into<BoxError>,
    {
        let result = self.load_many(keys, loader).await;
        if result.is_err() {
            Counters::add(&self.inner.counters.errors, 1);
        }
        result
    }

    async fn load_many<K, F, Fut, E>(
        &self,
        keys: &[K],
        loader: F,
    ) -> Result<Vec<Option<C::Value>>, CacheError>
    where
        K: AsRef<[u8]> + Clone,
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<Vec<Option<C::Value>>, E>>,
        E: Into<BoxError>,
    {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &*self.inner;
        let version = match inner.namespace_version().await {
            Ok(v) => v,
            // The namespace's version lives on a dead server: every key is loaded, and
            // nothing cached.
            Err(CacheError::Memcached(e)) if inner.loads_uncached(&e) => {
                Counters::add(&inner.counters.uncached, keys.len() as u64);
                Counters::add(&inner.counters.loads, keys.len() as u64);
                let rows = loader(keys.to_vec())
                    .await
                    .map_err(|e| CacheError::Load(std::sync::Arc::from(e.into())))?;
                if rows.len() != keys.len() {
                    return Err(CacheError::Load(std::sync::Arc::from(BoxError::from(
                        format!(
                            "the batch loader returned {} rows for {} keys",
                            rows.len(),
                            keys.len()
                        ),
                    ))));
                }
                return Ok(rows);
            }
            Err(e) => return Err(e),
        };
        let wires: Vec<String> = keys
            .iter()
            .map(|k| keys::wire_key(&inner.namespace, version, k.as_ref()))
            .collect();
        // Lead the keys nobody in this process is fetching; follow the others.
        let mut leads = HashMap::new();
        let mut follows = Vec::new();
        for (i, w) in wires.iter().enumerate() {
            if leads.contains_key(w.as_str()) {
                continue;
            }
            match inner.flights.join(w) {
                Joined::Leader(lead) => {
                    leads.insert(w.as_str(), (i, lead));
                }
                Joined::Follower(f) => {
                    Counters::add(&inner.counters.coalesced, 1);
                    follows.push((i, f));
                }
            }
        }
        let mut results: HashMap<&str, Shared> = HashMap::new();
        let mut to_load: Vec<ToLoad> = Vec::new();

        // One pipelined read for every key led; then, for keys another process holds
        // the lease of, pipelined re-reads with a doubling pause, up to the wait bound.
        // In the order the keys were given, so the loader sees them in that order.
        // Each key once: a key asked twice must not wait on the lease its first
        // mention just took.
        let mut seen = HashSet::new();
        let mut pending: Vec<&str> = wires
            .iter()
            .map(String::as_str)
            .filter(|w| leads.contains_key(w) && seen.insert(*w))
            .collect();
        let mut backoff = super::backoff::Backoff::new(inner.config.max_wait);
        let mut first = true;
        while !pending.is_empty() {
            if !first {
                if !backoff.pause().await {
                    Counters::add(&inner.counters.wait_timeouts, pending.len() as u64);
                    match inner.config.on_wait_timeout {
                        super::OnWaitTimeout::Fail => {
                            for w in pending.drain(..) {
                                results.insert(w, Err(CacheError::WaitTimeout));
                            }
                        }
                        // Loaded with the rest, and not stored: the lease holder will.
                        super::OnWaitTimeout::LoadWithoutStoring => {
                            to_load.extend(pending.drain(..).map(|wire| ToLoad {
                                wire,
                                cas: None,
                                previous: None,
                            }));
                        }
                    }
                    break;
                }
                Counters::add(&inner.counters.lease_waits, pending.len() as u64);
            }
            // Keys whose server is marked dead cannot be read or leased: loaded with
            // the rest, and not stored.
            if inner.config.on_server_down == super::OnServerDown::LoadUncached {
                let (down, up): (Vec<&str>, Vec<&str>) = pending
                    .iter()
                    .partition(|w| inner.client.server_for(w).is_err());
                Counters::add(&inner.counters.uncached, down.len() as u64);
                to_load.extend(down.into_iter().map(|wire| ToLoad {
                    wire,
                    cas: None,
                    previous: None,
                }));
                pending = up;
                if pending.is_empty() {
                    break;
                }
            }
            let mut early = Vec::new();
            let read = if inner.meta {
                self.read_batch_meta(&pending, first, &mut results, &mut to_load, &mut early)
                    .await
            } else {
                self.read_batch_classic(&pending, first, &mut results, &mut to_load, &mut early)
                    .await
            };
            // Followers need not wait for the load to get a value this caller has.
            for (w, value, stale) in early {
                if let Some((_, lead)) = leads.get(w) {
                    lead.share_early(Ok(value), stale);
                }
            }
            match read {
                Ok(still) => pending = still,
                Err(e) => {
                    // memcached failed us mid-way: nothing is loaded. Every led key
                    // without a result gets the error (its followers too, below), and
                    // the leases already won go back.
                    self.give_back_all(to_load.iter().filter_map(ToLoad::placeholder))
                        .await;
                    to_load.clear();
                    for w in leads.keys() {
                        results.entry(w).or_insert_with(|| Err(e.clone()));
                    }
                    break;
                }
            }
            first = false;
        }

        // One loader call for everything that needs loading; one pipelined fill for the
        // keys whose lease this caller holds.
        if !to_load.is_empty() {
            let key_of: HashMap<&str, &K> = wires.iter().map(String::as_str).zip(keys).collect();
            // Keys won on later polls joined the list late: back to the callers' order.
            let position: HashMap<&str, usize> = wires
                .iter()
                .enumerate()
                .map(|(i, w)| (w.as_str(), i))
                .rev()
                .collect();
            to_load.sort_by_key(|t| position[t.wire]);
            let asked: Vec<K> = to_load.iter().map(|t| key_of[t.wire].clone()).collect();
            Counters::add(&inner.counters.loads, to_load.len() as u64);
            let started = std::time::Instant::now();
            let guard = inner.lease_guard(to_load.iter().filter_map(ToLoad::placeholder));
            let loaded = loader(asked).await;
            // Loaded: every path below fills or gives back the leases itself.
            guard.disarm();
            match loaded {
                Ok(rows) if rows.len() == to_load.len() => {
                    let took = started.elapsed();
                    let (mut fills, mut unfilled) = (Vec::new(), Vec::new());
                    for (t, row) in to_load.iter().zip(&rows) {
                        match inner.seal(row, took) {
                            Ok((data, found, ttl)) => {
                                if let Some(cas) = t.cas {
                                    fills.push((t.wire, cas, data, ttl));
                                }
                                results.insert(t.wire, Ok(found));
                            }
                            Err(e) => {
                                // The codec refused the row: nothing to fill.
                                unfilled.extend(t.placeholder());
                                results.insert(t.wire, Err(e));
                            }
                        }
                    }
                    self.give_back_all(unfilled).await;
                    match self.fill_batch(fills).await {
                        Ok(refused) => Counters::add(&inner.counters.fills_refused, refused),
                        // The rows are loaded and correct; only caching them failed. The
                        // callers still get them; the next readers will load again.
                        Err(e) => tracing::warn!(
                            target: "mcaside::cache",
                            error = %e,
                            "bulk fill failed"
                        ),
                    }
                }
                failed => {
                    let e = match failed {
                        Ok(rows) => BoxError::from(format!(
                            "the batch loader returned {} rows for {} keys",
                            rows.len(),
                            to_load.len()
                        )),
                        Err(e) => e.into(),
                    };
                    let e = CacheError::Load(std::sync::Arc::from(e));
                    for t in &to_load {
                        let shared = match &t.previous {
                            Some(stored) if inner.config.stale_if_error => {
                                Counters::add(&inner.counters.stale_served, 1);
                                Ok(found(stored))
                            }
                            _ => Err(e.clone()),
                        };
                        results.insert(t.wire, shared);
                    }
                    // Nothing to fill: give the leases back rather than make other
                    // processes wait for them to expire.
                    self.give_back_all(to_load.iter().filter_map(ToLoad::placeholder))
                        .await;
                }
            }
        }

        // Hand every led key's result to its followers, then collect ours.
        for (w, (_, lead)) in leads {
            let shared = results
                .get(w)
                .cloned()
                .unwrap_or(Err(CacheError::WaitTimeout));
            let _ = lead.finish(shared);
        }
        let mut out = Vec::with_capacity(keys.len());
        let mut followed: HashMap<usize, Shared> = HashMap::new();
        for (i, f) in follows {
            let shared = match f.wait().await {
                Some(Waited::Done(s)) => s,
                Some(Waited::Early(early)) => {
                    if early.stale {
                        Counters::add(&inner.counters.stale_served, 1);
                    }
                    early.value
                }
                // Its leader was cancelled: report it, rather than load without a loader.
                None => Err(CacheError::WaitTimeout),
            };
            followed.insert(i, shared);
        }
        for (i, w) in wires.iter().enumerate() {
            let shared = match followed.remove(&i) {
                Some(s) => s,
                None => results
                    .get(w.as_str())
                    .cloned()
                    .unwrap_or(Err(CacheError::WaitTimeout)),
            };
            out.push(inner.decode(shared?)?);
        }
        Ok(out)
    }

    /// Reads `keys` in one pipelined batch with `mg ... N [R]`: hits go to `results`,
    /// keys whose lease (or refresh) this caller won to `to_load` with their cas, values
    /// it may serve while it loads them to `early`; the keys another process holds the
    /// lease of are returned, to be read again.
    async fn read_batch_meta<'w>(
        &self,
        keys: &[&'w str],
        first: bool,
        results: &mut HashMap<&'w str, Shared>,
        to_load: &mut Vec<ToLoad<'w>>,
        early: &mut EarlyValues<'w>,
    ) -> Result<Vec<&'w str>, CacheError> {
        let inner = &*self.inner;
        let c = &inner.counters;
        let mut flags = MetaGet::new()
            .return_value()
            .return_cas()
            .return_client_flags()
            .vivify(inner.config.lease_ttl);
        if let Some(threshold) = inner.config.early_refresh {
            flags = flags.recache(threshold);
        }
        let mut batch = inner.client.meta_batch();
        for w in keys {
            batch.get(w, &flags)?;
        }
        let mut still = Vec::new();
        for (&w, outcome) in keys.iter().zip(batch.send().await?) {
            let r = match outcome {
                BatchOutcome::Reply(r) => r,
                BatchOutcome::Failed(e) | BatchOutcome::MaybeFailed(e) => {
                    results.insert(w, Err(CacheError::Memcached(crate::Error::Server(e))));
                    continue;
                }
                BatchOutcome::Silent(_) => {
                    still.push(w);
                    continue;
                }
            };
            let stored = match (r.code, r.value) {
                (MetaCode::Value, Some(data)) => {
                    match inner.open(data, r.flags.client_flags.unwrap_or(0)) {
                        Ok(s) => s,
                        Err(e) => {
                            results.insert(w, Err(e));
                            continue;
                        }
                    }
                }
                _ => Stored::Placeholder,
            };
            let (stale, serve_stale) = (r.flags.stale, inner.config.serve_stale.is_some());
            let has_value = !matches!(stored, Stored::Placeholder);
            if r.flags.won {
                // As in the single-key path: a miss, an early refresh, or a stale value
                // to refresh.
                Counters::add(&c.lease_wins, 1);
                match (has_value, stale) {
                    (false, _) => {
                        if first {
                            Counters::add(&c.misses, 1);
                        }
                    }
                    (true, false) => {
                        Counters::add(&c.early_refreshes, 1);
                        early.push((w, found(&stored), false));
                    }
                    (true, true) => {
                        if serve_stale {
                            early.push((w, found(&stored), true));
                        }
                    }
                }
                to_load.push(ToLoad {
                    wire: w,
                    cas: Some(r.flags.cas.unwrap_or(0)),
                    previous: has_value.then_some(stored),
                });
            } else if has_value && !stale {
                Counters::add(&c.hits, 1);
                results.insert(w, Ok(found(&stored)));
            } else if has_value && serve_stale {
                Counters::add(&c.stale_served, 1);
                results.insert(w, Ok(found(&stored)));
            } else {
                if first {
                    Counters::add(&c.misses, 1);
                }
                still.push(w);
            }
        }
        Ok(still)
    }

    /// The classic form of [`read_batch_meta`](Self::read_batch_meta): one `gets` of
    /// every key, then for the misses an `add` of a lease placeholder and a `gets` of
    /// its cas, and for the values due for early refresh the marking `cas` and a `gets`.
    /// The misses' adds go out together and then their gets (the refreshes' likewise),
    /// so taking any number of leases costs two more round trips: the price of leases
    /// without meta commands.
    async fn read_batch_classic<'w>(
        &self,
        keys: &[&'w str],
        first: bool,
        results: &mut HashMap<&'w str, Shared>,
        to_load: &mut Vec<ToLoad<'w>>,
        early: &mut EarlyValues<'w>,
    ) -> Result<Vec<&'w str>, CacheError> {
        let inner = &*self.inner;
        let c = &inner.counters;
        let items = inner.client.gets_many(keys).await?;
        let mut still = Vec::new();
        let mut missing = Vec::new();
        let mut due = Vec::new();
        for (&w, item) in keys.iter().zip(items) {
            let Some(item) = item else {
                missing.push(w);
                continue;
            };
            match inner.open(item.value.clone(), item.flags) {
                Ok(stored @ (Stored::Value(_) | Stored::Absent(_))) => {
                    if inner.refresh_due(&item, &stored) {
                        early.push((w, found(&stored), false));
                        due.push((w, item, stored));
                    } else {
                        Counters::add(&c.hits, 1);
                        results.insert(w, Ok(found(&stored)));
                    }
                }
                Ok(Stored::Placeholder) => {
                    if first {
                        Counters::add(&c.misses, 1);
                    }
                    still.push(w);
                }
                Err(e) => {
                    results.insert(w, Err(e));
                }
            }
        }
        // Every add (and refresh mark) is queued in join_all's first pass (so they share
        // writes); each key's gets goes out once its add has answered.
        let client = &inner.client;
        let (leases, refreshes) = super::both(
            crate::join_all(missing.iter().map(|&w| async move {
                if client.add(w, b"", inner.config.lease_ttl).await? {
                    client.gets(w).await
                } else {
                    Ok(None)
                }
            })),
            crate::join_all(
                due.iter()
                    .map(|(w, item, stored)| inner.take_refresh(w, item, stored)),
            ),
        )
        .await;
        for ((w, _, stored), won) in due.into_iter().zip(refreshes) {
            match won {
                Some(cas) => {
                    Counters::add(&c.early_refreshes, 1);
                    to_load.push(ToLoad {
                        wire: w,
                        cas: Some(cas),
                        previous: Some(stored),
                    });
                }
                // Another reader refreshes it (or it changed): the value is served.
                None => {
                    Counters::add(&c.hits, 1);
                    results.insert(w, Ok(found(&stored)));
                }
            }
        }
        // Every lease won goes into `to_load`, even if another key's request failed:
        // on an error, the caller gives back what is there.
        let mut failed = None;
        for (w, lease) in missing.into_iter().zip(leases) {
            if first {
                Counters::add(&c.misses, 1);
            }
            match lease {
                Ok(Some(p)) if p.value.is_empty() => {
                    Counters::add(&c.lease_wins, 1);
                    to_load.push(ToLoad {
                        wire: w,
                        cas: p.cas,
                        previous: None,
                    });
                }
                Ok(_) => still.push(w),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(still),
        }
    }

    /// Gives back, all at once, these placeholder leases (wire key, cas).
    async fn give_back_all<'w>(&self, leases: impl IntoIterator<Item = (&'w str, u64)>) {
        crate::join_all(
            leases
                .into_iter()
                .map(|(w, cas)| self.inner.give_back(w, cas)),
        )
        .await;
    }

    /// Stores loaded rows with the cas of their leases: one pipelined batch of
    /// `ms ... C` on a meta server, `cas` commands otherwise. Returns how many fills
    /// memcached refused (the item changed since its lease was taken).
    async fn fill_batch(
        &self,
        fills: Vec<(&str, u64, bytes::Bytes, std::time::Duration)>,
    ) -> Result<u64, CacheError> {
        let inner = &*self.inner;
        let flags = super::envelope::flags(C::ID);
        let mut refused = 0;
        if inner.meta {
            let mut batch = inner.client.meta_batch();
            for (w, cas, data, ttl) in &fills {
                let mut f = MetaSet::new().ttl(*ttl).client_flags(flags);
                if !inner.config.fill_without_cas {
                    f = f.compare_cas(*cas);
                }
                batch.set(w, data, &f)?;
            }
            for outcome in batch.send().await? {
                refused += u64::from(outcome.code() != Some(MetaCode::Header));
            }
        } else {
            // All queued in one pass, so they share writes: one round trip for them all.
            let client = &inner.client;
            let stored = crate::join_all(fills.iter().map(|(w, cas, data, ttl)| async move {
                let options = crate::StoreOptions::new().flags(flags).expiry(*ttl);
                if inner.config.fill_without_cas {
                    client.set(w, data, options).await.map(|()| true)
                } else {
                    let outcome = client.cas(w, data, *cas, options).await?;
                    Ok(outcome == crate::client::CasOutcome::Stored)
                }
            }))
            .await;
            for s in stored {
                refused += u64::from(!s?);
            }
        }
        Ok(refused)
    }
}
