//! Is a server dead? Consecutive failures, counted per server, decide.
//!
//! A failure here is one that says something about the server, not about the request:
//! the connection refused, a connect or request timeout, the socket closed or broken
//! (see [`counts_against_server`]). After `dead_after` of them in a row the server is
//! marked dead: its requests then fail at once instead of each paying a connect timeout,
//! until a probe finds it answering again. Any success resets the count.
//!
//! The hot path reads one atomic (`is_dead`) per request, and a success writes only if
//! the count was not already zero.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

use crate::Error;

/// One server's health.
#[derive(Debug)]
pub(crate) struct Health {
    dead: AtomicBool,
    failures: AtomicU32,
    dead_after: u32,
    /// When it was marked dead, for the eject policy's minimum time out of the ring.
    since: Mutex<Option<Instant>>,
}

/// What a recorded failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still alive (or already dead).
    Unchanged,
    /// This failure made the server dead.
    Died,
}

impl Health {
    pub fn new(dead_after: u32) -> Health {
        Health {
            dead: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            dead_after: dead_after.max(1),
            since: Mutex::new(None),
        }
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    pub fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    pub fn failed(&self) -> Verdict {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if n >= self.dead_after && !self.dead.swap(true, Ordering::AcqRel) {
            *self.since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            return Verdict::Died;
        }
        Verdict::Unchanged
    }

    /// Marks the server dead at once (it could not be reached when the client was
    /// built).
    pub fn mark_dead(&self) {
        self.failures.store(self.dead_after, Ordering::Relaxed);
        if !self.dead.swap(true, Ordering::AcqRel) {
            *self.since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }

    /// A probe found the server answering.
    pub fn revived(&self) {
        self.failures.store(0, Ordering::Relaxed);
        *self.since.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.dead.store(false, Ordering::Release);
    }

    /// When the server was marked dead, if it is.
    pub fn dead_since(&self) -> Option<Instant> {
        *self.since.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// True for a failure that tells about the server's health: it could not be reached or
/// stopped answering. Refusals of one request (bad input, a server error line, a value
/// over the limit) and a stream out of step (the server is up; the connection is
/// re-made) say nothing about it.
pub(crate) fn counts_against_server(e: &Error) -> bool {
    matches!(
        e,
        Error::Io(_) | Error::Timeout | Error::Closed | Error::Connect(_) | Error::QueueFull
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dies_after_consecutive_failures_only() {
        let h = Health::new(3);
        assert_eq!(h.failed(), Verdict::Unchanged);
        assert_eq!(h.failed(), Verdict::Unchanged);
        h.succeeded();
        assert_eq!(h.failed(), Verdict::Unchanged);
        assert_eq!(h.failed(), Verdict::Unchanged);
        assert!(!h.is_dead());
        assert_eq!(h.failed(), Verdict::Died);
        assert!(h.is_dead() && h.dead_since().is_some());
        assert_eq!(h.failed(), Verdict::Unchanged, "dies once");
        h.revived();
        assert!(!h.is_dead() && h.dead_since().is_none());
        assert_eq!(h.failed(), Verdict::Unchanged);
    }
}
