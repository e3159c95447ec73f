//! What happened to the requests: counts and latency histograms (all requests, and
//! gets and sets apart), per worker, merged by the coordinator.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency recorded as itself (an hour); longer ones are recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Which command a request was (a multi-key get is a get).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    #[default]
    Get,
    Set,
}

/// The result of one request (an mget is one request for many keys).
#[derive(Debug, Default)]
pub struct Outcome {
    pub command: Command,
    /// From the time the request was due (its send time, or with --rate its slot in the
    /// schedule) to its reply.
    pub latency: Duration,
    /// Keys read (1 for a get; the batch for an mget).
    pub gets: u32,
    pub hits: u32,
    pub misses: u32,
    /// Hits whose value was not the one stored under the key.
    pub wrong: u32,
    /// Keys written.
    pub sets: u32,
    /// The request failed (timeout, connection lost, server error).
    pub error: Option<mcaside::Error>,
}

#[derive(Debug, Clone)]
pub struct Tally {
    /// Requests that completed without an error.
    pub requests: u64,
    pub gets: u64,
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Hits with a wrong value.
    pub wrong: u64,
    /// The first failure, to tell the user what went wrong.
    pub first_error: Option<String>,
    /// Microseconds per successful request. Failures are left out: a refused connection
    /// fails in a microsecond and would flatter the percentiles.
    pub latency: Histogram<u64>,
    /// The same, for gets and for sets alone.
    pub get: PerCommand,
    pub set: PerCommand,
}

/// One command's share of a [`Tally`].
#[derive(Debug, Clone)]
pub struct PerCommand {
    /// Requests that completed without an error.
    pub requests: u64,
    pub failed: u64,
    pub latency: Histogram<u64>,
}

impl PerCommand {
    fn new() -> PerCommand {
        PerCommand {
            requests: 0,
            failed: 0,
            latency: histogram(),
        }
    }

    fn add(&mut self, other: &PerCommand) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.latency
            .add(&other.latency)
            .expect("an auto-resizing histogram takes any other");
    }
}

/// Auto-resizing: it grows to the largest latency seen instead of reserving room for
/// minutes up front, which matters with three histograms per worker.
fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            requests: 0,
            gets: 0,
            hits: 0,
            misses: 0,
            sets: 0,
            failed: 0,
            wrong: 0,
            first_error: None,
            latency: histogram(),
            get: PerCommand::new(),
            set: PerCommand::new(),
        }
    }

    pub fn command(&self, c: Command) -> &PerCommand {
        match c {
            Command::Get => &self.get,
            Command::Set => &self.set,
        }
    }

    pub fn record(&mut self, o: Outcome) {
        let per = match o.command {
            Command::Get => &mut self.get,
            Command::Set => &mut self.set,
        };
        if let Some(e) = o.error {
            self.failed += 1;
            per.failed += 1;
            self.first_error.get_or_insert_with(|| e.to_string());
            return;
        }
        self.requests += 1;
        per.requests += 1;
        self.gets += u64::from(o.gets);
        self.hits += u64::from(o.hits);
        self.misses += u64::from(o.misses);
        self.wrong += u64::from(o.wrong);
        self.sets += u64::from(o.sets);
        // Not `saturating_record`: it clamps to the range the histogram has so far
        // instead of growing it. The clamp here only keeps a stuck clock from growing
        // the histogram to 2^64.
        let micros =
            u64::try_from(o.latency.as_micros()).map_or(MAX_LATENCY_US, |m| m.min(MAX_LATENCY_US));
        for h in [&mut self.latency, &mut per.latency] {
            h.record(micros)
                .expect("an auto-resizing histogram records any value up to an hour");
        }
    }

    /// Adds `other` into this tally.
    pub fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.gets += other.gets;
        self.hits += other.hits;
        self.misses += other.misses;
        self.sets += other.sets;
        self.failed += other.failed;
        self.wrong += other.wrong;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.latency
            .add(&other.latency)
            .expect("an auto-resizing histogram takes any other");
        self.get.add(&other.get);
        self.set.add(&other.set);
    }

    /// Failed requests and wrong values: anything that would be a bug or an outage in
    /// an application.
    pub fn errors(&self) -> u64 {
        self.failed + self.wrong
    }

    /// Keys read and written.
    pub fn keys(&self) -> u64 {
        self.gets + self.sets
    }

    /// Hits per key read, or `None` when nothing was read.
    pub fn hit_rate(&self) -> Option<f64> {
        let reads = self.hits + self.misses;
        (reads > 0).then(|| self.hits as f64 / reads as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_latencies_are_recorded_as_they_are() {
        let mut t = Tally::new();
        for ms in [1, 5_000] {
            t.record(Outcome {
                latency: Duration::from_millis(ms),
                gets: 1,
                hits: 1,
                ..Outcome::default()
            });
        }
        t.record(Outcome {
            command: Command::Set,
            latency: Duration::from_millis(2),
            sets: 1,
            ..Outcome::default()
        });
        let mut sum = Tally::new();
        sum.add(&t);
        assert_eq!(
            (sum.requests, sum.get.requests, sum.set.requests),
            (3, 2, 1)
        );
        assert_eq!(sum.latency.len(), 3);
        assert!(sum.set.latency.equivalent(sum.set.latency.max(), 2_000));
        assert!(sum.get.latency.equivalent(sum.get.latency.max(), 5_000_000));
        assert!(sum.latency.equivalent(sum.latency.max(), 5_000_000));
        assert!(sum.latency.equivalent(sum.latency.min(), 1_000));
    }

    #[test]
    fn failures_count_but_have_no_latency() {
        let mut t = Tally::new();
        t.record(Outcome {
            error: Some(mcaside::Error::Timeout),
            ..Outcome::default()
        });
        assert_eq!((t.requests, t.failed, t.errors()), (0, 1, 1));
        assert!(t.latency.is_empty());
        assert!(t.first_error.is_some());
    }
}
