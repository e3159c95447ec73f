//! What a reply must carry to be proven the reply to its request.
//!
//! The text protocol answers in order, so a connection pairs replies with requests by
//! position. Position alone trusts the server never to be wrong once: one stray `END`
//! and every later reply on the connection belongs to the request before it. Where a
//! reply carries something that names its request, the [`Assembler`](super::Assembler)
//! checks it, byte for byte:
//!
//! - a classic retrieval's `VALUE <key>` must carry one of the keys of its command, and
//!   no key may be answered more often than it was asked. Hits normally come in the
//!   order asked (a subsequence of the command's keys), which is checked in one forward
//!   walk; a hit out of that order is accepted if its key is one of the command's (and
//!   the assembler puts the hits back in the order asked at the reply's end), for
//!   twemproxy reorders them: asked `get a1 b1 a2` with `a1` a miss, `a1` and `a2` on
//!   one server and `b1` on another, it answers `a2` then `b1` (it fills each key's
//!   place with the next value of that key's server; protocol-notes.md shows it);
//! - a meta reply must echo the opaque token (`O`) its request carried, and the key
//!   when `k` was asked; in a meta pipeline the tokens must come in request order;
//! - `ME <key>` must carry the key asked.
//!
//! A mismatch is a [`ProtocolError::Mismatch`](crate::ProtocolError::Mismatch): the
//! stream is out of step, and the connection must be closed.
//!
//! What each request expects is written, when the request is encoded, as a small
//! *record* into a per-connection log (a `BytesMut` that is appended to and consumed
//! from the front, so no request allocates for it). [`Stamp`] writes records; the
//! assembler reads them. A record is a list of items, each `[tag, len, bytes...]`; keys
//! are at most 250 bytes and tokens at most 31, so a length always fits a byte.

use std::collections::{HashMap, VecDeque};

use bytes::{BufMut, BytesMut};

use super::meta::Opaque;

/// A classic retrieval key, expected (if it is a hit) in this order.
const KEY: u8 = 1;
/// The end of one retrieval command's keys (a reply's `END`).
const END_COMMAND: u8 = 2;
/// An opaque token the reply must echo.
const OPAQUE: u8 = 3;
/// The key a meta reply must return in `k` (or `ME` print), as sent.
const ECHO: u8 = 4;
/// The raw key of a request that sent it base64-encoded (`b`).
const ECHO_BASE64: u8 = 5;

/// Writes the identity record of one request into a connection's log, and hands out
/// the connection's opaque tokens.
///
/// ```
/// use bytes::BytesMut;
/// use mcaside::proto::internal::Stamp;
/// let (mut log, mut next) = (BytesMut::new(), 7u32);
/// let mut stamp = Stamp::new(&mut log, &mut next);
/// let token = stamp.opaque();
/// assert_eq!(token.as_bytes(), b"7");
/// assert_eq!(next, 8);
/// ```
#[derive(Debug)]
pub struct Stamp<'a> {
    log: &'a mut BytesMut,
    next: &'a mut u32,
}

impl<'a> Stamp<'a> {
    /// A stamp appending to `log`, drawing tokens from the counter `next`.
    pub fn new(log: &'a mut BytesMut, next: &'a mut u32) -> Self {
        Stamp { log, next }
    }

    /// A fresh opaque token for a meta request, recorded as the one its reply must
    /// echo. Tokens count up per connection, so a reply meant for an earlier request
    /// (a duplicate, a late one) never carries the token expected now.
    pub fn opaque(&mut self) -> Opaque {
        let n = *self.next;
        *self.next = n.wrapping_add(1);
        let token = Opaque::from(n);
        self.expect_opaque(token);
        token
    }

    /// Records a token chosen by the caller as the one the reply must echo.
    pub fn expect_opaque(&mut self, token: Opaque) {
        self.item(OPAQUE, token.as_bytes());
    }

    /// Records a classic retrieval key: a `VALUE` for it may come, after those of the
    /// keys recorded before it.
    pub fn key(&mut self, key: &[u8]) {
        self.item(KEY, key);
    }

    /// Records the end of one retrieval command (its `END`).
    pub fn end_command(&mut self) {
        self.log.put_slice(&[END_COMMAND, 0]);
    }

    /// Records the key a meta reply must carry in `k` (for `me`, in `ME <key>`).
    /// `base64`: the request sent it base64-encoded; `key` is the raw key.
    pub fn echo_key(&mut self, key: &[u8], base64: bool) {
        self.item(if base64 { ECHO_BASE64 } else { ECHO }, key);
    }

    /// How many bytes of log this stamp's connection holds (for callers that need to
    /// undo a record, by truncating the log back to it).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    fn item(&mut self, tag: u8, bytes: &[u8]) {
        debug_assert!(bytes.len() <= usize::from(u8::MAX));
        self.log.put_u8(tag);
        self.log.put_u8(bytes.len() as u8);
        self.log.put_slice(bytes);
    }
}

/// One item of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    Key(&'a [u8]),
    EndCommand,
    Opaque(&'a [u8]),
    Echo { key: &'a [u8], base64: bool },
}

/// Reads the item at `*at` in `record` and moves `*at` past it. `None` at the end (or
/// on a damaged record, which a connection never writes).
pub(crate) fn next_item<'a>(record: &'a [u8], at: &mut usize) -> Option<Item<'a>> {
    let tag = *record.get(*at)?;
    let len = usize::from(*record.get(*at + 1)?);
    let bytes = record.get(*at + 2..*at + 2 + len)?;
    *at += 2 + len;
    Some(match tag {
        KEY => Item::Key(bytes),
        END_COMMAND => Item::EndCommand,
        OPAQUE => Item::Opaque(bytes),
        ECHO => Item::Echo {
            key: bytes,
            base64: false,
        },
        ECHO_BASE64 => Item::Echo {
            key: bytes,
            base64: true,
        },
        _ => return None,
    })
}

/// The token a meta request's record expects, if any.
pub(crate) fn opaque_of(record: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    while let Some(item) = next_item(record, &mut at) {
        if let Item::Opaque(t) = item {
            return Some(t);
        }
    }
    None
}

/// The key a meta request's record expects echoed, if any.
pub(crate) fn echo_of(record: &[u8]) -> Option<(&[u8], bool)> {
    let mut at = 0;
    while let Some(item) = next_item(record, &mut at) {
        if let Item::Echo { key, base64 } = item {
            return Some((key, base64));
        }
    }
    None
}

/// Finds, from `*at`, the next key of the current retrieval command equal to `key`, and
/// moves `*at` past it. False if the command's remaining keys do not include it.
pub(crate) fn seek_key(record: &[u8], at: &mut usize, key: &[u8]) -> bool {
    let mut probe = *at;
    while let Some(item) = next_item(record, &mut probe) {
        match item {
            Item::Key(k) if k == key => {
                *at = probe;
                return true;
            }
            Item::Key(_) => {}
            _ => return false,
        }
    }
    false
}

/// Moves `*at` past the current retrieval command's keys and its end marker.
pub(crate) fn end_command(record: &[u8], at: &mut usize) {
    while let Some(item) = next_item(record, at) {
        if item == Item::EndCommand {
            return;
        }
    }
}

/// Finds, from `*at`, the next opaque token equal to `token` and moves `*at` past it.
pub(crate) fn seek_opaque(record: &[u8], at: &mut usize, token: &[u8]) -> bool {
    let mut probe = *at;
    while let Some(item) = next_item(record, &mut probe) {
        if item == Item::Opaque(token) {
            *at = probe;
            return true;
        }
    }
    false
}

/// Whether `key` is one of the keys of the retrieval command whose keys start at
/// `start` in `record`: for a hit that did not come in the order asked.
pub(crate) fn command_has_key(record: &[u8], start: usize, key: &[u8]) -> bool {
    let mut at = start;
    while let Some(Item::Key(k)) = next_item(record, &mut at) {
        if k == key {
            return true;
        }
    }
    false
}

/// Where each of the `answered` keys stands among the keys `record` asked: the first
/// place of that key not given to an earlier one. `Err(i)` if the `i`th was not asked,
/// or not that often. Only for replies whose hits came out of order (the forward walk
/// places in-order hits as it checks them): it counts with a map.
pub(crate) fn places<'k>(
    record: &[u8],
    answered: impl IntoIterator<Item = &'k [u8]>,
) -> Result<Vec<usize>, usize> {
    let mut free: HashMap<&[u8], VecDeque<usize>> = HashMap::new();
    for (place, k) in keys(record).enumerate() {
        free.entry(k).or_default().push_back(place);
    }
    answered
        .into_iter()
        .enumerate()
        .map(|(i, k)| free.get_mut(k).and_then(VecDeque::pop_front).ok_or(i))
        .collect()
}

/// The keys of a retrieval record, in order (for splitting a merged reply).
pub(crate) fn keys(record: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            match next_item(record, &mut at)? {
                Item::Key(k) => return Some(k),
                _ => continue,
            }
        }
    })
}

/// Whether the key a meta reply returned in `k` is the one asked. A request that sent
/// its key base64-encoded gets it back encoded with `b` (an item stored with `ms ... b`)
/// or, from an item vivified by `mg ... b N` on 1.6.18, raw and without `b`.
pub(crate) fn echo_matches(asked: &[u8], asked_base64: bool, got: &[u8], got_base64: bool) -> bool {
    if asked_base64 && got_base64 {
        super::base64::encodes_to(asked, got)
    } else {
        asked == got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back() {
        let (mut log, mut next) = (BytesMut::new(), 0);
        let mut s = Stamp::new(&mut log, &mut next);
        s.key(b"a");
        s.key(b"b");
        s.end_command();
        s.key(b"c");
        s.end_command();
        let mut at = 0;
        assert!(seek_key(&log, &mut at, b"b"));
        assert!(!seek_key(&log, &mut at, b"a"), "a is before b");
        assert!(!seek_key(&log, &mut at, b"c"), "c is in the next command");
        end_command(&log, &mut at);
        assert!(seek_key(&log, &mut at, b"c"));
        assert_eq!(keys(&log).collect::<Vec<_>>(), [&b"a"[..], b"b", b"c"]);
        assert!(command_has_key(&log, 0, b"a"));
        assert!(command_has_key(&log, 0, b"b"));
        assert!(!command_has_key(&log, 0, b"c"), "c is in the next command");
    }

    #[test]
    fn keys_are_answered_at_most_as_often_as_asked() {
        let (mut log, mut next) = (BytesMut::new(), 0);
        let mut s = Stamp::new(&mut log, &mut next);
        for k in [&b"a"[..], b"b", b"a"] {
            s.key(k);
        }
        s.end_command();
        let a: &[u8] = b"a";
        let b: &[u8] = b"b";
        let z: &[u8] = b"z";
        assert_eq!(places(&log, [b, a, a]), Ok(vec![1, 0, 2]));
        assert_eq!(places(&log, [a, b, a, a]), Err(3));
        assert_eq!(places(&log, [b, b]), Err(1));
        assert_eq!(places(&log, [z]), Err(0));
    }

    #[test]
    fn tokens_count_up() {
        let (mut log, mut next) = (BytesMut::new(), u32::MAX);
        let mut s = Stamp::new(&mut log, &mut next);
        assert_eq!(s.opaque().as_bytes(), u32::MAX.to_string().as_bytes());
        assert_eq!(s.opaque().as_bytes(), b"0");
        s.echo_key(b"k", true);
        assert_eq!(opaque_of(&log), Some(&b"4294967295"[..]));
        assert_eq!(echo_of(&log), Some((&b"k"[..], true)));
        let mut at = 0;
        assert!(seek_opaque(&log, &mut at, b"0"));
        assert!(!seek_opaque(&log, &mut at, b"4294967295"));
    }
}
