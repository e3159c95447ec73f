//! Expiry decisions: TTL jitter, and probabilistic early recompute.

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

/// XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): recompute early when
/// `now - delta * beta * ln(rand) >= expiry`, where `delta` is how long the value took to
/// load. The closer the expiry and the slower the load, the likelier; with many readers
/// of a hot key, about one recomputes shortly before expiry.
pub(crate) fn xfetch(now_ms: u64, expires_at_ms: u64, load_ms: u32, beta: f64) -> bool {
    if expires_at_ms == 0 {
        return false;
    }
    let delta = f64::from(load_ms.max(1));
    let r = unit().max(f64::MIN_POSITIVE);
    now_ms as f64 - delta * beta * r.ln() >= expires_at_ms as f64
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
    fn xfetch_fires_near_expiry_only() {
        let fires = |left_ms: u64| {
            (0..10_000)
                .filter(|_| xfetch(1_000_000, 1_000_000 + left_ms, 50, 1.0))
                .count()
        };
        assert_eq!(fires(0), 10_000);
        assert!(fires(50) > 2_000, "one load time before expiry: often");
        assert!(fires(1_000) < 50, "twenty load times before: rarely");
        assert!(
            !xfetch(1_000_000, 0, 50, 1.0),
            "no expiry, no early recompute"
        );
    }
}
