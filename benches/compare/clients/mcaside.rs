//! mcaside: one `Client` shared by every task (clones share its connections, and
//! concurrent calls are pipelined on them), through its public API only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcaside::proto::Limits;
use tokio::task::JoinHandle;

use crate::job::Op;
use crate::worker::{Ctx, Stats};

/// From this size on `set_bytes` sends the caller's buffer itself (the client's
/// vectored-write threshold); below it the value is copied either way.
const SET_BYTES_FROM: usize = 16 * 1024;

/// Connects and starts one task per `job.tasks`.
pub async fn start(ctx: &Arc<Ctx>, connections: Option<usize>) -> Vec<JoinHandle<Stats>> {
    let mut builder = match ctx.job.mcaside_timeout_ms {
        0 => mcaside::Client::builder().no_request_timeout(),
        ms => mcaside::Client::builder().request_timeout(Duration::from_millis(ms)),
    };
    if let Some(n) = connections {
        builder = builder.connections(n);
    }
    // Values near or above memcached's default 1 MiB item size need the client's
    // limit raised as the server's is (`-I`).
    let need = ctx.job.value_size + 4096;
    if need > Limits::default().max_value {
        builder = builder.limits(Limits::new().max_value(need));
    }
    let client = builder
        .connect(ctx.job.server_addr.as_str())
        .await
        .expect("mcaside: connect");
    (0..ctx.job.tasks)
        .map(|t| tokio::spawn(task(ctx.clone(), client.clone(), t)))
        .collect()
}

async fn task(ctx: Arc<Ctx>, c: mcaside::Client, t: usize) -> Stats {
    let mut s = Stats::new();
    let mut rng = ctx.rng(t);
    let n = ctx.keys.len();
    while ctx.running() {
        let i = rng.below(n);
        let t0 = Instant::now();
        match ctx.job.op {
            Op::Get => match c.get(&ctx.keys[i]).await {
                Ok(Some(item)) if ctx.check(i, &item.value) => {
                    s.done(&ctx, t0, 1, item.value.len() as u64)
                }
                Ok(Some(item)) => {
                    s.mismatch(|| format!("{} ({} bytes)", ctx.keys[i], item.value.len()))
                }
                Ok(None) => s.miss(&ctx.keys[i]),
                Err(e) => s.error(e),
            },
            // What a caller holding its values as `Bytes` would do: lend the small ones
            // (`set` copies them into the write buffer, as `set_bytes` would below
            // 16 KiB, so a clone would only add a reference count taken and given back
            // on a cold cache line), and hand over the large ones, which go out uncopied.
            Op::Set => match if ctx.values[i].len() < SET_BYTES_FROM {
                c.set(&ctx.keys[i], &ctx.values[i], mcaside::Expiry::Never)
                    .await
            } else {
                c.set_bytes(&ctx.keys[i], ctx.values[i].clone(), mcaside::Expiry::Never)
                    .await
            } {
                Ok(()) => s.done(&ctx, t0, 1, ctx.values[i].len() as u64),
                Err(e) => s.error(e),
            },
            Op::MultiGet(m) => match c.get_many((0..m).map(|j| &ctx.keys[(i + j) % n])).await {
                Ok(items) => {
                    let (mut hits, mut bytes) = (0, 0);
                    for (j, item) in items.iter().enumerate() {
                        let k = (i + j) % n;
                        match item {
                            Some(it) if ctx.check(k, &it.value) => {
                                hits += 1;
                                bytes += it.value.len() as u64;
                            }
                            Some(_) => s.mismatch(|| ctx.keys[k].clone()),
                            None => s.miss(&ctx.keys[k]),
                        }
                    }
                    if items.len() != m {
                        s.error(format!("get_many of {m} keys gave {} results", items.len()));
                    }
                    s.done(&ctx, t0, hits, bytes);
                }
                Err(e) => s.error(e),
            },
        }
    }
    s
}
