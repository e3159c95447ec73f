//! The crate's one error type.
//!
//! Every fallible call returns [`Error`], whose variants keep apart the questions a caller
//! actually asks when something goes wrong: did we refuse the input before sending
//! ([`Error::Input`]), did the server refuse the command ([`Error::Server`]), did the
//! reply make no sense ([`Error::Protocol`]), could we not reach the server at all
//! ([`Error::Connect`], which names the server and the step that failed), did the
//! request run out of time ([`Error::Timeout`]), or did the transport fail
//! ([`Error::Io`], [`Error::Closed`])?
//!
//! Each cause is printed once. An error's `Display` is the whole message, its causes
//! included (`could not connect to 127.0.0.1:11211: Connection refused (os error 111)`),
//! so `{e}` in a log line says everything; [`source`](std::error::Error::source) then
//! returns only what that message did *not* already show (for an [`Error::Io`], the
//! `io::Error`'s own source, if any). Tools that walk the chain (anyhow, eyre, tracing's
//! error fields) therefore print nothing twice.
//!
//! `Error` is `Clone` so that one failure can be handed to every request that was in
//! flight on a broken connection, and to every waiter of a coalesced cache load.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::conn::ServerAddr;

/// Everything that can go wrong in mcaside.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The input was rejected locally; nothing was sent to the server.
    Input(InputError),
    /// The server answered with `ERROR`, `CLIENT_ERROR <text>` or `SERVER_ERROR <text>`.
    ///
    /// The connection stays usable: the server has already consumed the command.
    Server(ServerError),
    /// The server's reply could not be parsed, or did not fit the request it answered.
    /// The connection it arrived on is closed, because it has fallen out of step.
    Protocol(ProtocolError),
    /// Connecting to the server failed: which server, at which step (opening the socket,
    /// the `version` probe, ...), and why. Also what requests fail with while a broken
    /// connection cannot be re-established.
    Connect(ConnectError),
    /// The request did not complete within its timeout.
    Timeout,
    /// The transport failed while the request was queued or in flight.
    Io(Arc<io::Error>),
    /// The connection was closed (by the server, by `quit`, or because the client was
    /// dropped) before the reply arrived.
    Closed,
    /// A client setting was refused when the client was built; nothing connected.
    Config(ConfigError),
    /// The TLS handshake failed: the server's certificate was not trusted, was for
    /// another name or expired, the server wanted a client certificate, or the other
    /// end does not speak TLS.
    Tls(Arc<io::Error>),
    /// ASCII authentication failed.
    Auth(AuthError),
    /// The reply carried a value larger than [`Limits::max_value`](crate::proto::Limits):
    /// it was skipped as it arrived, this request failed, and the connection carries on.
    /// Raise the limit for a server started with a larger `-I`.
    ValueTooLarge {
        /// The announced length of the value.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// The server this request's key lives on is marked dead (after consecutive
    /// failures; see [`DeadServerPolicy`](crate::cluster::DeadServerPolicy)): the
    /// request failed at once and nothing was sent, until a probe finds the server
    /// answering again.
    ServerDown {
        /// The server, as configured.
        server: ServerAddr,
    },
    /// The connection's queue of unsent bytes stayed over its budget
    /// (`ClientBuilder::write_budget`) for the whole request timeout: the server is not
    /// taking what is sent to it. Nothing of this request was sent.
    QueueFull,
}

impl Error {
    /// True if the failure says nothing about the server's health: the input was bad or
    /// the server refused this one command. Pools use this to decide whether to count a
    /// failure against a server.
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            Error::Input(_) | Error::Server(_) | Error::Config(_) | Error::ValueTooLarge { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => write!(f, "rejected before sending: {e}"),
            Error::Server(e) => write!(f, "{e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Connect(e) => write!(f, "{e}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Closed => f.write_str("connection closed"),
            Error::Config(e) => write!(f, "bad setting: {e}"),
            Error::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            Error::Auth(e) => write!(f, "authentication: {e}"),
            Error::ValueTooLarge { len, max } => write!(
                f,
                "reply carries a {len}-byte value, the limit is {max} (skipped; connection kept)"
            ),
            Error::ServerDown { server } => write!(
                f,
                "server {server} is marked dead: failing at once until it answers again"
            ),
            Error::QueueFull => f.write_str(
                "the connection's write queue stayed full for the whole request timeout (nothing sent)",
            ),
        }
    }
}

impl std::error::Error for Error {
    /// What `Display` did not already print: the inner types here are shown in full,
    /// so only an `io::Error`'s own source (the error inside a custom `io::Error`,
    /// which its `Display` does not show past one level) remains.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Tls(e) => e.source(),
            Error::Connect(e) => e.source(),
            Error::Input(_) | Error::Server(_) | Error::Protocol(_) => None,
            Error::Config(_) | Error::Auth(_) => None,
            Error::Timeout | Error::Closed | Error::ValueTooLarge { .. } | Error::QueueFull => None,
            Error::ServerDown { .. } => None,
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        Error::Server(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // rustls reports what goes wrong after the handshake (a server that wanted a
        // client certificate sends its alert then, under TLS 1.3) as an I/O error
        // wrapping its own: that is a TLS failure, and says so.
        #[cfg(feature = "tls")]
        if e.get_ref()
            .is_some_and(|inner| inner.is::<tokio_rustls::rustls::Error>())
        {
            return Error::Tls(Arc::new(e));
        }
        Error::Io(Arc::new(e))
    }
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        Error::Connect(e)
    }
}

/// A failure to connect: the server, the step that failed, and its cause.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use mcaside::error::{ConnectStep, Error};
/// // Nothing listens on port 1.
/// match mcaside::Client::connect("127.0.0.1:1").await {
///     Err(Error::Connect(e)) => {
///         assert_eq!(e.server().to_string(), "127.0.0.1:1");
///         assert_eq!(e.step(), ConnectStep::Connect);
///         assert!(matches!(e.cause(), Error::Io(_)));
///         assert!(e.to_string().starts_with("could not connect to 127.0.0.1:1: "));
///     }
///     other => panic!("{other:?}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ConnectError {
    server: ServerAddr,
    step: ConnectStep,
    cause: Box<Error>,
}

/// The step of connecting that failed. More steps (TLS, authentication) join as the
/// client learns them, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectStep {
    /// Opening the socket: name resolution and the TCP connect, or the Unix socket's
    /// connect, within the connect timeout.
    Connect,
    /// The `version` request sent on a new connection to learn what the server
    /// supports, within the connect timeout. A failure here means the socket opened
    /// but the server did not answer (a stopped or overloaded server, a proxy that
    /// closes unknown commands).
    VersionProbe,
    /// The TLS handshake (with the `tls` feature), within the connect timeout: the
    /// cause is [`Error::Tls`] (an untrusted, expired or wrongly named certificate; a
    /// server that wants a client certificate; a plain server) or [`Error::Timeout`].
    Tls,
    /// The ASCII authentication login, within the connect timeout: the cause is
    /// [`Error::Auth`] for a refused login.
    Auth,
}

impl ConnectError {
    pub(crate) fn new(server: ServerAddr, step: ConnectStep, cause: Error) -> ConnectError {
        ConnectError {
            server,
            step,
            cause: Box::new(cause),
        }
    }

    /// The server that could not be reached.
    pub fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// The step that failed.
    pub fn step(&self) -> ConnectStep {
        self.step
    }

    /// Why it failed: typically [`Error::Io`] (connection refused, no such host or
    /// socket file) or [`Error::Timeout`]; for the version probe also
    /// [`Error::Closed`] or [`Error::Protocol`].
    pub fn cause(&self) -> &Error {
        &self.cause
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = &self.server;
        match self.step {
            ConnectStep::Connect => write!(f, "could not connect to {server}: ")?,
            ConnectStep::VersionProbe => {
                write!(f, "connected to {server}, but the version probe failed: ")?
            }
            ConnectStep::Tls => write!(f, "could not connect to {server}: ")?,
            ConnectStep::Auth => write!(f, "connected to {server}, but the login failed: ")?,
        }
        match &*self.cause {
            // "i/o error: " would say nothing the step does not already say.
            Error::Io(e) => write!(f, "{e}"),
            cause => write!(f, "{cause}"),
        }
    }
}

impl std::error::Error for ConnectError {
    /// The cause is part of the message; only what the cause itself did not show.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.cause)
    }
}

/// Input refused before a byte was written, because the server would mis-read it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// A key of length zero.
    EmptyKey,
    /// A key longer than the server's 250-byte limit.
    KeyTooLong {
        /// The offending key's length in bytes.
        len: usize,
    },
    /// A binary key (sent base64-encoded) whose encoded form would exceed 250 bytes:
    /// at most 186 raw bytes.
    BinaryKeyTooLong {
        /// The raw key's length in bytes.
        len: usize,
    },
    /// A key containing a byte the text protocol cannot carry (space, control byte).
    KeyByte {
        /// Position of the first bad byte.
        pos: usize,
        /// The bad byte itself.
        byte: u8,
    },
    /// A value larger than the configured maximum.
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// An expiry the protocol cannot express (past 2038, when exptime overflows 32 bits).
    ExpiryOutOfRange,
    /// A token (stats group, meta flag argument) that would break the command line.
    BadToken {
        /// What the token was for.
        what: &'static str,
    },
    /// A command with no keys, which the server answers with `ERROR`.
    NoKeys,
    /// The server does not support what the request needs (a meta command, a flag).
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
    /// A meta flag, as the protocol spells it (`v`, `N30`), that the command does not
    /// take or whose argument is not valid (see
    /// [`MetaGet::from_tokens`](crate::proto::meta::MetaGet::from_tokens)).
    BadFlag {
        /// The command (`mg`, `ms`, `md`, `ma`).
        command: &'static str,
        /// The flag as given.
        token: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A server address that is neither `host:port` nor a socket path.
    BadAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::EmptyKey => f.write_str("empty key"),
            InputError::KeyTooLong { len } => {
                write!(
                    f,
                    "key is {len} bytes, the limit is {}",
                    crate::proto::MAX_KEY_LEN
                )
            }
            InputError::BinaryKeyTooLong { len } => write!(
                f,
                "binary key is {len} bytes; base64-encoded it would exceed the 250-byte \
                 limit (at most {} raw bytes)",
                crate::proto::meta::MAX_BINARY_KEY_LEN
            ),
            InputError::KeyByte { pos, byte } => {
                write!(f, "key byte {pos} is 0x{byte:02x} (space or control byte)")
            }
            InputError::ValueTooLarge { len, max } => {
                write!(f, "value is {len} bytes, the limit is {max}")
            }
            InputError::ExpiryOutOfRange => {
                f.write_str("expiry does not fit the protocol's 32-bit exptime")
            }
            InputError::BadToken { what } => write!(f, "invalid {what}"),
            InputError::NoKeys => f.write_str("no keys given"),
            InputError::Unsupported { what } => write!(f, "server does not support {what}"),
            InputError::BadFlag {
                command,
                token,
                reason,
            } => write!(f, "{command} flag {token:?}: {reason}"),
            InputError::BadAddress { addr, reason } => write!(
                f,
                "{addr:?} is not a server address: {reason} (want HOST:PORT, or a Unix \
                 socket path starting with / or ., or unix:PATH)"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// Which of the server's three error lines was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerErrorKind {
    /// `ERROR`: the server did not recognise the command.
    Error,
    /// `CLIENT_ERROR <text>`: the server found the request malformed or inapplicable
    /// (for example `incr` on a non-numeric value).
    Client,
    /// `SERVER_ERROR <text>`: the server could not carry out the command (for example
    /// `object too large for cache`).
    Server,
}

/// An error line sent by the server, with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Which error line it was.
    pub kind: ServerErrorKind,
    /// The text after the keyword, lossily decoded as UTF-8 (empty for `ERROR`).
    pub message: String,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.kind {
            ServerErrorKind::Error => "ERROR",
            ServerErrorKind::Client => "CLIENT_ERROR",
            ServerErrorKind::Server => "SERVER_ERROR",
        };
        if self.message.is_empty() {
            write!(f, "server replied {word}")
        } else {
            write!(f, "server replied {word} {}", self.message)
        }
    }
}

impl std::error::Error for ServerError {}

/// A reply that cannot be parsed or does not answer the request it was matched with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A line that is not a reply this client knows. Holds the line, escaped and cut short.
    Malformed(String),
    /// A line longer than the configured maximum without a line ending.
    LineTooLong {
        /// The configured limit.
        max: usize,
    },
    /// A data block announced larger than the configured maximum value size.
    ValueTooLarge {
        /// The announced length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A data block not followed by `\r\n`.
    BadDataTerminator,
    /// A well-formed reply that does not answer the request in flight (for example
    /// `STORED` for a `get`). Holds a short description.
    Unexpected(String),
    /// Bytes arrived when no request was waiting for them.
    Unsolicited,
    /// A reply that names a request (a `VALUE`'s key, a meta reply's opaque token or
    /// returned key) names another one than the request it answers by position.
    Mismatch(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Malformed(line) => write!(f, "malformed reply line \"{line}\""),
            ProtocolError::LineTooLong { max } => {
                write!(f, "reply line longer than {max} bytes")
            }
            ProtocolError::ValueTooLarge { len, max } => {
                write!(f, "reply announces a {len}-byte value, the limit is {max}")
            }
            ProtocolError::BadDataTerminator => f.write_str("data block not ended by \\r\\n"),
            ProtocolError::Unexpected(what) => write!(f, "unexpected reply: {what}"),
            ProtocolError::Unsolicited => f.write_str("reply with no request waiting"),
            ProtocolError::Mismatch(what) => write!(f, "reply for another request: {what}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A client (or cache) setting that cannot work, found when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A TLS file (CA, certificate or key) that cannot be read or used, or a TLS
    /// setting that is not valid.
    Tls {
        /// The file, when the problem is one.
        file: Option<std::path::PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// A user name that is empty or has a space, a control character or `:`.
    BadUser,
    /// A password that is empty or has a space or a control character.
    BadPassword,
    /// A cluster of no servers.
    NoServers,
    /// The same server twice in a cluster (or in the cluster and its gutter): it would
    /// take twice its share of the keys.
    DuplicateServer {
        /// The server, as given.
        server: String,
    },
    /// A server of weight 0, which would take no keys.
    ZeroWeight {
        /// The server, as given.
        server: String,
    },
    /// A setting outside the values it can take, such as `connections(0)`: refused,
    /// never bent to the nearest value that works.
    OutOfRange {
        /// The builder method (`"connections"`, `"ttl_jitter"`, ...).
        setting: &'static str,
        /// What it accepts.
        allowed: &'static str,
        /// What it was given.
        given: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Tls {
                file: Some(file),
                reason,
            } => write!(f, "TLS file {}: {reason}", file.display()),
            ConfigError::Tls { file: None, reason } => write!(f, "TLS: {reason}"),
            ConfigError::BadUser => f.write_str(
                "user name must be non-empty, without spaces, control characters or ':'",
            ),
            ConfigError::NoServers => f.write_str("no servers given"),
            ConfigError::DuplicateServer { server } => {
                write!(f, "server {server} is given twice")
            }
            ConfigError::ZeroWeight { server } => {
                write!(f, "server {server} has weight 0 (it would take no keys)")
            }
            ConfigError::BadPassword => {
                f.write_str("password must be non-empty, without spaces or control characters")
            }
            ConfigError::OutOfRange {
                setting,
                allowed,
                given,
            } => write!(f, "{setting}: must be {allowed}, got {given}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why ASCII authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The server refused the login (`CLIENT_ERROR authentication failure`): wrong
    /// user name or password.
    Refused,
    /// The server requires a login this connection did not make (`CLIENT_ERROR
    /// unauthenticated`): credentials are not configured.
    Unauthenticated,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Refused => "the server refused the user name or password",
            AuthError::Unauthenticated => {
                "the server requires authentication (set credentials on the client)"
            }
        })
    }
}

impl std::error::Error for AuthError {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(e)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// Every message in the chain, as anyhow's `{:#}` would print them.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(e) = next {
            out.push(e.to_string());
            next = e.source();
        }
        out
    }

    /// No message in the chain is repeated by the one before it.
    fn assert_printed_once(e: &(dyn std::error::Error + 'static)) {
        let c = chain(e);
        for pair in c.windows(2) {
            assert!(!pair[0].contains(&pair[1]), "printed twice: {c:?}");
        }
    }

    #[derive(Debug)]
    struct Root;
    impl fmt::Display for Root {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the root cause")
        }
    }
    impl std::error::Error for Root {}

    #[derive(Debug)]
    struct Wrapper(Root);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a wrapper")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let refused = || Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let addr: ServerAddr = "127.0.0.1:1".parse().unwrap();
        let cases = [
            refused(),
            Error::Input(InputError::EmptyKey),
            Error::Server(ServerError {
                kind: ServerErrorKind::Server,
                message: "out of memory".into(),
            }),
            Error::Protocol(ProtocolError::Unsolicited),
            Error::Timeout,
            Error::Closed,
            ConnectError::new(addr.clone(), ConnectStep::Connect, refused()).into(),
            ConnectError::new(addr.clone(), ConnectStep::VersionProbe, Error::Timeout).into(),
            // A custom io::Error shows its payload, not the payload's source.
            Error::from(io::Error::other(Wrapper(Root))),
            ConnectError::new(
                addr,
                ConnectStep::Connect,
                Error::from(io::Error::other(Wrapper(Root))),
            )
            .into(),
        ];
        for e in &cases {
            assert_printed_once(e);
        }
        assert_eq!(chain(&cases[0]), ["i/o error: connection refused"]);
        assert_eq!(
            chain(&cases[6]),
            ["could not connect to 127.0.0.1:1: connection refused"]
        );
        assert_eq!(
            chain(&cases[7]),
            ["connected to 127.0.0.1:1, but the version probe failed: timed out"]
        );
        // The root cause is still reachable, once.
        assert_eq!(chain(&cases[8]), ["i/o error: a wrapper", "the root cause"]);
        assert_eq!(
            chain(&cases[9]),
            [
                "could not connect to 127.0.0.1:1: a wrapper",
                "the root cause"
            ]
        );
        assert!(cases[1].source().is_none());
    }

    #[test]
    fn a_bad_address_is_an_input_error() {
        for (addr, reason) in [
            ("127.0.0.1", "no port"),
            (":11211", "no host"),
            ("localhost:http", "the port is not a number from 0 to 65535"),
            (
                "localhost:65536",
                "the port is not a number from 0 to 65535",
            ),
            ("unix:", "empty socket path"),
        ] {
            let err = addr.parse::<ServerAddr>().unwrap_err();
            assert_eq!(
                err,
                InputError::BadAddress {
                    addr: addr.into(),
                    reason
                }
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("{addr:?} is not a server address: {reason}"))
            );
        }
    }
}
