//! Cache-aside, made safe: `get_or_load` that survives stampedes, stale sets and
//! invalidation.
//!
//! The textbook read path ("get; on a miss, load from the database and set with a TTL")
//! fails three ways. This layer closes each one:
//!
//! - **Stampedes.** In a process, concurrent misses of a key run one load and share its
//!   result (the module `cache::flight`). Across processes, memcached hands out a *lease*: the first
//!   reader of a missing key gets `W` from `mg ... N<lease ttl>` and loads; everyone else
//!   gets `Z` and waits (polling with bounded backoff; one poll per process) for the
//!   value to appear. A waiter never waits past [`CacheBuilder::max_wait`]; then it
//!   loads without storing, or fails, as configured. If the lease holder dies, its
//!   placeholder expires after the lease TTL and the next reader wins.
//! - **Stale sets.** The winner stores with the cas it got with its lease (`ms ... C`),
//!   so if the key was invalidated meanwhile (deleted, or marked stale, either of which
//!   changes the cas), the fill is refused and the old row it read is *not* cached. Each
//!   refusal is counted ([`Metrics::fills_refused`]).
//! - **Invalidation.** [`Cache::invalidate`] removes (or, with serve-stale, marks stale)
//!   the key, to be called after the database commit; [`Cache::write`] does both in
//!   that order. An invalidation that fails is returned, never swallowed.
//!
//! On top: TTL jitter, negative caching, stale-while-revalidate with a bound,
//! stale-if-error, early refresh of hot keys (`mg ... R`), namespaces invalidated in
//! O(1), keys of any bytes and length, bulk reads, and counters.
//!
//! Against a server without meta commands (an older memcached, a proxy), the lease is
//! an `add` of an empty placeholder and the fill a `cas` against its `gets` unique: the
//! same protection against stale sets, but a lease costs two more round trips (shared
//! by all the misses of a bulk read), there is no serve-stale (no `md ... I`), and an
//! early refresh is taken by re-storing the value marked refreshing (the module
//! `cache::classic`).
//!
//! Within a process, callers of a key that another caller is fetching wait for it
//! (`cache::flight`), except that a caller who reloads a value it may serve (stale within
//! the bound, or valid and refreshed early) hands that value to them at once: only the
//! reloading caller waits for the load.
//!
//! ```no_run
//! # async fn f(client: mcaside::Client) -> Result<(), mcaside::cache::CacheError> {
//! use std::time::Duration;
//! use mcaside::cache::{Cache, StringCodec};
//!
//! let users = Cache::builder(client, "user", StringCodec)
//!     .ttl(Duration::from_secs(3600))
//!     .build()?;
//! let name = users
//!     .get_or_load("123", || async { Ok::<_, std::io::Error>(Some("Ada".to_string())) })
//!     .await?;
//! // ... after committing a change to user 123 in the database:
//! users.invalidate("123").await?;
//! # Ok(()) }
//! ```

mod backoff;
mod bulk;
mod classic;
mod codec;
mod envelope;
mod error;
mod flight;
mod hash;
mod keys;
mod lease;
mod metrics;
mod release;
mod ttl;
mod write;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

#[cfg(feature = "json")]
pub use codec::JsonCodec;
pub use codec::{BytesCodec, Codec, CodecError, StringCodec};
pub use error::{BoxError, CacheError};
pub use keys::MAX_NAMESPACE_LEN;
pub use metrics::Metrics;

use crate::Client;
use crate::error::ConfigError;
use crate::proto::Feature;
use envelope::{EnvelopeError, Stored};
use flight::{Flights, Joined, Lead, Waited};
use metrics::Counters;

/// Runs two futures together (both queue their requests in the first poll, so they
/// share a write) and returns both outputs.
pub(crate) async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        if out_a.is_some() && out_b.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (out_a.expect("ready"), out_b.expect("ready"))
}

/// What a fetch produced, shared with the callers that waited for it.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// The row, encoded.
    Value(Bytes),
    /// The row does not exist.
    Absent,
}

/// A fetch's outcome as shared between coalesced callers.
pub(crate) type Shared = Result<Found, CacheError>;

/// The leadership of one key's fetch in this process (see [`flight`]).
pub(crate) type KeyLead<'a> = Lead<'a, Shared>;

/// What a waiter does when its wait for another process's load reaches the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnWaitTimeout {
    /// Load the row itself and return it, without storing it (the lease holder will).
    #[default]
    LoadWithoutStoring,
    /// Return [`CacheError::WaitTimeout`].
    Fail,
}

/// What a caller does when its key's memcached server is marked dead (see
/// [`DeadServerPolicy`](crate::cluster::DeadServerPolicy)): the cache cannot be read
/// or filled for that key until the server is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnServerDown {
    /// Run the loader and return its row without caching it (counted in
    /// [`Metrics::uncached`]): the database takes that key's reads meanwhile.
    #[default]
    LoadUncached,
    /// Return the error ([`CacheError::Memcached`] with [`crate::Error::ServerDown`]).
    Fail,
}

/// The settings of a [`Cache`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub ttl: Duration,
    pub jitter: f64,
    pub negative_ttl: Duration,
    pub lease_ttl: Duration,
    pub max_wait: Duration,
    pub on_wait_timeout: OnWaitTimeout,
    pub on_server_down: OnServerDown,
    pub serve_stale: Option<Duration>,
    pub stale_if_error: bool,
    pub early_refresh: Option<Duration>,
    /// Fill with a plain set instead of the lease's cas: only for showing, in tests,
    /// the stale sets that the cas prevents.
    pub fill_without_cas: bool,
    /// `write` invalidates only under the namespace version it read before the write:
    /// only for showing, in tests, the stale rows a namespace invalidation during the
    /// write then leaves.
    pub invalidate_early_version_only: bool,
}

/// A cache-aside view of one namespace, with one codec. Cheap to clone.
pub struct Cache<C: Codec> {
    inner: Arc<Inner<C>>,
}

impl<C: Codec> std::fmt::Debug for Cache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Cache")
            .field("namespace", &inner.namespace)
            .field("codec", &C::NAME)
            .field("meta", &inner.meta)
            .field("config", &inner.config)
            .field("metrics", &inner.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Clone for Cache<C> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct Inner<C> {
    client: Client,
    /// The same client for what must reach memcached even if the caller is cancelled
    /// once it is queued: invalidations and lease give-backs.
    must: Client,
    namespace: String,
    codec: C,
    config: Config,
    /// Whether the server has meta commands (leases by vivify) or only classic ones.
    meta: bool,
    flights: Flights<Shared>,
    /// The namespace-version lookup, coalesced like any fetch: a thousand concurrent
    /// callers of a process cost one lookup, not a thousand.
    versions: Flights<Result<u64, CacheError>>,
    counters: Counters,
}

/// Builds a [`Cache`]; from [`Cache::builder`].
pub struct CacheBuilder<C> {
    client: Client,
    namespace: String,
    codec: C,
    config: Config,
}

impl<C: Codec> std::fmt::Debug for CacheBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("client", &self.client)
            .field("namespace", &self.namespace)
            .field("codec", &C::NAME)
            .field("config", &self.config)
            .finish()
    }
}

impl<C: Codec> Cache<C> {
    /// A builder for a cache of namespace `namespace` (1 to 64 of `A-Z a-z 0-9 _ . -`)
    /// whose values go through `codec`.
    pub fn builder(client: Client, namespace: &str, codec: C) -> CacheBuilder<C> {
        CacheBuilder {
            client,
            namespace: namespace.to_owned(),
            codec,
            config: Config {
                ttl: Duration::from_secs(3600),
                jitter: 0.1,
                negative_ttl: Duration::from_secs(60),
                lease_ttl: Duration::from_secs(10),
                max_wait: Duration::from_secs(2),
                on_wait_timeout: OnWaitTimeout::default(),
                on_server_down: OnServerDown::default(),
                serve_stale: None,
                stale_if_error: false,
                early_refresh: None,
                fill_without_cas: false,
                invalidate_early_version_only: false,
            },
        }
    }

    /// The counters so far (also reported through tracing at DEBUG, target
    /// `mcaside::cache`, with every load).
    pub fn metrics(&self) -> Metrics {
        self.inner.counters.snapshot()
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The memcached key that `key` is stored under right now (for inspection and
    /// tests).
    pub async fn wire_key(&self, key: impl AsRef<[u8]>) -> Result<String, CacheError> {
        let version = self.inner.namespace_version().await?;
        Ok(keys::wire_key(&self.inner.namespace, version, key.as_ref()))
    }

    /// Reads `key`; on a miss, loads it with `loader` (at most once across every
    /// process sharing the memcached, per lease) and caches the result. `Ok(None)`
    /// means the row does not exist (and that too is cached, for the negative TTL).
    ///
    /// The loader runs only in the caller that won the lease; other callers of this
    /// process wait for that caller, and callers in other processes wait for the value
    /// to appear in memcached.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        key: impl AsRef<[u8]>,
        loader: F,
    ) -> Result<Option<C::Value>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let inner = &*self.inner;
        let result = async {
            let version = match inner.namespace_version().await {
                Ok(v) => v,
                // The namespace's version lives on a dead server: no key of the
                // namespace can be read now.
                Err(CacheError::Memcached(e)) if inner.loads_uncached(&e) => {
                    Counters::add(&inner.counters.uncached, 1);
                    let loaded = inner.load_without_storing(loader).await;
                    return match loaded.own {
                        Some(own) => Ok(own),
                        None => inner.decode(loaded.shared?),
                    };
                }
                Err(e) => return Err(e),
            };
            let wire = keys::wire_key(&inner.namespace, version, key.as_ref());
            inner.get_or_load_wire(&wire, loader).await
        }
        .await;
        if result.is_err() {
            Counters::add(&inner.counters.errors, 1);
        }
        result
    }
}

impl<C: Codec> CacheBuilder<C> {
    /// How long a loaded row stays cached. Default one hour.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// Spreads expiries: each item's TTL is drawn from `[ttl, ttl * (1 + jitter)]`, so
    /// keys loaded together do not expire together. Default 0.1. Anything but a number
    /// from 0 to 10 is an error when the cache is built.
    pub fn ttl_jitter(mut self, jitter: f64) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// What a caller does when its key's server is marked dead. Default: load the row
    /// and return it uncached ([`OnServerDown::LoadUncached`]).
    pub fn on_server_down(mut self, then: OnServerDown) -> Self {
        self.config.on_server_down = then;
        self
    }

    /// How long an absent row is remembered as absent. Default one minute.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.config.negative_ttl = ttl;
        self
    }

    /// How long a lease lasts: if its holder dies, another caller wins after this.
    /// Should exceed the slowest load. Default 10 s.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self
    }

    /// The longest a caller waits for another's load, and what it does then.
    /// Default 2 s, then load without storing.
    pub fn max_wait(mut self, bound: Duration, then: OnWaitTimeout) -> Self {
        self.config.max_wait = bound;
        self.config.on_wait_timeout = then;
        self
    }

    /// Serve-stale (meta servers): invalidation marks an item stale instead of deleting
    /// it, and while one caller reloads it the others get the stale value, for at most
    /// `max_staleness` after the invalidation (the stale item's own TTL).
    pub fn serve_stale(mut self, max_staleness: Duration) -> Self {
        self.config.serve_stale = Some(max_staleness);
        self
    }

    /// Stale-if-error: when a reload fails and a stale value is at hand, return it
    /// instead of the error.
    pub fn stale_if_error(mut self, on: bool) -> Self {
        self.config.stale_if_error = on;
        self
    }

    /// Early refresh: when a hot item's remaining TTL drops below `threshold`, one
    /// reader reloads it before it expires, so readers see no miss at expiry; the
    /// others (in its process too) are served the value meanwhile. On meta servers this
    /// is memcached's recache flag (`R`); on classic-only servers, a refresh lease
    /// taken by re-storing the value marked refreshing with `cas`.
    ///
    /// memcached counts TTLs in whole seconds. On a meta server it hands out the win
    /// when the remaining TTL is *strictly* below the threshold, so a threshold under
    /// 2 s may never fire. On a classic server the client only knows the expiry it
    /// reckons, and the item may expire up to a second before that, so a value is due
    /// once less than `threshold` + 1 s is left by the client's reckoning: keep the TTL
    /// well above that, or every read refreshes.
    pub fn early_refresh(mut self, threshold: Duration) -> Self {
        self.config.early_refresh = Some(threshold);
        self
    }

    /// Fills with a plain set instead of a set conditional on the lease's cas, which
    /// lets an invalidation be overwritten by a row read before it: the stale set this
    /// layer exists to prevent. Only for tests that show the harm (with the
    /// `test-hooks` feature, which only this crate's own tests turn on); never use it.
    #[cfg(feature = "test-hooks")]
    pub fn fill_without_cas_for_tests(mut self) -> Self {
        self.config.fill_without_cas = true;
        self
    }

    /// Makes [`Cache::write`] invalidate only under the namespace version it read
    /// before the write, which leaves the old row cached if the namespace was
    /// invalidated during the write (the bug of issue 11). Only for tests that show
    /// the harm (with the `test-hooks` feature); never use it.
    #[cfg(feature = "test-hooks")]
    pub fn invalidate_early_version_only_for_tests(mut self) -> Self {
        self.config.invalidate_early_version_only = true;
        self
    }

    /// Builds the cache. Fails if the namespace is not a valid name
    /// ([`CacheError::BadNamespace`]) or a setting is out of range
    /// ([`CacheError::Config`]).
    pub fn build(self) -> Result<Cache<C>, CacheError> {
        if !keys::check_namespace(&self.namespace) {
            return Err(CacheError::BadNamespace(self.namespace));
        }
        let jitter = self.config.jitter;
        if !(0.0..=10.0).contains(&jitter) {
            return Err(CacheError::Config(ConfigError::OutOfRange {
                setting: "ttl_jitter",
                allowed: "a number from 0 to 10",
                given: jitter.to_string(),
            }));
        }
        let meta = self.client.features().has(Feature::Meta);
        Ok(Cache {
            inner: Arc::new(Inner {
                must: self.client.must_send(),
                client: self.client,
                namespace: self.namespace,
                codec: self.codec,
                config: self.config,
                meta,
                flights: Flights::new(),
                versions: Flights::new(),
                counters: Counters::default(),
            }),
        })
    }
}

/// A loaded row: what the leader keeps for itself, and what it shares.
pub(crate) struct Loaded<V> {
    pub shared: Shared,
    pub own: Option<Option<V>>,
}

impl<C: Codec> Inner<C> {
    /// The read path for one wire key, coalesced within the process.
    async fn get_or_load_wire<F, Fut, E>(
        &self,
        wire: &str,
        loader: F,
    ) -> Result<Option<C::Value>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let mut loader = Some(loader);
        loop {
            match self.flights.join(wire) {
                Joined::Leader(lead) => {
                    let loader = loader.take().expect("a caller leads at most once");
                    let loaded = if self.meta {
                        self.fetch_meta(wire, loader, &lead).await
                    } else {
                        self.fetch_classic(wire, loader, &lead).await
                    };
                    let shared = lead.finish(loaded.shared);
                    return match loaded.own {
                        Some(own) => Ok(own),
                        None => self.decode(shared?),
                    };
                }
                Joined::Follower(flight) => {
                    Counters::add(&self.counters.coalesced, 1);
                    match flight.wait().await {
                        Some(Waited::Done(shared)) => return self.decode(shared?),
                        Some(Waited::Early(early)) => {
                            if early.stale {
                                Counters::add(&self.counters.stale_served, 1);
                            }
                            return self.decode(early.value?);
                        }
                        // The leader was cancelled; try again (perhaps leading).
                        None => {}
                    }
                }
            }
        }
    }

    fn decode(&self, found: Found) -> Result<Option<C::Value>, CacheError> {
        match found {
            Found::Value(bytes) => Ok(Some(self.codec.decode(bytes).map_err(CacheError::Codec)?)),
            Found::Absent => Ok(None),
        }
    }

    /// Reads an item's data, checking it was written by this layer with this codec.
    fn open(&self, data: Bytes, flags: u32) -> Result<Stored, CacheError> {
        envelope::open(data, flags, C::ID).map_err(|e| match e {
            EnvelopeError::Codec { found } => CacheError::WrongCodec {
                expected: C::NAME,
                found,
            },
            EnvelopeError::Foreign => CacheError::Foreign,
        })
    }

    /// Runs the loader, timing it and counting it.
    async fn load<F, Fut, E>(&self, loader: F) -> (Result<Option<C::Value>, CacheError>, Duration)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        Counters::add(&self.counters.loads, 1);
        let started = std::time::Instant::now();
        let result = loader()
            .await
            .map_err(|e| CacheError::Load(Arc::from(e.into())));
        let took = started.elapsed();
        tracing::debug!(
            target: "mcaside::cache",
            namespace = %self.namespace,
            took_ms = took.as_millis() as u64,
            ok = result.is_ok(),
            metrics = ?self.counters.snapshot(),
            "load"
        );
        (result, took)
    }

    /// Encodes a loaded row into an item's data (and the shared form of it), with the
    /// TTL it gets: jittered, and the negative TTL for an absent row.
    fn seal(
        &self,
        row: &Option<C::Value>,
        took: Duration,
    ) -> Result<(Bytes, Found, Duration), CacheError> {
        let payload = row
            .as_ref()
            .map(|v| self.codec.encode(v))
            .transpose()
            .map_err(CacheError::Codec)?;
        let base = if row.is_some() {
            self.config.ttl
        } else {
            self.config.negative_ttl
        };
        let ttl = ttl::jittered(base, self.config.jitter);
        let data = envelope::seal(payload.as_deref(), Some(ttl), took);
        let found = match payload {
            Some(p) => Found::Value(p),
            None => Found::Absent,
        };
        Ok((data, found, ttl))
    }

    /// What a waiter does when its wait reaches the bound.
    async fn on_wait_timeout<F, Fut, E>(&self, loader: F) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        Counters::add(&self.counters.wait_timeouts, 1);
        match self.config.on_wait_timeout {
            OnWaitTimeout::Fail => Loaded {
                shared: Err(CacheError::WaitTimeout),
                own: None,
            },
            OnWaitTimeout::LoadWithoutStoring => self.load_without_storing(loader).await,
        }
    }

    /// What a caller does when memcached could not be read for its key: on a server
    /// marked dead, load without caching (unless configured to fail); any other
    /// failure is returned.
    pub(crate) async fn on_read_error<F, Fut, E>(
        &self,
        e: crate::Error,
        loader: F,
    ) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        if self.loads_uncached(&e) {
            Counters::add(&self.counters.uncached, 1);
            return self.load_without_storing(loader).await;
        }
        lease::fail(e.into())
    }

    /// True if `e` says the key's server is marked dead and the row is to be loaded
    /// without caching.
    pub(crate) fn loads_uncached(&self, e: &crate::Error) -> bool {
        matches!(e, crate::Error::ServerDown { .. })
            && self.config.on_server_down == OnServerDown::LoadUncached
    }

    async fn load_without_storing<F, Fut, E>(&self, loader: F) -> Loaded<C::Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<C::Value>, E>>,
        E: Into<BoxError>,
    {
        let (row, took) = self.load(loader).await;
        match row.and_then(|row| self.seal(&row, took).map(|(_, found, _)| (row, found))) {
            Ok((row, found)) => Loaded {
                shared: Ok(found),
                own: Some(row),
            },
            Err(e) => Loaded {
                shared: Err(e),
                own: None,
            },
        }
    }
}
