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

use super::escape::Escaped;
use super::frame::{Frame, MetaReply, Oversized, OversizedHeader, Value};
use super::identity;
use crate::error::{ProtocolError, ServerError, ServerErrorKind};

/// The shape of the reply a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
        /// How many keys were asked: the most hits there can be. At the first hit the
        /// list is sized for them once, up to a bound, rather than grown hit by hit
        /// (and a reply of misses allocates nothing).
        keys: u32,
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
#[non_exhaustive]
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
#[non_exhaustive]
pub enum BatchEntry {
    /// A meta reply.
    Meta(MetaReply),
    /// An error line; in a pipeline it answers one command and the rest go on.
    Error(ServerError),
}

/// Why a complete reply is not a success. The request it answers fails; the stream is
/// still in step, so the connection carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// An error line (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`).
    Server(ServerError),
    /// A value whose data block was over [`Limits::max_value`](super::Limits::max_value),
    /// skipped as it streamed in (see [`Frame::Oversized`]).
    Oversized {
        /// The announced length.
        len: u64,
    },
    /// The reply to a multi-key retrieval in which some values were oversized: their
    /// keys and announced lengths, and the other hits, in the server's order (so that
    /// requests sharing one line fail only where their own key was oversized; see the
    /// module `proto::coalesce`).
    OversizedAmong {
        /// The oversized values' keys and announced lengths.
        oversized: Vec<(Bytes, u64)>,
        /// The hits that were not oversized.
        hits: Vec<Value>,
    },
}

impl Failure {
    /// The announced length of the (first) oversized value, if that is the failure.
    pub fn oversized_len(&self) -> Option<u64> {
        match self {
            Failure::Oversized { len } => Some(*len),
            Failure::OversizedAmong { oversized, .. } => oversized.first().map(|o| o.1),
            Failure::Server(_) => None,
        }
    }
}

/// What one frame did to the reply being assembled.
pub type Step = Option<Result<Reply, Failure>>;

/// Builds the reply to one request from its frames.
///
/// [`push`](Self::push) checks that each frame fits the reply's shape. The client's
/// connections also check each frame's identity against the request's record (the
/// module `proto::identity`): the keys of `VALUE`s, the opaque tokens and returned keys
/// of meta replies; that check is internal (the fuzz targets reach it through
/// [`internal::push_checked`](super::internal::push_checked)).
#[derive(Debug)]
pub struct Assembler {
    expect: Expect,
    partial: Partial,
    /// How far into the identity record the reply has got (keys and tokens come in
    /// request order).
    cursor: usize,
    /// Where the keys of the retrieval command being answered start in the record.
    command_start: usize,
    /// A hit came out of the order asked (a proxy's doing: see `proto::identity`), so
    /// the reply's end checks that no key was answered more often than asked, and puts
    /// the hits back in the order asked: whoever reads the reply walks it forward.
    reordered: bool,
    /// A failure seen before the reply's end (an oversized value in a multi-frame
    /// reply): the reply is read to its end, then fails with it.
    failed: Option<Failure>,
}

#[derive(Debug)]
enum Partial {
    Nothing,
    One(Option<Value>),
    Many {
        values: Vec<Value>,
        ends_left: u32,
        oversized: Vec<(Bytes, u64)>,
    },
    Stats(Vec<(Bytes, Bytes)>),
    Batch(Vec<BatchEntry>),
}

/// The most hits an [`Assembler`] makes room for up front: a list of keys asked is
/// the caller's, but its size should not turn into one large allocation per reply.
const MAX_RESERVED_HITS: u32 = 1024;

impl Assembler {
    /// Starts assembling a reply of the given shape.
    pub fn new(expect: Expect) -> Self {
        let partial = match expect {
            Expect::Value => Partial::One(None),
            Expect::Values { commands, .. } => Partial::Many {
                values: Vec::new(),
                ends_left: commands.max(1),
                oversized: Vec::new(),
            },
            Expect::Stats => Partial::Stats(Vec::new()),
            Expect::MetaBatch => Partial::Batch(Vec::new()),
            _ => Partial::Nothing,
        };
        Assembler {
            expect,
            partial,
            cursor: 0,
            command_start: 0,
            reordered: false,
            failed: None,
        }
    }

    /// The shape being assembled.
    pub fn expect(&self) -> Expect {
        self.expect
    }

    /// Adds a frame, checking only that it fits the reply's shape. `Ok(None)`: more
    /// frames are needed. `Ok(Some(outcome))`: the reply is complete. `Err`: the frame
    /// cannot belong to this reply.
    pub fn push(&mut self, frame: Frame) -> Result<Step, ProtocolError> {
        self.push_inner(frame, None)
    }

    /// Adds a frame, checking its shape and its identity against `record`, the request's
    /// identity record as written by [`Stamp`](super::identity::Stamp). A key or token
    /// that is not the one expected is [`ProtocolError::Mismatch`].
    pub fn push_checked(&mut self, frame: Frame, record: &[u8]) -> Result<Step, ProtocolError> {
        self.push_inner(frame, Some(record))
    }

    fn push_inner(&mut self, frame: Frame, record: Option<&[u8]>) -> Result<Step, ProtocolError> {
        if let Some(record) = record {
            self.check(&frame, record)?;
        }
        // The commonest reply of all, one meta line, comes straight out: through the
        // general match below, its 200-odd bytes would be moved twice more.
        if let (Frame::Meta(_), Partial::Nothing, Expect::Meta) =
            (&frame, &self.partial, self.expect)
        {
            let Frame::Meta(m) = frame else {
                unreachable!("matched above")
            };
            return Ok(Some(Ok(Reply::Meta(m))));
        }
        // In a meta pipeline an error line answers one command; everywhere else it is
        // the whole reply (for multi-command retrievals, the reply of one command).
        if let Frame::Error { kind, message } = &frame {
            let err = Failure::Server(server_error(*kind, message));
            return Ok(match &mut self.partial {
                Partial::Batch(entries) => {
                    let Failure::Server(e) = err else {
                        unreachable!()
                    };
                    entries.push(BatchEntry::Error(e));
                    None
                }
                Partial::Many { ends_left, .. } => {
                    self.failed.get_or_insert(err);
                    *ends_left -= 1;
                    (*ends_left == 0).then(|| Err(self.failed.take().expect("set above")))
                }
                _ => Some(Err(err)),
            });
        }
        if let Frame::Oversized(o) = &frame {
            let failure = Failure::Oversized { len: o.len };
            let expect = self.expect;
            let ok = match (&mut self.partial, &o.header) {
                (Partial::Nothing, OversizedHeader::Meta(_)) if expect == Expect::Meta => {
                    return Ok(Some(Err(failure)));
                }
                (Partial::One(None), OversizedHeader::Value { .. }) => true,
                (Partial::Many { oversized, .. }, OversizedHeader::Value { key }) => {
                    oversized.push((key.clone(), o.len));
                    return Ok(None);
                }
                (Partial::Batch(_), OversizedHeader::Meta(_)) => true,
                _ => false,
            };
            if !ok {
                return Err(self.unexpected(&frame));
            }
            self.failed.get_or_insert(failure);
            return Ok(None);
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
            (Partial::One(slot), Frame::Value(v)) if slot.is_none() && self.failed.is_none() => {
                *slot = Some(v);
                return Ok(None);
            }
            (Partial::One(slot), Frame::End) => Reply::Value(slot.take()),
            (Partial::Many { values, .. }, Frame::Value(v)) => {
                if let (true, Expect::Values { keys, .. }) = (values.is_empty(), self.expect) {
                    values.reserve(keys.min(MAX_RESERVED_HITS) as usize);
                }
                values.push(v);
                return Ok(None);
            }
            (
                Partial::Many {
                    values,
                    ends_left,
                    oversized,
                },
                Frame::End,
            ) => {
                *ends_left -= 1;
                if *ends_left > 0 {
                    return Ok(None);
                }
                if self.failed.is_none() && !oversized.is_empty() {
                    return Ok(Some(Err(Failure::OversizedAmong {
                        oversized: std::mem::take(oversized),
                        hits: std::mem::take(values),
                    })));
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
        Ok(Some(match self.failed.take() {
            Some(f) => Err(f),
            None => Ok(done),
        }))
    }

    /// Checks the identity a frame carries against the request's record.
    fn check(&mut self, frame: &Frame, record: &[u8]) -> Result<(), ProtocolError> {
        let value_key = match frame {
            Frame::Value(v) => Some(&v.key),
            Frame::Oversized(Oversized {
                header: OversizedHeader::Value { key },
                ..
            }) => Some(key),
            _ => None,
        };
        if let Some(key) = value_key {
            if !matches!(self.partial, Partial::One(_) | Partial::Many { .. }) {
                return Ok(()); // a shape error, reported by the caller
            }
            if identity::seek_key(record, &mut self.cursor, key) {
                return Ok(());
            }
            // Out of order: still one of this command's keys? Only a multi-key reply can
            // be reordered, and it can hold no more hits than keys asked.
            if let (
                Partial::Many {
                    values, oversized, ..
                },
                Expect::Values { keys, .. },
            ) = (&self.partial, self.expect)
                && values.len() + oversized.len() < keys as usize
                && identity::command_has_key(record, self.command_start, key)
            {
                self.reordered = true;
                return Ok(());
            }
            return Err(mismatch(format!(
                "VALUE for key \"{}\", which this request did not ask for (at this point)",
                Escaped(key)
            )));
        }
        let flags = match frame {
            Frame::Meta(m) => &m.flags,
            Frame::Oversized(Oversized {
                header: OversizedHeader::Meta(flags),
                ..
            }) => flags,
            Frame::MetaDebug { key, .. } => {
                if let Some(asked) = identity::keys(record).next()
                    && asked != &key[..]
                {
                    return Err(mismatch(format!(
                        "ME for key \"{}\", not the key asked",
                        Escaped(key)
                    )));
                }
                return Ok(());
            }
            Frame::End | Frame::Error { .. } => {
                if let Partial::Many {
                    values,
                    oversized,
                    ends_left,
                } = &mut self.partial
                {
                    identity::end_command(record, &mut self.cursor);
                    self.command_start = self.cursor;
                    if self.reordered && *ends_left == 1 {
                        in_order_asked(values, oversized, record)?;
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        match &self.partial {
            Partial::Batch(_) => {
                let Some(token) = flags.opaque.as_deref() else {
                    return Err(mismatch(
                        "a meta reply without an opaque token in a pipeline".into(),
                    ));
                };
                if !identity::seek_opaque(record, &mut self.cursor, token) {
                    return Err(mismatch(format!(
                        "opaque token O{} matches no request of this pipeline still to answer",
                        Escaped(token)
                    )));
                }
            }
            Partial::Nothing if self.expect == Expect::Meta => {
                if let Some(asked) = identity::opaque_of(record)
                    && flags.opaque.as_deref() != Some(asked)
                {
                    return Err(mismatch(format!(
                        "opaque token {} in reply to a request that sent O{}",
                        flags
                            .opaque
                            .as_deref()
                            .map_or("missing".to_string(), |t| format!("O{}", Escaped(t))),
                        Escaped(asked)
                    )));
                }
                if let Some((asked, base64)) = identity::echo_of(record) {
                    let ok = flags.key.as_deref().is_some_and(|got| {
                        identity::echo_matches(asked, base64, got, flags.base64_key)
                    });
                    if !ok {
                        return Err(mismatch(format!(
                            "returned key {} is not the key asked",
                            flags
                                .key
                                .as_deref()
                                .map_or("missing".to_string(), |k| format!("\"{}\"", Escaped(k)))
                        )));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn unexpected(&self, frame: &Frame) -> ProtocolError {
        ProtocolError::Unexpected(format!(
            "{} in reply to a request expecting {:?}",
            frame_name(frame),
            self.expect
        ))
    }
}

/// Puts the hits (and oversized values) of a reply that came out of order back in the
/// order `record` asked them, each at the first place of its key not yet taken, or fails
/// if a key was answered more often than asked.
fn in_order_asked(
    values: &mut Vec<Value>,
    oversized: &mut Vec<(Bytes, u64)>,
    record: &[u8],
) -> Result<(), ProtocolError> {
    let answered = values.iter().map(|v| &v.key[..]);
    let answered = answered.chain(oversized.iter().map(|(k, _)| &k[..]));
    let places = identity::places(record, answered).map_err(|i| {
        let key = match values.get(i) {
            Some(v) => &v.key,
            None => &oversized[i - values.len()].0,
        };
        mismatch(format!(
            "VALUE for key \"{}\" more often than it was asked",
            Escaped(key)
        ))
    })?;
    let (value_places, oversized_places) = places.split_at(values.len());
    sort_by_place(values, value_places);
    sort_by_place(oversized, oversized_places);
    Ok(())
}

/// Sorts `items` by their `places` (distinct).
fn sort_by_place<T>(items: &mut Vec<T>, places: &[usize]) {
    let mut placed: Vec<(usize, T)> = places.iter().copied().zip(items.drain(..)).collect();
    placed.sort_unstable_by_key(|&(place, _)| place);
    items.extend(placed.into_iter().map(|(_, item)| item));
}

fn mismatch(what: String) -> ProtocolError {
    ProtocolError::Mismatch(what)
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
        Frame::Oversized(o) => match o.header {
            OversizedHeader::Value { .. } => "an oversized VALUE",
            OversizedHeader::Meta(_) => "an oversized VA",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Decoder, Limits};
    use bytes::BytesMut;

    /// Decodes `wire` and assembles one reply of shape `expect` from it.
    fn assemble(expect: Expect, wire: &[u8]) -> Result<Result<Reply, Failure>, ProtocolError> {
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
            Expect::Values {
                commands: 2,
                keys: 4,
            },
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
        let Failure::Server(e) = e else { panic!() };
        assert_eq!(e.kind, ServerErrorKind::Server);
        assert_eq!(e.message, "object too large for cache");
        // A multi-command retrieval waits for every command's terminator.
        let e = assemble(
            Expect::Values {
                commands: 2,
                keys: 4,
            },
            b"CLIENT_ERROR x\r\nVALUE b 0 1\r\n2\r\nEND\r\n",
        );
        assert!(matches!(
            e,
            Ok(Err(Failure::Server(ServerError {
                kind: ServerErrorKind::Client,
                ..
            })))
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

    /// The hits of a multi-key reply, in the order the caller gets them, for a request
    /// of `keys`, a `;` ending each command.
    fn hits_in_order(keys: &[&str], wire: &[u8]) -> Result<Vec<String>, ProtocolError> {
        let (mut log, mut next) = (BytesMut::new(), 0);
        let mut stamp = crate::proto::identity::Stamp::new(&mut log, &mut next);
        let mut commands = 0;
        for k in keys {
            if *k == ";" {
                stamp.end_command();
                commands += 1;
            } else {
                stamp.key(k.as_bytes());
            }
        }
        let expect = Expect::Values {
            commands,
            keys: (keys.len() - commands as usize) as u32,
        };
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(wire);
        let mut a = Assembler::new(expect);
        while let Some(frame) = d.decode(&mut buf)? {
            if let Some(done) = a.push_checked(frame, &log)? {
                let Ok(Reply::Values(values)) = done else {
                    panic!("{done:?}")
                };
                return Ok(values
                    .iter()
                    .map(|v| String::from_utf8_lossy(&v.data).into_owned())
                    .collect());
            }
        }
        panic!("incomplete reply")
    }

    #[test]
    fn hits_a_proxy_reordered_come_out_in_the_order_asked() {
        // twemproxy's answer to `get a1 b1 a2 a1` when the first a1 misses.
        let wire = b"VALUE a2 0 2\r\nA2\r\nVALUE a1 0 2\r\nA1\r\nVALUE b1 0 2\r\nB1\r\nEND\r\n";
        assert_eq!(
            hits_in_order(&["a1", "b1", "a2", "a1", ";"], wire).unwrap(),
            ["A1", "B1", "A2"]
        );
        // In order, as memcached answers: unchanged.
        let wire = b"VALUE b1 0 2\r\nB1\r\nVALUE a1 0 2\r\nA1\r\nEND\r\n";
        assert_eq!(
            hits_in_order(&["a1", "b1", "a2", "a1", ";"], wire).unwrap(),
            ["B1", "A1"]
        );
        // Reordered within each command, never across: c is the second command's.
        let wire = b"VALUE b 0 1\r\nB\r\nVALUE a 0 1\r\nA\r\nEND\r\nVALUE c 0 1\r\nC\r\nEND\r\n";
        assert_eq!(
            hits_in_order(&["a", "b", ";", "c", ";"], wire).unwrap(),
            ["A", "B", "C"]
        );
        let wire = b"VALUE c 0 1\r\nC\r\nEND\r\nEND\r\n";
        assert!(hits_in_order(&["a", "b", ";", "c", ";"], wire).is_err());
    }
}
