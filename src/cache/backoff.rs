//! Waiting for another caller's load: doubling pauses, never past the bound.

use std::time::{Duration, Instant};

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
