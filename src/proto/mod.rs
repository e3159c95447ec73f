//! The sans-IO protocol core: commands to bytes, bytes to replies.
//!
//! Nothing in this module touches a socket or an executor. It can be driven by hand,
//! byte by byte, which is how its tests, and the fuzz targets in `fuzz/`, use it; and it
//! is what to build on for a transport of your own (a different runtime, a proxy, a
//! simulator). What it offers, and promises to keep:
//!
//! - [`encode`]: the classic commands, appended to a `BytesMut`, every key and number
//!   checked first ([`check_key`], [`Expiry`] and its 30-day rule);
//! - [`meta`]: the meta commands' typed flags and encoders; [`Features`]: which server
//!   version has which of them; [`base64`]: binary keys;
//! - [`Decoder`]: frames a byte stream into [`Frame`]s, every announced length bounded
//!   by [`Limits`] before anything is allocated;
//! - [`Assembler`]: groups frames into the [`Reply`] to one request, as its [`Expect`]ed
//!   shape says;
//! - [`Escaped`]: wire bytes printed for people.
//!
//! The rest is the client's own machinery and is private to the crate: the reply-line
//! grammar (the module `proto::parse`, a nom parser to read top to bottom), the
//! identity records that prove each reply is its request's (`proto::identity`), and
//! which retrievals may share a command line (`proto::coalesce`). The fuzz targets and
//! tests reach some of it through [`internal`], which is **not** part of the stable
//! API.
//!
//! ```
//! use bytes::BytesMut;
//! use mcaside::proto::{encode, Assembler, Decoder, Expect, Limits, Reply};
//!
//! let mut out = BytesMut::new();
//! encode::get(&mut out, encode::GetKind::Get, ["greeting"]).unwrap();
//! assert_eq!(&out[..], b"get greeting\r\n");
//!
//! // ...the server answers, in two pieces...
//! let mut input = BytesMut::from(&b"VALUE greeting 0 5\r\nhel"[..]);
//! let mut decoder = Decoder::new(Limits::default());
//! let mut reply = Assembler::new(Expect::Value);
//! assert!(decoder.decode(&mut input).unwrap().is_none());
//! input.extend_from_slice(b"lo\r\nEND\r\n");
//! let value = decoder.decode(&mut input).unwrap().unwrap();
//! assert!(reply.push(value).unwrap().is_none());
//! let end = decoder.decode(&mut input).unwrap().unwrap();
//! let Some(Ok(Reply::Value(Some(v)))) = reply.push(end).unwrap() else { panic!() };
//! assert_eq!(&v.data[..], b"hello");
//! ```

pub mod base64;
pub(crate) mod coalesce;
pub(crate) mod decoder;
pub mod encode;
pub(crate) mod escape;
pub(crate) mod expiry;
pub(crate) mod frame;
pub(crate) mod identity;
pub mod internal;
pub(crate) mod key;
pub mod meta;
pub(crate) mod parse;
pub(crate) mod recycle;
pub(crate) mod reply;
pub(crate) mod version;

pub use decoder::{Decoder, OWN_BUFFER_MIN};
pub use escape::Escaped;
pub use expiry::{Expiry, MAX_RELATIVE_EXPTIME};
pub use frame::{
    Frame, MetaCode, MetaReply, Oversized, OversizedHeader, ReturnedField, ReturnedFlags, Value,
};
pub use key::{MAX_KEY_LEN, check_key};
pub use reply::{Assembler, BatchEntry, Expect, Failure, Reply, Status, Step};
pub use version::{Feature, Features, Version};

/// Bounds on what the decoder accepts and the encoder sends.
///
/// ```
/// use mcaside::proto::Limits;
/// // For a server started with `-I 8m`:
/// let limits = Limits::new().max_value(8 << 20);
/// assert_eq!(limits.max_line, Limits::default().max_line);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest data block accepted in a reply or sent in a request. A reply's block
    /// over it is skipped as it arrives (no memory is set aside for it) and fails the
    /// request it answers with [`Error::ValueTooLarge`](crate::Error::ValueTooLarge).
    ///
    /// Default: memcached's default item size limit (1 MiB, `-I 1m`) plus 1 KiB of slack.
    /// Raise it for a server started with a larger `-I`.
    pub max_value: usize,
    /// The longest reply line accepted, `\r\n` included. Default 8 KiB; the longest line
    /// memcached sends in reply to this client's commands is a few hundred bytes.
    pub max_line: usize,
}

impl Limits {
    /// The defaults (see each field).
    pub const fn new() -> Limits {
        Limits {
            max_value: (1 << 20) + 1024,
            max_line: 8 * 1024,
        }
    }

    /// Sets [`max_value`](Self::max_value).
    pub const fn max_value(mut self, bytes: usize) -> Limits {
        self.max_value = bytes;
        self
    }

    /// Sets [`max_line`](Self::max_line).
    pub const fn max_line(mut self, bytes: usize) -> Limits {
        self.max_line = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}
