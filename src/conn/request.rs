//! A caller's side of a request, including the fast path.
//!
//! A request is queued (see [`Shared::enqueue`]) and then awaited here. Usually the I/O
//! task sends it and leaves the reply in the request's slot (see [`super::mailbox`]). But when the
//! connection is idle, the caller drives the session itself, from this future's `poll`:
//! one task issuing one request at a time then pays no task hand-off at all, which on a
//! small machine is a fifth or more of a round trip.
//!
//! The fast path never outlives its usefulness: as soon as another request is queued,
//! the I/O task takes over driving (for everyone, this caller included), and if this
//! future is dropped before its reply arrives, it hands the session back so the I/O task
//! reads (and discards) that reply. So a future that is kept but never polled again
//! cannot stall other callers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::mailbox::Receiver;
use super::queue::{Mode, Queued, Shared};
use super::session::End;
use crate::error::Error;
use crate::proto::Reply;

/// Waits for one queued request's reply (from `Connection::start`), and records the
/// bytes each way in the current span.
pub(crate) struct Request<'a> {
    shared: &'a Shared,
    rx: Receiver<'a>,
    /// Set while this caller drives the session itself.
    ticket: Option<u64>,
}

impl<'a> Request<'a> {
    pub(super) fn new(shared: &'a Shared, queued: Queued<'a>) -> Self {
        tracing::Span::current().record("sent", queued.sent);
        Request {
            shared,
            rx: queued.rx.expect("a waiter was queued"),
            ticket: queued.ticket,
        }
    }
}

impl Future for Request<'_> {
    type Output = Result<Reply, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut received = 0;
        let reply = ready!(self.poll_reply(cx, &mut received));
        tracing::Span::current().record("received", received);
        Poll::Ready(reply)
    }
}

impl Request<'_> {
    /// The reply, with `received` set to the bytes of the stream it took.
    fn poll_reply(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        received: &mut usize,
    ) -> Poll<Result<Reply, Error>> {
        if let Some(ticket) = self.ticket {
            if drive(self.shared, ticket, cx) {
                // Driving, this caller waits on the socket. Its reply, if the session
                // just delivered it, is read without registering a waker on the
                // slot: the delivery would otherwise wake this very task while it
                // runs, and the scheduler would poll it once more for nothing (and,
                // on a multi-threaded runtime, unpark another worker to do it).
                return match self.rx.try_take(received) {
                    Some(reply) => {
                        self.ticket = None;
                        self.shared.release(ticket);
                        Poll::Ready(reply)
                    }
                    None => Poll::Pending,
                };
            }
            self.ticket = None;
        }
        self.rx.poll_take(cx, received)
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            self.shared.release(ticket);
        }
    }
}

/// Drives the session from the caller's task if it still holds `ticket`. Returns false
/// once the fast path is over (another request arrived, or the session ended).
fn drive(shared: &Shared, ticket: u64, cx: &mut Context<'_>) -> bool {
    let mut guard = shared.slot();
    let slot = &mut *guard;
    if slot.mode != Mode::Caller(ticket) {
        return false;
    }
    let Some(session) = slot.session.as_mut() else {
        return false;
    };
    match session.poll(shared, cx) {
        Poll::Pending => {
            match &slot.caller_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => slot.caller_waker = Some(cx.waker().clone()),
            }
            true
        }
        Poll::Ready(end) => {
            // Fail everything in flight (this request included), and leave the rest to
            // the I/O task: it reconnects.
            let mut session = slot.session.take().expect("polled above");
            if let End::Broken(e) = &end {
                let unwritten = session.fail_in_flight(e);
                shared.sent(unwritten);
            }
            slot.ended = Some(end);
            slot.mode = Mode::Task;
            slot.caller_waker = None;
            drop(guard);
            shared.wake_task();
            false
        }
    }
}
