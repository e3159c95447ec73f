//! Where a finished reply goes: nowhere (a command with no reply), to one caller, or to
//! each of the callers whose requests shared one command line.
//!
//! How a shared line's reply is divided is the protocol core's business
//! ([`crate::proto::coalesce::split`]); this file only holds the channels, in line
//! order, and hands each its part. Each caller's channel carries its deadline: the
//! connection's timer fails a caller whose deadline has passed through its channel
//! (see [`Sink::expire`]), and its reply, when it comes, is read and dropped here.

use tokio::time::Instant;

use super::mailbox::Sender;
use crate::error::Error;
use crate::proto::coalesce;
use crate::proto::{Failure, Reply};

/// A waiter's destination.
pub(crate) enum Sink {
    /// A command with no reply.
    Silent,
    /// One caller.
    One(Caller),
    /// The callers sharing one line, in line order.
    Group(Vec<Caller>),
}

/// One caller waiting for its reply.
pub(crate) struct Caller {
    /// `None` once the caller has been told it timed out: its reply is still read
    /// (the stream must stay in step) but goes nowhere.
    tx: Option<Sender>,
    /// When the caller stops waiting; `None` for no timeout.
    deadline: Option<Instant>,
}

impl Caller {
    pub fn new(tx: Sender, deadline: Option<Instant>) -> Self {
        Caller {
            tx: Some(tx),
            deadline,
        }
    }

    fn is_gone(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }

    fn send(self, reply: Result<Reply, Error>, received: usize) {
        if let Some(tx) = self.tx {
            tx.send(reply, received);
        }
    }

    /// Fails this caller with [`Error::Timeout`] if its deadline is at or before `now`;
    /// otherwise returns the deadline it still waits for.
    fn expire(&mut self, now: Instant, expired: &mut usize) -> Option<Instant> {
        // A caller already told has nothing left to wait for.
        let deadline = self.deadline.filter(|_| self.tx.is_some())?;
        if deadline > now {
            return Some(deadline);
        }
        let tx = self.tx.take()?;
        // A caller that already gave up (dropped its future) is not counted: it did
        // not see a timeout from here.
        if !tx.is_closed() {
            *expired += 1;
        }
        tx.send(Err(Error::Timeout), 0);
        None
    }
}

impl Sink {
    /// Adds a caller whose request joined this one's line.
    pub fn join(&mut self, caller: Caller) {
        match std::mem::replace(self, Sink::Silent) {
            Sink::One(first) => *self = Sink::Group(vec![first, caller]),
            Sink::Group(mut members) => {
                members.push(caller);
                *self = Sink::Group(members);
            }
            Sink::Silent => *self = Sink::One(caller),
        }
    }

    /// True when every caller waiting here has gone (timed out, dropped its future).
    pub fn is_gone(&self) -> bool {
        match self {
            Sink::Silent => false,
            Sink::One(c) => c.is_gone(),
            Sink::Group(members) => members.iter().all(Caller::is_gone),
        }
    }

    /// Fails, with [`Error::Timeout`], every caller here whose deadline is at or before
    /// `now`, adding how many to `expired`. Returns the earliest deadline still waited
    /// for.
    pub fn expire(&mut self, now: Instant, expired: &mut usize) -> Option<Instant> {
        match self {
            Sink::Silent => None,
            Sink::One(c) => c.expire(now, expired),
            Sink::Group(members) => members
                .iter_mut()
                .filter_map(|c| c.expire(now, expired))
                .min(),
        }
    }

    /// Hands a finished reply over: `record` is the request's identity record (for a
    /// shared line, its members' keys), `max_value` the limit an oversized value broke.
    /// A receiver that is gone (its caller gave up) just drops its part.
    pub fn deliver(
        self,
        outcome: Result<Reply, Failure>,
        received: usize,
        record: &[u8],
        max_value: usize,
    ) {
        let error = |f: Failure| match f {
            Failure::Server(e) => Error::Server(e),
            f => Error::ValueTooLarge {
                len: f.oversized_len().unwrap_or(0),
                max: max_value,
            },
        };
        match self {
            Sink::Silent => {}
            Sink::One(c) => c.send(outcome.map_err(error), received),
            Sink::Group(members) => {
                let share = received / members.len();
                for (c, part) in members.into_iter().zip(coalesce::split(outcome, record)) {
                    c.send(part.map_err(error), share);
                }
            }
        }
    }

    /// Fails every caller waiting here with `e`.
    pub fn fail(self, e: &Error, received: usize) {
        match self {
            Sink::Silent => {}
            Sink::One(c) => c.send(Err(e.clone()), received),
            Sink::Group(members) => {
                let share = received / members.len();
                for c in members {
                    c.send(Err(e.clone()), share);
                }
            }
        }
    }
}
