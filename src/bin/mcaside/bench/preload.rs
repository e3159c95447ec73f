//! Storing every key before the run, then reading a sample back.
//!
//! With the whole key space present, every get should hit: a miss in the report then
//! means the server dropped something (eviction, a restart), not that the bench never
//! wrote it. The sets are awaited rather than `noreply`, so that a value the server
//! refuses (too large for its `-I`, out of memory) stops the bench with the server's
//! reason instead of showing up later as a mysterious 100% miss rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcaside::{Expiry, join_all};

use super::cluster::Cluster;
use super::keyspace::{Key, is_value_of, value};

/// Tasks storing keys at once, and sets each one keeps in flight: 512 requests in
/// flight stores ~100k small keys a second on one core of memcached, and spreads the
/// client's encoding over the runtime's threads.
const TASKS: u64 = 32;
const WINDOW: usize = 16;
/// Keys read back after the preload (all of them in a smaller key space).
const SAMPLE: u64 = 1000;
const SAMPLE_CHUNK: usize = 100;

#[derive(Debug)]
pub struct Preload {
    pub keys: u64,
    pub elapsed: Duration,
    /// Keys read back, and of those, how many were absent or had the wrong value.
    pub checked: u64,
    pub missing: u64,
    pub wrong: u64,
}

pub async fn run(cluster: &Arc<Cluster>, keys: u64, value_size: usize) -> Result<Preload, String> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS.min(keys))
        .map(|first| {
            let cluster = Arc::clone(cluster);
            tokio::spawn(async move { store_every(&cluster, first, keys, value_size).await })
        })
        .collect();
    let mut tasks = tasks.into_iter();
    while let Some(task) = tasks.next() {
        let result = task
            .await
            .unwrap_or_else(|e| Err(format!("preload: a task failed: {e}")));
        if let Err(e) = result {
            // The bench is over; stop writing.
            tasks.for_each(|t| t.abort());
            return Err(e);
        }
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

/// Stores keys `first`, `first + TASKS`, ... in windows of concurrent sets.
async fn store_every(
    cluster: &Cluster,
    first: u64,
    keys: u64,
    value_size: usize,
) -> Result<(), String> {
    let mut indexes = (first..keys).step_by(TASKS as usize);
    loop {
        let window: Vec<u64> = indexes.by_ref().take(WINDOW).collect();
        if window.is_empty() {
            return Ok(());
        }
        for result in join_all(window.into_iter().map(|i| store(cluster, i, value_size))).await {
            result?;
        }
    }
}

async fn store(cluster: &Cluster, index: u64, value_size: usize) -> Result<(), String> {
    let key = Key::new(index);
    let server = &cluster.servers[cluster.index_of(key.as_ref())];
    server
        .client
        .set(key, value(index, value_size), Expiry::Never)
        .await
        .map_err(|e| {
            format!(
                "preload: set {} ({value_size} bytes) on {}: {e}",
                String::from_utf8_lossy(key.as_ref()),
                server.addr
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
