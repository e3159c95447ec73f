//! The raw reference: the least a client can do per request on this machine, so that
//! every other figure reads as a fraction of what loopback and memcached allow.
//!
//! Each connection is one task that keeps `depth` requests in flight: it writes every
//! request it has ready in one write, reads whatever has arrived, answers each reply,
//! and issues a new request for each one answered. One connection with depth 1 is plain
//! request/response. The wire is the leanest there is: `mg <key> v` (reply `VA <n>` and
//! the value, or `EN`), `ms <key> <n>` (reply `HD`), and a classic `get k1 .. kN` for
//! multi-gets.
//!
//! Replies stream through one reused read buffer per connection, parsed in place and
//! discarded: a value's bytes are checked piece by piece as they pass (see
//! [`crate::values::Checker`]), never gathered, so a large value costs the kernel's copy
//! into the buffer and the check, nothing more. Large set values (over 16 KiB) go out
//! with vectored writes from the prepared values, without a copy into the write buffer.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::job::Op;
use crate::values::{self, Checker};
use crate::worker::{Ctx, Stats};

/// Set values larger than this are written from the caller's buffer (vectored).
const VECTORED_MIN: usize = 16 * 1024;
/// The longest reply line accepted.
const MAX_LINE: usize = 1024;

/// Opens `conns` connections and starts one task on each.
pub async fn start(ctx: &Arc<Ctx>, conns: usize, depth: usize) -> Vec<JoinHandle<Stats>> {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let stream = TcpStream::connect(&ctx.job.server_addr)
            .await
            .expect("raw: connect");
        stream.set_nodelay(true).expect("nodelay");
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Stats::new();
            if let Err(e) = Conn::new(&ctx, c, depth).run(&ctx, stream, &mut s).await {
                s.error(e);
            }
            s
        }));
    }
    tasks
}

/// A request on the wire, waiting for its reply.
struct InFlight {
    t0: Instant,
    /// The key (the first key of a multi-get).
    index: usize,
    /// Multi-get: values answered so far, those that checked out, and their bytes.
    answered: u64,
    hits: u64,
    bytes: u64,
}

/// What the reader is in the middle of.
enum State {
    /// A reply line.
    Line,
    /// A value's bytes (then its `\r\n`), for key `index` (`None`: a key not asked for).
    Value {
        index: Option<usize>,
        left: usize,
        crlf: usize,
        check: Option<Checker>,
    },
}

/// A reply line, parsed.
#[derive(Debug)]
enum Reply {
    /// `VA <len>`: a meta get's value follows.
    Va(usize),
    /// `EN`: a meta get's miss.
    En,
    /// `HD`: stored.
    Hd,
    /// `VALUE <key> <flags> <len>`: the key's index if it is one of ours.
    Value(Option<usize>, usize),
    /// `END`: the end of a classic get's reply.
    End,
    Other(String),
}

fn classify(line: &[u8], ctx: &Ctx) -> Reply {
    let other = || Reply::Other(String::from_utf8_lossy(line).into_owned());
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return other();
    };
    let number = |w: Option<&[u8]>| -> Option<usize> { std::str::from_utf8(w?).ok()?.parse().ok() };
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    match words.next() {
        Some(b"VA") => number(words.next()).map_or_else(other, Reply::Va),
        Some(b"EN") => Reply::En,
        Some(b"HD") => Reply::Hd,
        Some(b"END") => Reply::End,
        Some(b"VALUE") => {
            let key = words
                .next()
                .and_then(|k| values::index_of(&ctx.job.key_prefix, k));
            let _flags = words.next();
            number(words.next()).map_or_else(other, |len| Reply::Value(key, len))
        }
        _ => other(),
    }
}

/// Pieces of the next write: ranges of the write buffer, and prepared values.
enum Piece {
    Buf(usize, usize),
    Value(usize),
}

struct Conn {
    depth: usize,
    rng: values::Rng,
    inflight: VecDeque<InFlight>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    state: State,
    out: Vec<u8>,
    pieces: Vec<Piece>,
    /// Whether set values go out vectored (large values), decided once per job.
    vectored: bool,
}

impl Conn {
    fn new(ctx: &Ctx, c: usize, depth: usize) -> Conn {
        let cap = ctx.job.raw_read_buf.max(2 * MAX_LINE);
        Conn {
            depth,
            rng: ctx.rng(c),
            inflight: VecDeque::with_capacity(depth),
            buf: vec![0; cap],
            start: 0,
            end: 0,
            state: State::Line,
            out: Vec::with_capacity(64 * 1024),
            pieces: Vec::new(),
            vectored: ctx.job.op == Op::Set && ctx.job.value_size > VECTORED_MIN,
        }
    }

    async fn run(&mut self, ctx: &Ctx, mut stream: TcpStream, s: &mut Stats) -> Result<(), String> {
        for _ in 0..self.depth {
            self.issue(ctx);
        }
        loop {
            self.flush(ctx, &mut stream)
                .await
                .map_err(|e| format!("raw: write: {e}"))?;
            if self.inflight.is_empty() {
                return Ok(());
            }
            if self.end == self.buf.len() {
                // Only a partial line can be left here (values are consumed as they
                // come): move it to the front.
                if self.start == 0 {
                    return Err("raw: reply line too long".into());
                }
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = stream
                .read(&mut self.buf[self.end..])
                .await
                .map_err(|e| format!("raw: read: {e}"))?;
            if n == 0 {
                return Err("raw: server closed the connection".into());
            }
            self.end += n;
            self.parse(ctx, s)?;
        }
    }

    /// Queues the next request.
    fn issue(&mut self, ctx: &Ctx) {
        let n = ctx.keys.len();
        let index = self.rng.below(n);
        let key = ctx.keys[index].as_bytes();
        let from = self.out.len();
        match ctx.job.op {
            Op::Get => {
                self.out.extend_from_slice(b"mg ");
                self.out.extend_from_slice(key);
                self.out.extend_from_slice(b" v\r\n");
            }
            Op::Set => {
                let value = &ctx.values[index];
                self.out.extend_from_slice(b"ms ");
                self.out.extend_from_slice(key);
                self.out.push(b' ');
                self.out
                    .extend_from_slice(value.len().to_string().as_bytes());
                self.out.extend_from_slice(b"\r\n");
                if self.vectored {
                    self.pieces.push(Piece::Buf(from, self.out.len()));
                    self.pieces.push(Piece::Value(index));
                    self.out.extend_from_slice(b"\r\n");
                    self.pieces
                        .push(Piece::Buf(self.out.len() - 2, self.out.len()));
                    self.inflight.push_back(InFlight {
                        t0: Instant::now(),
                        index,
                        answered: 0,
                        hits: 0,
                        bytes: 0,
                    });
                    return;
                }
                self.out.extend_from_slice(value);
                self.out.extend_from_slice(b"\r\n");
            }
            Op::MultiGet(m) => {
                self.out.extend_from_slice(b"get");
                for j in 0..m {
                    self.out.push(b' ');
                    self.out
                        .extend_from_slice(ctx.keys[(index + j) % n].as_bytes());
                }
                self.out.extend_from_slice(b"\r\n");
            }
        }
        self.inflight.push_back(InFlight {
            t0: Instant::now(),
            index,
            answered: 0,
            hits: 0,
            bytes: 0,
        });
    }

    async fn flush(&mut self, ctx: &Ctx, stream: &mut TcpStream) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        if !self.vectored {
            stream.write_all(&self.out).await?;
        } else {
            let mut slices: Vec<IoSlice<'_>> = self
                .pieces
                .iter()
                .map(|p| match *p {
                    Piece::Buf(a, b) => IoSlice::new(&self.out[a..b]),
                    Piece::Value(i) => IoSlice::new(&ctx.values[i]),
                })
                .collect();
            let mut rest = &mut slices[..];
            while !rest.is_empty() {
                let n = stream.write_vectored(rest).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                IoSlice::advance_slices(&mut rest, n);
            }
        }
        self.out.clear();
        self.pieces.clear();
        Ok(())
    }

    /// Answers every complete reply in the buffer; leaves a partial line in place and
    /// consumes a partial value.
    fn parse(&mut self, ctx: &Ctx, s: &mut Stats) -> Result<(), String> {
        loop {
            match &mut self.state {
                State::Line => {
                    let avail = &self.buf[self.start..self.end];
                    let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                        if avail.len() > MAX_LINE {
                            return Err("raw: reply line too long".into());
                        }
                        if self.start == self.end {
                            self.start = 0;
                            self.end = 0;
                        }
                        return Ok(());
                    };
                    let reply = classify(&avail[..=nl], ctx);
                    self.start += nl + 1;
                    self.on_reply(ctx, s, reply)?;
                }
                State::Value {
                    index,
                    left,
                    crlf,
                    check,
                } => {
                    let take = (*left).min(self.end - self.start);
                    if let Some(c) = check {
                        c.feed(&self.buf[self.start..self.start + take]);
                    }
                    self.start += take;
                    *left -= take;
                    while *left == 0 && *crlf > 0 && self.start < self.end {
                        let want = if *crlf == 2 { b'\r' } else { b'\n' };
                        if self.buf[self.start] != want {
                            return Err("raw: value not followed by \\r\\n".into());
                        }
                        self.start += 1;
                        *crlf -= 1;
                    }
                    if self.start == self.end {
                        // Everything read is consumed: the next read reuses the buffer
                        // from its start, so a large value never moves.
                        self.start = 0;
                        self.end = 0;
                    }
                    if *left > 0 || *crlf > 0 {
                        return Ok(());
                    }
                    let (index, ok) = (*index, check.as_ref().is_some_and(Checker::finish));
                    self.state = State::Line;
                    self.on_value(ctx, s, index, ok)?;
                }
            }
        }
    }

    fn on_reply(&mut self, ctx: &Ctx, s: &mut Stats, reply: Reply) -> Result<(), String> {
        let f = self
            .inflight
            .front()
            .ok_or("raw: a reply nobody asked for")?;
        let (t0, first, answered, hits, bytes) = (f.t0, f.index, f.answered, f.hits, f.bytes);
        let checker = |k| Checker::new(k, ctx.job.value_size, ctx.job.full_check_max);
        match (ctx.job.op, reply) {
            (Op::Get, Reply::Va(len)) => {
                // A wrong length fails the check; the value is still read off the wire.
                self.state = State::Value {
                    index: Some(first),
                    left: len,
                    crlf: 2,
                    check: Some(checker(first)),
                };
                return Ok(());
            }
            (Op::Get, Reply::En) => s.miss(&ctx.keys[first]),
            (Op::Set, Reply::Hd) => s.done(ctx, t0, 1, ctx.job.value_size as u64),
            (Op::MultiGet(m), Reply::Value(key, len)) => {
                let n = ctx.keys.len();
                let index = key.filter(|&k| (k + n - first) % n < m);
                self.state = State::Value {
                    index,
                    left: len,
                    crlf: 2,
                    check: index.map(checker),
                };
                return Ok(());
            }
            (Op::MultiGet(m), Reply::End) => {
                for _ in answered as usize..m {
                    s.miss("one of a multi-get's keys");
                }
                s.done(ctx, t0, hits, bytes);
            }
            (_, Reply::Other(line)) => s.error(format!("raw: unexpected reply {line:?}")),
            (_, r) => s.error(format!("raw: unexpected reply {r:?}")),
        }
        self.complete(ctx);
        Ok(())
    }

    fn on_value(
        &mut self,
        ctx: &Ctx,
        s: &mut Stats,
        index: Option<usize>,
        ok: bool,
    ) -> Result<(), String> {
        let size = ctx.job.value_size as u64;
        match ctx.job.op {
            Op::Get => {
                let f = self.inflight.front().expect("a value answers a request");
                if ok {
                    s.done(ctx, f.t0, 1, size);
                } else {
                    let key = &ctx.keys[f.index];
                    s.mismatch(|| key.clone());
                }
                self.complete(ctx);
            }
            Op::MultiGet(_) => {
                let f = self
                    .inflight
                    .front_mut()
                    .expect("a value answers a request");
                f.answered += 1;
                if ok {
                    f.hits += 1;
                    f.bytes += size;
                } else {
                    s.mismatch(|| format!("{index:?} in a multi-get"));
                }
            }
            Op::Set => return Err("raw: a value in reply to a set".into()),
        }
        Ok(())
    }

    /// The front request is answered: replace it while the run goes on.
    fn complete(&mut self, ctx: &Ctx) {
        self.inflight.pop_front();
        if ctx.running() {
            self.issue(ctx);
        }
    }
}
