//! Incremental framing: bytes in, [`Frame`]s out, with nothing parsed or copied twice.
//!
//! The connection appends whatever the socket delivered to a `BytesMut` and calls
//! [`Decoder::decode`] until it returns `Ok(None)`. The decoder:
//!
//! - looks for the end of the current line only in bytes it has not looked at before
//!   (`scanned` remembers how far it got), so a line arriving a byte at a time costs
//!   linear, not quadratic, work;
//! - parses a line once, when it is complete, with the grammar in [`super::parse`];
//! - after a `VALUE` or `VA` line, remembers the announced length and consumes the header,
//!   so the data block is waited for without re-reading the header. A block under
//!   [`OWN_BUFFER_MIN`] comes out as a `Bytes` split off the read buffer (no copy); a
//!   larger one is collected in a buffer of its own, about its size, which the
//!   connection reads straight into ([`Decoder::own_buffer`]) and which goes back to a
//!   [`Recycler`] when the caller drops the value, for the next large value to reuse.
//!   That keeps the cost of a large value to the kernel's copy: growing the shared
//!   read buffer to hold it would, whenever earlier values sliced from that buffer are
//!   still alive, allocate fresh memory and copy the partial block into it, and a value
//!   the caller keeps would pin the whole shared chunk;
//! - checks every announced length against [`Limits`] *before* reserving room for it: a
//!   block longer than `max_value` is skipped as it streams in (counted, never stored)
//!   and comes out as [`Frame::Oversized`], so `VALUE k 0 99999999999` costs no memory
//!   and fails only the request it answers, not the connection.
//!
//! Any error means the byte stream can no longer be trusted to be in step with the
//! requests; the connection must be closed.

use bytes::{Buf, Bytes, BytesMut};

use super::Limits;
use super::frame::{Frame, MetaCode, MetaReply, Oversized, OversizedHeader, ReturnedFlags, Value};
use super::parse::{self, Line, Word};
use super::recycle::Recycler;
use crate::error::ProtocolError;
use crate::proto::escape::escape_short;

/// Data blocks at least this long get a buffer of their own (see the module doc).
///
/// Below it, slicing from the shared read buffer is cheaper: the buffer is refilled
/// from one allocation for many values (an own buffer costs one more allocation per
/// value, for its owner), and the memory a kept value pins is small. Measured with
/// `benches/compare.rs -- sizes` at 16 tasks, a 4 KiB threshold was no faster within
/// the noise.
pub const OWN_BUFFER_MIN: usize = 16 * 1024;

/// Turns a byte stream from the server into frames.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// Bytes at the front of the buffer already known not to contain `\n`.
    scanned: usize,
    /// A header whose data block has not fully arrived.
    body: Option<Body>,
    /// The block of `body`, with its `\r\n`, as far as it has arrived, when it is at
    /// least [`OWN_BUFFER_MIN`] long; about that size. Empty otherwise.
    own: Vec<u8>,
    /// Where `own` comes from, and goes back to when its value is dropped.
    recycler: Recycler,
}

#[derive(Debug)]
enum Body {
    Value {
        key: Bytes,
        flags: u32,
        cas: Option<u64>,
        len: usize,
    },
    Meta {
        code: MetaCode,
        flags: ReturnedFlags,
        len: usize,
    },
    /// A block over the limit, being skipped: `left` data bytes to go, then `\r\n`.
    Skip { header: Oversized, left: u64 },
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Value { len, .. } | Body::Meta { len, .. } => *len,
            Body::Skip { .. } => 0,
        }
    }

    fn complete(self, data: Bytes) -> Frame {
        match self {
            Body::Value {
                key, flags, cas, ..
            } => Frame::Value(Value {
                key,
                flags,
                cas,
                data,
            }),
            Body::Meta { code, flags, .. } => Frame::Meta(MetaReply {
                code,
                flags,
                value: Some(data),
            }),
            Body::Skip { header, .. } => Frame::Oversized(header),
        }
    }
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            scanned: 0,
            body: None,
            own: Vec::new(),
            recycler: Recycler::default(),
        }
    }

    /// While a large data block is arriving: the buffer it is collected in and how many
    /// more bytes it needs (its `\r\n` included). A connection may read up to that many
    /// bytes straight into the buffer's spare capacity, instead of into the read buffer
    /// it passes to [`decode`](Self::decode), and then call `decode` as usual; bytes
    /// left in the read buffer are taken first. `None` when no such block is pending.
    ///
    /// ```
    /// use bytes::{BufMut, BytesMut};
    /// use mcaside::proto::{Decoder, Frame, Limits};
    /// let mut d = Decoder::new(Limits::default());
    /// let mut buf = BytesMut::from(&b"VA 20000\r\nab"[..]);
    /// assert_eq!(d.decode(&mut buf).unwrap(), None);
    /// let (own, want) = d.own_buffer().unwrap();
    /// assert_eq!(want, 20000); // 19,998 data bytes and "\r\n"
    /// own.put_bytes(b'x', want - 2);
    /// own.put_slice(b"\r\n");
    /// let Some(Frame::Meta(m)) = d.decode(&mut buf).unwrap() else { panic!() };
    /// assert_eq!(m.value.unwrap().len(), 20000);
    /// ```
    pub fn own_buffer(&mut self) -> Option<(&mut Vec<u8>, usize)> {
        let need = self.body.as_ref()?.len() + 2;
        // `own` is taken when the block's header is decoded, so an empty one means the
        // block is small (or skipped).
        if self.own.capacity() == 0 || self.own.len() >= need {
            return None;
        }
        let want = need - self.own.len();
        Some((&mut self.own, want))
    }

    /// Takes the next complete frame off the front of `buf`, or returns `Ok(None)` if
    /// `buf` does not hold one yet. Consumed bytes are removed from `buf`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use mcaside::proto::{Decoder, Frame, Limits};
    /// let mut d = Decoder::new(Limits::default());
    /// let mut buf = BytesMut::from(&b"VALUE k 0 2\r\nhi\r\nEN"[..]);
    /// let Some(Frame::Value(v)) = d.decode(&mut buf).unwrap() else { panic!() };
    /// assert_eq!(&v.data[..], b"hi");
    /// assert_eq!(d.decode(&mut buf).unwrap(), None); // "EN" is not a whole line yet
    /// buf.extend_from_slice(b"D\r\n");
    /// assert_eq!(d.decode(&mut buf).unwrap(), Some(Frame::End));
    /// ```
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        match &self.body {
            Some(Body::Skip { .. }) => return self.skip_body(buf),
            Some(body) => return self.decode_body(buf, body.len()),
            None => {}
        }
        let Some(line_len) = self.find_line(buf)? else {
            return Ok(None);
        };
        // Most lines leave nothing in their frame that borrows the line: status words,
        // numbers, and meta lines without a returned key (the opaque token is held
        // inline). Those are parsed where they lie and dropped, with no reference
        // count taken and given back. A `VALUE` line keeps one slice of itself, its
        // key: when its block came with it, line and block are split off as one piece
        // that key and data slice (see `whole_reply`); otherwise the line's own
        // reference becomes the key's. `STAT` lines carry two slices, so they go
        // straight to the owned path rather than be parsed twice.
        let line = &buf[..line_len];
        if !line.starts_with(b"STAT ") {
            match parse::line(line) {
                Ok((
                    &[],
                    Line::Value {
                        key,
                        flags,
                        len,
                        cas,
                    },
                )) => {
                    let at = key.as_ptr() as usize - line.as_ptr() as usize;
                    let end = at + key.len();
                    if let Some(mut data) = self.whole_reply(buf, line_len, len)? {
                        let key = data.slice(at..end);
                        data.advance(line_len);
                        return Ok(Some(Frame::Value(Value {
                            key,
                            flags,
                            cas,
                            data,
                        })));
                    }
                    let mut key = buf.split_to(line_len).freeze();
                    key.truncate(end);
                    key.advance(at);
                    return self.value_frame(buf, key, flags, len, cas);
                }
                Ok((&[], Line::Word(word))) => {
                    buf.advance(line_len);
                    return Ok(Some(word_frame(word)));
                }
                Ok((&[], Line::Number(n))) => {
                    buf.advance(line_len);
                    return Ok(Some(Frame::Number(n)));
                }
                Ok((&[], Line::Meta { code, len, flags })) if flags.key.is_none() => {
                    // No token left to slice: `key` is the only one, and it is absent.
                    let flags = flags.into_returned(Bytes::copy_from_slice);
                    if let Some(len) = len
                        && let Some(mut data) = self.whole_reply(buf, line_len, len)?
                    {
                        data.advance(line_len);
                        return Ok(Some(Frame::Meta(MetaReply {
                            code,
                            flags,
                            value: Some(data),
                        })));
                    }
                    buf.advance(line_len);
                    return self.meta_frame(buf, code, len, flags);
                }
                Ok((&[], _)) => {}
                _ => return Err(ProtocolError::Malformed(escape_short(line, 80))),
            }
        }
        // Own the line as Bytes (a refcount, not a copy) so that keys and texts in the
        // frame can be zero-copy slices of it, then parse it. Only lines whose frame
        // keeps slices of them come here (`STAT`, `VERSION`, error lines, `ME`, meta
        // lines with `k`); the other arms below are for the match to be whole.
        let owned = buf.split_to(line_len).freeze();
        let line = match parse::line(&owned) {
            Ok((&[], line)) => line,
            _ => return Err(ProtocolError::Malformed(escape_short(&owned, 80))),
        };
        let slice = |s: &[u8]| owned.slice_ref(s);
        let frame = match line {
            Line::Word(word) => word_frame(word),
            Line::Number(n) => Frame::Number(n),
            Line::Value {
                key,
                flags,
                len,
                cas,
            } => return self.value_frame(buf, slice(key), flags, len, cas),
            Line::Meta { code, len, flags } => {
                let flags = flags.into_returned(slice);
                return self.meta_frame(buf, code, len, flags);
            }
            Line::Version(v) => Frame::Version(slice(v)),
            Line::Stat { name, value } => Frame::Stat {
                name: slice(name),
                value: slice(value),
            },
            Line::Error { kind, message } => Frame::Error {
                kind,
                message: slice(message),
            },
            Line::MetaDebug { key, fields } => Frame::MetaDebug {
                key: slice(key),
                fields: slice(fields),
            },
        };
        Ok(Some(frame))
    }

    /// A reply whose data block of `len` bytes came whole with its `line_len`-byte
    /// header line, the usual case for a small value: split off `buf` in one piece,
    /// the block's `\r\n` checked and cut, for the frame to slice its key and data from
    /// (one reference count taken instead of one per piece, and no pending body). `None`
    /// (nothing consumed) when the block is not all there yet, is large enough for a
    /// buffer of its own, or is over the limit: the header then goes the long way.
    fn whole_reply(
        &self,
        buf: &mut BytesMut,
        line_len: usize,
        len: u64,
    ) -> Result<Option<Bytes>, ProtocolError> {
        if len > self.limits.max_value as u64 || len >= OWN_BUFFER_MIN as u64 {
            return Ok(None);
        }
        let end = line_len + len as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError::BadDataTerminator);
        }
        let mut whole = buf.split_to(end + 2).freeze();
        whole.truncate(end);
        Ok(Some(whole))
    }

    /// The frame of a `VALUE` line: its data block of `len` bytes follows it in `buf`.
    fn value_frame(
        &mut self,
        buf: &mut BytesMut,
        key: Bytes,
        flags: u32,
        len: u64,
        cas: Option<u64>,
    ) -> Result<Option<Frame>, ProtocolError> {
        if len > self.limits.max_value as u64 {
            return self.start_skip(buf, len, OversizedHeader::Value { key });
        }
        let len = len as usize;
        self.body = Some(Body::Value {
            key,
            flags,
            cas,
            len,
        });
        self.decode_body(buf, len)
    }

    /// The frame of a meta line whose returned flags are `flags`: a `VA` line's data
    /// block follows it in `buf` (`len`).
    fn meta_frame(
        &mut self,
        buf: &mut BytesMut,
        code: MetaCode,
        len: Option<u64>,
        flags: ReturnedFlags,
    ) -> Result<Option<Frame>, ProtocolError> {
        match len {
            Some(len) if len > self.limits.max_value as u64 => {
                self.start_skip(buf, len, OversizedHeader::Meta(flags))
            }
            Some(len) => {
                let len = len as usize;
                self.body = Some(Body::Meta { code, flags, len });
                self.decode_body(buf, len)
            }
            None => Ok(Some(Frame::Meta(MetaReply {
                code,
                flags,
                value: None,
            }))),
        }
    }

    /// Bytes this decoder holds besides the read buffer: the large block being
    /// collected and the free buffers kept for the next ones.
    pub fn held(&self) -> usize {
        self.own.capacity() + self.recycler.held()
    }

    /// True when the decoder is between frames (no partial header or data block held).
    /// A connection that closes at such a point lost no reply halfway.
    pub fn is_idle(&self, buf: &[u8]) -> bool {
        self.body.is_none() && buf.is_empty()
    }

    /// Finds the length of the complete line at the front of `buf`, `\n` included.
    fn find_line(&mut self, buf: &BytesMut) -> Result<Option<usize>, ProtocolError> {
        let unseen = &buf[self.scanned..];
        let found: nom::IResult<&[u8], &[u8]> = nom::bytes::streaming::take_until("\n")(unseen);
        match found {
            Ok((_, before)) => {
                let len = self.scanned + before.len() + 1;
                self.scanned = 0;
                if len > self.limits.max_line {
                    return Err(ProtocolError::LineTooLong {
                        max: self.limits.max_line,
                    });
                }
                Ok(Some(len))
            }
            Err(_) => {
                self.scanned = buf.len();
                if buf.len() > self.limits.max_line {
                    return Err(ProtocolError::LineTooLong {
                        max: self.limits.max_line,
                    });
                }
                Ok(None)
            }
        }
    }

    fn start_skip(
        &mut self,
        buf: &mut BytesMut,
        len: u64,
        header: OversizedHeader,
    ) -> Result<Option<Frame>, ProtocolError> {
        self.body = Some(Body::Skip {
            header: Oversized { len, header },
            left: len,
        });
        self.skip_body(buf)
    }

    /// Throws away what has arrived of an oversized block; once all of it and its
    /// `\r\n` are through, yields the [`Frame::Oversized`]. Holds at most the two bytes
    /// of the terminator.
    fn skip_body(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let Some(Body::Skip { left, .. }) = &mut self.body else {
            unreachable!("skip_body runs while skipping");
        };
        let n = (*left).min(buf.len() as u64) as usize;
        buf.advance(n);
        *left -= n as u64;
        if *left > 0 || buf.len() < 2 {
            return Ok(None);
        }
        if &buf[..2] != b"\r\n" {
            return Err(ProtocolError::BadDataTerminator);
        }
        buf.advance(2);
        Ok(Some(self.complete(Bytes::new())))
    }

    /// Completes the pending data block if all of it (and its `\r\n`) has arrived.
    fn decode_body(
        &mut self,
        buf: &mut BytesMut,
        len: usize,
    ) -> Result<Option<Frame>, ProtocolError> {
        if len >= OWN_BUFFER_MIN {
            return self.decode_own_body(buf, len);
        }
        let need = len + 2;
        if buf.len() < need {
            // Make room for the whole block at once; `len` was checked against the limit.
            buf.reserve(need - buf.len());
            return Ok(None);
        }
        if &buf[len..need] != b"\r\n" {
            return Err(ProtocolError::BadDataTerminator);
        }
        let data = buf.split_to(len).freeze();
        buf.advance(2);
        Ok(Some(self.complete(data)))
    }

    /// The pending body's frame, with its data block.
    fn complete(&mut self, data: Bytes) -> Frame {
        let body = self.body.take().expect("a body is pending");
        body.complete(data)
    }

    /// [`decode_body`](Self::decode_body) for a block in a buffer of its own: moves
    /// what the read buffer holds of it there (the only copy, and only of what arrived
    /// with the header or before the connection switched to reading into `own`).
    fn decode_own_body(
        &mut self,
        buf: &mut BytesMut,
        len: usize,
    ) -> Result<Option<Frame>, ProtocolError> {
        let need = len + 2;
        if self.own.capacity() == 0 {
            // `len` was checked against the limit before the body was recorded.
            self.own = self.recycler.take(need);
        }
        let take = (need - self.own.len()).min(buf.len());
        self.own.extend_from_slice(&buf[..take]);
        buf.advance(take);
        if self.own.len() < need {
            return Ok(None);
        }
        if &self.own[len..need] != b"\r\n" {
            return Err(ProtocolError::BadDataTerminator);
        }
        let data = self.recycler.freeze(std::mem::take(&mut self.own), len);
        Ok(Some(self.complete(data)))
    }
}

/// The frame of a one-word line.
fn word_frame(word: Word) -> Frame {
    match word {
        Word::End => Frame::End,
        Word::Stored => Frame::Stored,
        Word::NotStored => Frame::NotStored,
        Word::Exists => Frame::Exists,
        Word::NotFound => Frame::NotFound,
        Word::Deleted => Frame::Deleted,
        Word::Touched => Frame::Touched,
        Word::Ok => Frame::Ok,
        Word::MetaNoop => Frame::MetaNoop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames(d: &mut Decoder, buf: &mut BytesMut) -> Vec<Frame> {
        let mut out = vec![];
        while let Some(f) = d.decode(buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn hostile_length_is_skipped_without_allocating() {
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"VALUE k 0 99999999999\r\n"[..]);
        let cap = buf.capacity();
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(
            buf.capacity() <= cap,
            "no room was reserved for the announced length"
        );
        // The block streams through and is thrown away as it comes.
        for _ in 0..100 {
            buf.extend_from_slice(&[b'x'; 4096]);
            assert_eq!(d.decode(&mut buf), Ok(None));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn an_oversized_block_is_skipped_and_the_stream_goes_on() {
        let limits = Limits {
            max_value: 4,
            ..Limits::default()
        };
        let mut d = Decoder::new(limits);
        let mut buf = BytesMut::from(&b"VALUE k 0 6\r\nabc"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"def\r");
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"\nEND\r\nVA 9 Oq\r\n123456789\r\nEN\r\n");
        let Some(Frame::Oversized(o)) = d.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(o.len, 6);
        assert_eq!(o.header, OversizedHeader::Value { key: "k".into() });
        assert_eq!(d.decode(&mut buf), Ok(Some(Frame::End)));
        let Some(Frame::Oversized(o)) = d.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert!(
            matches!(o.header, OversizedHeader::Meta(f) if f.opaque.as_deref() == Some(&b"q"[..]))
        );
        assert!(matches!(d.decode(&mut buf), Ok(Some(Frame::Meta(_)))));
        let mut bad = BytesMut::from(&b"VALUE k 0 6\r\nabcdefXX"[..]);
        assert_eq!(d.decode(&mut bad), Err(ProtocolError::BadDataTerminator));
    }

    #[test]
    fn long_line_without_newline() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let mut d = Decoder::new(limits);
        let mut buf = BytesMut::from(&b"SERVER_ERROR aaaa"[..]);
        assert!(matches!(
            d.decode(&mut buf),
            Err(ProtocolError::LineTooLong { .. })
        ));
    }

    #[test]
    fn data_block_terminator_checked() {
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"VALUE k 0 2\r\nhiXX"[..]);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::BadDataTerminator));
    }

    #[test]
    fn value_is_sliced_not_copied() {
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"VALUE k 0 5 9\r\nhello\r\nEND\r\n"[..]);
        let start = buf.as_ptr() as usize;
        let frames = all_frames(&mut d, &mut buf);
        let Frame::Value(v) = &frames[0] else {
            panic!()
        };
        assert_eq!(v.cas, Some(9));
        assert_eq!(
            v.data.as_ptr() as usize,
            start + 15,
            "data points into the read buffer"
        );
        assert_eq!(frames[1], Frame::End);
    }

    /// A reply carrying a block of `len` bytes (`i % 251` each), then `EN`.
    fn large_reply(len: usize) -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut wire = format!("VALUE big 3 {len}\r\n").into_bytes();
        wire.extend_from_slice(&data);
        wire.extend_from_slice(b"\r\nEND\r\nEN\r\n");
        (wire, data)
    }

    #[test]
    fn a_large_block_gets_a_buffer_of_its_own_at_any_split() {
        let len = OWN_BUFFER_MIN + 5;
        let (wire, data) = large_reply(len);
        for cut in [
            1,
            10,
            25,
            4096,
            len,
            len + 20,
            len + 21,
            len + 22,
            wire.len(),
        ] {
            let mut d = Decoder::new(Limits::default());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut frames = all_frames(&mut d, &mut buf);
            buf.extend_from_slice(&wire[cut..]);
            frames.extend(all_frames(&mut d, &mut buf));
            let [Frame::Value(v), Frame::End, Frame::Meta(_)] = &frames[..] else {
                panic!("cut at {cut}: {frames:?}")
            };
            assert_eq!(v.data, data, "cut at {cut}");
            assert_eq!(v.flags, 3);
            assert!(buf.is_empty() && d.is_idle(&buf));
        }
    }

    #[test]
    fn a_large_block_can_be_read_straight_into_its_buffer() {
        let len = 3 * OWN_BUFFER_MIN;
        let (wire, data) = large_reply(len);
        let header = wire.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut d = Decoder::new(Limits::default());
        // The header and a little of the block arrive in the read buffer...
        let mut buf = BytesMut::from(&wire[..header + 100]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty(), "the prefix moved to the block's buffer");
        // ...the rest is read into the block's own buffer, never past its end.
        let mut at = header + 100;
        while let Some((own, want)) = d.own_buffer() {
            assert_eq!(own.capacity(), len + 2, "allocated once, at its size");
            let n = want.min(7000);
            own.extend_from_slice(&wire[at..at + n]);
            at += n;
        }
        assert_eq!(at, header + len + 2);
        let Some(Frame::Value(v)) = d.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(v.data, data);
        assert_eq!(d.own_buffer(), None);
        buf.extend_from_slice(&wire[at..]);
        assert_eq!(d.decode(&mut buf), Ok(Some(Frame::End)));
        // A small block is never given one.
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Frame::Meta(MetaReply {
                code: MetaCode::Miss,
                flags: ReturnedFlags::default(),
                value: None,
            })))
        );
        let mut buf = BytesMut::from(&b"VA 5\r\nab"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(d.own_buffer(), None);
    }

    #[test]
    fn a_large_block_checks_its_terminator() {
        let len = OWN_BUFFER_MIN;
        let (mut wire, _) = large_reply(len);
        let header = wire.iter().position(|&b| b == b'\n').unwrap() + 1;
        wire[header + len] = b'X';
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::BadDataTerminator));
    }

    #[test]
    fn meta_value_and_flags() {
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"VA 2 f5 c12 Oab\r\nhi\r\nEN\r\nMN\r\n"[..]);
        let frames = all_frames(&mut d, &mut buf);
        let Frame::Meta(m) = &frames[0] else { panic!() };
        assert_eq!(m.value.as_deref(), Some(&b"hi"[..]));
        assert_eq!(m.flags.opaque.as_deref(), Some(&b"ab"[..]));
        assert_eq!(m.flags.cas, Some(12));
        assert!(matches!(&frames[1], Frame::Meta(m) if m.code == MetaCode::Miss));
        assert_eq!(frames[2], Frame::MetaNoop);
    }

    #[test]
    fn meta_lines_with_and_without_a_key_decode_alike() {
        // Without `k` the line is parsed in place; with it, owned and sliced.
        let mut d = Decoder::new(Limits::default());
        let mut buf =
            BytesMut::from(&b"VA 2 O7 f3\r\nhi\r\nVA 2 O7 f3 kkey\r\nhi\r\nHD O8\r\n"[..]);
        let frames = all_frames(&mut d, &mut buf);
        let (Frame::Meta(a), Frame::Meta(b)) = (&frames[0], &frames[1]) else {
            panic!()
        };
        assert_eq!(
            (a.value.as_deref(), b.value.as_deref()),
            (Some(&b"hi"[..]), Some(&b"hi"[..]))
        );
        assert_eq!(
            (a.flags.opaque, a.flags.client_flags),
            (b.flags.opaque, b.flags.client_flags)
        );
        assert_eq!(
            (a.flags.key.as_deref(), b.flags.key.as_deref()),
            (None, Some(&b"key"[..]))
        );
        assert!(
            matches!(&frames[2], Frame::Meta(m) if m.flags.opaque.as_deref() == Some(&b"8"[..]))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn an_opaque_token_longer_than_any_sent_is_malformed() {
        // The client sends at most 31 bytes; a longer echo is not an answer to it.
        let mut d = Decoder::new(Limits::default());
        let line = format!("HD O{}\r\n", "x".repeat(32));
        let mut buf = BytesMut::from(line.as_bytes());
        assert!(matches!(
            d.decode(&mut buf),
            Err(ProtocolError::Malformed(_))
        ));
    }
}
