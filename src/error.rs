//! The crate's one error type.
//!
//! Every fallible call returns [`Error`], whose variants keep apart the questions a caller
//! actually asks when something goes wrong: did we refuse the input before sending
//! ([`Error::Input`]), did the server refuse the command ([`Error::Server`]), did the
//! reply make no sense ([`Error::Protocol`]), did the request run out of time
//! ([`Error::Timeout`]), or did the transport fail ([`Error::Io`], [`Error::Closed`])?
//!
//! `Error` is `Clone` so that one failure can be handed to every request that was in
//! flight on a broken connection, and to every waiter of a coalesced cache load.

use std::fmt;
use std::io;
use std::sync::Arc;

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
    /// The request did not complete within its timeout (connect or request).
    Timeout,
    /// The transport failed while the request was queued or in flight.
    Io(Arc<io::Error>),
    /// The connection was closed (by the server, by `quit`, or because the client was
    /// dropped) before the reply arrived.
    Closed,
    /// The reply carried a value larger than [`Limits::max_value`](crate::proto::Limits):
    /// it was skipped as it arrived, this request failed, and the connection carries on.
    /// Raise the limit for a server started with a larger `-I`.
    ValueTooLarge {
        /// The announced length of the value.
        len: u64,
        /// The configured limit.
        max: usize,
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
        matches!(self, Error::Input(_) | Error::Server(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => write!(f, "rejected before sending: {e}"),
            Error::Server(e) => write!(f, "{e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Closed => f.write_str("connection closed"),
            Error::ValueTooLarge { len, max } => write!(
                f,
                "reply carries a {len}-byte value, the limit is {max} (skipped; connection kept)"
            ),
            Error::QueueFull => f.write_str(
                "the connection's write queue stayed full for the whole request timeout (nothing sent)",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Input(e) => Some(e),
            Error::Server(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Io(e) => Some(e.as_ref()),
            Error::Timeout | Error::Closed | Error::ValueTooLarge { .. } | Error::QueueFull => None,
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
        Error::Io(Arc::new(e))
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

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
