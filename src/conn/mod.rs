//! The connection layer: one server, one socket, many concurrent requests.
//!
//! A [`Connection`] is a cheap, cloneable handle to a background I/O task. Requests are
//! encoded straight into a shared write buffer and answered in order, so any number of
//! tasks can use one connection at once and their requests share writes. The files:
//! `queue.rs` (the shared state), `session.rs` (the byte pump), `driver.rs` (the I/O
//! task), `request.rs` (a caller's side), `transport.rs`, `addr.rs`. What this layer guarantees:
//!
//! - **Replies reach their own caller.** Replies are matched to requests by position in
//!   the stream, and a request whose future is dropped keeps its place: its reply is read
//!   and discarded, never handed to the next caller.
//! - **Failures are shared and prompt.** If the socket breaks or a reply is out of step,
//!   every request in flight fails at once with the same error, and the task reconnects.
//! - **No hand-off when alone.** A caller that finds the connection idle drives the
//!   socket from its own task (see `request.rs`); the I/O task takes over the moment a
//!   second request is queued.
//! - **Nothing here knows memcached's commands.** Callers pass an encoder and the
//!   [`Expect`]ed reply shape; the connection moves bytes and
//!   frames. The socket kind is hidden in [`Transport`].

mod addr;
mod auth;
mod driver;
mod queue;
mod request;
mod session;
mod sink;
#[cfg(feature = "tls")]
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

pub use addr::ServerAddr;
pub use auth::Credentials;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use transport::Transport;

use crate::error::{Error, InputError};
use crate::proto::{Expect, Limits, Reply};
use queue::{Link, Shared};

/// Settings for one connection.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Reply and request size bounds.
    pub limits: Limits,
    /// How long one connect attempt may take. Default 1 s.
    pub connect_timeout: Duration,
    /// First delay before retrying a failed reconnect. Default 50 ms.
    pub backoff_min: Duration,
    /// Largest delay between reconnect attempts. Default 5 s.
    pub backoff_max: Duration,
    /// TLS and authentication, set through [`ClientBuilder`](crate::ClientBuilder) (which
    /// loads and checks them once, before anything connects).
    pub(crate) login: Login,
}

/// What a new connection does before its first request: the TLS handshake, the login.
#[derive(Debug, Clone, Default)]
pub(crate) struct Login {
    #[cfg(feature = "tls")]
    pub tls: Option<tls::Tls>,
    pub credentials: Option<Credentials>,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(1),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            login: Login::default(),
        }
    }
}

/// Opens a socket to `addr` as a [`Connection`] would (TLS handshake and login
/// included, within the connect timeout) and hands it over: for tools that write the
/// protocol themselves. Reach it through
/// [`ClientBuilder::connect_raw`](crate::ClientBuilder::connect_raw).
pub(crate) async fn open_transport(
    addr: &ServerAddr,
    config: &ConnConfig,
) -> Result<Transport, Error> {
    driver::open(addr, config).await
}

/// A handle to one multiplexed connection. Clones share the connection; when the last
/// clone is dropped, the I/O task writes out what is queued and closes the socket.
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.set_link(Link::Shutdown);
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.handle.shared.addr)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` (within `config.connect_timeout`) and starts the I/O task on
    /// the current tokio runtime.
    pub async fn connect(addr: ServerAddr, config: ConnConfig) -> Result<Connection, Error> {
        let shared = Arc::new(Shared::new(addr, config));
        let io = driver::connect(&shared).await?;
        driver::spawn(shared.clone(), io);
        Ok(Connection {
            handle: Arc::new(Handle { shared }),
        })
    }

    /// The server this connection talks to.
    pub fn addr(&self) -> &ServerAddr {
        &self.handle.shared.addr
    }

    /// The limits this connection enforces.
    pub fn limits(&self) -> &Limits {
        &self.handle.shared.config.limits
    }

    /// True while the socket is connected (or being reconnected after a clean close).
    pub fn is_up(&self) -> bool {
        matches!(self.handle.shared.lock().link, Link::Up | Link::Connecting)
    }

    /// Sends one request and waits for its reply.
    ///
    /// `encode` appends the command to the write buffer; if it fails, nothing is sent
    /// and its error is returned. The reply is assembled in the shape `expect` says.
    /// A server error line comes back as [`Error::Server`].
    ///
    /// The request is cancel-safe: dropping the future before it completes leaves the
    /// connection in step (the reply, when it comes, is discarded).
    pub async fn request(
        &self,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
    ) -> Result<Reply, Error> {
        let queued = self.handle.shared.enqueue(Some(expect), encode)?;
        self.complete(queued).await
    }

    /// A single-key retrieval in classic form (`get`, `gets`, `gat`, `gats`), merged
    /// with the single-key retrievals queued just before it into one multi-key command
    /// when possible. For servers without meta commands, where this saves the server a
    /// send per key. The reply is a [`Reply::Value`].
    pub async fn request_get(
        &self,
        kind: crate::proto::encode::GetKind,
        key: &[u8],
    ) -> Result<Reply, Error> {
        let queued = self.handle.shared.enqueue_get(kind, key)?;
        self.complete(queued).await
    }

    /// Waits for a queued request's reply, recording the bytes each way in the span.
    async fn complete(&self, queued: queue::Queued) -> Result<Reply, Error> {
        let span = tracing::Span::current();
        span.record("sent", queued.sent);
        let delivery = request::Request {
            shared: &self.handle.shared,
            rx: queued.rx.expect("a waiter was queued"),
            ticket: queued.ticket,
        }
        .await?;
        span.record("received", delivery.received);
        delivery.outcome
    }

    /// Queues a request that has no reply (a `noreply` command, `quit`). Returns once it
    /// is queued; it is written with the next batch, before anything queued after it.
    pub fn send(
        &self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
    ) -> Result<(), Error> {
        let queued = self.handle.shared.enqueue(None, encode)?;
        tracing::Span::current().record("sent", queued.sent);
        Ok(())
    }
}
