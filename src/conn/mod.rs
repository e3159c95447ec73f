//! The connection layer: one server, one socket, many concurrent requests.
//!
//! What is public here is what a user of [`Client`](crate::Client) names: a server's
//! address ([`ServerAddr`]), TLS settings ([`TlsConfig`], with the `tls` feature),
//! credentials ([`Credentials`]), what the buffers hold ([`BufferUsage`]), and a raw
//! socket for tools that write the protocol themselves ([`Transport`], from
//! [`ClientBuilder::connect_raw`](crate::ClientBuilder::connect_raw)). The connection
//! itself is the client's machinery, private to the crate.
//!
//! A connection is a cheap, cloneable handle to a background I/O task. Requests are
//! encoded straight into a shared write buffer and answered in order, so any number of
//! tasks can use one connection at once and their requests share writes. The modules:
//! `queue` (the shared state), `outbuf` (the queued bytes, large requests in chunks of
//! their own), `session` (the byte pump), `driver` (the I/O task), `sink` and `mailbox`
//! (where a reply goes, and the slot it waits in), `request` (a caller's side),
//! `transport`, `addr`. What this layer guarantees:
//!
//! - **Replies reach their own caller.** Replies are matched to requests by position in
//!   the stream, and a request whose future is dropped keeps its place: its reply is read
//!   and discarded, never handed to the next caller.
//! - **Failures are shared and prompt.** If the socket breaks or a reply is out of step,
//!   every request in flight fails at once with the same error, and the task reconnects.
//! - **No hand-off when alone.** A caller that finds the connection idle drives the
//!   socket from its own task (see the module `request`); the I/O task takes over the
//!   moment a second request is queued.
//! - **Every reply is checked to be its request's.** Callers pass an encoder that also
//!   writes the request's identity record (keys, opaque tokens; see the module
//!   `proto::identity`); the assembler checks each frame against it, and a mismatch
//!   closes the connection like any reply out of step.
//! - **Bounded memory.** The bytes queued and not yet written are kept under a budget
//!   ([`ClientBuilder::write_budget`](crate::ClientBuilder::write_budget)): a caller
//!   waits for room before queueing more. Requests whose callers are gone before their
//!   bytes are taken for writing are not sent (unless they must be). Buffers that grew
//!   in a spike shrink back once empty.
//! - **One timer per connection.** A request carries its deadline (`Terms`); the
//!   I/O task's one timer is set for the earliest deadline waiting and, when it fires,
//!   fails what is due through the callers' reply channels (a timed-out request keeps
//!   its place, like a dropped one: its reply is read and discarded). Callers arm no
//!   timer of their own: one per request was about a fifth of the client's CPU per
//!   get with 64 tasks on one connection.
//! - **A silent server is abandoned.** After
//!   [`max_silent_timeouts`](crate::ClientBuilder::max_silent_timeouts) timed-out
//!   requests in a row with no byte read meanwhile, the connection is closed and
//!   re-dialled; TCP keepalive finds a vanished host on an idle connection.
//! - **Nothing here knows memcached's commands.** Callers pass an encoder and the
//!   expected reply shape; which requests may share a line, and how their reply is
//!   split, is the business of the module `proto::coalesce`. The connection moves bytes
//!   and frames. The socket kind is hidden in [`Transport`].

mod addr;
mod auth;
mod driver;
mod mailbox;
mod outbuf;
mod queue;
mod request;
mod session;
mod sink;
#[cfg(feature = "tls")]
mod tls;
mod transport;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

pub use addr::ServerAddr;
pub use auth::Credentials;
pub(crate) use request::Request;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use transport::Transport;

use crate::error::{Error, InputError};
use crate::proto::identity::Stamp;
use crate::proto::{Expect, Limits, Reply};
use queue::{Ask, Link, Shared};

/// A request at least this long is written from a chunk of its own (see `outbuf`).
pub(crate) use outbuf::LARGE as LARGE_REQUEST;

/// How one request is made.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Terms {
    /// Write it even if its caller is gone before its bytes are taken for writing.
    pub must_send: bool,
    /// When its caller stops waiting: it then fails with [`Error::Timeout`] (or with
    /// [`Error::QueueFull`] if it was still waiting for room in the write queue).
    /// `None`: it waits as long as it takes.
    pub deadline: Option<tokio::time::Instant>,
}

/// Settings for one connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnConfig {
    /// Reply and request size bounds.
    pub limits: Limits,
    /// How long one connect attempt may take. Default 1 s.
    pub connect_timeout: Duration,
    /// First delay before retrying a failed reconnect. Default 50 ms.
    pub backoff_min: Duration,
    /// Largest delay between reconnect attempts. Default 5 s.
    pub backoff_max: Duration,
    /// The most bytes queued on this connection and not yet written to the socket.
    /// A request arriving when the queue is at or over it waits for room (within its
    /// own timeout). Default 4 MiB.
    pub write_budget: usize,
    /// After this many requests time out in a row with no byte read from the server
    /// meanwhile, the connection is closed and re-dialled; `None` never does. Default 3.
    pub max_silent_timeouts: Option<NonZeroU32>,
    /// TCP keepalive: probe a connection after this long without traffic; `None`
    /// leaves the system default (usually off). Default 30 s.
    pub keepalive: Option<Duration>,
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
            write_budget: 4 << 20,
            max_silent_timeouts: NonZeroU32::new(3),
            keepalive: Some(Duration::from_secs(30)),
        }
    }
}

/// How much memory a client's connections hold, for monitoring (see
/// [`Client::buffer_usage`](crate::Client::buffer_usage)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferUsage {
    /// Bytes queued or being written, not yet handed to the socket.
    pub unsent: usize,
    /// The capacity of the connection's buffers (write, read, identity records, reply
    /// slots).
    pub capacity: usize,
}

impl std::ops::Add for BufferUsage {
    type Output = BufferUsage;
    fn add(self, o: BufferUsage) -> BufferUsage {
        BufferUsage {
            unsent: self.unsent + o.unsent,
            capacity: self.capacity + o.capacity,
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
pub(crate) struct Connection {
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

    /// Connects to `addr` like [`connect`](Self::connect), but a first connect that
    /// fails is not an error: the connection is returned down (its requests fail fast
    /// with that error) and keeps reconnecting in the background with the backoff. For
    /// the servers of a cluster, where one being down must not keep the others from
    /// being used.
    pub async fn connect_or_retry(addr: ServerAddr, config: ConnConfig) -> Connection {
        let shared = Arc::new(Shared::new(addr, config));
        match driver::connect(&shared).await {
            Ok(io) => driver::spawn(shared.clone(), io),
            Err(e) => driver::spawn_unconnected(shared.clone(), e),
        }
        Connection {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// The server this connection talks to.
    pub fn addr(&self) -> &ServerAddr {
        &self.handle.shared.addr
    }

    /// The limits this connection enforces.
    pub fn limits(&self) -> &Limits {
        &self.handle.shared.config.limits
    }

    /// The error the connection is down with, if it is (its last connect failed).
    pub(crate) fn down_error(&self) -> Option<Error> {
        match &self.handle.shared.lock().link {
            Link::Down(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// Sends one request and waits for its reply, matched by position only (for
    /// replies that carry nothing to check, such as `VERSION`), with no deadline.
    ///
    /// `encode` appends the command to the write buffer; if it fails, nothing is sent
    /// and its error is returned. The reply is assembled in the shape `expect` says.
    /// A server error line comes back as [`Error::Server`].
    ///
    /// The request is cancel-safe: dropping the future before it completes leaves the
    /// connection in step (the reply, when it comes, is discarded).
    pub(crate) async fn request(
        &self,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
    ) -> Result<Reply, Error> {
        self.wait_for_room(None).await?;
        let encode = |b: &mut BytesMut, _: &mut Stamp<'_>| encode(b);
        self.start(expect, Terms::default(), encode, None)?.await
    }

    /// Queues one request now and returns the future of its reply, which is checked
    /// against the request's identity record: `encode` writes the command and, through
    /// the [`Stamp`], what its reply must carry (the keys of a retrieval, the opaque
    /// token of a meta command). `terms` say whether it must be sent and when it times
    /// out. For a storage command whose data block is the caller's own `value` bytes,
    /// those go out as they are after the command line `encode` writes (with `\r\n`
    /// after them), not copied. Call [`wait_for_room`](Self::wait_for_room) first.
    ///
    /// Queueing is done here rather than in an `async` body, so that a request's future
    /// is a few words: nested `async` bodies each hold, and move, the one below.
    ///
    /// If `encode` fails, nothing is sent and its error is returned. A server error
    /// line comes back as [`Error::Server`]. The request is cancel-safe: dropping the
    /// future before it completes leaves the connection in step (the reply, when it
    /// comes, is discarded).
    pub fn start(
        &self,
        expect: Expect,
        terms: Terms,
        encode: impl FnOnce(&mut BytesMut, &mut Stamp<'_>) -> Result<(), InputError>,
        value: Option<Bytes>,
    ) -> Result<Request<'_>, Error> {
        let ask = Ask {
            expect: Some(expect),
            must_send: terms.must_send,
            deadline: terms.deadline,
        };
        let shared = &*self.handle.shared;
        let queued = shared.enqueue_value(ask, encode, value)?;
        Ok(Request::new(shared, queued))
    }

    /// A single-key retrieval in classic form (`get`, `gets`, `gat`, `gats`), merged
    /// with the single-key retrievals queued just before it into one multi-key command
    /// when [`crate::proto::coalesce`] allows. For servers without meta commands, where
    /// this saves the server a send per key. The reply is a [`Reply::Value`]. Queued
    /// now, like [`start`](Self::start).
    pub fn start_get(
        &self,
        kind: crate::proto::encode::GetKind,
        key: &[u8],
        terms: Terms,
    ) -> Result<Request<'_>, Error> {
        let shared = &*self.handle.shared;
        let queued = shared.enqueue_get(kind, key, terms.must_send, terms.deadline)?;
        Ok(Request::new(shared, queued))
    }

    /// True while the bytes queued on this connection are under its write budget.
    pub fn has_room(&self) -> bool {
        self.handle.shared.has_room()
    }

    /// Waits until the bytes queued on this connection are under its write budget, or
    /// fails with [`Error::QueueFull`] at `deadline` (nothing was sent).
    pub async fn wait_for_room(&self, deadline: Option<tokio::time::Instant>) -> Result<(), Error> {
        let shared = &self.handle.shared;
        if shared.has_room() {
            return Ok(());
        }
        match deadline {
            Some(d) => tokio::time::timeout_at(d, shared.room())
                .await
                .map_err(|_| Error::QueueFull),
            None => {
                shared.room().await;
                Ok(())
            }
        }
    }

    /// How much memory this connection holds.
    pub fn buffer_usage(&self) -> BufferUsage {
        let shared = &self.handle.shared;
        let session = shared.slot().session.as_ref().map_or(0, |s| s.capacity());
        let st = shared.lock();
        BufferUsage {
            unsent: shared.unsent(),
            capacity: session
                + st.write_buf.capacity()
                + st.idents.capacity()
                + shared.mail_capacity(),
        }
    }

    /// Queues a request that has no reply (a `noreply` command, `quit`). Returns once it
    /// is queued; it is written with the next batch, before anything queued after it,
    /// whatever the write budget says (it cannot wait: it has no future to wait in).
    pub fn send(
        &self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
    ) -> Result<(), Error> {
        let ask = Ask {
            expect: None,
            must_send: true,
            deadline: None,
        };
        let queued = self.handle.shared.enqueue(ask, |b, _| encode(b))?;
        tracing::Span::current().record("sent", queued.sent);
        Ok(())
    }
}
