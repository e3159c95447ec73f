//! Where a finished reply goes: to one caller, or split among coalesced gets.
//!
//! On a server without meta commands, concurrent single-key `get`s queued on the same
//! connection are merged into one multi-key `get` line (see
//! [`Shared::enqueue_get`](super::queue::Shared::enqueue_get)): the server answers
//! `get a b c` with one reply, where `get a`, `get b`, `get c` would cost it three
//! sends. The reply comes back here as one list of hits, and each member of the group
//! gets its own: the server answers keys in the order asked and leaves misses out, so
//! one forward walk pairs them.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::queue::Delivery;
use crate::error::Error;
use crate::proto::Reply;
use crate::proto::encode::GetKind;

/// A waiter's destination.
pub(crate) enum Sink {
    One(oneshot::Sender<Delivery>),
    Gets(GetGroup),
}

/// Single-key gets sharing one command line.
///
/// A get alone costs no more than any request: its key is not copied and its reply is
/// assembled as a single value. Only when a second get joins is the first key copied
/// (out of the write buffer, where it still is) and the reply assembled as a list.
pub(crate) struct GetGroup {
    pub kind: GetKind,
    /// The first member's channel, while it is the only member.
    pub first: Option<oneshot::Sender<Delivery>>,
    /// Where the first key sits in the write buffer, until a second get joins.
    pub first_key: std::ops::Range<usize>,
    /// With two or more members: every member's key and channel, in line order
    /// (the first member included, its channel moved here).
    pub members: Vec<(Bytes, oneshot::Sender<Delivery>)>,
    /// Where this group's line ends in the write buffer; the group can take another key
    /// only while nothing has been queued after it.
    pub line_end: usize,
}

impl Sink {
    /// Hands a finished reply over. A receiver that is gone (its caller gave up) just
    /// drops its part.
    pub fn deliver(self, outcome: Result<Reply, Error>, received: usize) {
        match self {
            Sink::One(tx) => {
                let _ = tx.send(Delivery { outcome, received });
            }
            Sink::Gets(group) => group.deliver(outcome, received),
        }
    }
}

impl GetGroup {
    fn deliver(self, outcome: Result<Reply, Error>, received: usize) {
        if let Some(first) = self.first {
            // Alone, and assembled as a single value (`Expect::Value`).
            let _ = first.send(Delivery { outcome, received });
            return;
        }
        let share = received / self.members.len();
        let mut values = match outcome {
            Ok(Reply::Values(values)) => values.into_iter().peekable(),
            Ok(other) => {
                let e = Error::Protocol(crate::error::ProtocolError::Unexpected(format!(
                    "{other:?} in reply to a coalesced get"
                )));
                return self.fail(&e, share);
            }
            Err(e) => return self.fail(&e, share),
        };
        for (key, tx) in self.members {
            let hit = values.next_if(|v| v.key == key);
            let _ = tx.send(Delivery {
                outcome: Ok(Reply::Value(hit)),
                received: share,
            });
        }
    }

    fn fail(self, e: &Error, share: usize) {
        for tx in self
            .first
            .into_iter()
            .chain(self.members.into_iter().map(|(_, tx)| tx))
        {
            let _ = tx.send(Delivery {
                outcome: Err(e.clone()),
                received: share,
            });
        }
    }
}
