//! Where the session leaves each caller's reply: one slot per request waiting, in a
//! table the connection keeps and reuses, instead of a channel allocated per request.
//!
//! A request's [`Sender`] travels with its waiter (queue, then session); its
//! [`Receiver`] stays with the caller's future. Either side may go first: a caller that
//! gives up (timeout, `select!`, drop) leaves its slot [`State::Gone`], and the reply,
//! when the session delivers it, is dropped here and the slot freed; a waiter dropped
//! without a reply (its session torn down) leaves [`Error::Closed`] there for the
//! caller. A slot is freed only once both sides are done with it, so an index is never
//! shared by two requests at once: a reply can only reach the caller whose request it
//! answers.
//!
//! Why not tokio's oneshot channel, which means the same: it allocates a shared cell
//! per request (the one allocation a `get` hit made), and the reply moves through more
//! places on the way. With 64 tasks on one connection the table took a `get` from
//! 5,880 to 5,666 instructions (callgrind, the whole worker of `benches/compare.rs`)
//! and from 1.01 allocations to 0.01 (`benches/alloc.rs`). One mutex guards the table;
//! it is taken last, under any other lock, and held for a few loads and stores: never
//! while waking anyone or dropping a reply.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::Error;
use crate::proto::Reply;

/// No slot: the end of the free list, or a handle already finished.
const NONE: u32 = u32::MAX;
/// A table of more slots than this is given back once every slot is free, so a burst of
/// thousands of requests does not pin their memory for the life of the connection.
const SHRINK_ABOVE: usize = 1024;

/// The reply slots of one connection.
#[derive(Default)]
pub(crate) struct Mailbox {
    slots: Mutex<Slots>,
    /// How many slots are [`State::Gone`]. Zero almost always, which lets
    /// [`Sender::is_closed`], asked of every request as its batch is taken, answer
    /// without the lock.
    gone: AtomicUsize,
}

struct Slots {
    entries: Vec<Slot>,
    /// The first free slot; each free slot names the next.
    free: u32,
    /// Slots not free.
    used: usize,
}

impl Default for Slots {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            free: NONE,
            used: 0,
        }
    }
}

/// One request's slot. The reply is kept apart from the small state, so that a slot
/// changes state without moving the reply's 190-odd bytes about: it is moved in once
/// and out once.
struct Slot {
    state: State,
    /// The caller's waker, once it has waited.
    waker: Option<Waker>,
    /// Set in [`State::Ready`] only. Not wrapped with `received` in one struct: the
    /// reply is then moved out as it is, not taken apart in another move.
    reply: Option<Result<Reply, Error>>,
    /// The bytes of the stream the reply took.
    received: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Free {
        next: u32,
    },
    /// Both sides are there; the reply has not come.
    Waiting,
    /// The reply is there for the caller to take: the session's, or
    /// [`Error::Closed`] if the sender was dropped without one.
    Ready,
    /// The caller is gone; the sender is still to finish.
    Gone,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Nothing here can panic halfway through changing a slot; carry on.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one request's reply: the session's end and the caller's.
    pub fn channel(self: &Arc<Self>) -> (Sender, Receiver<'_>) {
        let index = {
            let mut slots = self.lock();
            slots.used += 1;
            match slots.free {
                NONE => {
                    let index =
                        u32::try_from(slots.entries.len()).expect("under 4 billion waiting");
                    slots.entries.push(Slot {
                        state: State::Waiting,
                        waker: None,
                        reply: None,
                        received: 0,
                    });
                    index
                }
                index => {
                    let slot = &mut slots.entries[index as usize];
                    let State::Free { next } = slot.state else {
                        unreachable!("the free list holds free slots")
                    };
                    slot.state = State::Waiting;
                    slots.free = next;
                    index
                }
            }
        };
        let sender = Sender {
            mail: Arc::clone(self),
            index,
        };
        (sender, Receiver { mail: self, index })
    }

    /// The session's end finishes: leaves `reply` for the caller and wakes it, or, if
    /// the caller is gone, frees the slot and drops the reply.
    fn finish(&self, index: u32, reply: Result<Reply, Error>, received: usize) {
        let mut slots = self.lock();
        let slot = &mut slots.entries[index as usize];
        match slot.state {
            State::Waiting => {
                slot.reply = Some(reply);
                slot.received = received;
                slot.state = State::Ready;
                let waker = slot.waker.take();
                drop(slots);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            State::Gone => {
                slots.release(index);
                drop(slots);
                self.gone.fetch_sub(1, Ordering::Release);
                drop(reply);
            }
            State::Free { .. } | State::Ready => unreachable!("a sender's slot is waiting or gone"),
        }
    }

    /// The bytes the table holds.
    pub fn capacity(&self) -> usize {
        self.lock().entries.capacity() * std::mem::size_of::<Slot>()
    }

    /// How many slots are in use: requests whose reply has not been taken, or whose
    /// sender has not finished.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.lock().used
    }
}

impl Slots {
    /// Frees a slot whose waker and reply have been taken.
    fn release(&mut self, index: u32) {
        self.entries[index as usize].state = State::Free { next: self.free };
        self.free = index;
        self.used -= 1;
        if self.used == 0 && self.entries.len() > SHRINK_ABOVE {
            *self = Slots::default();
        }
    }
}

/// The session's end of a reply slot.
pub(crate) struct Sender {
    mail: Arc<Mailbox>,
    /// [`NONE`] once sent.
    index: u32,
}

impl Sender {
    /// True when the caller is gone: nobody will read the reply.
    pub fn is_closed(&self) -> bool {
        if self.mail.gone.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.mail.lock().entries[self.index as usize].state == State::Gone
    }

    /// Leaves the reply for the caller and wakes it; if the caller is gone, the reply
    /// is dropped.
    pub fn send(mut self, reply: Result<Reply, Error>, received: usize) {
        let index = std::mem::replace(&mut self.index, NONE);
        self.mail.finish(index, reply, received);
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.index != NONE {
            self.mail.finish(self.index, Err(Error::Closed), 0);
        }
    }
}

/// The caller's end of a reply slot.
pub(crate) struct Receiver<'a> {
    mail: &'a Mailbox,
    /// [`NONE`] once the reply has been taken.
    index: u32,
}

impl Receiver<'_> {
    /// The reply if it is there, without registering to be woken; `received` is set to
    /// the bytes of the stream it took.
    pub fn try_take(&mut self, received: &mut usize) -> Option<Result<Reply, Error>> {
        self.take(None, received)
    }

    /// The reply, or `Pending` with the task registered to be woken when it comes.
    pub fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        received: &mut usize,
    ) -> Poll<Result<Reply, Error>> {
        match self.take(Some(cx.waker()), received) {
            Some(reply) => Poll::Ready(reply),
            None => Poll::Pending,
        }
    }

    fn take(
        &mut self,
        waker: Option<&Waker>,
        received: &mut usize,
    ) -> Option<Result<Reply, Error>> {
        assert_ne!(self.index, NONE, "a reply is taken once");
        let mut slots = self.mail.lock();
        let slot = &mut slots.entries[self.index as usize];
        match slot.state {
            State::Waiting => {
                if let Some(w) = waker {
                    match &slot.waker {
                        Some(r) if r.will_wake(w) => {}
                        _ => slot.waker = Some(w.clone()),
                    }
                }
                None
            }
            State::Ready => {
                *received = slot.received;
                let reply = slot.reply.take();
                slots.release(self.index);
                self.index = NONE;
                reply
            }
            State::Free { .. } | State::Gone => unreachable!("a receiver's slot is in use"),
        }
    }
}

impl Drop for Receiver<'_> {
    fn drop(&mut self) {
        if self.index == NONE {
            return;
        }
        let mut slots = self.mail.lock();
        let slot = &mut slots.entries[self.index as usize];
        let waker = slot.waker.take();
        let unread = match slot.state {
            State::Waiting => {
                // The sender finishes the slot; until then it tells the session nobody
                // waits.
                slot.state = State::Gone;
                self.mail.gone.fetch_add(1, Ordering::Release);
                None
            }
            State::Ready => {
                let unread = slot.reply.take();
                slots.release(self.index);
                unread
            }
            State::Free { .. } | State::Gone => unreachable!("a receiver's slot is in use"),
        };
        drop(slots);
        drop((waker, unread));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    /// A reply that says which request it answers, in `received`.
    fn reply(n: usize) -> (Result<Reply, Error>, usize) {
        (Ok(Reply::Number(n as u64)), n)
    }

    fn send(tx: Sender, n: usize) {
        let (r, received) = reply(n);
        tx.send(r, received);
    }

    /// The number a taken reply carries, checked against its `received`.
    fn number(taken: Option<Result<Reply, Error>>, received: usize) -> usize {
        match taken {
            Some(Ok(Reply::Number(n))) => {
                assert_eq!(n as usize, received);
                received
            }
            other => panic!("not a number reply: {other:?}"),
        }
    }

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls `rx` with a waker that counts its wake-ups: no reply yet.
    fn waiting(rx: &mut Receiver<'_>) -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        assert!(
            rx.poll_take(&mut Context::from_waker(&waker), &mut 0)
                .is_pending()
        );
        (count, waker)
    }

    #[test]
    fn a_reply_reaches_its_receiver_and_wakes_it() {
        let mail = Arc::new(Mailbox::default());
        let (tx, mut rx) = mail.channel();
        let (count, waker) = waiting(&mut rx);
        assert!(!tx.is_closed());
        send(tx, 7);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        let mut got = 0;
        let Poll::Ready(r) = rx.poll_take(&mut Context::from_waker(&waker), &mut got) else {
            panic!("the reply is there");
        };
        assert_eq!(number(Some(r), got), 7);
        drop(rx);
        assert_eq!(mail.used(), 0);
    }

    #[test]
    fn each_slot_keeps_its_own_reply() {
        let mail = Arc::new(Mailbox::default());
        let (a_tx, mut a_rx) = mail.channel();
        let (b_tx, mut b_rx) = mail.channel();
        send(b_tx, 2);
        send(a_tx, 1);
        let mut got = 0;
        assert_eq!(number(b_rx.try_take(&mut got), got), 2);
        // b's slot is free and reused by c; a's reply is still a's.
        let (c_tx, mut c_rx) = mail.channel();
        assert!(c_rx.try_take(&mut 0).is_none());
        let mut got = 0;
        assert_eq!(number(a_rx.try_take(&mut got), got), 1);
        send(c_tx, 3);
        let mut got = 0;
        assert_eq!(number(c_rx.try_take(&mut got), got), 3);
        assert_eq!(mail.used(), 0);
    }

    #[test]
    fn a_gone_caller_is_seen_and_its_reply_dropped() {
        let mail = Arc::new(Mailbox::default());
        let (tx, rx) = mail.channel();
        let (other_tx, _other_rx) = mail.channel();
        drop(rx);
        assert!(tx.is_closed());
        assert!(!other_tx.is_closed());
        send(tx, 1);
        assert_eq!(mail.gone.load(Ordering::Relaxed), 0);
        assert_eq!(mail.used(), 1);
        // A reused slot starts waiting, not gone.
        let (reused, _rx) = mail.channel();
        assert!(!reused.is_closed());
    }

    #[test]
    fn a_sender_dropped_without_a_reply_closes_the_slot() {
        let mail = Arc::new(Mailbox::default());
        let (tx, mut rx) = mail.channel();
        let (count, _) = waiting(&mut rx);
        drop(tx);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(matches!(rx.try_take(&mut 0), Some(Err(Error::Closed))));
        assert_eq!(mail.used(), 0);

        // Both gone, in the other order.
        let (tx, rx) = mail.channel();
        drop(rx);
        drop(tx);
        assert_eq!(mail.used(), 0);
        assert_eq!(mail.gone.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_unread_reply_is_freed_with_its_receiver() {
        let mail = Arc::new(Mailbox::default());
        let (tx, rx) = mail.channel();
        send(tx, 1);
        drop(rx);
        assert_eq!(mail.used(), 0);
    }

    #[test]
    fn a_large_table_is_given_back_when_all_free() {
        let mail = Arc::new(Mailbox::default());
        let pairs: Vec<_> = (0..SHRINK_ABOVE + 1).map(|_| mail.channel()).collect();
        assert_eq!(mail.lock().entries.len(), SHRINK_ABOVE + 1);
        drop(pairs);
        assert_eq!(mail.used(), 0);
        assert_eq!(mail.lock().entries.capacity(), 0);
    }
}
