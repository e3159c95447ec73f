//! What the server sends back, one unit at a time.
//!
//! A [`Frame`] is one reply line, together with its data block when it has one. Most
//! commands are answered by exactly one frame; retrievals and `stats` by several, ended by
//! `END`; a pipeline of quiet meta commands by any number, ended by `MN`. Grouping frames
//! into the reply to one request is [`super::reply`]'s job, not this module's.
//!
//! Every byte string in a frame (`key`, `data`, texts) is a `Bytes` sliced from the
//! connection's read buffer: decoding a hit copies nothing.

use bytes::Bytes;

// The returned flags' table lives with the meta commands.
pub use super::meta::returned::{ReturnedField, ReturnedFlags};

/// One reply line (and data block) from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// `VALUE <key> <flags> <bytes> [<cas unique>]` and its data block.
    Value(Value),
    /// `END`: the end of a retrieval or `stats` reply.
    End,
    /// `STORED`.
    Stored,
    /// `NOT_STORED`: the condition of `add`, `replace`, `append` or `prepend` failed.
    NotStored,
    /// `EXISTS`: a `cas` found the item changed since it was fetched.
    Exists,
    /// `NOT_FOUND`: no such item (for `cas`, `delete`, `incr`, `decr`, `touch`).
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK` (for `flush_all` and `verbosity`).
    Ok,
    /// The new value after `incr` or `decr`.
    Number(u64),
    /// `VERSION <text>`.
    Version(Bytes),
    /// `STAT <name> <value>`.
    Stat {
        /// The statistic's name.
        name: Bytes,
        /// Its value, as text.
        value: Bytes,
    },
    /// `ERROR`, `CLIENT_ERROR <text>` or `SERVER_ERROR <text>`.
    Error {
        /// Which error line.
        kind: crate::error::ServerErrorKind,
        /// The text after the keyword (empty for a bare `ERROR`).
        message: Bytes,
    },
    /// A meta reply: `VA`, `HD`, `EN`, `NS`, `EX` or `NF`, with its returned flags.
    Meta(MetaReply),
    /// `MN`: the answer to `mn`, the fence at the end of a meta pipeline.
    MetaNoop,
    /// A `VALUE` or `VA` reply whose data block was longer than
    /// [`Limits::max_value`](super::Limits::max_value). The decoder skipped the block as
    /// it arrived (counting it, keeping none of it): the request it answers fails, the
    /// connection stays in step.
    Oversized(Oversized),
    /// `ME <key> <k>=<v>*`: the answer to a meta debug `me` for an existing item.
    MetaDebug {
        /// The key as the server printed it.
        key: Bytes,
        /// The `k=v` pairs, space separated, as sent.
        fields: Bytes,
    },
}

/// One item from a `VALUE` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The key, as the server sent it.
    pub key: Bytes,
    /// The client flags stored with the item.
    pub flags: u32,
    /// The cas unique, present for `gets` and `gats`.
    pub cas: Option<u64>,
    /// The data block.
    pub data: Bytes,
}

/// The header of a value reply whose data block was skipped, for being too large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// The announced length of the data block.
    pub len: u64,
    /// The header: a [`Frame::Value`] or [`Frame::Meta`] with an empty data block.
    pub header: OversizedHeader,
}

/// What an oversized value reply said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OversizedHeader {
    /// `VALUE <key> <flags> <bytes> [<cas>]`.
    Value {
        /// The key, as the server sent it.
        key: Bytes,
    },
    /// `VA <bytes> <flags>*`, with its returned flags.
    Meta(ReturnedFlags),
}

/// A meta command's return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetaCode {
    /// `VA`: success, with a data block.
    Value,
    /// `HD`: success, no data block.
    Header,
    /// `EN`: miss (`mg`, `me`).
    Miss,
    /// `NS`: not stored (`ms` mode condition failed, `ma` auto-create failed).
    NotStored,
    /// `EX`: the compared cas did not match.
    Exists,
    /// `NF`: not found.
    NotFound,
}

impl MetaCode {
    /// The two-letter code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MetaCode::Value => "VA",
            MetaCode::Header => "HD",
            MetaCode::Miss => "EN",
            MetaCode::NotStored => "NS",
            MetaCode::Exists => "EX",
            MetaCode::NotFound => "NF",
        }
    }
}

/// A meta reply line, its returned flags and, for `VA`, its data block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaReply {
    /// The return code.
    pub code: MetaCode,
    /// The flags the server returned.
    pub flags: ReturnedFlags,
    /// The data block (`VA` only).
    pub value: Option<Bytes>,
}
