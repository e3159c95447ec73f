//! Grouping frames into the reply to one request.
//!
//! The text protocol answers requests strictly in order, but not one frame per request:
//! `get a b` is answered by up to two `VALUE` blocks and an `END`, `stats` by many `STAT`
//! lines and an `END`, a quiet meta pipeline by whatever the server chose to say before
//! its `MN`. A connection pairs each request with an [`Expect`] saying what shape its
//! reply has, and feeds frames into an [`Assembler`] until the reply is whole.
//!
//! A server error line (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`) ends the reply to the
//! request it answers and leaves the connection in step, so it is an ordinary outcome
//! here. A frame that cannot answer the request (`STORED` to a `get`) is a
//! [`ProtocolError`]: the connection has fallen out of step and must be closed.

use bytes::Bytes;

use super::frame::{Frame, MetaReply, Value};
use crate::error::{ProtocolError, ServerError, ServerErrorKind};

/// The shape of the reply a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One status line: `STORED`, `NOT_STORED`, `EXISTS`, `NOT_FOUND`, `DELETED`,
    /// `TOUCHED` or `OK`.
    Status,
    /// `incr`/`decr`: a number, or `NOT_FOUND`.
    Number,
    /// `VERSION <text>`.
    Version,
    /// A one-key retrieval: at most one `VALUE`, then `END`.
    Value,
    /// The replies to `commands` retrieval commands sent back to back, each
    /// `VALUE* END`, collected as one list.
    Values {
        /// How many `END`s (or error lines) close the reply.
        commands: u32,
    },
    /// `stats`: `STAT*` then `END`.
    Stats,
    /// One meta reply (`VA`, `HD`, `EN`, `NS`, `EX`, `NF`) or `ME`.
    Meta,
    /// A pipeline of meta commands closed by `mn`: every frame up to `MN`.
    MetaBatch,
}

/// The status-line outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `STORED`.
    Stored,
    /// `NOT_STORED`.
    NotStored,
    /// `EXISTS`.
    Exists,
    /// `NOT_FOUND`.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK`.
    Ok,
}

/// A whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// For [`Expect::Status`], and `NOT_FOUND` for [`Expect::Number`].
    Status(Status),
    /// For [`Expect::Number`].
    Number(u64),
    /// For [`Expect::Version`].
    Version(Bytes),
    /// For [`Expect::Value`].
    Value(Option<Value>),
    /// For [`Expect::Values`]: the hits, in the order the server sent them.
    Values(Vec<Value>),
    /// For [`Expect::Stats`]: `(name, value)` pairs in the server's order.
    Stats(Vec<(Bytes, Bytes)>),
    /// For [`Expect::Meta`].
    Meta(MetaReply),
    /// For [`Expect::Meta`] when the request was `me` and the item exists.
    MetaDebug {
        /// The key as printed by the server.
        key: Bytes,
        /// The `k=v` fields.
        fields: Bytes,
    },
    /// For [`Expect::MetaBatch`]: everything before `MN`, in order.
    MetaBatch(Vec<BatchEntry>),
}

/// One entry of a meta pipeline's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEntry {
    /// A meta reply.
    Meta(MetaReply),
    /// An error line; in a pipeline it answers one command and the rest go on.
    Error(ServerError),
}

/// What one frame did to the reply being assembled.
pub type Step = Option<Result<Reply, ServerError>>;

/// Builds the reply to one request from its frames.
#[derive(Debug)]
pub struct Assembler {
    expect: Expect,
    partial: Partial,
}

#[derive(Debug)]
enum Partial {
    Nothing,
    One(Option<Value>),
    Many {
        values: Vec<Value>,
        ends_left: u32,
        error: Option<ServerError>,
    },
    Stats(Vec<(Bytes, Bytes)>),
    Batch(Vec<BatchEntry>),
}

impl Assembler {
    /// Starts assembling a reply of the given shape.
    pub fn new(expect: Expect) -> Self {
        let partial = match expect {
            Expect::Value => Partial::One(None),
            Expect::Values { commands } => Partial::Many {
                values: Vec::new(),
                ends_left: commands.max(1),
                error: None,
            },
            Expect::Stats => Partial::Stats(Vec::new()),
            Expect::MetaBatch => Partial::Batch(Vec::new()),
            _ => Partial::Nothing,
        };
        Assembler { expect, partial }
    }

    /// The shape being assembled.
    pub fn expect(&self) -> Expect {
        self.expect
    }

    /// Adds a frame. `Ok(None)`: more frames are needed. `Ok(Some(outcome))`: the reply is
    /// complete. `Err`: the frame cannot belong to this reply.
    pub fn push(&mut self, frame: Frame) -> Result<Step, ProtocolError> {
        // In a meta pipeline an error line answers one command; everywhere else it is
        // the whole reply (for multi-command retrievals, the reply of one command).
        if let Frame::Error { kind, message } = &frame {
            let err = server_error(*kind, message);
            return Ok(match &mut self.partial {
                Partial::Batch(entries) => {
                    entries.push(BatchEntry::Error(err));
                    None
                }
                Partial::Many {
                    ends_left, error, ..
                } => {
                    error.get_or_insert(err);
                    *ends_left -= 1;
                    (*ends_left == 0).then(|| Err(error.take().expect("set above")))
                }
                _ => Some(Err(err)),
            });
        }
        let done = match (&mut self.partial, frame) {
            (Partial::Nothing, frame) => match (self.expect, frame) {
                (Expect::Status, frame) => match status(&frame) {
                    Some(s) => Reply::Status(s),
                    None => return Err(self.unexpected(&frame)),
                },
                (Expect::Number, Frame::Number(n)) => Reply::Number(n),
                (Expect::Number, Frame::NotFound) => Reply::Status(Status::NotFound),
                (Expect::Version, Frame::Version(v)) => Reply::Version(v),
                (Expect::Meta, Frame::Meta(m)) => Reply::Meta(m),
                (Expect::Meta, Frame::MetaDebug { key, fields }) => {
                    Reply::MetaDebug { key, fields }
                }
                (_, frame) => return Err(self.unexpected(&frame)),
            },
            (Partial::One(slot), Frame::Value(v)) if slot.is_none() => {
                *slot = Some(v);
                return Ok(None);
            }
            (Partial::One(slot), Frame::End) => Reply::Value(slot.take()),
            (Partial::Many { values, .. }, Frame::Value(v)) => {
                values.push(v);
                return Ok(None);
            }
            (
                Partial::Many {
                    values,
                    ends_left,
                    error,
                },
                Frame::End,
            ) => {
                *ends_left -= 1;
                if *ends_left > 0 {
                    return Ok(None);
                }
                if let Some(e) = error.take() {
                    return Ok(Some(Err(e)));
                }
                Reply::Values(std::mem::take(values))
            }
            (Partial::Stats(stats), Frame::Stat { name, value }) => {
                stats.push((name, value));
                return Ok(None);
            }
            (Partial::Stats(stats), Frame::End) => Reply::Stats(std::mem::take(stats)),
            (Partial::Batch(entries), Frame::Meta(m)) => {
                entries.push(BatchEntry::Meta(m));
                return Ok(None);
            }
            (Partial::Batch(entries), Frame::MetaNoop) => Reply::MetaBatch(std::mem::take(entries)),
            (_, frame) => return Err(self.unexpected(&frame)),
        };
        Ok(Some(Ok(done)))
    }

    fn unexpected(&self, frame: &Frame) -> ProtocolError {
        ProtocolError::Unexpected(format!(
            "{} in reply to a request expecting {:?}",
            frame_name(frame),
            self.expect
        ))
    }
}

fn status(frame: &Frame) -> Option<Status> {
    Some(match frame {
        Frame::Stored => Status::Stored,
        Frame::NotStored => Status::NotStored,
        Frame::Exists => Status::Exists,
        Frame::NotFound => Status::NotFound,
        Frame::Deleted => Status::Deleted,
        Frame::Touched => Status::Touched,
        Frame::Ok => Status::Ok,
        _ => return None,
    })
}

/// Converts an error frame's parts into the error type callers see.
pub fn server_error(kind: ServerErrorKind, message: &[u8]) -> ServerError {
    ServerError {
        kind,
        message: String::from_utf8_lossy(message).into_owned(),
    }
}

/// A short name for a frame, for error messages (never its data).
pub fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Value(_) => "VALUE",
        Frame::End => "END",
        Frame::Stored => "STORED",
        Frame::NotStored => "NOT_STORED",
        Frame::Exists => "EXISTS",
        Frame::NotFound => "NOT_FOUND",
        Frame::Deleted => "DELETED",
        Frame::Touched => "TOUCHED",
        Frame::Ok => "OK",
        Frame::Number(_) => "a number",
        Frame::Version(_) => "VERSION",
        Frame::Stat { .. } => "STAT",
        Frame::Error { .. } => "an error line",
        Frame::Meta(m) => m.code.as_str(),
        Frame::MetaNoop => "MN",
        Frame::MetaDebug { .. } => "ME",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Decoder, Limits};
    use bytes::BytesMut;

    /// Decodes `wire` and assembles one reply of shape `expect` from it.
    fn assemble(expect: Expect, wire: &[u8]) -> Result<Result<Reply, ServerError>, ProtocolError> {
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(wire);
        let mut a = Assembler::new(expect);
        while let Some(frame) = d.decode(&mut buf)? {
            if let Some(done) = a.push(frame)? {
                assert!(buf.is_empty(), "reply ended early");
                return Ok(done);
            }
        }
        panic!("incomplete reply")
    }

    #[test]
    fn shapes() {
        assert_eq!(
            assemble(Expect::Status, b"NOT_STORED\r\n"),
            Ok(Ok(Reply::Status(Status::NotStored)))
        );
        assert_eq!(assemble(Expect::Number, b"7\r\n"), Ok(Ok(Reply::Number(7))));
        assert_eq!(
            assemble(Expect::Value, b"END\r\n"),
            Ok(Ok(Reply::Value(None)))
        );
        let Ok(Ok(Reply::Values(v))) = assemble(
            Expect::Values { commands: 2 },
            b"VALUE a 0 1\r\n1\r\nEND\r\nVALUE b 0 1\r\n2\r\nEND\r\n",
        ) else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        let Ok(Ok(Reply::Stats(s))) =
            assemble(Expect::Stats, b"STAT pid 1\r\nSTAT a b c\r\nEND\r\n")
        else {
            panic!()
        };
        assert_eq!(&s[1].1[..], b"b c");
        let Ok(Ok(Reply::MetaBatch(b))) = assemble(
            Expect::MetaBatch,
            b"HD O1\r\nCLIENT_ERROR bad\r\nEN O3\r\nMN\r\n",
        ) else {
            panic!()
        };
        assert_eq!(b.len(), 3);
        assert!(matches!(b[1], BatchEntry::Error(_)));
    }

    #[test]
    fn errors_end_the_reply() {
        let e = assemble(
            Expect::Status,
            b"SERVER_ERROR object too large for cache\r\n",
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(e.kind, ServerErrorKind::Server);
        assert_eq!(e.message, "object too large for cache");
        // A multi-command retrieval waits for every command's terminator.
        let e = assemble(
            Expect::Values { commands: 2 },
            b"CLIENT_ERROR x\r\nVALUE b 0 1\r\n2\r\nEND\r\n",
        );
        assert!(matches!(
            e,
            Ok(Err(ServerError {
                kind: ServerErrorKind::Client,
                ..
            }))
        ));
    }

    #[test]
    fn out_of_step() {
        assert!(matches!(
            assemble(Expect::Value, b"STORED\r\n"),
            Err(ProtocolError::Unexpected(_))
        ));
        assert!(
            assemble(
                Expect::Value,
                b"VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n"
            )
            .is_err()
        );
    }
}
