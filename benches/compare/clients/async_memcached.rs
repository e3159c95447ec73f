//! async-memcached 0.9: its calls take `&mut self`, so each task owns a client, and
//! with it a connection, as its API needs.

use std::sync::Arc;
use std::time::Instant;

use async_memcached::AsciiProtocol;
use tokio::task::JoinHandle;

use crate::job::Op;
use crate::values;
use crate::worker::{Ctx, Stats};

/// Connects one client per task and starts the tasks.
pub async fn start(ctx: &Arc<Ctx>) -> Vec<JoinHandle<Stats>> {
    let mut clients = Vec::with_capacity(ctx.job.tasks);
    for _ in 0..ctx.job.tasks {
        clients.push(
            async_memcached::Client::new(format!("tcp://{}", ctx.job.server_addr))
                .await
                .expect("async-memcached: connect"),
        );
    }
    clients
        .into_iter()
        .enumerate()
        .map(|(t, c)| tokio::spawn(task(ctx.clone(), c, t)))
        .collect()
}

async fn task(ctx: Arc<Ctx>, mut c: async_memcached::Client, t: usize) -> Stats {
    let mut s = Stats::new();
    let mut rng = ctx.rng(t);
    let n = ctx.keys.len();
    while ctx.running() {
        let i = rng.below(n);
        let t0 = Instant::now();
        match ctx.job.op {
            Op::Get => match c.get(&ctx.keys[i]).await {
                Ok(Some(v)) => match v.data {
                    Some(d) if ctx.check(i, &d) => s.done(&ctx, t0, 1, d.len() as u64),
                    d => s.mismatch(|| format!("{} ({:?} bytes)", ctx.keys[i], d.map(|d| d.len()))),
                },
                Ok(None) => s.miss(&ctx.keys[i]),
                Err(e) => s.error(e),
            },
            Op::Set => match c.set(&ctx.keys[i], &ctx.values[i][..], None, None).await {
                Ok(()) => s.done(&ctx, t0, 1, ctx.values[i].len() as u64),
                Err(e) => s.error(e),
            },
            Op::MultiGet(m) => match c.get_multi((0..m).map(|j| &ctx.keys[(i + j) % n])).await {
                Ok(got) => {
                    let (mut hits, mut bytes) = (0u64, 0u64);
                    for v in &got {
                        let k = values::index_of(&ctx.job.key_prefix, &v.key)
                            .filter(|&k| (k + n - i) % n < m);
                        match (k, &v.data) {
                            (Some(k), Some(d)) if ctx.check(k, d) => {
                                hits += 1;
                                bytes += d.len() as u64;
                            }
                            _ => s.mismatch(|| String::from_utf8_lossy(&v.key).into_owned()),
                        }
                    }
                    for _ in got.len()..m {
                        s.miss("one of a multi-get's keys");
                    }
                    s.done(&ctx, t0, hits, bytes);
                }
                Err(e) => s.error(e),
            },
        }
    }
    s
}
