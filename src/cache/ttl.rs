//! Expiry decisions: TTL jitter, and when a value is due for early refresh on a server
//! without meta commands.

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // Different per thread and per process; quality matters little here.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    t ^ (&local as *const u8 as u64).rotate_left(32) ^ u64::from(std::process::id())
}

/// A uniform random number in `[0, 1)` (xorshift64*; no dependency for this).
pub(crate) fn unit() -> f64 {
    STATE.with(|s| {
        let mut x = s.get() | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// `base` stretched by a random factor in `[1, 1 + jitter]`, whole seconds (memcached's
/// resolution), so items written together expire spread over that window.
pub(crate) fn jittered(base: Duration, jitter: f64) -> Duration {
    let secs = base.as_secs_f64() * (1.0 + jitter * unit());
    Duration::from_secs(secs.round().max(1.0) as u64)
}

/// How much earlier than the client reckons memcached may expire an item: its clock
/// counts whole seconds, and an item's TTL runs from the tick before it was stored, so
/// an item given `n` seconds lives between `n - 1` and `n` of them.
pub(crate) const SERVER_CLOCK_GRANULARITY: Duration = Duration::from_secs(1);

/// Whether a value that the client reckons expires at `expires_at_ms` (0: never) is due
/// for early refresh at `now_ms`: when what may be left of it on the server is under
/// `threshold`. On a meta server memcached decides this itself (`mg ... R`).
pub(crate) fn refresh_due(now_ms: u64, expires_at_ms: u64, threshold: Duration) -> bool {
    if expires_at_ms == 0 {
        return false;
    }
    let left = expires_at_ms.saturating_sub(now_ms);
    let left_on_server = left.saturating_sub(SERVER_CLOCK_GRANULARITY.as_millis() as u64);
    u128::from(left_on_server) < threshold.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_its_window() {
        let base = Duration::from_secs(100);
        let draws: Vec<u64> = (0..10_000).map(|_| jittered(base, 0.2).as_secs()).collect();
        assert!(draws.iter().all(|&s| (100..=120).contains(&s)));
        let spread = draws.iter().max().unwrap() - draws.iter().min().unwrap();
        assert!(spread >= 18, "spread over the window, got {spread}");
    }

    #[test]
    fn refresh_is_due_under_the_threshold_counting_the_server_clock() {
        let t = Duration::from_secs(2);
        let at = |left_ms: u64| refresh_due(1_000_000, 1_000_000 + left_ms, t);
        // Up to a second less may be left on the server than the client reckons.
        assert!(!at(3_001));
        assert!(at(2_999));
        assert!(at(0));
        assert!(!refresh_due(1_000_000, 0, t), "no expiry, no early refresh");
        assert!(
            refresh_due(1_000_000, 999_000, t),
            "past the client's expiry"
        );
    }
}
