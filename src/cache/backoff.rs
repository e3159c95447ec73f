//! Waiting for another caller's load: doubling pauses, never past the bound, counted.

use std::time::{Duration, Instant};

use super::metrics::Counters;

/// The first pause between polls; it doubles up to [`MAX_PAUSE`]. Short enough that a
/// fast load is picked up quickly, capped so a slow one is not polled into the ground.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// The pauses of one wait.
pub(crate) struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    /// A wait that may last `bound`.
    pub fn new(bound: Duration) -> Self {
        Backoff {
            deadline: Instant::now() + bound,
            pause: FIRST_PAUSE,
        }
    }

    /// Sleeps for the next pause and returns true, or returns false at once if that
    /// pause would end past the bound (the caller then applies its timeout policy).
    pub async fn pause(&mut self) -> bool {
        if Instant::now() + self.pause > self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        true
    }
}

/// One caller's wait for a key someone else is loading: its backoff, and its counting
/// (one miss per wait, however many polls; one lease wait per poll).
pub(crate) struct Wait<'a> {
    backoff: Backoff,
    counters: &'a Counters,
    missed: bool,
}

impl<'a> Wait<'a> {
    pub fn new(bound: Duration, counters: &'a Counters) -> Self {
        Wait {
            backoff: Backoff::new(bound),
            counters,
            missed: false,
        }
    }

    /// Counts this read as a miss, once per wait.
    pub fn miss(&mut self) {
        if !self.missed {
            self.missed = true;
            Counters::add(&self.counters.misses, 1);
        }
    }

    /// A read found the key still being loaded: counts the miss, pauses, and returns
    /// true to read again, or false when the bound is reached.
    pub async fn again(&mut self) -> bool {
        self.miss();
        if !self.backoff.pause().await {
            return false;
        }
        Counters::add(&self.counters.lease_waits, 1);
        true
    }
}
