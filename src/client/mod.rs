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
mod join;
mod meta;
mod noreply;
mod pool;
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

use crate::conn::{ConnConfig, Connection, ServerAddr};
use crate::error::{
    ConfigError, ConnectError, ConnectStep, Error, InputError, ProtocolError, Result,
};
use crate::proto::identity::Stamp;
use crate::proto::{Expect, Features, Limits, Reply, Version};
use pool::Pool;

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
    pool: Pool,
    request_timeout: Option<Duration>,
    features: Features,
}

/// Which connection a request takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    /// The connection this key hashes to.
    Key(&'a [u8]),
    /// The connection at this index in the pool.
    Conn(usize),
    /// Any connection.
    Any,
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

    /// Connects to `server`.
    pub async fn connect(mut self, server: impl ToServerAddr) -> Result<Client> {
        let addr = server.to_server_addr()?;
        let connect_timeout = self.conn.connect_timeout;
        self.check_settings()?;
        self.load_login(&addr)?;
        let pool = Pool::connect(addr, self.conn, self.connections).await?;
        let mut client = Client {
            inner: Arc::new(Inner {
                pool,
                request_timeout: self.request_timeout,
                features: Features::CLASSIC,
            }),
            must_send: false,
        };
        // What the server supports decides how some commands go on the wire (meta or
        // classic) and which meta flags may be sent. Finding out is part of connecting,
        // so the connect timeout bounds it (even with no request timeout).
        let features = match self.features {
            Some(f) => f,
            None => match tokio::time::timeout(connect_timeout, detect_features(&client))
                .await
                .unwrap_or(Err(Error::Timeout))
            {
                Ok(f) => f,
                // The socket broke and could not be reopened: already says so.
                Err(e @ Error::Connect(_)) => return Err(e),
                Err(e) => {
                    let addr = client.server().clone();
                    return Err(ConnectError::new(addr, ConnectStep::VersionProbe, e).into());
                }
            },
        };
        Arc::get_mut(&mut client.inner)
            .expect("not shared yet")
            .features = features;
        Ok(client)
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
        self.load_login(&addr)?;
        crate::conn::open_transport(&addr, &self.conn).await
    }

    /// Checks the TLS and login settings and loads them into the connection settings,
    /// so that a bad one is an error before anything connects.
    fn load_login(&mut self, addr: &ServerAddr) -> Result<()> {
        self.conn.login.credentials = self.credentials.clone().transpose()?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            if matches!(addr, ServerAddr::Unix(_)) {
                return Err(ConfigError::Tls {
                    file: None,
                    reason: "TLS is for TCP servers, not Unix sockets".into(),
                }
                .into());
            }
            self.conn.login.tls = Some(tls.load()?);
        }
        #[cfg(not(feature = "tls"))]
        let _ = addr;
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
async fn detect_features(client: &Client) -> Result<Features> {
    let first = Route::Conn(0);
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

    /// The server this client talks to.
    pub fn server(&self) -> &ServerAddr {
        self.inner.pool.first().addr()
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
        (0..self.inner.pool.len())
            .map(|i| self.inner.pool.get(i).buffer_usage())
            .fold(Default::default(), |a, b| a + b)
    }

    /// Fire-and-forget forms of the write commands (`noreply` on the wire).
    pub fn noreply(&self) -> NoReply<'_> {
        NoReply { client: self }
    }

    pub(crate) fn limits(&self) -> &Limits {
        self.inner.pool.first().limits()
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    fn route<'a>(&'a self, route: Route<'_>) -> &'a Connection {
        match route {
            Route::Key(k) => self.inner.pool.for_key(k),
            Route::Conn(i) => self.inner.pool.get(i),
            Route::Any => self.inner.pool.any(),
        }
    }

    /// Sends one request under the request timeout, in a `memcached` span, matched to
    /// its reply by position (for replies that carry nothing to check).
    pub(crate) async fn call(
        &self,
        route: Route<'_>,
        cmd: &'static str,
        keys: usize,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut) -> std::result::Result<(), InputError>,
    ) -> Result<Reply> {
        self.call_stamped(route, cmd, keys, expect, |b, _| encode(b))
            .await
    }

    /// Like [`call`](Self::call), with the request's identity record written by
    /// `encode` through the [`Stamp`], so that its reply is checked against it.
    pub(crate) async fn call_stamped(
        &self,
        route: Route<'_>,
        cmd: &'static str,
        keys: usize,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut, &mut Stamp<'_>) -> std::result::Result<(), InputError>,
    ) -> Result<Reply> {
        self.call_with(route, cmd, keys, |conn, must_send| {
            conn.request_stamped(expect, must_send, encode)
        })
        .await
    }

    /// Like [`call`](Self::call), with the request made by `request` on the routed
    /// connection (for requests that are not a plain encode, such as coalesced gets);
    /// `request` is told whether the request must be sent.
    pub(crate) async fn call_with<'a, F>(
        &'a self,
        route: Route<'_>,
        cmd: &'static str,
        keys: usize,
        request: impl FnOnce(&'a Connection, bool) -> F,
    ) -> Result<Reply>
    where
        F: std::future::Future<Output = Result<Reply>>,
    {
        let conn = self.route(route);
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
        let result = match self.inner.request_timeout {
            Some(t) => {
                let deadline = tokio::time::Instant::now() + t;
                // Waiting for room in a full write queue counts against the request's
                // own timeout; running out of it there means nothing was sent.
                let room = if conn.has_room() {
                    Ok(())
                } else {
                    tokio::time::timeout_at(deadline, conn.wait_for_room())
                        .instrument(span.clone())
                        .await
                        .map_err(|_| Error::QueueFull)
                };
                match room {
                    Ok(()) => tokio::time::timeout_at(deadline, request(conn, self.must_send))
                        .instrument(span.clone())
                        .await
                        .unwrap_or_else(|_| {
                            conn.note_timeout();
                            Err(Error::Timeout)
                        }),
                    Err(e) => Err(e),
                }
            }
            None => request(conn, self.must_send).instrument(span.clone()).await,
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
        span.in_scope(|| self.route(route).send(encode))
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
