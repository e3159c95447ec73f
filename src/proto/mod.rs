//! The sans-IO protocol core: commands to bytes, bytes to replies.
//!
//! Nothing in this module touches a socket or an executor. It can be driven by hand,
//! byte by byte, which is how its tests (and fuzzers) use it:
//!
//! - [`key`]: the key rules every command checks before encoding;
//! - [`expiry`]: [`Expiry`], the exptime and its 30-day rule;
//! - [`encode`]: the classic commands, appended to a `BytesMut`;
//! - [`meta`]: the meta commands' typed flags and encoders; [`version`]: which server
//!   version has which of them; [`base64`]: binary keys;
//! - [`parse`]: the reply-line grammar, in nom streaming combinators;
//! - [`decoder`]: [`Decoder`], which frames a byte stream into [`Frame`]s;
//! - [`reply`]: [`Assembler`], which groups frames into the reply to one request;
//! - [`identity`]: what a reply must carry to be its request's (keys, opaque tokens),
//!   recorded per request by [`identity::Stamp`] and checked by the assembler;
//! - [`coalesce`]: which retrievals may share one command line, and how their reply
//!   is split;
//! - [`escape`]: printing wire bytes for people.
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
pub mod coalesce;
pub mod decoder;
pub mod encode;
pub mod escape;
pub mod expiry;
pub mod frame;
pub mod identity;
pub mod key;
pub mod meta;
pub mod parse;
pub mod reply;
pub mod version;

pub use decoder::Decoder;
pub use escape::Escaped;
pub use expiry::{Expiry, MAX_RELATIVE_EXPTIME};
pub use frame::{Frame, MetaCode, MetaReply, Oversized, OversizedHeader, ReturnedFlags, Value};
pub use key::{MAX_KEY_LEN, check_key};
pub use reply::{Assembler, BatchEntry, Expect, Failure, Reply, Status};
pub use version::{Feature, Features, Version};

/// Bounds on what the decoder accepts and the encoder sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value: (1 << 20) + 1024,
            max_line: 8 * 1024,
        }
    }
}
