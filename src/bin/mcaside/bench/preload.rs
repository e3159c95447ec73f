//! Storing every key before the run, then reading a sample back.
//!
//! With the whole key space present, every get should hit: a miss in the report then
//! means the server dropped something (eviction, a restart), not that the bench never
//! wrote it. The sets are awaited rather than `noreply`, so that a value the server
//! refuses (too large for its `-I`, out of memory) stops the bench with the server's
//! reason instead of showing up later as a mysterious 100% miss rate. On a terminal,
//! a progress line shows how far it is (100k keys take a few seconds).

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcaside::{Expiry, join_all};

use super::cluster::Cluster;
use super::keyspace::{Key, is_value_of, value};
use super::live::Live;

/// Tasks storing keys at once, and sets each one keeps in flight: 512 requests in
/// flight stores ~100k small keys a second on one core of memcached, and spreads the
/// client's encoding over the runtime's threads.
const TASKS: u64 = 32;
const WINDOW: usize = 16;
/// The most value bytes the preload keeps in flight: large values go a few at a time,
/// so that none waits behind megabytes of others past its request timeout.
const BYTES_IN_FLIGHT: usize = 4 << 20;
/// Keys read back after the preload (all of them in a smaller key space).
const SAMPLE: u64 = 1000;
const SAMPLE_CHUNK: usize = 100;
/// How often the progress line is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(250);

/// What the storing tasks share: how many keys are stored, and whether one failed (the
/// others then stop).
struct Progress {
    stored: AtomicU64,
    failed: AtomicBool,
}

#[derive(Debug)]
pub struct Preload {
    pub keys: u64,
    pub elapsed: Duration,
    /// Keys read back, and of those, how many were absent or had the wrong value.
    pub checked: u64,
    pub missing: u64,
    pub wrong: u64,
}

pub async fn run(
    cluster: &Arc<Cluster>,
    keys: u64,
    value_size: usize,
    live: &Live,
) -> Result<Preload, String> {
    let start = Instant::now();
    let progress = Arc::new(Progress {
        stored: AtomicU64::new(0),
        failed: AtomicBool::new(false),
    });
    let in_flight = (BYTES_IN_FLIGHT / value_size.max(1)).clamp(1, TASKS as usize * WINDOW);
    let stride = TASKS.min(keys).min(in_flight as u64).max(1);
    let window = (in_flight / stride as usize).clamp(1, WINDOW);
    let tasks = (0..stride).map(|first| {
        let cluster = Arc::clone(cluster);
        let progress = Arc::clone(&progress);
        let each = Stride {
            first,
            step: stride,
            window,
        };
        tokio::spawn(async move { store_every(&cluster, &progress, each, keys, value_size).await })
    });
    let mut all = pin!(join_all(tasks.collect::<Vec<_>>()));
    let results = loop {
        match tokio::time::timeout(PROGRESS_TICK, all.as_mut()).await {
            Ok(results) => break results,
            Err(_) => live.preload(
                progress.stored.load(Ordering::Relaxed),
                keys,
                start.elapsed(),
            ),
        }
    };
    live.clear();
    for result in results {
        result.unwrap_or_else(|e| Err(format!("preload: a task failed: {e}")))?;
    }
    let elapsed = start.elapsed();
    let (checked, missing, wrong) = check_sample(cluster, keys, value_size).await?;
    Ok(Preload {
        keys,
        elapsed,
        checked,
        missing,
        wrong,
    })
}

/// One storing task's share: keys `first`, `first + step`, ..., `window` sets at a time.
struct Stride {
    first: u64,
    step: u64,
    window: usize,
}

/// Stores one task's share of the keys in windows of concurrent sets.
async fn store_every(
    cluster: &Cluster,
    progress: &Progress,
    each: Stride,
    keys: u64,
    value_size: usize,
) -> Result<(), String> {
    let mut indexes = (each.first..keys).step_by(each.step as usize);
    loop {
        let window: Vec<u64> = indexes.by_ref().take(each.window).collect();
        if window.is_empty() || progress.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = window.len() as u64;
        for result in join_all(window.into_iter().map(|i| store(cluster, i, value_size))).await {
            if result.is_err() {
                progress.failed.store(true, Ordering::Relaxed);
            }
            result?;
        }
        progress.stored.fetch_add(n, Ordering::Relaxed);
    }
}

async fn store(cluster: &Cluster, index: u64, value_size: usize) -> Result<(), String> {
    let key = Key::new(index);
    cluster
        .client
        .set(key, value(index, value_size), Expiry::Never)
        .await
        .map_err(|e| {
            format!(
                "preload: set {} ({value_size} bytes) on {}: {e}",
                String::from_utf8_lossy(key.as_ref()),
                cluster.server_of(key.as_ref())
            )
        })
}

/// Reads back keys spread evenly over the key space (first and last included).
async fn check_sample(
    cluster: &Cluster,
    keys: u64,
    value_size: usize,
) -> Result<(u64, u64, u64), String> {
    let n = keys.min(SAMPLE);
    let indexes: Vec<u64> = (0..n)
        .map(|k| if n == 1 { 0 } else { k * (keys - 1) / (n - 1) })
        .collect();
    let (mut missing, mut wrong) = (0, 0);
    for chunk in indexes.chunks(SAMPLE_CHUNK) {
        let chunk_keys: Vec<Key> = chunk.iter().map(|&i| Key::new(i)).collect();
        let items = cluster
            .get_many(&chunk_keys)
            .await
            .map_err(|e| format!("preload: reading keys back: {e}"))?;
        for (&index, item) in chunk.iter().zip(&items) {
            match item {
                None => missing += 1,
                Some(item) if !is_value_of(index, value_size, &item.value) => wrong += 1,
                Some(_) => {}
            }
        }
    }
    Ok((n, missing, wrong))
}
