//! A connection's I/O task: connect, drive the session when nobody else does, reconnect.
//!
//! The task installs each new [`Session`] in the shared slot and drives it whenever the
//! slot's [`Mode`] says so: always under concurrency, and after a fast-path caller hands
//! it back. When a session ends (EOF, I/O error, or a reply out of step), every request
//! in flight has already failed with that error; the task reconnects at once, and if
//! that fails, retries with capped exponential backoff while requests fail fast.
//!
//! The task also owns the connection's one [`Timer`]: requests carry deadlines, and
//! rather than each caller arming a timer of its own, the timer is set for the earliest
//! deadline waiting and fails what is due when it fires (see `Shared::expire`). It runs
//! while the task drives, while it reconnects and while a fast-path caller drives.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use tracing::{Instrument, debug, warn};

use super::queue::{Link, Mode, Shared};
use super::session::{End, Session};
use super::transport::Transport;
use crate::error::{ConnectError, ConnectStep, Error};

/// Opens a socket to the connection's server, runs the TLS handshake and logs in when
/// configured, all within the connect timeout. A failure names the server and the step
/// that failed, for the caller and for requests failing fast while the link is down.
pub(crate) async fn connect(shared: &Shared) -> Result<Transport, Error> {
    open(&shared.addr, &shared.config).await
}

/// What [`connect`] does, for any address and settings (also for tools that speak the
/// protocol themselves: see `ClientBuilder::connect_raw`).
pub(crate) async fn open(
    addr: &super::ServerAddr,
    config: &super::ConnConfig,
) -> Result<Transport, Error> {
    let mut step = ConnectStep::Connect;
    let attempt = async {
        let io = Transport::connect_with(addr, config.keepalive).await?;
        #[cfg(feature = "tls")]
        let io = match &config.login.tls {
            Some(tls) => {
                step = ConnectStep::Tls;
                io.into_tls(tls, addr).await?
            }
            None => io,
        };
        let mut io = io;
        if let Some(creds) = &config.login.credentials {
            step = ConnectStep::Auth;
            super::auth::login(&mut io, creds, config.limits).await?;
        }
        Ok::<_, Error>(io)
    };
    let cause = match tokio::time::timeout(config.connect_timeout, attempt).await {
        Ok(Ok(io)) => return Ok(io),
        Ok(Err(e)) => e,
        Err(_) => Error::Timeout,
    };
    Err(ConnectError::new(addr.clone(), step, cause).into())
}

/// Installs the first session and starts the I/O task, in a `conn` span naming the
/// server (the wire log's context).
pub(crate) fn spawn(shared: Arc<Shared>, first: Transport) {
    install(&shared, first);
    let span = tracing::debug_span!("conn", server = %shared.addr);
    tokio::spawn(run(shared).instrument(span));
}

/// Starts the I/O task without a session: it connects in the background, retrying with
/// the backoff, while requests queue (then fail fast while the link is down). For a
/// server of a cluster that could not be reached when the client was built.
pub(crate) fn spawn_unconnected(shared: Arc<Shared>, first_error: Error) {
    shared.set_link(Link::Down(first_error));
    let span = tracing::debug_span!("conn", server = %shared.addr);
    tokio::spawn(run(shared).instrument(span));
}

fn install(shared: &Shared, io: Transport) {
    // A request that timed out on the old connection says nothing about this one.
    shared.heard();
    let mut slot = shared.slot();
    slot.session = Some(Session::new(io, shared.config.limits));
    slot.mode = Mode::Task;
    slot.ended = None;
    drop(slot);
    shared.set_link(Link::Up);
}

/// The connection's timer: armed for the earliest deadline of a waiting request
/// (`State::timer`), it fails what is due when it fires.
#[derive(Default)]
struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The instant `sleep` is set for, until it fires.
    armed: Option<Instant>,
}

impl Timer {
    /// Fails the requests that are due and leaves the timer registered with `cx` for
    /// the next deadline. `want` is `State::timer`, read by the caller under a lock it
    /// takes anyway.
    fn poll(&mut self, shared: &Shared, mut want: Option<Instant>, cx: &mut Context<'_>) {
        while let Some(at) = want {
            if self.armed != Some(at) {
                match &mut self.sleep {
                    Some(sleep) => sleep.as_mut().reset(at),
                    None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
                }
                self.armed = Some(at);
            }
            let sleep = self.sleep.as_mut().expect("armed above");
            if sleep.as_mut().poll(cx).is_pending() {
                return;
            }
            self.armed = None;
            shared.expire(Instant::now());
            want = shared.lock().timer;
        }
    }

    /// Runs `fut` with the timer running beside it.
    async fn beside<T>(&mut self, shared: &Shared, fut: impl Future<Output = T>) -> T {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            let want = {
                // Registered, so that a request queued meanwhile wakes the task to
                // bring the timer forward.
                let mut st = shared.lock();
                st.register(cx.waker());
                st.timer
            };
            self.poll(shared, want, cx);
            fut.as_mut().poll(cx)
        })
        .await
    }
}

/// The task body: sessions back to back until every handle is dropped.
async fn run(shared: Arc<Shared>) {
    let mut backoff = shared.config.backoff_min;
    let mut timer = Timer::default();
    loop {
        let mut yielded = false;
        match poll_fn(|cx| drive(&shared, &mut timer, &mut yielded, cx)).await {
            End::Shutdown => return,
            End::Broken(e) => match e {
                Error::Closed => debug!("server closed the connection"),
                e => warn!(error = %e, "connection broken"),
            },
        }
        loop {
            if shared.is_shutdown() {
                return;
            }
            shared.set_link(Link::Connecting);
            match timer.beside(&shared, connect(&shared)).await {
                Ok(io) => {
                    debug!("reconnected");
                    install(&shared, io);
                    backoff = shared.config.backoff_min;
                    break;
                }
                Err(e) => {
                    warn!(error = %e, retry_in = ?backoff, "connect failed");
                    shared.set_link(Link::Down(e));
                    let slept = sleep_unless_shutdown(&shared, backoff);
                    if !timer.beside(&shared, slept).await {
                        return;
                    }
                    backoff = (backoff * 2).min(shared.config.backoff_max);
                }
            }
        }
    }
}

/// One wake-up of the I/O task: drive the session unless a fast-path caller is.
/// Returns how the session ended.
///
/// When new requests are queued and nothing is being written, the task first yields
/// once. The scheduler runs a task woken by another one right after it, so without this
/// the first of many callers woken by a batch of replies would wake the I/O task, which
/// would write that one request alone, then the second, and so on. After the yield,
/// every caller that was ready to run has queued its request, and one write carries
/// them all (and memcached answers them in one go).
fn drive(
    shared: &Shared,
    timer: &mut Timer,
    yielded: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<End> {
    let (has_queued, due) = {
        let mut st = shared.lock();
        st.register(cx.waker());
        (!st.write_buf.is_empty(), st.timer)
    };
    timer.poll(shared, due, cx);
    let mut guard = shared.slot();
    let slot = &mut *guard;
    if shared.take_abandon()
        && let Some(mut session) = slot.session.take()
    {
        // Requests keep timing out and the server sends nothing: it is stuck or gone
        // without closing the connection. Drop it and dial again (a fast-path caller
        // driving it finds the session gone and waits on its channel, which fails now).
        let e = Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the server sent nothing while requests kept timing out; connection closed",
        ));
        let unwritten = session.fail_in_flight(&e);
        shared.sent(unwritten);
        slot.mode = Mode::Task;
        if let Some(w) = slot.caller_waker.take() {
            w.wake();
        }
        return Poll::Ready(End::Broken(e));
    }
    let Some(session) = slot.session.as_mut() else {
        // A fast-path caller saw the session end and left the reason here.
        return Poll::Ready(slot.ended.take().unwrap_or(End::Broken(Error::Closed)));
    };
    if let Mode::Caller(_) = slot.mode {
        // A lone caller is driving; it hands over (and wakes us) when it is done or
        // when another request arrives.
        return Poll::Pending;
    }
    if has_queued && !*yielded && session.is_writing_done() {
        *yielded = true;
        slot.mode = Mode::Task;
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    *yielded = false;
    slot.mode = Mode::Task;
    match session.poll(shared, cx) {
        Poll::Ready(end) => {
            let mut session = slot.session.take().expect("polled above");
            if let End::Broken(e) = &end {
                let unwritten = session.fail_in_flight(e);
                shared.sent(unwritten);
            }
            Poll::Ready(end)
        }
        Poll::Pending => {
            // The task keeps the socket registered for reads even when idle, so a close
            // is noticed at once; a fast-path caller may take over from here.
            if session.is_idle() && shared.lock().queued.is_empty() {
                slot.mode = Mode::Idle;
            }
            Poll::Pending
        }
    }
}

/// Sleeps for `d`, returning early with `false` if the connection is shut down.
async fn sleep_unless_shutdown(shared: &Shared, d: std::time::Duration) -> bool {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    poll_fn(|cx| {
        let mut st = shared.lock();
        if matches!(st.link, Link::Shutdown) {
            return Poll::Ready(false);
        }
        st.register(cx.waker());
        drop(st);
        sleep.as_mut().poll(cx).map(|()| true)
    })
    .await
}
