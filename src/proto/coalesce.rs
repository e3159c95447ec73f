//! Which requests can share one command line, and how their shared reply is split.
//!
//! On a server without meta commands, concurrent single-key retrievals queued one after
//! the other on a connection are merged into one multi-key line: the server answers
//! `get a b c` with one reply where `get a`, `get b`, `get c` would cost it three sends.
//! This module holds that knowledge, so the connection only asks two questions: "may
//! this request join the line at the end of the write buffer?" ([`GetLine::join`]) and
//! "what is each member's part of the reply?" ([`split`]).
//!
//! A line takes keys while it is the last thing in the write buffer, has fewer than
//! [`MAX_MEMBERS`] keys and stays within [`GetKind::max_line`] bytes. Its members' keys
//! are in its identity record, in line order, so the assembler checks every `VALUE`
//! against them and the split pairs hits with members in one forward walk.

use bytes::{BufMut, BytesMut};

use super::encode::{self, GetKind};
use super::frame::Value;
use super::identity::{self, Stamp};
use super::key::check_key;
use super::reply::{Expect, Failure, Reply};
use crate::error::InputError;

/// The most single-key retrievals merged into one line.
pub const MAX_MEMBERS: usize = 64;

/// A retrieval line at the end of a write buffer that more keys may join.
#[derive(Debug, Clone)]
pub struct GetLine {
    kind: GetKind,
    /// Where the line (its `\r\n` included) ends in the write buffer.
    end: usize,
    /// Where it starts.
    start: usize,
    members: usize,
}

impl GetLine {
    /// Encodes `<kind> <key>\r\n` at the end of `buf`, records the key with `stamp`, and
    /// returns the line, which later retrievals of the same kind may join.
    pub fn start(
        buf: &mut BytesMut,
        stamp: &mut Stamp<'_>,
        kind: GetKind,
        key: &[u8],
    ) -> Result<GetLine, InputError> {
        let start = buf.len();
        encode::get(buf, kind, [key])?;
        stamp.key(key);
        Ok(GetLine {
            kind,
            end: buf.len(),
            start,
            members: 1,
        })
    }

    /// Adds `key` to this line if it is still the last thing in `buf`, of the same kind,
    /// and has room; records the key with `stamp`. Returns false (and changes nothing)
    /// otherwise. An invalid key is an error, whether or not it could have joined.
    pub fn join(
        &mut self,
        buf: &mut BytesMut,
        stamp: &mut Stamp<'_>,
        kind: GetKind,
        key: &[u8],
    ) -> Result<bool, InputError> {
        check_key(key)?;
        if self.kind != kind
            || self.end != buf.len()
            || self.members >= MAX_MEMBERS
            || self.end - self.start + 1 + key.len() > kind.max_line()
        {
            return Ok(false);
        }
        // `get a\r\n` becomes `get a b\r\n`.
        buf.truncate(self.end - 2);
        buf.put_u8(b' ');
        buf.put_slice(key);
        buf.put_slice(b"\r\n");
        stamp.key(key);
        self.end = buf.len();
        self.members += 1;
        Ok(true)
    }

    /// How many requests share the line.
    #[cfg(test)]
    pub fn members(&self) -> usize {
        self.members
    }

    /// The reply shape: a single value while alone, a list of hits once shared.
    pub fn expect(&self) -> Expect {
        if self.members == 1 {
            Expect::Value
        } else {
            Expect::Values {
                commands: 1,
                keys: self.members as u32,
            }
        }
    }
}

/// Splits the reply to a shared line among its members, in line order: each gets a
/// [`Reply::Value`] with its hit or a miss, or the failure that ended the reply.
/// `record` is the line's identity record; the assembler has already checked that the
/// hits are for its keys, none more often than asked, and handed them over in line order
/// (putting back any a proxy reordered), so the forward walk cannot go wrong.
pub fn split(
    outcome: Result<Reply, Failure>,
    record: &[u8],
) -> impl Iterator<Item = Result<Reply, Failure>> + '_ {
    let (mut hits, mut oversized, failure) = match outcome {
        Ok(Reply::Values(values)) => (values, Vec::new(), None),
        Ok(Reply::Value(v)) => (Vec::from_iter(v), Vec::new(), None),
        Ok(_) => unreachable!("a retrieval line is assembled as values"),
        // Only the members whose own key was oversized fail.
        Err(Failure::OversizedAmong { oversized, hits }) => (hits, oversized, None),
        Err(f) => (Vec::new(), Vec::new(), Some(f)),
    };
    hits.reverse();
    oversized.reverse();
    identity::keys(record).map(move |key| {
        if let Some(f) = &failure {
            return Err(f.clone());
        }
        // Hits and oversized values both come in line order: the next of either that
        // carries this member's key is its answer.
        if oversized.last().is_some_and(|(k, _)| k == key) {
            let (_, len) = oversized.pop().expect("just seen");
            return Err(Failure::Oversized { len });
        }
        let hit = hits.last().is_some_and(|v: &Value| v.key == key);
        Ok(Reply::Value(if hit { hits.pop() } else { None }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Assembler, Decoder, Limits};

    #[test]
    fn lines_grow_split_and_stop() {
        let (mut buf, mut log, mut next) = (BytesMut::new(), BytesMut::new(), 0);
        let mut stamp = Stamp::new(&mut log, &mut next);
        let mut line = GetLine::start(&mut buf, &mut stamp, GetKind::Get, b"a").unwrap();
        assert_eq!(line.expect(), Expect::Value);
        assert!(line.join(&mut buf, &mut stamp, GetKind::Get, b"b").unwrap());
        assert!(line.join(&mut buf, &mut stamp, GetKind::Get, b"c").unwrap());
        assert!(
            !line
                .join(&mut buf, &mut stamp, GetKind::Gets, b"d")
                .unwrap()
        );
        assert!(
            line.join(&mut buf, &mut stamp, GetKind::Get, b"bad key")
                .is_err()
        );
        assert_eq!(&buf[..], b"get a b c\r\n");
        assert_eq!(
            line.expect(),
            Expect::Values {
                commands: 1,
                keys: 3
            }
        );
        buf.put_slice(b"x");
        assert!(!line.join(&mut buf, &mut stamp, GetKind::Get, b"e").unwrap());

        let mut a = Assembler::new(line.expect());
        let mut d = Decoder::new(Limits::default());
        let mut wire = BytesMut::from(&b"VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n"[..]);
        let mut out = None;
        while let Some(f) = d.decode(&mut wire).unwrap() {
            out = a.push_checked(f, &log).unwrap();
        }
        let parts: Vec<_> = split(out.unwrap(), &log).collect();
        assert!(matches!(&parts[0], Ok(Reply::Value(Some(v))) if v.key == "a"));
        assert!(matches!(&parts[1], Ok(Reply::Value(None))));
        assert!(matches!(&parts[2], Ok(Reply::Value(Some(v))) if v.key == "c"));
    }

    /// Assembles `wire` as the reply to a merged line of `keys`, checked, and splits it.
    fn merged(keys: &[&[u8]], wire: &[u8]) -> Result<Vec<Result<Reply, Failure>>, String> {
        let (mut buf, mut log, mut next) = (BytesMut::new(), BytesMut::new(), 0);
        let mut stamp = Stamp::new(&mut log, &mut next);
        let mut line = GetLine::start(&mut buf, &mut stamp, GetKind::Get, keys[0]).unwrap();
        for k in &keys[1..] {
            assert!(line.join(&mut buf, &mut stamp, GetKind::Get, k).unwrap());
        }
        let mut a = Assembler::new(line.expect());
        let mut d = Decoder::new(Limits::default());
        let mut wire = BytesMut::from(wire);
        let mut out = None;
        while let Some(f) = d.decode(&mut wire).unwrap() {
            out = a.push_checked(f, &log).map_err(|e| e.to_string())?;
        }
        Ok(split(out.expect("a whole reply"), &log).collect())
    }

    fn hit_of(part: &Result<Reply, Failure>) -> Option<&[u8]> {
        match part {
            Ok(Reply::Value(v)) => v.as_ref().map(|v| &v.data[..]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hits_a_proxy_reordered_reach_their_own_members() {
        // twemproxy's answer to `get a1 b1 a2` when a1 (on a2's server) misses.
        let parts = merged(
            &[b"a1", b"b1", b"a2"],
            b"VALUE a2 0 2\r\nA2\r\nVALUE b1 0 2\r\nB1\r\nEND\r\n",
        )
        .unwrap();
        let hits: Vec<_> = parts.iter().map(hit_of).collect();
        assert_eq!(hits, [None, Some(&b"B1"[..]), Some(b"A2")]);
        // The same key asked twice, answered twice out of order.
        let parts = merged(
            &[b"k", b"b", b"k"],
            b"VALUE b 0 1\r\nB\r\nVALUE k 0 1\r\n1\r\nVALUE k 0 1\r\n2\r\nEND\r\n",
        )
        .unwrap();
        let hits: Vec<_> = parts.iter().map(hit_of).collect();
        assert_eq!(hits, [Some(&b"1"[..]), Some(b"B"), Some(b"2")]);
    }

    #[test]
    fn a_key_answered_more_often_than_asked_is_out_of_step() {
        let twice = merged(
            &[b"a", b"b"],
            b"VALUE b 0 1\r\nB\r\nVALUE a 0 1\r\nA\r\nVALUE a 0 1\r\nA\r\nEND\r\n",
        );
        assert!(twice.is_err_and(|e| e.contains("\"a\"")));
        let again = merged(
            &[b"a", b"b"],
            b"VALUE b 0 1\r\nB\r\nVALUE b 0 1\r\nB\r\nEND\r\n",
        );
        assert!(again.is_err());
        let stray = merged(
            &[b"a", b"b"],
            b"VALUE b 0 1\r\nB\r\nVALUE c 0 1\r\nC\r\nEND\r\n",
        );
        assert!(stray.is_err_and(|e| e.contains("did not ask")));
    }

    #[test]
    fn touching_lines_stay_short() {
        let (mut buf, mut log, mut next) = (BytesMut::new(), BytesMut::new(), 0);
        let mut stamp = Stamp::new(&mut log, &mut next);
        let key = [b'k'; 250];
        let kind = GetKind::Gat(crate::Expiry::Never);
        let mut line = GetLine::start(&mut buf, &mut stamp, kind, &key).unwrap();
        while line.join(&mut buf, &mut stamp, kind, &key).unwrap() {}
        assert!(buf.len() <= kind.max_line(), "{}", buf.len());
        assert!(line.members() < MAX_MEMBERS);
    }
}
