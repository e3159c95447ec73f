//! One connected socket's byte pump: write what is queued, read what arrives, route
//! replies.
//!
//! [`Session::poll`] does three things, until none of them can make progress:
//!
//! 1. read what has arrived, decode frames, and hand each finished reply to the oldest
//!    waiter. A waiter whose caller has gone (timeout, `select!`, drop) still gets its
//!    reply routed to it, and the reply is dropped there: it cannot reach anyone else;
//! 2. take everything callers have queued (one buffer swap, so one write carries every
//!    request queued since the last one), leaving out the requests whose callers are
//!    already gone (unless they must be sent): nobody would read their replies, and a
//!    write the caller gave up on should not land on the server later;
//! 3. write as much as the socket accepts.
//!
//! Every frame is checked against its request's identity record (see
//! [`crate::proto::identity`]) before it is assembled into the reply: a `VALUE` for a
//! key not asked, or a meta reply with another request's opaque token, ends the
//! session as out of step.
//!
//! Writing and reading happen in the same poll, so a deep pipeline cannot deadlock with
//! the server (both sides blocked writing, nobody reading). The session does not care
//! who polls it: usually the connection's I/O task, sometimes a lone caller on the fast
//! path (see [`super::request`]).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tracing::trace;

use super::outbuf::{MAX_SLICES, OutBuf};
use super::queue::{Link, SHRINK_ABOVE, Shared, WRITE_BUF, earliest, shrink, shrink_queue};
use super::sink::Sink;
use super::transport::Transport;
use crate::error::{Error, ProtocolError};
use crate::proto::{Assembler, Decoder, Escaped, Limits};

/// Free space below which the read buffer is grown before a read.
const MIN_READ_SPACE: usize = 4 * 1024;
/// How much to grow it by.
const READ_CHUNK: usize = 32 * 1024;

/// Why a session ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Every handle was dropped and everything queued has been written.
    Shutdown,
    /// The socket failed, closed, or the stream fell out of step.
    Broken(Error),
}

/// A request whose bytes were handed to the socket, waiting for its reply.
struct InFlight {
    reply: Assembler,
    sink: Sink,
    received: usize,
    /// The length of its identity record, at the front of `idents` when it is first.
    ident: usize,
}

pub(crate) struct Session {
    io: Transport,
    /// Bytes being written: a buffer swapped out of the shared queue.
    out: OutBuf,
    needs_flush: bool,
    rbuf: BytesMut,
    decoder: Decoder,
    in_flight: VecDeque<InFlight>,
    /// The identity records of the requests in flight, in order: appended when a batch
    /// is taken, consumed from the front as replies complete.
    idents: BytesMut,
    max_value: usize,
}

impl Session {
    pub fn new(io: Transport, limits: Limits) -> Self {
        Session {
            io,
            out: OutBuf::with_capacity(WRITE_BUF),
            needs_flush: false,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            decoder: Decoder::new(limits),
            in_flight: VecDeque::new(),
            idents: BytesMut::with_capacity(1024),
            max_value: limits.max_value,
        }
    }

    /// The capacity of this session's buffers (for monitoring memory).
    pub fn capacity(&self) -> usize {
        self.out.capacity() + self.rbuf.capacity() + self.idents.capacity() + self.decoder.held()
    }

    /// True when nothing is being written and no reply is awaited.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.is_writing_done()
    }

    /// True when the last batch has been written out in full.
    pub fn is_writing_done(&self) -> bool {
        self.out.is_empty() && !self.needs_flush
    }

    /// Moves bytes until neither writing nor reading can progress. `Pending` means the
    /// caller's waker is registered with the socket; `Ready` means the session is over.
    pub fn poll(&mut self, shared: &Shared, cx: &mut Context<'_>) -> Poll<End> {
        loop {
            let mut progress = false;

            // 1. Read first. Besides routing replies, this finds a connection the server
            //    closed while it sat idle *before* any queued request is taken from the
            //    shared queue: those requests then go out on the new connection instead
            //    of failing with this one. (Once the runtime has seen the close, that is:
            //    a close that crosses the request on the way still fails it, `Closed`.)
            loop {
                // A large data block is read straight into its own buffer, up to its
                // end: no copy, and the shared buffer never grows to hold it.
                let read = match self.decoder.own_buffer() {
                    Some((own, want)) => {
                        let read = poll_read_buf(&mut self.io, cx, own, want);
                        if let Poll::Ready(Ok(n)) = read {
                            let start = own.len() - n;
                            trace!(target: "mcaside::wire", "< {}", WireLog(&own[start..]));
                            if let Some(front) = self.in_flight.front_mut() {
                                front.received += n;
                            }
                        }
                        read
                    }
                    None => {
                        if self.rbuf.capacity() - self.rbuf.len() < MIN_READ_SPACE {
                            self.rbuf.reserve(READ_CHUNK);
                        }
                        let read = poll_read_buf(&mut self.io, cx, &mut self.rbuf, usize::MAX);
                        if let Poll::Ready(Ok(n)) = read {
                            let start = self.rbuf.len() - n;
                            trace!(target: "mcaside::wire", "< {}", WireLog(&self.rbuf[start..]));
                        }
                        read
                    }
                };
                match read {
                    Poll::Ready(Ok(0)) => return Poll::Ready(End::Broken(Error::Closed)),
                    Poll::Ready(Ok(_)) => {
                        progress = true;
                        shared.heard();
                        if let Err(e) = self.dispatch() {
                            return Poll::Ready(End::Broken(e));
                        }
                        if self.rbuf.is_empty() && self.rbuf.capacity() > SHRINK_ABOVE {
                            // A large value came through; values already handed out keep
                            // their own part of the old buffer alive as long as needed.
                            self.rbuf = BytesMut::with_capacity(READ_CHUNK);
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(End::Broken(e.into())),
                    Poll::Pending => break,
                }
            }

            // 2. Take what callers queued (only once the previous batch is fully written,
            //    so waiters join `in_flight` in the order their bytes go out).
            {
                let mut st = shared.lock();
                if self.out.is_empty() && !st.queued.is_empty() {
                    let dropped = self.take(&mut st);
                    drop(st);
                    shared.sent(dropped);
                    st = shared.lock();
                }
                if matches!(st.link, Link::Shutdown) && self.out.is_empty() && !self.needs_flush {
                    // Nobody can be waiting for a reply any more; what had to be written
                    // (noreply commands, say) has been.
                    return Poll::Ready(End::Shutdown);
                }
            }

            // 3. Write.
            while !self.out.is_empty() {
                let written = {
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    let n = self.out.slices(&mut slices);
                    Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..n])
                };
                match written {
                    Poll::Ready(Ok(0)) => {
                        let e = io::Error::from(io::ErrorKind::WriteZero);
                        return Poll::Ready(End::Broken(e.into()));
                    }
                    Poll::Ready(Ok(n)) => {
                        if tracing::enabled!(target: "mcaside::wire", tracing::Level::TRACE) {
                            // Only when tracing: the bytes may span chunks.
                            let bytes = self.out.prefix(n);
                            trace!(target: "mcaside::wire", "> {}", WireLog(&bytes));
                        }
                        self.out.advance(n);
                        self.needs_flush = true;
                        progress = true;
                        shared.sent(n);
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(End::Broken(e.into())),
                    Poll::Pending => break,
                }
            }
            self.out.shrink(WRITE_BUF, SHRINK_ABOVE);
            if self.out.is_empty() && self.needs_flush {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.needs_flush = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(End::Broken(e.into())),
                    Poll::Pending => {}
                }
            }

            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Takes every queued request for writing (the state lock is held), leaving out
    /// those nobody waits for that need not be sent. Returns how many queued bytes
    /// were dropped unsent.
    fn take(&mut self, st: &mut super::queue::State) -> usize {
        let mut abandoned = 0;
        for w in &mut st.queued {
            w.dropped = w.abandoned();
            abandoned += usize::from(w.dropped);
        }
        self.idents.reserve(st.idents.len());
        let mut dropped = 0;
        if abandoned == 0 {
            // The usual case: one swap, no copy of the requests' bytes.
            std::mem::swap(&mut self.out, &mut st.write_buf);
            self.idents.extend_from_slice(&st.idents);
        } else {
            let (mut at, mut ident_at) = (0, 0);
            for w in &st.queued {
                let record = &st.idents[ident_at..ident_at + w.ident];
                if w.dropped {
                    dropped += w.bytes;
                } else {
                    self.out.extend_from(&st.write_buf, at, w.bytes);
                    self.idents.extend_from_slice(record);
                }
                at += w.bytes;
                ident_at += w.ident;
            }
            st.write_buf.clear();
        }
        st.idents.clear();
        for w in st.queued.drain(..) {
            if w.dropped || matches!(w.sink, Sink::Silent) {
                continue; // no reply to wait for (its sender, if any, is dropped here)
            }
            self.in_flight.push_back(InFlight {
                reply: Assembler::new(w.expect),
                sink: w.sink,
                received: 0,
                ident: w.ident,
            });
        }
        st.write_buf.shrink(WRITE_BUF, SHRINK_ABOVE);
        shrink(&mut st.idents, 1024);
        shrink_queue(&mut st.queued);
        dropped
    }

    /// Decodes every complete frame in the read buffer and delivers finished replies.
    fn dispatch(&mut self) -> Result<(), Error> {
        loop {
            let before = self.rbuf.len();
            let frame = self.decoder.decode(&mut self.rbuf)?;
            let consumed = before - self.rbuf.len();
            let Some(front) = self.in_flight.front_mut() else {
                if consumed > 0 || frame.is_some() {
                    return Err(ProtocolError::Unsolicited.into());
                }
                return Ok(());
            };
            front.received += consumed;
            let Some(frame) = frame else { return Ok(()) };
            let record = &self.idents[..front.ident];
            if let Some(outcome) = front.reply.push_checked(frame, record)? {
                let done = self.in_flight.pop_front().expect("front exists");
                done.sink
                    .deliver(outcome, done.received, record, self.max_value);
                self.idents.advance(done.ident);
                if self.in_flight.is_empty() {
                    shrink(&mut self.idents, 1024);
                    shrink_queue(&mut self.in_flight);
                }
            }
        }
    }

    /// Fails with a timeout every request in flight whose deadline is at or before
    /// `now` (see [`Shared::expire`]); returns the earliest deadline left.
    pub fn expire(&mut self, now: Instant, expired: &mut usize) -> Option<Instant> {
        self.in_flight
            .iter_mut()
            .fold(None, |next, w| earliest(next, w.sink.expire(now, expired)))
    }

    /// Fails every request in flight with `e`. Returns the bytes that were handed to
    /// this session and never written.
    pub fn fail_in_flight(&mut self, e: &Error) -> usize {
        for w in self.in_flight.drain(..) {
            w.sink.fail(e, w.received);
        }
        self.idents.clear();
        let unwritten = self.out.len();
        self.out.clear();
        unwritten
    }
}

/// How many bytes of one read or write the wire log prints.
const WIRE_LOG_MAX: usize = 4096;

/// A chunk of wire bytes for the TRACE log: escaped, and cut after [`WIRE_LOG_MAX`]
/// bytes with a note of how many more there were (a 1 MiB value would otherwise make a
/// 1 MB log line).
struct WireLog<'a>(&'a [u8]);

impl std::fmt::Display for WireLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() <= WIRE_LOG_MAX {
            return Escaped(self.0).fmt(f);
        }
        let more = self.0.len() - WIRE_LOG_MAX;
        write!(
            f,
            "{}… ({more} more bytes)",
            Escaped(&self.0[..WIRE_LOG_MAX])
        )
    }
}

/// Reads at most `max` bytes into the spare capacity of `buf` (what
/// `tokio_util::io::poll_read_buf` does, without the dependency).
fn poll_read_buf(
    io: &mut Transport,
    cx: &mut Context<'_>,
    buf: &mut impl BufMut,
    max: usize,
) -> Poll<io::Result<usize>> {
    let n = {
        let dst = buf.chunk_mut();
        let room = dst.len().min(max);
        let dst = &mut dst[..room];
        // SAFETY: `UninitSlice` is a view of `[MaybeUninit<u8>]`; `ReadBuf` only ever
        // writes initialized bytes into it and tracks how many.
        let dst = unsafe { dst.as_uninit_slice_mut() };
        let mut rb = ReadBuf::uninit(dst);
        let ptr = rb.filled().as_ptr();
        ready!(Pin::new(io).poll_read(cx, &mut rb))?;
        // A reader may not swap in a different buffer.
        assert_eq!(ptr, rb.filled().as_ptr());
        rb.filled().len()
    };
    // SAFETY: the read initialized `n` bytes at the start of the spare capacity.
    unsafe { buf.advance_mut(n) };
    Poll::Ready(Ok(n))
}
