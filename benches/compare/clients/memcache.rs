//! The memcache 0.21 crate: blocking, so each task is a thread, sharing one client
//! whose connection pool is as large as the threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::job::Op;
use crate::worker::{self, Ctx, Stats, Window};

/// Runs the job on threads; the calling thread keeps the window.
pub fn run(ctx: &Arc<Ctx>) -> (Vec<Stats>, Window) {
    let url = format!(
        "memcache://{}?timeout=10&tcp_nodelay=true",
        ctx.job.server_addr
    );
    let client = Arc::new(
        memcache::Client::with_pool_size(url.as_str(), ctx.job.tasks as u32)
            .expect("memcache: connect"),
    );
    let threads: Vec<_> = (0..ctx.job.tasks)
        .map(|t| {
            let (ctx, c) = (ctx.clone(), client.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || task(&ctx, &c, t))
                .expect("spawn a thread")
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(ctx.job.warmup_secs));
    let opened = worker::open_window(ctx);
    std::thread::sleep(Duration::from_secs_f64(ctx.job.secs));
    let window = worker::close_window(ctx, opened);
    let stats = threads
        .into_iter()
        .map(|h| h.join().expect("memcache thread"))
        .collect();
    (stats, window)
}

fn task(ctx: &Ctx, c: &memcache::Client, t: usize) -> Stats {
    let mut s = Stats::new();
    let mut rng = ctx.rng(t);
    let n = ctx.keys.len();
    let mut batch: Vec<&str> = Vec::new();
    while ctx.running() {
        let i = rng.below(n);
        let t0 = Instant::now();
        match ctx.job.op {
            Op::Get => match c.get::<Vec<u8>>(&ctx.keys[i]) {
                Ok(Some(v)) if ctx.check(i, &v) => s.done(ctx, t0, 1, v.len() as u64),
                Ok(Some(v)) => s.mismatch(|| format!("{} ({} bytes)", ctx.keys[i], v.len())),
                Ok(None) => s.miss(&ctx.keys[i]),
                Err(e) => s.error(e),
            },
            Op::Set => match c.set(&ctx.keys[i], &ctx.values[i][..], 0) {
                Ok(()) => s.done(ctx, t0, 1, ctx.values[i].len() as u64),
                Err(e) => s.error(e),
            },
            Op::MultiGet(m) => {
                batch.clear();
                batch.extend((0..m).map(|j| ctx.keys[(i + j) % n].as_str()));
                match c.gets::<Vec<u8>>(&batch) {
                    Ok(got) => {
                        let (mut hits, mut bytes) = (0u64, 0u64);
                        for j in 0..m {
                            let k = (i + j) % n;
                            match got.get(&ctx.keys[k]) {
                                Some(v) if ctx.check(k, v) => {
                                    hits += 1;
                                    bytes += v.len() as u64;
                                }
                                Some(_) => s.mismatch(|| ctx.keys[k].clone()),
                                None => s.miss(&ctx.keys[k]),
                            }
                        }
                        s.done(ctx, t0, hits, bytes);
                    }
                    Err(e) => s.error(e),
                }
            }
        }
    }
    s
}
