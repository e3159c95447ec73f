//! The client: an async method per memcached command.
//!
//! [`Client`] is cheap to clone and safe to share between tasks: clones share the
//! connection, and concurrent calls are pipelined on it. Each call runs under the
//! configured request timeout and in a `tracing` span named `memcached` with the
//! command, the number of keys, the bytes sent and received and the outcome. At TRACE
//! level, the target `mcaside::wire` logs every byte on the wire, escaped.
//!
//! The command methods are in [`classic`] (the classic text commands) and
//! [`noreply`] (their fire-and-forget forms).

pub mod batch;
pub mod classic;
pub mod get_many;
mod join;
pub mod meta;
pub mod noreply;
mod pool;
mod types;

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
use crate::error::{Error, InputError, ProtocolError, Result};
use crate::proto::{Expect, Features, Limits, Reply, Version};
use pool::Pool;

/// A memcached client. See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
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
///     .request_timeout(Some(Duration::from_millis(250)))
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
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            conn: ConnConfig::default(),
            request_timeout: Some(Duration::from_secs(1)),
            features: None,
            connections: 2,
        }
    }
}

impl ClientBuilder {
    /// How long one connect attempt may take. Default 1 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.conn.connect_timeout = t;
        self
    }

    /// How long a request may take, from the call to its reply; `None` waits forever.
    /// Default 1 s. A request that times out fails with [`Error::Timeout`] and its
    /// reply, when it comes, is discarded.
    pub fn request_timeout(mut self, t: Option<Duration>) -> Self {
        self.request_timeout = t;
        self
    }

    /// Value and line size limits. Raise `max_value` for a server started with a larger
    /// item size (`-I`).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.conn.limits = limits;
        self
    }

    /// The bounds of the reconnect backoff. Default 50 ms to 5 s.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.conn.backoff_min = min;
        self.conn.backoff_max = max.max(min);
        self
    }

    /// How many connections to open to the server. Default 2. Each carries any number
    /// of concurrent requests; a few let the server use several worker threads.
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n.max(1);
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

    /// Connects to `server`.
    pub async fn connect(self, server: impl ToServerAddr) -> Result<Client> {
        let addr = server.to_server_addr()?;
        let pool = Pool::connect(addr, self.conn, self.connections).await?;
        let mut client = Client {
            inner: Arc::new(Inner {
                pool,
                request_timeout: self.request_timeout,
                features: Features::CLASSIC,
            }),
        };
        // What the server supports decides how some commands go on the wire (meta or
        // classic) and which meta flags may be sent.
        let features = match self.features {
            Some(f) => f,
            None => detect_features(&client).await?,
        };
        Arc::get_mut(&mut client.inner)
            .expect("not shared yet")
            .features = features;
        Ok(client)
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
    /// The address.
    fn to_server_addr(self) -> std::io::Result<ServerAddr>;
}

impl ToServerAddr for ServerAddr {
    fn to_server_addr(self) -> std::io::Result<ServerAddr> {
        Ok(self)
    }
}
impl ToServerAddr for &ServerAddr {
    fn to_server_addr(self) -> std::io::Result<ServerAddr> {
        Ok(self.clone())
    }
}
impl ToServerAddr for &str {
    fn to_server_addr(self) -> std::io::Result<ServerAddr> {
        self.parse()
    }
}
impl ToServerAddr for String {
    fn to_server_addr(self) -> std::io::Result<ServerAddr> {
        self.parse()
    }
}
impl ToServerAddr for &String {
    fn to_server_addr(self) -> std::io::Result<ServerAddr> {
        self.parse()
    }
}
impl ToServerAddr for std::net::SocketAddr {
    fn to_server_addr(self) -> std::io::Result<ServerAddr> {
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

    /// Sends one request under the request timeout, in a `memcached` span.
    pub(crate) async fn call(
        &self,
        route: Route<'_>,
        cmd: &'static str,
        keys: usize,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut) -> std::result::Result<(), InputError>,
    ) -> Result<Reply> {
        self.call_with(route, cmd, keys, |conn| conn.request(expect, encode))
            .await
    }

    /// Like [`call`](Self::call), with the request made by `request` on the routed
    /// connection (for requests that are not a plain encode, such as coalesced gets).
    pub(crate) async fn call_with<'a, F>(
        &'a self,
        route: Route<'_>,
        cmd: &'static str,
        keys: usize,
        request: impl FnOnce(&'a Connection) -> F,
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
        let request = request(conn);
        let result = match self.inner.request_timeout {
            Some(t) => tokio::time::timeout(t, request)
                .instrument(span.clone())
                .await
                .unwrap_or(Err(Error::Timeout)),
            None => request.instrument(span.clone()).await,
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
        Err(Error::Closed) => "closed",
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
