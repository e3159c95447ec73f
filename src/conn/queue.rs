//! The state shared by callers, the session and the connection's I/O task.
//!
//! Two locks, never held together by the same code path in the order state → slot:
//!
//! - `state`: the request queue. Callers encode their command straight into `write_buf`
//!   and push a [`Waiter`] onto `queued` under this lock, so the order of waiters is the
//!   order of their bytes on the wire, which is the order the server answers in.
//! - `slot`: the [`Session`] (the socket and everything in flight) and who is driving it
//!   ([`Mode`]). The session is only touched under this lock; whoever holds it may run
//!   [`Session::poll`], which takes `state` briefly to collect queued work.
//!
//! Both are plain `std::sync::Mutex`es: they are held for an encode, a buffer swap or a
//! non-blocking socket call, never across an `.await`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::session::{End, Session};
use super::sink::{GetGroup, Sink};
use super::{ConnConfig, ServerAddr};
use crate::error::{Error, InputError};
use crate::proto::encode::{self, GetKind};
use crate::proto::{Expect, Reply, check_key};

/// What a caller receives: its reply, and how many bytes of the stream it took.
pub(crate) struct Delivery {
    pub outcome: Result<Reply, Error>,
    pub received: usize,
}

/// A caller (or a group of coalesced gets) waiting for a reply of a given shape.
pub(crate) struct Waiter {
    pub expect: Expect,
    pub sink: Sink,
}

/// The most single-key gets merged into one `get` line.
const MAX_COALESCED_GETS: usize = 64;

/// Where the connection stands.
#[derive(Debug, Clone)]
pub(crate) enum Link {
    /// A socket is being opened; requests queue and go out once it is up.
    Connecting,
    /// Connected.
    Up,
    /// The last connect failed; requests fail at once with this error until the next
    /// attempt, which the I/O task makes after a backoff.
    Down(Error),
    /// Every handle was dropped; what is queued is flushed and the I/O task exits.
    Shutdown,
}

pub(crate) struct State {
    pub write_buf: BytesMut,
    pub queued: VecDeque<Waiter>,
    pub link: Link,
    /// The I/O task's waker, for "there is work" and "take over driving".
    waker: Option<Waker>,
    notified: bool,
}

/// Who drives the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Nothing in flight. The next caller may drive the session itself (the fast path).
    Idle,
    /// The I/O task drives.
    Task,
    /// A lone caller, holding this ticket, drives the session from its own poll.
    Caller(u64),
}

pub(crate) struct Slot {
    pub session: Option<Session>,
    pub mode: Mode,
    /// How the last session ended, when a caller (not the I/O task) saw it end.
    pub ended: Option<End>,
    /// The fast-path caller's waker. That caller waits on the socket, not on its reply
    /// channel, so when the I/O task takes over it must be told to wait on the channel.
    pub caller_waker: Option<Waker>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    slot: Mutex<Slot>,
    tickets: AtomicU64,
    pub addr: ServerAddr,
    pub config: ConnConfig,
}

/// The result of queueing a request.
pub(crate) struct Queued {
    pub rx: Option<oneshot::Receiver<Delivery>>,
    pub sent: usize,
    /// Set when this caller got the fast path: it drives the session itself.
    pub ticket: Option<u64>,
}

impl Shared {
    pub fn new(addr: ServerAddr, config: ConnConfig) -> Self {
        Shared {
            state: Mutex::new(State {
                write_buf: BytesMut::with_capacity(8 * 1024),
                queued: VecDeque::new(),
                link: Link::Connecting,
                waker: None,
                notified: false,
            }),
            slot: Mutex::new(Slot {
                session: None,
                mode: Mode::Task,
                ended: None,
                caller_waker: None,
            }),
            tickets: AtomicU64::new(1),
            addr,
            config,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock can only come from an encoder bug; the state
        // itself is still consistent (encoders write nothing on error), so carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encodes a request into the write buffer and queues its waiter (none for
    /// `noreply`). Then decides who sends it: if the session is idle, this caller
    /// (`ticket` is set); otherwise the I/O task, which is woken.
    pub fn enqueue(
        &self,
        expect: Option<Expect>,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
    ) -> Result<Queued, Error> {
        self.enqueue_with(|st| {
            let start = st.write_buf.len();
            if let Err(e) = encode(&mut st.write_buf) {
                // Encoders write nothing on error; this keeps that true even for a
                // hand-written encode closure.
                st.write_buf.truncate(start);
                return Err(e.into());
            }
            let sent = st.write_buf.len() - start;
            let rx = expect.map(|expect| {
                let (tx, rx) = oneshot::channel();
                st.queued.push_back(Waiter {
                    expect,
                    sink: Sink::One(tx),
                });
                rx
            });
            Ok((rx, sent))
        })
    }

    /// Queues a single-key retrieval, merged into the `get` line queued just before it
    /// when there is one of the same kind with room (see [`super::sink`]). The reply is
    /// a [`Reply::Value`].
    pub fn enqueue_get(&self, kind: GetKind, key: &[u8]) -> Result<Queued, Error> {
        // The key is checked here because merging it into a queued line bypasses the
        // encoder; a group's expiry (for gat) was checked when the group was started.
        check_key(key)?;
        self.enqueue_with(|st| {
            let (tx, rx) = oneshot::channel();
            let end = st.write_buf.len();
            let State {
                write_buf, queued, ..
            } = st;
            if let Some(Waiter {
                expect,
                sink: Sink::Gets(group),
            }) = queued.back_mut()
                && group.kind == kind
                && group.line_end == end
                && group.members.len() < MAX_COALESCED_GETS
            {
                if let Some(first) = group.first.take() {
                    // The second member: from now on the reply is a list of hits, matched
                    // to members by key, so the first key is needed after all.
                    let first_key = Bytes::copy_from_slice(&write_buf[group.first_key.clone()]);
                    group.members.push((first_key, first));
                    *expect = Expect::Values { commands: 1 };
                }
                // `get a\r\n` becomes `get a b\r\n`.
                write_buf.truncate(end - 2);
                write_buf.put_u8(b' ');
                write_buf.put_slice(key);
                write_buf.put_slice(b"\r\n");
                group.members.push((Bytes::copy_from_slice(key), tx));
                group.line_end = write_buf.len();
                return Ok((Some(rx), key.len() + 1));
            }
            encode::get(write_buf, kind, [key])?;
            let line_end = write_buf.len();
            queued.push_back(Waiter {
                expect: Expect::Value,
                sink: Sink::Gets(GetGroup {
                    kind,
                    first: Some(tx),
                    first_key: line_end - 2 - key.len()..line_end - 2,
                    members: Vec::new(),
                    line_end,
                }),
            });
            Ok((Some(rx), line_end - end))
        })
    }

    /// Queues under the state lock with `push`, then decides who drives the session.
    fn enqueue_with(
        &self,
        push: impl FnOnce(&mut State) -> Result<(Option<oneshot::Receiver<Delivery>>, usize), Error>,
    ) -> Result<Queued, Error> {
        let (rx, sent) = {
            let mut st = self.lock();
            match &st.link {
                Link::Down(e) => return Err(e.clone()),
                Link::Shutdown => return Err(Error::Closed),
                Link::Connecting | Link::Up => {}
            }
            push(&mut st)?
        };
        let mut displaced = None;
        let ticket = {
            let mut slot = self.slot();
            match slot.mode {
                // Only a request that waits for its reply can drive: a noreply caller
                // returns at once and would leave the session undriven.
                Mode::Idle if rx.is_some() && slot.session.is_some() => {
                    let t = self.tickets.fetch_add(1, Ordering::Relaxed);
                    slot.mode = Mode::Caller(t);
                    Some(t)
                }
                Mode::Idle | Mode::Caller(_) => {
                    // Someone else is (or may be) driving for just themselves: from now
                    // on the I/O task drives, for everyone.
                    slot.mode = Mode::Task;
                    displaced = slot.caller_waker.take();
                    None
                }
                Mode::Task => None,
            }
        };
        if ticket.is_none() {
            self.wake_task();
        }
        if let Some(w) = displaced {
            w.wake();
        }
        Ok(Queued { rx, sent, ticket })
    }

    /// A fast-path caller is done (or dropped): hand the session back. If anything is
    /// still in flight, the I/O task takes over driving. Otherwise the session is simply
    /// idle, and nobody is woken: a sequential caller's next request takes the fast path
    /// again without a single thread hand-off. (A close while idle is found by that next
    /// request's first read, before it is sent; see [`Session::poll`].)
    pub fn release(&self, ticket: u64) {
        let mut slot = self.slot();
        if slot.mode != Mode::Caller(ticket) {
            return;
        }
        slot.caller_waker = None;
        let idle =
            slot.session.as_ref().is_none_or(Session::is_idle) && self.lock().queued.is_empty();
        if idle {
            slot.mode = Mode::Idle;
        } else {
            slot.mode = Mode::Task;
            drop(slot);
            self.wake_task();
        }
    }

    /// Wakes the I/O task, unless it was woken since it last looked.
    pub fn wake_task(&self) {
        let waker = {
            let mut st = self.lock();
            if st.notified {
                None
            } else {
                st.notified = true;
                st.waker.clone()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Moves to `link` and wakes the I/O task.
    pub fn set_link(&self, link: Link) {
        {
            let mut st = self.lock();
            if matches!(st.link, Link::Shutdown) {
                return;
            }
            if let Link::Down(e) = &link {
                // Nothing queued now can be sent: fail it rather than let it wait.
                for w in st.queued.drain(..) {
                    w.sink.deliver(Err(e.clone()), 0);
                }
                st.write_buf.clear();
            }
            st.link = link;
            st.notified = false;
        }
        self.wake_task();
    }

    pub fn is_shutdown(&self) -> bool {
        matches!(self.lock().link, Link::Shutdown)
    }
}

impl State {
    /// Registers the I/O task's waker. Called under the same lock that `wake_task`
    /// reads it under, so a request queued after this is sure to wake the task.
    pub fn register(&mut self, waker: &Waker) {
        self.notified = false;
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }
}
