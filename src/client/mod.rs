//! The client: an async method per memcached command.
//!
//! [`Client`] is cheap to clone and safe to share between tasks: clones share the
//! connection, and concurrent calls are pipelined on it. Each call runs under the
//! configured request timeout and in a `tracing` span named `memcached` with the
//! command, the number of keys, the bytes sent and received and the outcome. At TRACE
//! level, the target `mcaside::wire` logs every byte on the wire, escaped.
//!
//! The command methods are all on [`Client`]: the classic text commands (`get`, `set`,
//! ...; many keys at once with `get_many`), the meta commands (`meta_get`, ...; many at
//! once in a [`MetaBatch`]), and, through [`Client::noreply`], the fire-and-forget forms
//! ([`NoReply`]).

mod batch;
mod classic;
mod get_many;
mod gutter;
mod join;
mod meta;
mod noreply;
mod types;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tracing::Instrument;

pub use batch::{BatchOutcome, MetaBatch};
pub use join::join_all;
pub use meta::MetaDebugInfo;
pub use noreply::NoReply;
pub use types::{CasOutcome, Item, Stats, StoreOptions};

use crate::cluster::pool::Pool;
use crate::cluster::router::{Cluster, Deadness, Member};
use crate::cluster::{DeadServerPolicy, Distribution, Ketama, Server, ToServer};
use crate::conn::{ConnConfig, Connection, Request, ServerAddr, Terms};
use crate::error::{
    ConfigError, ConnectError, ConnectStep, Error, InputError, ProtocolError, Result,
};
use crate::proto::identity::Stamp;
use crate::proto::{Expect, Features, Limits, Reply, Version};

/// A memcached client. See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
    /// Requests made through this handle are written even if their caller is gone
    /// before their bytes go out (see [`Client::must_send`]).
    must_send: bool,
}

#[derive(Debug)]
struct Inner {
    cluster: Cluster,
    request_timeout: Option<Duration>,
    features: Features,
}

/// Which connection a request takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    /// The connection of the server this key lives on that the key hashes to.
    Key(&'a [u8]),
    /// This connection.
    Conn(ConnId),
    /// Any connection of the first server that is not marked dead.
    Any,
}

/// One connection of a client: which server (member of the cluster), which of its
/// connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId {
    pub member: usize,
    pub conn: usize,
}

/// Builds a [`Client`] with non-default settings.
///
/// ```no_run
/// # async fn f() -> mcaside::Result<()> {
/// use std::time::Duration;
/// let client = mcaside::Client::builder()
///     .request_timeout(Duration::from_millis(250))
///     .connect("127.0.0.1:11211")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    conn: ConnConfig,
    request_timeout: Option<Duration>,
    features: Option<Features>,
    connections: usize,
    /// Checked when the client is built: 0 is refused.
    max_silent_timeouts: Option<u32>,
    #[cfg(feature = "tls")]
    tls: Option<crate::conn::TlsConfig>,
    /// Checked when the client is built (the error is returned then).
    credentials: Option<Result<crate::conn::Credentials, Error>>,
    distribution: Arc<dyn Distribution>,
    dead: Deadness,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            conn: ConnConfig::default(),
            request_timeout: Some(Duration::from_secs(1)),
            features: None,
            connections: 2,
            max_silent_timeouts: Some(3),
            #[cfg(feature = "tls")]
            tls: None,
            credentials: None,
            distribution: Arc::new(Ketama),
            dead: Deadness {
                policy: DeadServerPolicy::FailFast,
                dead_after: 2,
                retry_interval: Duration::from_secs(1),
                probe_timeout: Duration::from_secs(1),
            },
        }
    }
}

impl ClientBuilder {
    /// How long one connect attempt may take. Default 1 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.conn.connect_timeout = t;
        self
    }

    /// How long a request may take, from the call to its reply. Default 1 s. A request
    /// that times out fails with [`Error::Timeout`] and its reply, when it comes, is
    /// discarded.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = Some(t);
        self
    }

    /// Requests wait for their replies for as long as it takes: no request timeout.
    pub fn no_request_timeout(mut self) -> Self {
        self.request_timeout = None;
        self
    }

    /// Value and line size limits. Raise `max_value` for a server started with a larger
    /// item size (`-I`).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.conn.limits = limits;
        self
    }

    /// The bounds of the reconnect backoff. Default 50 ms to 5 s. `min` over `max` is
    /// an error when the client is built.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.conn.backoff_min = min;
        self.conn.backoff_max = max;
        self
    }

    /// The most bytes each connection queues without the server taking them: past it,
    /// a request waits for room within its own timeout, then fails with
    /// [`Error::QueueFull`] having sent nothing. Bounds memory while a server stalls.
    /// Default 4 MiB; 0 is an error when the client is built.
    pub fn write_budget(mut self, bytes: usize) -> Self {
        self.conn.write_budget = bytes;
        self
    }

    /// After this many requests on a connection time out in a row with no byte read
    /// from the server meanwhile, the connection is closed and re-dialled (the requests
    /// still in flight on it fail with [`Error::Io`] of kind `TimedOut`). Default 3; 0
    /// is an error when the client is built.
    pub fn max_silent_timeouts(mut self, n: u32) -> Self {
        self.max_silent_timeouts = Some(n);
        self
    }

    /// Never gives up on a connection for timing out (see
    /// [`max_silent_timeouts`](Self::max_silent_timeouts)).
    pub fn no_silent_timeout_limit(mut self) -> Self {
        self.max_silent_timeouts = None;
        self
    }

    /// TCP keepalive: probe a connection after this long without traffic, so a server
    /// host that vanished is noticed even while idle. Default 30 s.
    pub fn tcp_keepalive(mut self, idle: Duration) -> Self {
        self.conn.keepalive = Some(idle);
        self
    }

    /// Leaves TCP keepalive as the system has it (usually off), instead of
    /// [`tcp_keepalive`](Self::tcp_keepalive)'s probing.
    pub fn no_tcp_keepalive(mut self) -> Self {
        self.conn.keepalive = None;
        self
    }

    /// How many connections to open to the server. Default 2; 0 is an error when the
    /// client is built. Each carries any number of concurrent requests; a few let the
    /// server use several worker threads.
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }

    /// States what the server supports instead of finding out at connect time (with
    /// `version`, then an `mn` if the version has meta commands): to save that round
    /// trip, or to pin behaviour.
    /// [`Features::CLASSIC`] keeps the client to the classic commands.
    pub fn features(mut self, features: Features) -> Self {
        self.features = Some(features);
        self
    }

    /// Talks TLS to the server (memcached `-Z`), on every connection and reconnect.
    /// Its files are read, and checked, when the client is built. With the `tls`
    /// feature.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::conn::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Logs in with memcached's ASCII authentication (`-Y`) on every connection and
    /// reconnect, before its first request. A user name or password the server could
    /// not read (empty, with a space or control character; see
    /// [`Credentials::new`](crate::conn::Credentials::new)) is an error when the client
    /// is built. A refused login is [`Error::Auth`], retried only with the reconnect
    /// backoff.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(crate::conn::Credentials::new(user, password));
        self
    }

    /// Where keys go among several servers: [`Ketama`] (the default, libketama's
    /// placement), [`Rendezvous`](crate::cluster::Rendezvous) (pymemcache's), or your
    /// own. See [`crate::cluster`].
    pub fn distribution(mut self, distribution: impl Distribution + 'static) -> Self {
        self.distribution = Arc::new(distribution);
        self
    }

    /// What happens to the keys of a server marked dead. Default
    /// [`DeadServerPolicy::FailFast`]. Only for several servers: one server's keys have
    /// nowhere else to go.
    pub fn dead_server_policy(mut self, policy: DeadServerPolicy) -> Self {
        self.dead.policy = policy;
        self
    }

    /// After this many failures in a row that say the server is unwell (connection
    /// refused, a connect or request timeout, the connection closed or broken), a server
    /// of a cluster is marked dead: its requests fail at once with
    /// [`Error::ServerDown`] (or go elsewhere, as the policy says) instead of each
    /// paying a timeout. Default 2 (twemproxy's `server_failure_limit`, pymemcache's
    /// `retry_attempts`); at least 1.
    pub fn dead_after(mut self, failures: u32) -> Self {
        self.dead.dead_after = failures.max(1);
        self
    }

    /// How often a dead server is probed (a `version` on each of its connections,
    /// within the connect timeout): it is alive again when all answer. Default 1 s.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.dead.retry_interval = interval;
        self
    }

    /// Connects to `server`. If it cannot be reached, that is the error.
    pub async fn connect(self, server: impl ToServerAddr) -> Result<Client> {
        let server = Server::new(server.to_server_addr()?, 1)?;
        self.build(vec![server]).await
    }

    /// Connects to a cluster of `servers` (`"host:port"`, `"host:port:weight"`, socket
    /// paths, [`Server`]s): every key goes to one of them, placed by the
    /// [`distribution`](Self::distribution), and multi-key calls are split among them.
    /// One server is the same as [`connect`](Self::connect).
    ///
    /// An empty list, the same server twice, a weight of 0 or an unparsable address is
    /// an error here, before anything connects. A server that cannot be reached does
    /// not keep the others from being used: it starts marked dead and is probed (if none
    /// can be reached, that is the error).
    ///
    /// ```no_run
    /// # async fn f() -> mcaside::Result<()> {
    /// let client = mcaside::Client::builder()
    ///     .connect_cluster(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211:2"])
    ///     .await?;
    /// client.set("user:1", "Ada", mcaside::Expiry::Never).await?; // on its server
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster<I>(self, servers: I) -> Result<Client>
    where
        I: IntoIterator,
        I::Item: ToServer,
    {
        let servers = servers
            .into_iter()
            .map(ToServer::to_server)
            .collect::<Result<Vec<_>>>()?;
        self.build(servers).await
    }

    async fn build(mut self, servers: Vec<Server>) -> Result<Client> {
        self.check_settings()?;
        if servers.is_empty() {
            return Err(ConfigError::NoServers.into());
        }
        let gutter = match &self.dead.policy {
            DeadServerPolicy::Gutter { servers, .. } if servers.is_empty() => {
                return Err(ConfigError::OutOfRange {
                    setting: "dead_server_policy",
                    allowed: "a gutter pool of at least one server",
                    given: "no servers".into(),
                }
                .into());
            }
            DeadServerPolicy::Gutter { servers, .. } => servers.clone(),
            _ => Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for s in servers.iter().chain(&gutter) {
            if !seen.insert(s.addr().clone()) {
                return Err(ConfigError::DuplicateServer {
                    server: s.to_string(),
                }
                .into());
            }
        }
        // Every setting is checked before anything connects.
        for s in servers.iter().chain(&gutter) {
            self.check_login(s.addr())?;
        }
        self.load_login()?;
        self.dead.probe_timeout = self.conn.connect_timeout;
        let connect_timeout = self.conn.connect_timeout;
        let regular = servers.len();
        let all: Vec<Server> = servers.into_iter().chain(gutter).collect();
        let members = if all.len() == 1 {
            let server = all.into_iter().next().expect("one");
            let pool =
                Pool::connect(server.addr().clone(), self.conn.clone(), self.connections).await?;
            vec![member(server, pool, &self.dead, false)]
        } else {
            // All at once: a server that does not answer costs its connect timeout once,
            // not once per server after it.
            let (conn, size) = (&self.conn, self.connections);
            let pools = join_all(
                all.iter()
                    .map(|s| Pool::connect_or_retry(s.addr().clone(), conn.clone(), size)),
            )
            .await;
            let mut first_error = None;
            let mut members = Vec::with_capacity(all.len());
            for (i, (server, (pool, error))) in all.into_iter().zip(pools).enumerate() {
                let m = member(server, pool, &self.dead, i >= regular);
                if let Some(e) = error {
                    m.health.mark_dead();
                    if i < regular {
                        first_error.get_or_insert(e);
                    }
                }
                members.push(m);
            }
            if members[..regular].iter().all(|m| m.health.is_dead()) {
                return Err(first_error.expect("every regular server failed"));
            }
            members
        };
        let cluster = Cluster::new(
            members,
            regular,
            self.distribution.clone(),
            self.dead.clone(),
        );
        let mut client = Client {
            inner: Arc::new(Inner {
                cluster,
                request_timeout: self.request_timeout,
                features: Features::CLASSIC,
            }),
            must_send: false,
        };
        // What the servers support decides how some commands go on the wire (meta or
        // classic) and which meta flags may be sent. Finding out is part of connecting,
        // so the connect timeout bounds it (even with no request timeout).
        let features = match self.features {
            Some(f) => f,
            None => client.detect_all(connect_timeout).await?,
        };
        Arc::get_mut(&mut client.inner)
            .expect("not shared yet")
            .features = features;
        Ok(client)
    }
}

fn member(server: Server, pool: Pool, dead: &Deadness, gutter: bool) -> Member {
    Member {
        server,
        pool,
        health: crate::cluster::health_for(dead.dead_after),
        gutter,
    }
}

impl ClientBuilder {
    /// Opens one socket to `server` with this builder's connect timeout, TLS and login,
    /// and hands it over as a byte stream: for tools that write the protocol
    /// themselves (`mcaside raw`). No version probe, no pipelining, no reconnect.
    pub async fn connect_raw(
        mut self,
        server: impl ToServerAddr,
    ) -> Result<crate::conn::Transport> {
        let addr = server.to_server_addr()?;
        self.check_settings()?;
        self.check_login(&addr)?;
        self.load_login()?;
        crate::conn::open_transport(&addr, &self.conn).await
    }

    /// Refuses settings that cannot work for `addr` (TLS to a Unix socket).
    fn check_login(&self, addr: &ServerAddr) -> Result<()> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() && matches!(addr, ServerAddr::Unix(_)) {
            return Err(ConfigError::Tls {
                file: None,
                reason: "TLS is for TCP servers, not Unix sockets".into(),
            }
            .into());
        }
        #[cfg(not(feature = "tls"))]
        let _ = addr;
        Ok(())
    }

    /// Checks the TLS and login settings and loads them into the connection settings,
    /// so that a bad one is an error before anything connects.
    fn load_login(&mut self) -> Result<()> {
        self.conn.login.credentials = self.credentials.clone().transpose()?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            self.conn.login.tls = Some(tls.load()?);
        }
        Ok(())
    }

    /// Refuses settings that cannot work, rather than bending them to something that can
    /// (the settings are checked here, when the client is built, so that each builder
    /// method stays a plain setter).
    fn check_settings(&mut self) -> Result<(), ConfigError> {
        let refuse = |setting, allowed, given: String| ConfigError::OutOfRange {
            setting,
            allowed,
            given,
        };
        if self.connections == 0 {
            return Err(refuse("connections", "at least 1", "0".into()));
        }
        if self.conn.write_budget == 0 {
            return Err(refuse("write_budget", "at least 1 byte", "0".into()));
        }
        if self.conn.backoff_min > self.conn.backoff_max {
            return Err(refuse(
                "reconnect_backoff",
                "a minimum no larger than the maximum",
                format!("{:?}, {:?}", self.conn.backoff_min, self.conn.backoff_max),
            ));
        }
        self.conn.max_silent_timeouts = match self.max_silent_timeouts {
            None => None,
            Some(n) => Some(
                NonZeroU32::new(n)
                    .ok_or_else(|| refuse("max_silent_timeouts", "at least 1", "0".into()))?,
            ),
        };
        Ok(())
    }
}

/// What the server supports, found out on the first connection before anyone else
/// uses it. `version` gives the release, and so which meta flags exist; but a proxy may
/// pass the version of the memcached behind it through while speaking only the classic
/// commands (twemproxy answers `VERSION 1.6.18`, then closes the connection on any meta
/// command). So a version with meta commands is checked by what the server does: an
/// `mn` must come back as `MN`. An error line, or a closed connection, means classic
/// only; a closed connection is replaced (the connection reconnects by itself) and
/// checked with another `version` before it is handed out. A server that does not
/// answer `version` at all (some proxies) is classic-only too.
async fn detect_features(client: &Client, member: usize) -> Result<Features> {
    let first = Route::Conn(ConnId { member, conn: 0 });
    let claimed = match client.version_of(first).await {
        Ok(v) => Features {
            version: Version::parse(&v),
        },
        Err(Error::Server(_)) => return Ok(Features::CLASSIC),
        Err(e) => return Err(e),
    };
    if !claimed.has(crate::proto::Feature::Meta) {
        return Ok(claimed);
    }
    let probe = client
        .call(first, "mn", 0, Expect::MetaBatch, |b| {
            crate::proto::meta::mn(b);
            Ok(())
        })
        .await;
    match probe {
        Ok(Reply::MetaBatch(entries)) if entries.is_empty() => Ok(claimed),
        Ok(other) => Err(unexpected("mn", &other)),
        Err(Error::Server(_)) => Ok(Features::CLASSIC),
        Err(Error::Closed | Error::Io(_)) => {
            client.version_of(first).await?;
            Ok(Features::CLASSIC)
        }
        Err(e) => Err(e),
    }
}

/// Things that name a server: `"host:port"`, a socket path, a `SocketAddr`, a
/// [`ServerAddr`].
pub trait ToServerAddr {
    /// The address; a string that names no server is an [`InputError::BadAddress`].
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError>;
}

impl ToServerAddr for ServerAddr {
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError> {
        Ok(self)
    }
}
impl ToServerAddr for &ServerAddr {
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError> {
        Ok(self.clone())
    }
}
impl ToServerAddr for &str {
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError> {
        self.parse()
    }
}
impl ToServerAddr for String {
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError> {
        self.parse()
    }
}
impl ToServerAddr for &String {
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError> {
        self.parse()
    }
}
impl ToServerAddr for std::net::SocketAddr {
    fn to_server_addr(self) -> std::result::Result<ServerAddr, InputError> {
        Ok(self.into())
    }
}

impl Client {
    /// Connects to `server` with default settings.
    pub async fn connect(server: impl ToServerAddr) -> Result<Client> {
        ClientBuilder::default().connect(server).await
    }

    /// A builder for non-default settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects to a cluster of `servers` with default settings (see
    /// [`ClientBuilder::connect_cluster`]).
    pub async fn connect_cluster<I>(servers: I) -> Result<Client>
    where
        I: IntoIterator,
        I::Item: ToServer,
    {
        ClientBuilder::default().connect_cluster(servers).await
    }

    /// The server this client talks to (the first, for a cluster).
    pub fn server(&self) -> &ServerAddr {
        self.inner.cluster.member(0).server.addr()
    }

    /// The servers of the cluster, in the order given (not the gutter's).
    pub fn servers(&self) -> impl ExactSizeIterator<Item = &Server> {
        self.inner.cluster.regular().iter().map(|m| &m.server)
    }

    /// The server `key` goes to now: its place, or, while that server is dead, where
    /// the policy sends it. [`Error::ServerDown`] if it cannot go anywhere.
    pub fn server_for(&self, key: impl AsRef<[u8]>) -> Result<&Server> {
        let m = self.inner.cluster.for_key(key.as_ref())?;
        Ok(&self.inner.cluster.member(m).server)
    }

    /// Finds out what every reachable server supports and takes what all have (a
    /// server that cannot tell is marked dead, unless it is the only one).
    async fn detect_all(&self, timeout: Duration) -> Result<Features> {
        let cluster = &self.inner.cluster;
        let live: Vec<usize> = (0..cluster.members().len())
            .filter(|&i| !cluster.member(i).health.is_dead())
            .collect();
        let found = join_all(live.iter().map(|&i| async move {
            tokio::time::timeout(timeout, detect_features(self, i))
                .await
                .unwrap_or(Err(Error::Timeout))
        }))
        .await;
        let mut agreed: Option<Features> = None;
        let mut first_error = None;
        for (&i, result) in live.iter().zip(found) {
            match result {
                Ok(f) => {
                    agreed = Some(match agreed {
                        // What every server has: classic if any is, else the oldest.
                        Some(a) => Features {
                            version: a.version.zip(f.version).map(|(x, y)| x.min(y)),
                        },
                        None => f,
                    })
                }
                Err(e) => {
                    let e = match e {
                        // The socket broke and could not be reopened: already says so.
                        e @ Error::Connect(_) => e,
                        e => {
                            let addr = cluster.member(i).server.addr().clone();
                            ConnectError::new(addr, ConnectStep::VersionProbe, e).into()
                        }
                    };
                    if cluster.is_cluster() {
                        cluster.mark_dead(i);
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        match (agreed, first_error) {
            (Some(f), _) if cluster.first_live().is_ok() => Ok(f),
            (_, Some(e)) => Err(e),
            (Some(f), None) => Ok(f),
            (None, None) => Err(Error::ServerDown {
                server: self.server().clone(),
            }),
        }
    }

    /// What the server supports, found out at connect time (its `version`, and for a
    /// version with meta commands, an `mn` that must be answered), unless stated with
    /// [`ClientBuilder::features`].
    pub fn features(&self) -> Features {
        self.inner.features
    }

    /// A handle whose requests are written even if their caller is gone (timed out,
    /// dropped) before their bytes were taken for writing. Without it, such a request
    /// is left unsent: nobody would read its reply, and a write its caller gave up on
    /// should not land later. Use it for writes that must reach the server whatever
    /// happens to the caller, such as invalidations:
    ///
    /// ```no_run
    /// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
    /// client.must_send().delete("user:123").await?;
    /// # Ok(()) }
    /// ```
    pub fn must_send(&self) -> Client {
        Client {
            inner: self.inner.clone(),
            must_send: true,
        }
    }

    /// How much memory the client's connections hold: bytes queued and not yet
    /// written, and the capacity of their buffers.
    pub fn buffer_usage(&self) -> crate::conn::BufferUsage {
        self.connections()
            .map(|id| self.connection(id).buffer_usage())
            .fold(Default::default(), |a, b| a + b)
    }

    /// Fire-and-forget forms of the write commands (`noreply` on the wire).
    pub fn noreply(&self) -> NoReply<'_> {
        NoReply { client: self }
    }

    pub(crate) fn limits(&self) -> &Limits {
        self.inner.cluster.member(0).pool.first().limits()
    }

    pub(crate) fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Every connection of every server (the gutter's included).
    pub(crate) fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        let members = self.inner.cluster.members();
        members
            .iter()
            .enumerate()
            .flat_map(|(member, m)| (0..m.pool.len()).map(move |conn| ConnId { member, conn }))
    }

    /// The first connection of every server (the gutter's included): where a command
    /// for every server goes.
    pub(crate) fn each_server(&self) -> impl Iterator<Item = ConnId> + '_ {
        (0..self.inner.cluster.members().len()).map(|member| ConnId { member, conn: 0 })
    }

    pub(crate) fn connection(&self, id: ConnId) -> &Connection {
        self.inner.cluster.member(id.member).pool.get(id.conn)
    }

    /// The connection `key` takes: its server's (see [`Client::server_for`]), and on
    /// that server the connection the key hashes to, so that requests for one key are
    /// answered in the order they were made.
    pub(crate) fn conn_for_key(&self, key: &[u8]) -> Result<ConnId> {
        let member = self.inner.cluster.for_key(key)?;
        let conn = self.inner.cluster.member(member).pool.index_of(key);
        Ok(ConnId { member, conn })
    }

    fn route(&self, route: Route<'_>) -> Result<ConnId> {
        match route {
            Route::Key(k) => self.conn_for_key(k),
            Route::Conn(id) => Ok(id),
            Route::Any => {
                let member = self.inner.cluster.first_live()?;
                let conn = self.inner.cluster.member(member).pool.any_index();
                Ok(ConnId { member, conn })
            }
        }
    }

    /// Sends one request under the request timeout, in a `memcached` span, matched to
    /// its reply by position (for replies that carry nothing to check).
    ///
    /// This and [`call_stamped`](Self::call_stamped) are plain functions returning
    /// [`call_with`](Self::call_with)'s future, not `async` layers over it: each layer
    /// would hold (and move) the whole future beneath it.
    pub(crate) fn call<'a>(
        &'a self,
        route: Route<'a>,
        cmd: &'static str,
        keys: usize,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut) -> std::result::Result<(), InputError> + 'a,
    ) -> impl Future<Output = Result<Reply>> + 'a {
        self.call_stamped(route, cmd, keys, expect, |b, _| encode(b))
    }

    /// Like [`call`](Self::call), with the request's identity record written by
    /// `encode` through the [`Stamp`], so that its reply is checked against it.
    pub(crate) fn call_stamped<'a>(
        &'a self,
        route: Route<'a>,
        cmd: &'static str,
        keys: usize,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut, &mut Stamp<'_>) -> std::result::Result<(), InputError> + 'a,
    ) -> impl Future<Output = Result<Reply>> + 'a {
        self.call_with(route, cmd, keys, move |conn, terms| {
            conn.start(expect, terms, encode, None)
        })
    }

    /// Like [`call`](Self::call), with the request queued by `start` on the routed
    /// connection (for requests that are not a plain encode, such as coalesced gets);
    /// `start` is given the request's [`Terms`] (must it be sent, its deadline).
    pub(crate) async fn call_with<'a>(
        &'a self,
        route: Route<'_>,
        cmd: &'static str,
        keys: usize,
        start: impl FnOnce(&'a Connection, Terms) -> Result<Request<'a>>,
    ) -> Result<Reply> {
        let id = self.route(route)?;
        let conn = self.connection(id);
        // `server` is here as well as on the connection's own span because a lone
        // caller drives the socket itself, and the wire log then runs in this span.
        let span = tracing::debug_span!(
            "memcached",
            cmd,
            keys,
            server = %conn.addr(),
            sent = tracing::field::Empty,
            received = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        // The connection keeps the deadline (one timer per connection, not one per
        // request).
        let terms = Terms {
            must_send: self.must_send,
            deadline: self
                .inner
                .request_timeout
                .map(|t| tokio::time::Instant::now() + t),
        };
        // Waiting for room in a full write queue (the rare case: boxed, so that every
        // request's future does not carry room for it) counts against the deadline.
        let room = match conn.has_room() {
            true => Ok(()),
            false => {
                let wait = Box::pin(conn.wait_for_room(terms.deadline));
                wait.instrument(span.clone()).await
            }
        };
        // Queued in the span, so that its wire log (a lone caller drives the socket
        // itself) and byte counts land there.
        let result = match room.and_then(|()| span.in_scope(|| start(conn, terms))) {
            Ok(request) => request.instrument(span.clone()).await,
            Err(e) => Err(e),
        };
        // A server that requires a login this connection did not make says so with a
        // generic error line; give it its own type.
        let result = match result {
            Err(Error::Server(e))
                if e.kind == crate::ServerErrorKind::Client && e.message == "unauthenticated" =>
            {
                Err(Error::Auth(crate::error::AuthError::Unauthenticated))
            }
            other => other,
        };
        self.inner.cluster.record(id.member, &result);
        if !span.is_disabled() {
            span.record("outcome", outcome_name(&result));
        }
        result
    }

    /// Queues a request with no reply, in a `memcached` span.
    pub(crate) fn send(
        &self,
        route: Route<'_>,
        cmd: &'static str,
        encode: impl FnOnce(&mut BytesMut) -> std::result::Result<(), InputError>,
    ) -> Result<()> {
        let span = tracing::debug_span!(
            "memcached",
            cmd,
            keys = 1,
            noreply = true,
            sent = tracing::field::Empty
        );
        let id = self.route(route)?;
        span.in_scope(|| self.connection(id).send(encode))
    }
}

fn outcome_name(r: &Result<Reply>) -> &'static str {
    match r {
        Ok(Reply::Status(s)) => match s {
            crate::proto::Status::Stored => "STORED",
            crate::proto::Status::NotStored => "NOT_STORED",
            crate::proto::Status::Exists => "EXISTS",
            crate::proto::Status::NotFound => "NOT_FOUND",
            crate::proto::Status::Deleted => "DELETED",
            crate::proto::Status::Touched => "TOUCHED",
            crate::proto::Status::Ok => "OK",
        },
        Ok(Reply::Value(Some(_))) => "hit",
        Ok(Reply::Value(None)) => "miss",
        Ok(Reply::Meta(m)) => m.code.as_str(),
        Ok(_) => "ok",
        Err(Error::Server(_)) => "server error",
        Err(Error::Input(_)) => "rejected",
        Err(Error::Timeout) => "timeout",
        Err(Error::Protocol(_)) => "protocol error",
        Err(Error::Io(_)) => "i/o error",
        Err(Error::Connect(_)) => "connect error",
        Err(Error::Closed) => "closed",
        Err(Error::Config(_)) => "bad setting",
        Err(Error::Tls(_)) => "tls error",
        Err(Error::Auth(_)) => "auth error",
        Err(Error::ValueTooLarge { .. }) => "value too large",
        Err(Error::QueueFull) => "queue full",
        Err(Error::ServerDown { .. }) => "server down",
    }
}

/// The error for a well-formed reply that does not answer the command.
pub(crate) fn unexpected(cmd: &str, reply: &Reply) -> Error {
    let shape = match reply {
        Reply::Status(s) => format!("{s:?}"),
        Reply::Number(_) => "a number".into(),
        Reply::Version(_) => "VERSION".into(),
        Reply::Value(_) | Reply::Values(_) => "values".into(),
        Reply::Stats(_) => "stats".into(),
        Reply::Meta(m) => m.code.as_str().into(),
        Reply::MetaDebug { .. } => "ME".into(),
        Reply::MetaBatch(_) => "a meta batch".into(),
    };
    Error::Protocol(ProtocolError::Unexpected(format!(
        "{shape} in reply to {cmd}"
    )))
}
