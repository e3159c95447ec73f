//! A worker: one task sending requests, as one user of the cache would, until told to
//! stop or until it has sent its `--requests`. Many of them share each server's client,
//! whose multiplexing is what is being measured.
//!
//! A worker keeps `--pipeline` requests in flight with as many lanes: sequential loops,
//! polled together in the worker's task (by `mcaside::join_all`), each sending its next
//! request as soon as its last one is answered, as memtier's pipeline does.
//!
//! With `--rate`, requests are due at fixed times: request k of worker w at
//! `origin + (k · concurrency + w) / rate`, which spaces all of them evenly. A lane
//! waits for the next due time, and a request that could not go out on time (every
//! lane was waiting for a reply) goes out late, but its latency is still counted from
//! when it was due. A stalled server thus shows in the latency of every request it
//! delayed, not only of the few that were in flight (no coordinated omission).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcaside::{Expiry, join_all};
use rand::RngExt;

use super::args::{Length, Plan};
use super::cluster::Cluster;
use super::keyspace::{Key, Picker, is_value_of, value};
use super::rng::{self, Rng};
use super::tally::{Command, Outcome, Tally};

/// How long a lane waits after a failed request before the next one.
const FAILURE_PAUSE: Duration = Duration::from_millis(1);
/// The longest a lane sleeps towards a due time without looking at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);
/// How late a timer may wake a lane without the lateness counting as latency.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// What every worker shares: the servers, the plan, and the coordinator's signals.
pub struct Run {
    pub cluster: Arc<Cluster>,
    pub plan: Arc<Plan>,
    /// Set when the measured run is over (duration mode): lanes stop sending.
    pub stop: AtomicBool,
    /// Set when the warmup is over. With --requests, only requests sent after it count
    /// towards each worker's N, and only they are recorded.
    pub measuring: AtomicBool,
    /// Time zero of the --rate schedule.
    pub origin: Instant,
}

#[derive(Debug)]
enum Op {
    Get(u64),
    Mget(Vec<u64>),
    /// The value is made before the clock starts: its cost is the bench's, not the
    /// request's.
    Set(u64, Vec<u8>),
}

pub struct Worker {
    number: usize,
    run: Arc<Run>,
    /// Shared with the coordinator, which takes its contents about once a second. The
    /// lock is uncontended the rest of the time, so taking it per request is cheap.
    tally: Arc<Mutex<Tally>>,
}

/// The per-lane state.
struct Lane {
    picker: Picker,
    rng: Rng,
    /// When its last recorded request completed.
    last: Option<Instant>,
}

impl Worker {
    pub fn new(number: usize, run: Arc<Run>, tally: Arc<Mutex<Tally>>) -> Worker {
        Worker { number, run, tally }
    }

    /// Runs the lanes; returns when the last recorded request completed.
    pub async fn run(self) -> Option<Instant> {
        let plan = &self.run.plan;
        let remaining = AtomicU64::new(match plan.length {
            Length::Requests(n) => n,
            Length::Duration(_) => u64::MAX,
        });
        let next_slot = AtomicU64::new(0);
        let lanes = (0..plan.pipeline).map(|lane| {
            let stream = (self.number as u64) << 20 | lane as u64;
            let state = Lane {
                picker: Picker::new(plan.keys, plan.distribution),
                rng: rng::stream(plan.seed, stream),
                last: None,
            };
            self.lane(state, &remaining, &next_slot)
        });
        join_all(lanes).await.into_iter().flatten().max()
    }

    async fn lane(
        &self,
        mut lane: Lane,
        remaining: &AtomicU64,
        next_slot: &AtomicU64,
    ) -> Option<Instant> {
        let run = &*self.run;
        let plan = &*run.plan;
        let counted = matches!(plan.length, Length::Requests(_));
        loop {
            if run.stop.load(Ordering::Relaxed) {
                break;
            }
            let measured = run.measuring.load(Ordering::Acquire);
            if counted
                && measured
                && remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                    .is_err()
            {
                break;
            }
            let op = self.next_op(&mut lane);
            let due = match plan.rate {
                None => Instant::now(),
                Some(rate) => {
                    let k = next_slot.fetch_add(1, Ordering::Relaxed);
                    let at = (k as f64 * plan.concurrency as f64 + self.number as f64) / rate;
                    let due = run.origin + Duration::from_secs_f64(at);
                    match self.sleep_until(due).await {
                        Some(start) => start,
                        None => break,
                    }
                }
            };
            let outcome = execute(&run.cluster, op, plan.value_size, due).await;
            let failed = outcome.error.is_some();
            if !counted || measured {
                lane.last = Some(Instant::now());
                self.tally
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(outcome);
            }
            if failed {
                // A request to a server that is down fails at once; without a pause the
                // lanes would spin, counting millions of errors and starving the
                // coordinator's clock.
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
        lane.last
    }

    fn next_op(&self, lane: &mut Lane) -> Op {
        let w = &self.run.plan.workload;
        let set = match (w.sets, w.gets) {
            (_, 0) => true,
            (0, _) => false,
            (s, g) => lane.rng.random_range(0..u64::from(s) + u64::from(g)) < u64::from(s),
        };
        if set {
            let index = lane.picker.pick(&mut lane.rng);
            Op::Set(index, value(index, self.run.plan.value_size))
        } else if w.keys_per_get == 1 {
            Op::Get(lane.picker.pick(&mut lane.rng))
        } else {
            let picker = &lane.picker;
            let rng = &mut lane.rng;
            Op::Mget((0..w.keys_per_get).map(|_| picker.pick(rng)).collect())
        }
    }

    /// Waits until `due`, and returns the time the request's latency counts from; `None`
    /// if the run was stopped meanwhile.
    ///
    /// A lane that is behind (its last reply came after `due`) sends at once, and the
    /// latency counts from `due`: the wait is the server's doing. A lane that sleeps
    /// towards `due` wakes up to a millisecond or so late, because tokio's timer ticks
    /// in milliseconds; that lateness is the bench's own, and up to [`TIMER_SLACK`] of
    /// it is not counted (else at any rate every latency would grow by ~1 ms).
    async fn sleep_until(&self, due: Instant) -> Option<Instant> {
        if Instant::now() >= due {
            return Some(due);
        }
        loop {
            if self.run.stop.load(Ordering::Relaxed) {
                return None;
            }
            let now = Instant::now();
            if now >= due {
                return Some(now.min(due + TIMER_SLACK));
            }
            tokio::time::sleep_until((due.min(now + STOP_CHECK)).into()).await;
        }
    }
}

/// Sends one request; its latency runs from `due` (see [`Worker::sleep_until`]) to the
/// reply.
async fn execute(cluster: &Cluster, op: Op, value_size: usize, due: Instant) -> Outcome {
    match op {
        Op::Get(index) => {
            let key = Key::new(index);
            let result = cluster.client.get(key).await;
            let latency = due.elapsed();
            match result {
                Ok(Some(item)) => Outcome {
                    latency,
                    gets: 1,
                    hits: 1,
                    wrong: u32::from(!is_value_of(index, value_size, &item.value)),
                    ..Outcome::default()
                },
                Ok(None) => Outcome {
                    latency,
                    gets: 1,
                    misses: 1,
                    ..Outcome::default()
                },
                Err(e) => failure(Command::Get, e),
            }
        }
        // Timed as a whole: the latency of a page that needs all the keys.
        Op::Mget(indexes) => {
            let keys: Vec<Key> = indexes.iter().map(|&i| Key::new(i)).collect();
            let result = cluster.get_many(&keys).await;
            let latency = due.elapsed();
            match result {
                Ok(items) => {
                    let mut o = Outcome {
                        latency,
                        gets: keys.len() as u32,
                        ..Outcome::default()
                    };
                    for (&index, item) in indexes.iter().zip(&items) {
                        match item {
                            Some(item) => {
                                o.hits += 1;
                                o.wrong += u32::from(!is_value_of(index, value_size, &item.value));
                            }
                            None => o.misses += 1,
                        }
                    }
                    o
                }
                Err(e) => failure(Command::Get, e),
            }
        }
        Op::Set(index, value) => {
            let key = Key::new(index);
            let result = cluster.client.set(key, &value, Expiry::Never).await;
            match result {
                Ok(()) => Outcome {
                    command: Command::Set,
                    latency: due.elapsed(),
                    sets: 1,
                    ..Outcome::default()
                },
                Err(e) => failure(Command::Set, e),
            }
        }
    }
}

fn failure(command: Command, e: mcaside::Error) -> Outcome {
    Outcome {
        command,
        error: Some(e),
        ..Outcome::default()
    }
}
