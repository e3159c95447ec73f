//! Where a finished reply goes: nowhere (a command with no reply), to one caller, or to
//! each of the callers whose requests shared one command line.
//!
//! How a shared line's reply is divided is the protocol core's business
//! ([`crate::proto::coalesce::split`]); this file only holds the channels, in line
//! order, and hands each its part.

use tokio::sync::oneshot;

use super::queue::Delivery;
use crate::error::Error;
use crate::proto::coalesce;
use crate::proto::{Failure, Reply};

/// A waiter's destination.
pub(crate) enum Sink {
    /// A command with no reply.
    Silent,
    /// One caller.
    One(oneshot::Sender<Delivery>),
    /// The callers sharing one line, in line order.
    Group(Vec<oneshot::Sender<Delivery>>),
}

impl Sink {
    /// Adds a caller whose request joined this one's line.
    pub fn join(&mut self, tx: oneshot::Sender<Delivery>) {
        match std::mem::replace(self, Sink::Silent) {
            Sink::One(first) => *self = Sink::Group(vec![first, tx]),
            Sink::Group(mut members) => {
                members.push(tx);
                *self = Sink::Group(members);
            }
            Sink::Silent => *self = Sink::One(tx),
        }
    }

    /// True when every caller waiting here has gone (timed out, dropped its future).
    pub fn is_gone(&self) -> bool {
        match self {
            Sink::Silent => false,
            Sink::One(tx) => tx.is_closed(),
            Sink::Group(members) => members.iter().all(|tx| tx.is_closed()),
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
            Sink::One(tx) => {
                let _ = tx.send(Delivery {
                    outcome: outcome.map_err(error),
                    received,
                });
            }
            Sink::Group(members) => {
                let share = received / members.len();
                for (tx, part) in members.into_iter().zip(coalesce::split(outcome, record)) {
                    let _ = tx.send(Delivery {
                        outcome: part.map_err(error),
                        received: share,
                    });
                }
            }
        }
    }

    /// Fails every caller waiting here with `e`.
    pub fn fail(self, e: &Error, received: usize) {
        match self {
            Sink::Silent => {}
            Sink::One(tx) => {
                let _ = tx.send(Delivery {
                    outcome: Err(e.clone()),
                    received,
                });
            }
            Sink::Group(members) => {
                let share = received / members.len();
                for tx in members {
                    let _ = tx.send(Delivery {
                        outcome: Err(e.clone()),
                        received: share,
                    });
                }
            }
        }
    }
}
