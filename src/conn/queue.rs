//! The state shared by callers, the session and the connection's I/O task.
//!
//! Two locks, never held together by the same code path in the order state → slot:
//!
//! - `state`: the request queue. Callers encode their command straight into `write_buf`,
//!   its identity record into `idents` (see [`crate::proto::identity`]), and push a
//!   [`Waiter`] onto `queued` under this lock, so the order of waiters is the order of
//!   their bytes on the wire, which is the order the server answers in.
//! - `slot`: the [`Session`] (the socket and everything in flight) and who is driving it
//!   ([`Mode`]). The session is only touched under this lock; whoever holds it may run
//!   [`Session::poll`], which takes `state` briefly to collect queued work.
//!
//! Both are plain `std::sync::Mutex`es: they are held for an encode, a buffer swap or a
//! non-blocking socket call, never across an `.await`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::mailbox::{Mailbox, Receiver};
use super::outbuf::OutBuf;
use super::session::{End, Session};
use super::sink::{Caller, Sink};
use super::{ConnConfig, ServerAddr};
use crate::error::{Error, InputError};
use crate::proto::Expect;
use crate::proto::coalesce::GetLine;
use crate::proto::encode::GetKind;
use crate::proto::identity::Stamp;

/// A queued request: its bytes in the write buffer, its identity record, and who waits
/// for its reply (nobody, for a `noreply` command).
pub(crate) struct Waiter {
    pub expect: Expect,
    pub sink: Sink,
    /// How many bytes of the write buffer are this request's.
    pub bytes: usize,
    /// How many bytes of the identity log are this request's record.
    pub ident: usize,
    /// Sent even if its caller is gone before its bytes are written.
    pub must_send: bool,
    /// Decided when the batch is taken: left unsent (its caller was gone). Decided
    /// once, because a caller may go at any moment, and the bytes written and the
    /// replies awaited must agree.
    pub dropped: bool,
    /// A retrieval line that later single-key retrievals may join (see
    /// [`crate::proto::coalesce`]).
    pub line: Option<GetLine>,
}

impl Waiter {
    /// True when nobody will read this request's reply and it need not go out, so its
    /// bytes can be left unsent.
    pub fn abandoned(&self) -> bool {
        !self.must_send && self.sink.is_gone()
    }
}

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
    pub write_buf: OutBuf,
    /// The identity records of the queued requests, in queue order.
    pub idents: BytesMut,
    /// The next opaque token a meta request on this connection gets.
    next_opaque: u32,
    pub queued: VecDeque<Waiter>,
    pub link: Link,
    /// The I/O task's waker, for "there is work" and "take over driving".
    waker: Option<Waker>,
    notified: bool,
    /// When the connection's timer is to fire: the earliest deadline of a request
    /// queued or in flight, or earlier (see [`Shared::expire`]); `None` when no request
    /// with a deadline is waiting.
    pub timer: Option<Instant>,
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
    /// The reply slots of the requests waiting (see [`super::mailbox`]); its lock is
    /// taken last, under either of the others.
    mail: Arc<Mailbox>,
    tickets: AtomicU64,
    /// Bytes queued or being written and not yet handed to the socket: what the write
    /// budget bounds.
    unsent: AtomicUsize,
    /// Callers waiting for the unsent bytes to drop below the budget.
    room: Notify,
    /// Requests that timed out in a row with no byte read from the socket meanwhile.
    silent_timeouts: AtomicU32,
    /// Set when the connection is to be dropped and re-dialled (a silent server).
    abandon: AtomicBool,
    pub addr: ServerAddr,
    pub config: ConnConfig,
}

/// Below this many bytes a buffer is kept when it empties; above it, it is replaced by
/// a small one, so a spike (a burst of large values) does not pin memory for the life
/// of the connection.
pub(crate) const SHRINK_ABOVE: usize = 256 * 1024;
/// The capacity a replaced write buffer starts with.
pub(crate) const WRITE_BUF: usize = 8 * 1024;

/// Replaces `buf` with a small one if it is empty and has grown large.
pub(crate) fn shrink(buf: &mut BytesMut, keep: usize) {
    if buf.is_empty() && buf.capacity() > SHRINK_ABOVE {
        *buf = BytesMut::with_capacity(keep);
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Shrinks an empty queue that grew large.
pub(crate) fn shrink_queue<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 1024 {
        q.shrink_to(64);
    }
}

/// How a request is queued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask {
    /// The reply's shape; `None` for a command with no reply.
    pub expect: Option<Expect>,
    /// Send it even if its caller is gone before it is written.
    pub must_send: bool,
    /// When its caller stops waiting for the reply (fails with a timeout).
    pub deadline: Option<Instant>,
}

/// The result of queueing a request.
pub(crate) struct Queued<'a> {
    pub rx: Option<Receiver<'a>>,
    pub sent: usize,
    /// Set when this caller got the fast path: it drives the session itself.
    pub ticket: Option<u64>,
}

impl Shared {
    pub fn new(addr: ServerAddr, config: ConnConfig) -> Self {
        Shared {
            state: Mutex::new(State {
                write_buf: OutBuf::with_capacity(WRITE_BUF),
                idents: BytesMut::with_capacity(1024),
                next_opaque: 1,
                queued: VecDeque::new(),
                link: Link::Connecting,
                waker: None,
                notified: false,
                timer: None,
            }),
            slot: Mutex::new(Slot {
                session: None,
                mode: Mode::Task,
                ended: None,
                caller_waker: None,
            }),
            mail: Arc::default(),
            tickets: AtomicU64::new(1),
            unsent: AtomicUsize::new(0),
            room: Notify::new(),
            silent_timeouts: AtomicU32::new(0),
            abandon: AtomicBool::new(false),
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

    /// Encodes a request into the write buffer, its identity record into the log, and
    /// queues its waiter (one with no sink for a command with no reply). Then decides
    /// who sends it: if the session is idle, this caller (`ticket` is set); otherwise
    /// the I/O task, which is woken.
    pub fn enqueue(
        &self,
        ask: Ask,
        encode: impl FnOnce(&mut BytesMut, &mut Stamp<'_>) -> Result<(), InputError>,
    ) -> Result<Queued<'_>, Error> {
        self.enqueue_value(ask, encode, None)
    }

    /// [`enqueue`](Self::enqueue) for a command whose data block is the caller's own
    /// `value`: `encode` writes the command line, and `value` (with its `\r\n`) goes
    /// out after it without being copied.
    pub fn enqueue_value(
        &self,
        ask: Ask,
        encode: impl FnOnce(&mut BytesMut, &mut Stamp<'_>) -> Result<(), InputError>,
        value: Option<Bytes>,
    ) -> Result<Queued<'_>, Error> {
        self.enqueue_with(
            |st| {
                let (start, ident_start) = (st.write_buf.len(), st.idents.len());
                let State {
                    write_buf,
                    idents,
                    next_opaque,
                    ..
                } = st;
                if let Err(e) = encode(write_buf.tail(), &mut Stamp::new(idents, next_opaque)) {
                    // Encoders write nothing on error; this keeps that true even for a
                    // hand-written encode closure, and drops a half-written record.
                    write_buf.truncate(start);
                    idents.truncate(ident_start);
                    return Err(e.into());
                }
                if let Some(value) = value {
                    write_buf.append_shared(value);
                    write_buf.tail().extend_from_slice(b"\r\n");
                }
                write_buf.seal(start);
                let sent = st.write_buf.len() - start;
                let (sink, rx) = match ask.expect {
                    Some(_) => {
                        let (tx, rx) = self.mail.channel();
                        (Sink::One(Caller::new(tx, ask.deadline)), Some(rx))
                    }
                    None => (Sink::Silent, None),
                };
                st.queued.push_back(Waiter {
                    expect: ask.expect.unwrap_or(Expect::Status),
                    sink,
                    bytes: sent,
                    ident: st.idents.len() - ident_start,
                    must_send: ask.must_send || ask.expect.is_none(),
                    dropped: false,
                    line: None,
                });
                Ok((rx, sent))
            },
            ask.deadline,
        )
    }

    /// Queues a single-key retrieval, merged into the retrieval line queued just
    /// before it when [`GetLine::join`] allows. The reply is a [`Reply::Value`].
    pub fn enqueue_get(
        &self,
        kind: GetKind,
        key: &[u8],
        must_send: bool,
        deadline: Option<Instant>,
    ) -> Result<Queued<'_>, Error> {
        self.enqueue_with(
            |st| {
                let (tx, rx) = self.mail.channel();
                let caller = Caller::new(tx, deadline);
                let State {
                    write_buf,
                    idents,
                    next_opaque,
                    queued,
                    ..
                } = st;
                let mut stamp = Stamp::new(idents, next_opaque);
                if let Some(w) = queued.back_mut()
                    && let Some(line) = &mut w.line
                {
                    let (before, ident_before) = (write_buf.len(), stamp.log_len());
                    if line.join(write_buf.tail(), &mut stamp, kind, key)? {
                        w.expect = line.expect();
                        w.sink.join(caller);
                        w.bytes += write_buf.len() - before;
                        w.ident += stamp.log_len() - ident_before;
                        w.must_send |= must_send;
                        return Ok((Some(rx), write_buf.len() - before));
                    }
                }
                let (start, ident_start) = (write_buf.len(), stamp.log_len());
                let line = GetLine::start(write_buf.tail(), &mut stamp, kind, key)?;
                let ident = stamp.log_len() - ident_start;
                let sent = write_buf.len() - start;
                queued.push_back(Waiter {
                    expect: line.expect(),
                    sink: Sink::One(caller),
                    bytes: sent,
                    ident,
                    must_send,
                    dropped: false,
                    line: Some(line),
                });
                Ok((Some(rx), sent))
            },
            deadline,
        )
    }

    /// Queues under the state lock with `push`, then decides who drives the session.
    /// `deadline` is the request's: the connection's timer is brought forward to it if
    /// it is set later (or not at all).
    fn enqueue_with<'a>(
        &'a self,
        push: impl FnOnce(&mut State) -> Result<(Option<Receiver<'a>>, usize), Error>,
        deadline: Option<Instant>,
    ) -> Result<Queued<'a>, Error> {
        let (rx, sent, arm, woken) = {
            let mut st = self.lock();
            match &st.link {
                Link::Down(e) => return Err(e.clone()),
                Link::Shutdown => return Err(Error::Closed),
                Link::Connecting | Link::Up => {}
            }
            let (rx, sent) = push(&mut st)?;
            // Counted under the lock that the session takes before writing these bytes,
            // so the count never runs below what is queued.
            self.unsent.fetch_add(sent, Ordering::Relaxed);
            // Usually the timer is already set for an earlier request's deadline (they
            // are taken in order, with the same timeout), and this is one comparison.
            let arm = match deadline {
                Some(d) if st.timer.is_none_or(|t| d < t) => {
                    st.timer = Some(d);
                    true
                }
                _ => false,
            };
            // Woken and not yet running: it will see this request (and the timer)
            // when it does, since it registers under this lock before taking the queue.
            let woken = st.notified;
            (rx, sent, arm, woken)
        };
        let mut displaced = None;
        let (ticket, task_drives) = {
            let mut slot = self.slot();
            let task_drives = slot.mode == Mode::Task;
            let ticket = match slot.mode {
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
            };
            (ticket, task_drives)
        };
        // The I/O task owns the timer: it re-arms it when woken. A task that was
        // already driving and has a wake-up pending needs no other (one lock saved per
        // request under load); one that is to take over from a caller is always woken,
        // as it may have looked at the mode before this request changed it.
        if (ticket.is_none() || arm) && !(woken && task_drives) {
            self.wake_task();
        }
        if let Some(w) = displaced {
            w.wake();
        }
        Ok(Queued { rx, sent, ticket })
    }

    /// A fast-path caller is done (or dropped): hand the session back. If anything is
    /// still in flight, the I/O task takes over driving. Otherwise the session is idle,
    /// and the I/O task is registered for the socket's read readiness (without being
    /// woken: a sequential caller's next request takes the fast path again without a
    /// single thread hand-off). Until then the caller's own waker is the one the socket
    /// would wake, so bytes arriving on the idle connection (a stray reply, a close)
    /// would sit unread until the next request, and be taken for its reply if they
    /// cross it on the way; with the I/O task registered they are read when they
    /// arrive, and close the connection.
    pub fn release(&self, ticket: u64) {
        let mut guard = self.slot();
        let slot = &mut *guard;
        if slot.mode != Mode::Caller(ticket) {
            return;
        }
        slot.caller_waker = None;
        let idle =
            slot.session.as_ref().is_none_or(Session::is_idle) && self.lock().queued.is_empty();
        let task = self.lock().waker.clone();
        match (idle, task, slot.session.as_mut()) {
            (true, Some(task), Some(session)) => {
                match session.poll(self, &mut Context::from_waker(&task)) {
                    Poll::Pending if session.is_idle() => slot.mode = Mode::Idle,
                    Poll::Pending => {
                        slot.mode = Mode::Task;
                        drop(guard);
                        self.wake_task();
                    }
                    Poll::Ready(end) => {
                        let mut session = slot.session.take().expect("polled above");
                        if let End::Broken(e) = &end {
                            let unwritten = session.fail_in_flight(e);
                            self.sent(unwritten);
                        }
                        slot.ended = Some(end);
                        slot.mode = Mode::Task;
                        drop(guard);
                        self.wake_task();
                    }
                }
            }
            (true, None, _) | (true, _, None) => {
                slot.mode = Mode::Idle;
                drop(guard);
                self.wake_task();
            }
            (false, ..) => {
                slot.mode = Mode::Task;
                drop(guard);
                self.wake_task();
            }
        }
    }

    /// The bytes the reply slots hold (for monitoring memory).
    pub fn mail_capacity(&self) -> usize {
        self.mail.capacity()
    }

    /// True while the unsent bytes are below the write budget.
    pub fn has_room(&self) -> bool {
        self.unsent.load(Ordering::Relaxed) < self.config.write_budget
    }

    /// Waits until the unsent bytes are below the write budget.
    pub async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// `n` queued bytes left the queue (written to the socket, or dropped unsent).
    pub fn sent(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.unsent.fetch_sub(n, Ordering::Relaxed);
        let budget = self.config.write_budget;
        if before >= budget && before - n < budget {
            self.room.notify_waiters();
        }
    }

    /// Unsent bytes, for monitoring.
    pub fn unsent(&self) -> usize {
        self.unsent.load(Ordering::Relaxed)
    }

    /// Some bytes were read: the server is not silent.
    pub fn heard(&self) {
        if self.silent_timeouts.load(Ordering::Relaxed) != 0 {
            self.silent_timeouts.store(0, Ordering::Relaxed);
        }
    }

    /// The connection's timer fired at `now`: fails every request whose deadline has
    /// passed, queued or in flight, with a timeout through its sink (a reply still to
    /// come is read and dropped; an unsent request is left unsent unless it must be
    /// sent), counts them as timeouts, and sets the timer for the earliest deadline
    /// left. One timer per connection, re-armed about once per timeout, instead of one
    /// per request.
    pub fn expire(&self, now: Instant) {
        let mut expired = 0;
        let mut guard = self.slot();
        let slot = &mut *guard;
        let mut next = slot
            .session
            .as_mut()
            .and_then(|s| s.expire(now, &mut expired));
        {
            // Under both locks: no request moves from the queue to the session, and
            // one queued meanwhile either is seen here or sees the new timer.
            let mut st = self.lock();
            for w in &mut st.queued {
                next = earliest(next, w.sink.expire(now, &mut expired));
            }
            st.timer = next;
        }
        if expired > 0
            && let Some(w) = &slot.caller_waker
        {
            // A fast-path caller waits on the socket, not on its channel.
            w.wake_by_ref();
        }
        drop(guard);
        self.timed_out(expired);
    }

    /// `n` requests on this connection timed out. After
    /// `ConnConfig::max_silent_timeouts` in a row with no byte read meanwhile, the
    /// connection is closed and re-dialled.
    fn timed_out(&self, n: usize) {
        let Some(max) = self.config.max_silent_timeouts else {
            return;
        };
        if n == 0 {
            return;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let n = self
            .silent_timeouts
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if n >= max.get() {
            self.silent_timeouts.store(0, Ordering::Relaxed);
            self.abandon.store(true, Ordering::Relaxed);
            self.wake_task();
        }
    }

    /// True (once) when the connection is to be abandoned.
    pub fn take_abandon(&self) -> bool {
        self.abandon.load(Ordering::Relaxed) && self.abandon.swap(false, Ordering::Relaxed)
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
                    w.sink.fail(e, 0);
                }
                let dropped = st.write_buf.len();
                st.write_buf.clear();
                st.idents.clear();
                st.write_buf.shrink(WRITE_BUF, SHRINK_ABOVE);
                shrink_queue(&mut st.queued);
                drop(st);
                self.sent(dropped);
                st = self.lock();
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
