//! A worker: one task sending requests back to back, as one user of the cache would,
//! until told to stop. Many of them share each server's client, whose multiplexing is
//! what is being measured.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcaside::{Expiry, join_all};

use super::args::{Plan, Workload};
use super::cluster::Cluster;
use super::keyspace::{Key, Picker, is_value_of, value};
use super::rng::Rng;
use super::tally::{Outcome, Tally};

/// How long a worker waits after a failed request before the next one.
const FAILURE_PAUSE: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy)]
enum Op {
    Get(u64),
    Set(u64),
}

pub struct Worker {
    cluster: Arc<Cluster>,
    plan: Arc<Plan>,
    picker: Picker,
    rng: Rng,
    /// Shared with the coordinator, which takes its contents about once a second. The
    /// lock is uncontended the rest of the time, so taking it per request is cheap.
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    pub fn new(
        number: usize,
        cluster: Arc<Cluster>,
        plan: Arc<Plan>,
        tally: Arc<Mutex<Tally>>,
        stop: Arc<AtomicBool>,
    ) -> Worker {
        Worker {
            picker: Picker::new(plan.keys, plan.distribution),
            rng: Rng::new(plan.seed, number as u64),
            cluster,
            plan,
            tally,
            stop,
        }
    }

    pub async fn run(mut self) {
        let size = self.plan.value_size;
        while !self.stop.load(Ordering::Relaxed) {
            let failed = match self.plan.workload {
                Workload::Mget { keys } => {
                    let indexes: Vec<u64> =
                        (0..keys).map(|_| self.picker.pick(&mut self.rng)).collect();
                    let outcome = mget(&self.cluster, &indexes, size).await;
                    self.record([outcome])
                }
                _ if self.plan.pipeline == 1 => {
                    let op = self.next_op();
                    let outcome = single(&self.cluster, op, size).await;
                    self.record([outcome])
                }
                _ => {
                    let ops: Vec<Op> = (0..self.plan.pipeline).map(|_| self.next_op()).collect();
                    let outcomes =
                        join_all(ops.into_iter().map(|op| single(&self.cluster, op, size))).await;
                    self.record(outcomes)
                }
            };
            if failed {
                // A request to a server that is down fails at once; without a pause the
                // workers would spin, counting millions of errors and starving the
                // coordinator's clock.
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    }

    fn next_op(&mut self) -> Op {
        let key = self.picker.pick(&mut self.rng);
        match self.plan.workload {
            Workload::Get | Workload::Mget { .. } => Op::Get(key),
            Workload::Set => Op::Set(key),
            Workload::Mixed { gets, sets } => {
                if self.rng.below(u64::from(gets) + u64::from(sets)) < u64::from(gets) {
                    Op::Get(key)
                } else {
                    Op::Set(key)
                }
            }
        }
    }

    /// Adds outcomes to the tally; whether any of them failed.
    fn record(&self, outcomes: impl IntoIterator<Item = Outcome>) -> bool {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let mut failed = false;
        for o in outcomes {
            failed |= o.error.is_some();
            tally.record(o);
        }
        failed
    }
}

/// One get or set, timed from the call to the reply.
async fn single(cluster: &Cluster, op: Op, value_size: usize) -> Outcome {
    match op {
        Op::Get(index) => {
            let key = Key::new(index);
            let client = cluster.client_for(key.as_ref());
            let start = Instant::now();
            let result = client.get(key).await;
            let latency = start.elapsed();
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
                Err(e) => failure(e),
            }
        }
        Op::Set(index) => {
            let key = Key::new(index);
            // Built before the clock starts: the cost of making up a value is the
            // bench's, not the request's.
            let value = value(index, value_size);
            let client = cluster.client_for(key.as_ref());
            let start = Instant::now();
            match client.set(key, &value, Expiry::Never).await {
                Ok(()) => Outcome {
                    latency: start.elapsed(),
                    sets: 1,
                    ..Outcome::default()
                },
                Err(e) => failure(e),
            }
        }
    }
}

/// One `get_many`, timed as a whole: the latency of a page that needs all the keys.
async fn mget(cluster: &Cluster, indexes: &[u64], value_size: usize) -> Outcome {
    let keys: Vec<Key> = indexes.iter().map(|&i| Key::new(i)).collect();
    let start = Instant::now();
    let result = cluster.get_many(&keys).await;
    let latency = start.elapsed();
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
        Err(e) => failure(e),
    }
}

fn failure(e: mcaside::Error) -> Outcome {
    Outcome {
        error: Some(e),
        ..Outcome::default()
    }
}
