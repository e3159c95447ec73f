//! The state shared by callers and a connection's I/O task.
//!
//! Callers encode their command straight into `write_buf` and push a [`Waiter`] onto
//! `queued`, both under one lock, so the order of waiters is the order of their bytes on
//! the wire, which is the order the server answers in. The I/O task takes the whole
//! buffer and every waiter at once, which is what turns many concurrent requests into one
//! write.
//!
//! The lock is a plain `std::sync::Mutex`: it is held for an encode or a buffer swap,
//! never across an `.await`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use bytes::BytesMut;
use tokio::sync::oneshot;

use super::{ConnConfig, ServerAddr};
use crate::error::{Error, InputError};
use crate::proto::{Expect, Reply};

/// What a caller receives: its reply, and how many bytes of the stream it took.
pub(crate) struct Delivery {
    pub outcome: Result<Reply, Error>,
    pub received: usize,
}

/// A caller waiting for a reply of a given shape.
pub(crate) struct Waiter {
    pub expect: Expect,
    pub tx: oneshot::Sender<Delivery>,
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
    /// Every handle was dropped; the I/O task flushes what is queued and exits.
    Shutdown,
}

pub(crate) struct State {
    pub write_buf: BytesMut,
    pub queued: VecDeque<Waiter>,
    pub link: Link,
    waker: Option<Waker>,
    notified: bool,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub addr: ServerAddr,
    pub config: ConnConfig,
}

impl Shared {
    pub fn new(addr: ServerAddr, config: ConnConfig) -> Self {
        Shared {
            state: Mutex::new(State {
                write_buf: BytesMut::with_capacity(8 * 1024),
                queued: VecDeque::new(),
                link: Link::Up,
                waker: None,
                notified: false,
            }),
            addr,
            config,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock can only come from an encoder bug; the state
        // itself is still consistent (encoders write nothing on error), so carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encodes a request into the write buffer and queues its waiter (none for
    /// `noreply`). Returns the receiver and the number of bytes encoded.
    pub fn enqueue(
        &self,
        expect: Option<Expect>,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
    ) -> Result<(Option<oneshot::Receiver<Delivery>>, usize), Error> {
        let (rx, sent, wake) = {
            let mut st = self.lock();
            match &st.link {
                Link::Down(e) => return Err(e.clone()),
                Link::Shutdown => return Err(Error::Closed),
                Link::Connecting | Link::Up => {}
            }
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
                st.queued.push_back(Waiter { expect, tx });
                rx
            });
            (rx, sent, st.take_wake())
        };
        if let Some(w) = wake {
            w.wake();
        }
        Ok((rx, sent))
    }

    /// Moves to `link` and wakes the I/O task.
    pub fn set_link(&self, link: Link) {
        let wake = {
            let mut st = self.lock();
            if matches!(st.link, Link::Shutdown) {
                return;
            }
            if let Link::Down(e) = &link {
                // Nothing queued now can be sent: fail it rather than let it wait.
                for w in st.queued.drain(..) {
                    let _ = w.tx.send(Delivery {
                        outcome: Err(e.clone()),
                        received: 0,
                    });
                }
                st.write_buf.clear();
            }
            st.link = link;
            st.take_wake()
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    pub fn is_shutdown(&self) -> bool {
        matches!(self.lock().link, Link::Shutdown)
    }
}

impl State {
    /// Registers the I/O task's waker. Called under the same lock that callers enqueue
    /// under, so a request queued after this is sure to wake the task.
    pub fn register(&mut self, waker: &Waker) {
        self.notified = false;
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }

    /// The waker to call after releasing the lock, unless the task was already woken
    /// since it last looked.
    fn take_wake(&mut self) -> Option<Waker> {
        if self.notified {
            return None;
        }
        self.notified = true;
        self.waker.clone()
    }
}
