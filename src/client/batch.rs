//! Pipelined meta batches: many requests, one write, one round trip.
//!
//! Like every request of the client, each request of a batch goes on the connection its
//! key hashes to, so it is ordered after earlier requests for the same key (a `noreply`
//! set, say); a batch whose keys span several connections is sent as one part per
//! connection, concurrently. Every request carries an opaque token (`O<index>`), and each
//! part ends with `mn`. The server answers in order, skipping what quiet requests (`q`) suppress, and
//! closes with `MN`; each reply is matched to its request by the opaque token it echoes,
//! never by key (an item vivified from a base64 key comes back with its key raw on
//! 1.6.18, so keys are not a safe match).
//!
//! Error lines (`CLIENT_ERROR ...`) carry no opaque token. They are placed by position:
//! an error between the replies for requests 3 and 7 belongs to one of 4, 5, 6. Requests
//! that are not quiet always answer, so if 4, 5, 6 include as many non-quiet requests
//! without a reply as there are errors, those are the ones that failed; otherwise, if
//! the errors are as many as the candidates, each candidate failed; otherwise each
//! candidate is reported as [`BatchOutcome::MaybeFailed`].

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::BytesMut;

use super::gutter::Capped;
use super::join::join_all;
use super::{Client, ConnId, Route, unexpected};
use crate::error::{Error, InputError, ProtocolError, Result, ServerError};
use crate::proto::meta::{self, MetaArith, MetaDelete, MetaGet, MetaSet, Opaque};
use crate::proto::{BatchEntry, Expect, MetaCode, MetaReply, Reply};

/// The outcome of one request in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// The server replied.
    Reply(MetaReply),
    /// A quiet request the server said nothing about: the outcome `q` hides, which is a
    /// miss (`EN`) for `mg` and success (`HD`) for `ms`, `md` and `ma`.
    Silent(MetaCode),
    /// The server answered this request with an error line.
    Failed(ServerError),
    /// An error line arrived among the replies for several quiet requests, and this may
    /// be the one it answers.
    MaybeFailed(ServerError),
}

impl BatchOutcome {
    /// The return code, replied or implied; `None` for errors.
    pub fn code(&self) -> Option<MetaCode> {
        match self {
            BatchOutcome::Reply(m) => Some(m.code),
            BatchOutcome::Silent(c) => Some(*c),
            BatchOutcome::Failed(_) | BatchOutcome::MaybeFailed(_) => None,
        }
    }

    /// The reply, if the server sent one.
    pub fn reply(&self) -> Option<&MetaReply> {
        match self {
            BatchOutcome::Reply(m) => Some(m),
            _ => None,
        }
    }
}

/// A batch of meta requests, sent together by [`send`](MetaBatch::send).
///
/// ```no_run
/// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
/// use mcaside::proto::meta::{MetaGet, MetaSet};
/// let mut batch = client.meta_batch();
/// batch.set("a", "1", &MetaSet::new().quiet())?;
/// let get_a = batch.get("a", &MetaGet::new().return_value().quiet())?;
/// let get_b = batch.get("b", &MetaGet::new().return_value().quiet())?;
/// let out = batch.send().await?;
/// assert!(out[get_a].reply().is_some()); // a hit
/// assert!(out[get_b].reply().is_none()); // a miss, which q keeps off the wire
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MetaBatch<'c> {
    client: &'c Client,
    /// One part per connection a key maps to, in the order first used.
    parts: Vec<(ConnId, Part)>,
    len: usize,
}

/// The requests of a batch that go on one connection.
#[derive(Debug, Default)]
struct Part {
    buf: BytesMut,
    requests: Vec<Request>,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    /// The request's index in the whole batch.
    index: usize,
    quiet: bool,
    silent: MetaCode,
    /// Where its command line's `\r\n` is in the part's buffer: its opaque token goes
    /// there when the part is queued.
    line_end: usize,
}

impl Client {
    /// Starts a pipelined batch of meta requests.
    pub fn meta_batch(&self) -> MetaBatch<'_> {
        MetaBatch {
            client: self,
            parts: Vec::new(),
            len: 0,
        }
    }
}

impl MetaBatch<'_> {
    /// Adds an `mg`; returns its index in the outcomes.
    pub fn get(&mut self, key: impl AsRef<[u8]>, flags: &MetaGet) -> Result<usize> {
        let features = self.client.features();
        let flags =
            Self::untokened(flags.opaque, *flags)?.capped(self.client.ttl_cap(key.as_ref()));
        let key = key.as_ref();
        self.push(key, flags.quiet, MetaCode::Miss, |b| {
            meta::mg(b, key, &flags, &features)
        })
    }

    /// Adds an `ms`; returns its index.
    pub fn set(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: &MetaSet,
    ) -> Result<usize> {
        let (features, limits) = (self.client.features(), *self.client.limits());
        let flags =
            Self::untokened(flags.opaque, *flags)?.capped(self.client.ttl_cap(key.as_ref()));
        let key = key.as_ref();
        self.push(key, flags.quiet, MetaCode::Header, |b| {
            meta::ms(b, key, value.as_ref(), &flags, &limits, &features)
        })
    }

    /// Adds an `md`; returns its index.
    pub fn delete(&mut self, key: impl AsRef<[u8]>, flags: &MetaDelete) -> Result<usize> {
        let features = self.client.features();
        let flags =
            Self::untokened(flags.opaque, *flags)?.capped(self.client.ttl_cap(key.as_ref()));
        let key = key.as_ref();
        self.push(key, flags.quiet, MetaCode::Header, |b| {
            meta::md(b, key, &flags, &features)
        })
    }

    /// Adds an `ma`; returns its index.
    pub fn arith(&mut self, key: impl AsRef<[u8]>, flags: &MetaArith) -> Result<usize> {
        let features = self.client.features();
        let flags =
            Self::untokened(flags.opaque, *flags)?.capped(self.client.ttl_cap(key.as_ref()));
        let key = key.as_ref();
        self.push(key, flags.quiet, MetaCode::Header, |b| {
            meta::ma(b, key, &flags, &features)
        })
    }

    /// The number of requests added.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no request was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sends every request (with `mn` after each connection's part) and returns one
    /// outcome per request, in the order they were added.
    pub async fn send(self) -> Result<Vec<BatchOutcome>> {
        let MetaBatch { client, parts, len } = self;
        let parts: Vec<(ConnId, Part)> = parts
            .into_iter()
            .filter(|(_, p)| !p.requests.is_empty())
            .collect();
        let bases: Vec<AtomicU32> = parts.iter().map(|_| AtomicU32::new(0)).collect();
        let replies = join_all(parts.iter().zip(&bases).map(|((conn, part), base)| {
            client.call_stamped(
                Route::Conn(*conn),
                "meta batch",
                part.requests.len(),
                Expect::MetaBatch,
                move |b, stamp| {
                    // Each request's token goes at the end of its command line, where
                    // the encoders put `O`.
                    let mut from = 0;
                    for (i, r) in part.requests.iter().enumerate() {
                        b.extend_from_slice(&part.buf[from..r.line_end]);
                        let token = stamp.opaque();
                        if i == 0 {
                            base.store(
                                std::str::from_utf8(token.as_bytes())
                                    .ok()
                                    .and_then(|t| t.parse().ok())
                                    .expect("a counter token is a number"),
                                Ordering::Relaxed,
                            );
                        }
                        b.extend_from_slice(b" O");
                        b.extend_from_slice(token.as_bytes());
                        from = r.line_end;
                    }
                    b.extend_from_slice(&part.buf[from..]);
                    meta::mn(b);
                    Ok(())
                },
            )
        }))
        .await;
        let mut out: Vec<Option<BatchOutcome>> = vec![None; len];
        for (((_, part), reply), base) in parts.iter().zip(replies).zip(&bases) {
            let base = base.load(Ordering::Relaxed);
            let outcomes = match reply? {
                Reply::MetaBatch(entries) => match_by_opaque(&part.requests, base, entries)?,
                other => return Err(unexpected("meta batch", &other)),
            };
            for (r, o) in part.requests.iter().zip(outcomes) {
                out[r.index] = Some(o);
            }
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every request is in one part"))
            .collect())
    }

    /// The flags as given, which must not carry an opaque token: the batch sets its own
    /// (a caller's would break the matching), when the part is queued.
    fn untokened<F>(theirs: Option<Opaque>, flags: F) -> Result<F> {
        if theirs.is_some() {
            return Err(InputError::BadToken {
                what: "opaque token in a batch (the batch sets its own)",
            }
            .into());
        }
        Ok(flags)
    }

    fn push(
        &mut self,
        key: &[u8],
        quiet: bool,
        silent: MetaCode,
        encode: impl FnOnce(&mut BytesMut) -> std::result::Result<(), InputError>,
    ) -> Result<usize> {
        let id = self.client.conn_for_key(key)?;
        let at = match self.parts.iter().position(|(p, _)| *p == id) {
            Some(at) => at,
            None => {
                self.parts.push((id, Part::default()));
                self.parts.len() - 1
            }
        };
        let part = &mut self.parts[at].1;
        let start = part.buf.len();
        encode(&mut part.buf)?;
        // The command line ends at the first `\r\n`: keys, flags and tokens never hold one.
        let line_end = start
            + part.buf[start..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("an encoded command ends its line");
        part.requests.push(Request {
            index: self.len,
            quiet,
            silent,
            line_end,
        });
        self.len += 1;
        Ok(self.len - 1)
    }
}

/// Pairs replies with requests by their opaque tokens, and error lines by position.
/// `base` is the token of the first request; the others follow it, one up each.
fn match_by_opaque(
    requests: &[Request],
    base: u32,
    entries: Vec<BatchEntry>,
) -> Result<Vec<BatchOutcome>> {
    let mut out: Vec<Option<BatchOutcome>> = vec![None; requests.len()];
    let mut gap_start = 0;
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            BatchEntry::Error(e) => errors.push(e),
            BatchEntry::Meta(m) => {
                let index = m
                    .flags
                    .opaque
                    .as_deref()
                    .and_then(|o| std::str::from_utf8(o).ok()?.parse::<u32>().ok())
                    .map(|token| token.wrapping_sub(base) as usize)
                    .filter(|&i| i >= gap_start && i < requests.len())
                    .ok_or_else(|| {
                        out_of_step("a reply whose opaque token matches no pending request")
                    })?;
                place_errors(requests, &mut out, gap_start..index, &mut errors);
                // The token is the batch's own, not the caller's: not part of the reply.
                let mut m = m;
                m.flags.opaque = None;
                out[index] = Some(BatchOutcome::Reply(m));
                gap_start = index + 1;
            }
        }
    }
    place_errors(requests, &mut out, gap_start..requests.len(), &mut errors);
    out.into_iter()
        .zip(requests)
        .map(|(o, r)| match o {
            Some(o) => Ok(o),
            None if r.quiet => Ok(BatchOutcome::Silent(r.silent)),
            None => Err(out_of_step("no reply to a request that was not quiet")),
        })
        .collect()
}

fn place_errors(
    requests: &[Request],
    out: &mut [Option<BatchOutcome>],
    gap: std::ops::Range<usize>,
    errors: &mut Vec<ServerError>,
) {
    if errors.is_empty() {
        return;
    }
    let loud: Vec<usize> = gap.clone().filter(|&i| !requests[i].quiet).collect();
    let all: Vec<usize> = gap.collect();
    let sure = if errors.len() == loud.len() {
        Some(loud)
    } else if errors.len() == all.len() {
        Some(all.clone())
    } else {
        None
    };
    match sure {
        Some(failed) => {
            for (i, e) in failed.into_iter().zip(errors.drain(..)) {
                out[i] = Some(BatchOutcome::Failed(e));
            }
        }
        None => {
            let e = errors.drain(..).next().expect("not empty");
            for i in all {
                out[i] = Some(BatchOutcome::MaybeFailed(e.clone()));
            }
        }
    }
}

fn out_of_step(what: &str) -> Error {
    Error::Protocol(ProtocolError::Unexpected(format!(
        "in a meta batch: {what}"
    )))
}
