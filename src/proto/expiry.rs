//! Expiry times, and the server's 30-day rule made explicit.
//!
//! memcached reads an exptime as *relative seconds* when it is at most 2,592,000
//! (30 days), and as an *absolute Unix time* when it is larger. So "expire in 31 days",
//! sent naively as 2,678,400, means 1970-01-31: the item is dead on arrival. Zero means
//! "never expires", and a negative number means "already expired".
//!
//! [`Expiry`] says what the caller means, and [`Expiry::to_exptime`] turns it into the
//! number that makes the server do it: durations over 30 days become absolute times
//! (computed from the client's clock, so clock skew between client and server shifts
//! them by the skew), sub-second durations round up to one second (rather than down to
//! zero, which would mean *never*), and anything past the 32-bit limit in 2038 is an
//! error rather than a silent wrap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::InputError;

/// The largest exptime the server reads as relative seconds: 30 days.
pub const MAX_RELATIVE_EXPTIME: u32 = 60 * 60 * 24 * 30;

/// When an item should expire.
///
/// ```
/// use std::time::Duration;
/// use mcaside::Expiry;
///
/// assert_eq!(Expiry::Never.to_exptime().unwrap(), 0);
/// assert_eq!(Expiry::from(Duration::from_secs(3600)).to_exptime().unwrap(), 3600);
/// // 31 days is past the relative limit: it is sent as an absolute Unix time.
/// let far = Expiry::After(Duration::from_secs(31 * 86_400)).to_exptime().unwrap();
/// assert!(far > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// The item does not expire (exptime 0). It may still be evicted.
    #[default]
    Never,
    /// Expire this long from now. Sub-second parts round up to a whole second.
    After(Duration),
    /// Expire at this wall-clock time.
    At(SystemTime),
    /// Already expired: the write happens, and the item is gone at once (exptime -1).
    Expired,
}

impl Expiry {
    /// `Expiry::After` a number of seconds.
    pub const fn secs(secs: u64) -> Self {
        Expiry::After(Duration::from_secs(secs))
    }

    /// The exptime to send, using the system clock for the 30-day conversion.
    pub fn to_exptime(self) -> Result<i64, InputError> {
        self.to_exptime_at(SystemTime::now())
    }

    /// The exptime to send, given the current time (for tests and reproducibility).
    pub fn to_exptime_at(self, now: SystemTime) -> Result<i64, InputError> {
        match self {
            Expiry::Never => Ok(0),
            Expiry::Expired => Ok(-1),
            Expiry::After(d) => {
                if d.is_zero() {
                    return Ok(-1);
                }
                // Round up: 0.5 s must not become 0, which means "never". Checked:
                // `Duration::MAX` plus one would wrap to 0, "never" again.
                let secs = secs_up(d)?;
                if secs <= u64::from(MAX_RELATIVE_EXPTIME) {
                    Ok(secs as i64)
                } else {
                    absolute(unix_secs(now).saturating_add(secs))
                }
            }
            Expiry::At(t) => {
                let secs = unix_secs(t);
                // An absolute time within 30 days of the epoch would be read as relative;
                // it is long past, so say so explicitly.
                if secs <= u64::from(MAX_RELATIVE_EXPTIME) {
                    Ok(-1)
                } else {
                    absolute(secs)
                }
            }
        }
    }

    /// The exptime as a TTL that must not be negative, for the places where "already
    /// expired" makes no sense (meta vivify `N`, the stale TTL of `md ... I T`).
    pub fn to_ttl(self) -> Result<u32, InputError> {
        match self.to_exptime()? {
            n if n < 0 => Err(InputError::BadToken {
                what: "TTL (already expired, where that makes no sense)",
            }),
            n => Ok(n as u32),
        }
    }
}

/// Whole seconds in `d`, rounded up; [`InputError::ExpiryOutOfRange`] when that does not
/// fit a `u64` (`Duration::MAX` has `u64::MAX` seconds and a fraction). Every duration the
/// client turns into seconds for the wire goes through here.
pub fn secs_up(d: Duration) -> Result<u64, InputError> {
    d.as_secs()
        .checked_add(u64::from(d.subsec_nanos() > 0))
        .ok_or(InputError::ExpiryOutOfRange)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn absolute(secs: u64) -> Result<i64, InputError> {
    // The server parses exptime as a signed 32-bit number.
    if secs > i32::MAX as u64 {
        Err(InputError::ExpiryOutOfRange)
    } else {
        Ok(secs as i64)
    }
}

impl From<Duration> for Expiry {
    fn from(d: Duration) -> Self {
        Expiry::After(d)
    }
}

impl From<SystemTime> for Expiry {
    fn from(t: SystemTime) -> Self {
        Expiry::At(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn thirty_day_rule() {
        let now = at(1_800_000_000);
        let rel = |s| Expiry::secs(s).to_exptime_at(now).unwrap();
        assert_eq!(rel(1), 1);
        assert_eq!(rel(2_592_000), 2_592_000);
        assert_eq!(rel(2_592_001), 1_800_000_000 + 2_592_001);
        assert_eq!(
            Expiry::At(at(1_800_000_100)).to_exptime_at(now),
            Ok(1_800_000_100)
        );
        assert_eq!(Expiry::At(at(1000)).to_exptime_at(now), Ok(-1));
    }

    #[test]
    fn edges() {
        let now = at(1_800_000_000);
        let e = |x: Expiry| x.to_exptime_at(now);
        assert_eq!(e(Expiry::After(Duration::from_millis(1))), Ok(1));
        assert_eq!(e(Expiry::After(Duration::from_millis(1500))), Ok(2));
        assert_eq!(e(Expiry::After(Duration::ZERO)), Ok(-1));
        assert_eq!(e(Expiry::Never), Ok(0));
        assert_eq!(e(Expiry::Expired), Ok(-1));
        assert_eq!(
            e(Expiry::secs(400_000_000)),
            Err(InputError::ExpiryOutOfRange)
        );
        assert_eq!(
            e(Expiry::At(at(i32::MAX as u64 + 1))),
            Err(InputError::ExpiryOutOfRange)
        );
        // The largest durations: out of range, never a wrap to 0 ("never").
        assert_eq!(
            e(Expiry::After(Duration::MAX)),
            Err(InputError::ExpiryOutOfRange)
        );
        assert_eq!(
            e(Expiry::After(Duration::from_secs(u64::MAX))),
            Err(InputError::ExpiryOutOfRange)
        );
        assert_eq!(secs_up(Duration::MAX), Err(InputError::ExpiryOutOfRange));
    }
}
