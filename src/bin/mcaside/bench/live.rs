//! The line that shows the run while it happens, rewritten about once a second.
//!
//! Only on a terminal: piped into a file or another program, carriage returns and
//! escape codes would be noise among the results.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::tally::Tally;

pub struct Live {
    on: bool,
}

impl Live {
    pub fn new() -> Live {
        Live {
            on: std::io::stderr().is_terminal(),
        }
    }

    /// Shows `interval`, what completed in the last `over`, at `at` into `phase`.
    pub fn show(&self, phase: &str, at: Duration, interval: &Tally, over: Duration) {
        if !self.on {
            return;
        }
        let secs = over.as_secs_f64().max(1e-9);
        let mut line = format!(
            "{phase:<6} {:5.1}s  {:>9.0} ops/s",
            at.as_secs_f64(),
            interval.requests as f64 / secs
        );
        if interval.keys() != interval.requests {
            line += &format!("  {:>9.0} keys/s", interval.keys() as f64 / secs);
        }
        if let Some(rate) = interval.hit_rate() {
            line += &format!("  hits {:6.2}%", rate * 100.0);
        }
        if !interval.latency.is_empty() {
            line += &format!("  p99 {} µs", interval.latency.value_at_quantile(0.99));
        }
        if interval.errors() > 0 {
            line += &format!("  errors {}", interval.errors());
        }
        // \r and erase-line: the next line overwrites this one.
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K{line}");
    }

    /// Shows the preload's progress: `stored` of `keys` after `elapsed`.
    pub fn preload(&self, stored: u64, keys: u64, elapsed: Duration) {
        if !self.on {
            return;
        }
        let rate = stored as f64 / elapsed.as_secs_f64().max(1e-9);
        let percent = stored as f64 * 100.0 / keys.max(1) as f64;
        let line = format!(
            "preload {:5.1}s  {stored} of {keys} keys stored ({percent:.0}%)  {rate:.0} keys/s",
            elapsed.as_secs_f64()
        );
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K{line}");
    }

    /// Removes the line, so that the report starts on a clean one.
    pub fn clear(&self) {
        if self.on {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}
