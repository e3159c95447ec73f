//! The bytes of queued requests, with large requests kept in chunks of their own.
//!
//! Requests are encoded one after another into one growing buffer, so that a batch
//! goes out in one write. For small requests that is the cheapest thing there is. For
//! a large one (a `set` of a few hundred KiB) it is not: while the previous batch is
//! being written, sixteen such requests queue up, and the buffer holding them doubles
//! its way up to megabytes, copying everything queued so far each time, only to be
//! freed once written (and the next batch faults fresh pages in). A profile of 16 tasks
//! setting 512 KiB values spent more time in those copies than in the one copy of each
//! value that is needed (the caller's value is borrowed, so it must be copied before
//! the call can return early, and the request stay sendable).
//!
//! So a request of [`LARGE`] bytes or more is split off into a chunk of its own as soon
//! as it is encoded (zero-copy: the chunk is the part of the buffer it was written to),
//! and what comes after it starts a fresh buffer. A value the caller hands over as
//! `Bytes` ([`Client::set_bytes`](crate::Client::set_bytes)) is not copied at all: it
//! becomes a chunk as it is. The batch is then written with one vectored write of all
//! its chunks.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// A request at least this long gets a chunk of its own.
pub(crate) const LARGE: usize = 16 * 1024;
/// The most slices one vectored write is given.
pub(crate) const MAX_SLICES: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    /// Sealed chunks, in order, before `tail`.
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks`.
    frozen: usize,
    /// Where requests are encoded.
    tail: BytesMut,
}

impl OutBuf {
    pub fn with_capacity(n: usize) -> Self {
        OutBuf {
            chunks: VecDeque::new(),
            frozen: 0,
            tail: BytesMut::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.frozen + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory held: the encoding buffer's capacity and the sealed chunks.
    pub fn capacity(&self) -> usize {
        self.tail.capacity() + self.frozen
    }

    /// The buffer the next request is encoded into (appended to what is queued).
    pub fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Ends the request that began at `start` (the [`len`](Self::len) before it was
    /// encoded): a large one is moved into a chunk of its own.
    pub fn seal(&mut self, start: usize) {
        let Some(at) = start.checked_sub(self.frozen) else {
            // It has a chunk of the caller's already (see `append_shared`); what
            // follows it in the tail is short.
            return;
        };
        if self.tail.len() - at < LARGE {
            return;
        }
        if at > 0 {
            let before = self.tail.split_to(at).freeze();
            self.push_raw(before);
        }
        let request = self.tail.split().freeze();
        self.push_raw(request);
    }

    /// Drops what was written after `start`, which must not be before the last sealed
    /// request (it is used to undo a request that failed to encode).
    pub fn truncate(&mut self, start: usize) {
        self.tail.truncate(start - self.frozen);
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.frozen = 0;
        self.tail.clear();
    }

    /// Replaces the encoding buffer with a small one if nothing is queued and it has
    /// grown past `above`.
    pub fn shrink(&mut self, keep: usize, above: usize) {
        if self.is_empty() && self.tail.capacity() > above {
            self.tail = BytesMut::with_capacity(keep);
        }
    }

    /// Fills `out` with the queued bytes, in order; returns how many slices it used.
    pub fn slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for c in &self.chunks {
            if n == out.len() {
                return n;
            }
            out[n] = IoSlice::new(c);
            n += 1;
        }
        if n < out.len() && !self.tail.is_empty() {
            out[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The first `n` queued bytes, for the wire log (copied: they may span chunks).
    pub fn prefix(&self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        for part in self.chunks.iter().map(|c| &c[..]).chain([&self.tail[..]]) {
            let take = (n - v.len()).min(part.len());
            v.extend_from_slice(&part[..take]);
            if v.len() == n {
                break;
            }
        }
        v
    }

    /// Removes the first `n` bytes (written).
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.tail.advance(n);
                return;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.frozen -= k;
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    /// Appends `len` bytes of `src` from `start`: large pieces of its chunks by
    /// reference, the rest copied.
    pub fn extend_from(&mut self, src: &OutBuf, start: usize, len: usize) {
        let (mut at, end) = (start, start + len);
        let mut offset = 0;
        for c in &src.chunks {
            let c_end = offset + c.len();
            if at < c_end && at < end {
                let piece = c.slice(at - offset..end.min(c_end) - offset);
                at += piece.len();
                if piece.len() >= LARGE {
                    self.push_chunk(piece);
                } else {
                    self.tail.extend_from_slice(&piece);
                }
            }
            offset = c_end;
        }
        if at < end {
            self.tail
                .extend_from_slice(&src.tail[at - offset..end - offset]);
        }
    }

    /// Appends the caller's own bytes (a large value) without copying them.
    pub fn append_shared(&mut self, value: Bytes) {
        self.push_chunk(value);
    }

    /// Appends a sealed chunk after what is queued (sealing the tail first).
    fn push_chunk(&mut self, chunk: Bytes) {
        if !self.tail.is_empty() {
            let tail = self.tail.split().freeze();
            self.push_raw(tail);
        }
        self.push_raw(chunk);
    }

    /// Appends a chunk after the sealed ones (the tail must hold nothing that comes
    /// before it).
    fn push_raw(&mut self, chunk: Bytes) {
        self.frozen += chunk.len();
        self.chunks.push_back(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(b: &OutBuf) -> Vec<u8> {
        b.prefix(b.len())
    }

    fn request(b: &mut OutBuf, byte: u8, n: usize) {
        let start = b.len();
        b.tail().extend_from_slice(&vec![byte; n]);
        b.seal(start);
    }

    #[test]
    fn large_requests_are_chunks_of_their_own_and_order_is_kept() {
        let mut b = OutBuf::with_capacity(64);
        request(&mut b, b'a', 10);
        request(&mut b, b'B', LARGE);
        request(&mut b, b'c', 5);
        request(&mut b, b'D', LARGE + 1);
        request(&mut b, b'e', 3);
        assert_eq!(b.chunks.len(), 4, "a, B, c, D sealed; e in the tail");
        let mut want = vec![b'a'; 10];
        want.extend(vec![b'B'; LARGE]);
        want.extend(vec![b'c'; 5]);
        want.extend(vec![b'D'; LARGE + 1]);
        want.extend(vec![b'e'; 3]);
        assert_eq!(bytes(&b), want);
        let mut s = [IoSlice::new(&[]); MAX_SLICES];
        let n = b.slices(&mut s);
        let joined: Vec<u8> = s[..n].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(joined, want);

        // Any range copies out alike.
        for (start, len) in [
            (0, want.len()),
            (5, 20),
            (10, LARGE),
            (9, LARGE + 7),
            (want.len() - 4, 4),
        ] {
            let mut o = OutBuf::default();
            o.extend_from(&b, start, len);
            assert_eq!(bytes(&o), &want[start..start + len], "{start}+{len}");
        }

        // Written a little at a time, in order.
        let mut done = Vec::new();
        while !b.is_empty() {
            let step = 7000.min(b.len());
            done.extend(b.prefix(step));
            b.advance(step);
        }
        assert_eq!(done, want);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn truncate_undoes_a_failed_request() {
        let mut b = OutBuf::default();
        request(&mut b, b'x', LARGE);
        let start = b.len();
        b.tail().extend_from_slice(b"half");
        b.truncate(start);
        assert_eq!(b.len(), LARGE);
        b.clear();
        assert!(b.is_empty());
    }
}
