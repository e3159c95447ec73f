//! The floor of one task per caller: what the least a client can do costs once every
//! request comes from a task of its own and its reply must be handed back to that task.
//!
//! The raw reference (`raw.rs`) has no callers: one task per connection issues requests
//! and answers replies itself, so nothing is handed over. Every client under comparison
//! serves concurrent callers instead, each waiting for its own reply, and that hand-off
//! (a queue the callers share, a channel per request, a wake-up per reply, a task switch
//! per caller) is a cost of the job, not of one client's code. This client pays only
//! that: the leanest wire (`mg <key> v`, `ms <key> <n>`, as `raw.rs`), a shared queue
//! behind a mutex, one `oneshot` per request, and per connection one writer task and one
//! reader task. It has none of a real client's duties: no timeouts, no reply identity
//! check, no care for a caller that gives up, no reconnect, no input checks. So it is a
//! bound, not a rival: read a client's figure against it to see what its own machinery
//! costs, and against the raw reference to see what serving callers costs at all.
//!
//! Get and set only (the table's single-key rows and the curves).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::job::Op;
use crate::worker::{Ctx, Stats};

/// The longest reply line accepted.
const MAX_LINE: usize = 1024;
/// Read buffer room kept free before each read.
const READ_ROOM: usize = 64 * 1024;

/// A reply, handed to its caller.
enum Reply {
    /// `VA`: the value.
    Value(Bytes),
    /// `EN`.
    Miss,
    /// `HD`.
    Stored,
    /// Anything else, or the connection failed.
    Failed(String),
}

/// What the callers of one connection share.
#[derive(Default)]
struct Queue {
    /// Encoded requests not yet taken by the writer.
    out: Vec<u8>,
    /// Their callers, in order.
    pending: Vec<oneshot::Sender<Reply>>,
    /// Callers whose requests were written, in order: the reader answers the front.
    inflight: VecDeque<oneshot::Sender<Reply>>,
    /// The writer has been notified and has not yet taken the queue.
    notified: bool,
    /// Why the connection failed: later callers fail at once.
    failed: Option<String>,
}

struct Hub {
    queue: Mutex<Queue>,
    wake_writer: Notify,
}

/// Opens `conns` connections (a writer and a reader task each) and starts one task per
/// `job.tasks`, spread over the connections in turn.
pub async fn start(ctx: &Arc<Ctx>, conns: usize) -> Vec<JoinHandle<Stats>> {
    assert!(
        matches!(ctx.job.op, Op::Get | Op::Set),
        "raw-tasks does get and set only"
    );
    let mut hubs = Vec::new();
    for _ in 0..conns.max(1) {
        let stream = TcpStream::connect(&ctx.job.server_addr)
            .await
            .expect("raw-tasks: connect");
        stream.set_nodelay(true).expect("nodelay");
        let (rd, wr) = stream.into_split();
        let hub = Arc::new(Hub {
            queue: Mutex::new(Queue::default()),
            wake_writer: Notify::new(),
        });
        // The I/O tasks end when the connection closes (the worker exits after the run).
        tokio::spawn(write_loop(hub.clone(), wr));
        tokio::spawn(read_loop(hub.clone(), rd));
        hubs.push(hub);
    }
    (0..ctx.job.tasks)
        .map(|t| tokio::spawn(caller(ctx.clone(), hubs[t % hubs.len()].clone(), t)))
        .collect()
}

async fn caller(ctx: Arc<Ctx>, hub: Arc<Hub>, t: usize) -> Stats {
    let mut s = Stats::new();
    let mut rng = ctx.rng(t);
    let n = ctx.keys.len();
    while ctx.running() {
        let i = rng.below(n);
        let t0 = Instant::now();
        let (tx, rx) = oneshot::channel();
        {
            let mut q = hub.queue.lock().expect("queue lock");
            if let Some(e) = &q.failed {
                s.error(e);
                break;
            }
            let key = ctx.keys[i].as_bytes();
            match ctx.job.op {
                Op::Get => {
                    q.out.extend_from_slice(b"mg ");
                    q.out.extend_from_slice(key);
                    q.out.extend_from_slice(b" v\r\n");
                }
                _ => {
                    let value = &ctx.values[i];
                    q.out.extend_from_slice(b"ms ");
                    q.out.extend_from_slice(key);
                    q.out.push(b' ');
                    q.out.extend_from_slice(value.len().to_string().as_bytes());
                    q.out.extend_from_slice(b"\r\n");
                    q.out.extend_from_slice(value);
                    q.out.extend_from_slice(b"\r\n");
                }
            }
            q.pending.push(tx);
            if !q.notified {
                q.notified = true;
                hub.wake_writer.notify_one();
            }
        }
        match (ctx.job.op, rx.await) {
            (Op::Get, Ok(Reply::Value(v))) if ctx.check(i, &v) => {
                s.done(&ctx, t0, 1, v.len() as u64)
            }
            (Op::Get, Ok(Reply::Value(v))) => {
                s.mismatch(|| format!("{} ({} bytes)", ctx.keys[i], v.len()))
            }
            (Op::Get, Ok(Reply::Miss)) => s.miss(&ctx.keys[i]),
            (Op::Set, Ok(Reply::Stored)) => s.done(&ctx, t0, 1, ctx.values[i].len() as u64),
            (_, Ok(Reply::Failed(e))) => s.error(e),
            (_, Ok(_)) => s.error("raw-tasks: a reply of the wrong kind"),
            (_, Err(_)) => s.error("raw-tasks: the connection's tasks ended"),
        }
    }
    s
}

/// Takes what callers queued, all at once, and writes it in one write.
async fn write_loop(hub: Arc<Hub>, mut wr: OwnedWriteHalf) {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        hub.wake_writer.notified().await;
        {
            let mut q = hub.queue.lock().expect("queue lock");
            q.notified = false;
            std::mem::swap(&mut buf, &mut q.out);
            // Callers join `inflight` before their bytes are written, in the same order.
            let Queue {
                pending, inflight, ..
            } = &mut *q;
            inflight.extend(pending.drain(..));
        }
        if buf.is_empty() {
            continue;
        }
        if let Err(e) = wr.write_all(&buf).await {
            fail_all(&hub, format!("raw-tasks: write: {e}"));
            return;
        }
        buf.clear();
    }
}

/// Reads replies and hands each to the caller at the front.
async fn read_loop(hub: Arc<Hub>, mut rd: OwnedReadHalf) {
    let mut rbuf = BytesMut::with_capacity(2 * READ_ROOM);
    loop {
        if rbuf.capacity() - rbuf.len() < READ_ROOM {
            rbuf.reserve(READ_ROOM);
        }
        match rd.read_buf(&mut rbuf).await {
            Ok(0) => return fail_all(&hub, "raw-tasks: server closed the connection".into()),
            Ok(_) => {}
            Err(e) => return fail_all(&hub, format!("raw-tasks: read: {e}")),
        }
        while let Some(reply) = match next_reply(&mut rbuf) {
            Ok(r) => r,
            Err(e) => return fail_all(&hub, e),
        } {
            let caller = hub.queue.lock().expect("queue lock").inflight.pop_front();
            match caller {
                // A caller that is gone (the run ended) is fine to skip.
                Some(tx) => drop(tx.send(reply)),
                None => return fail_all(&hub, "raw-tasks: a reply nobody asked for".into()),
            }
        }
    }
}

/// The first complete reply in `buf`, taken off it; `None` if it is not all there yet.
fn next_reply(buf: &mut BytesMut) -> Result<Option<Reply>, String> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE {
            Err("raw-tasks: reply line too long".into())
        } else {
            Ok(None)
        };
    };
    let line = &buf[..=nl];
    let reply = if let Some(len) = line.strip_prefix(b"VA ") {
        let len = std::str::from_utf8(&len[..len.len() - 2])
            .ok()
            .and_then(|s| s.split(' ').next()?.parse::<usize>().ok())
            .ok_or("raw-tasks: bad VA line")?;
        if buf.len() < nl + 1 + len + 2 {
            return Ok(None);
        }
        buf.advance(nl + 1);
        let value = buf.split_to(len).freeze();
        if &buf[..2] != b"\r\n" {
            return Err("raw-tasks: value not followed by \\r\\n".into());
        }
        buf.advance(2);
        return Ok(Some(Reply::Value(value)));
    } else if line == b"EN\r\n" {
        Reply::Miss
    } else if line == b"HD\r\n" {
        Reply::Stored
    } else {
        Reply::Failed(format!(
            "raw-tasks: unexpected reply {:?}",
            String::from_utf8_lossy(line)
        ))
    };
    buf.advance(nl + 1);
    Ok(Some(reply))
}

/// Fails every caller waiting on this connection.
fn fail_all(hub: &Hub, e: String) {
    let mut q = hub.queue.lock().expect("queue lock");
    q.failed.get_or_insert_with(|| e.clone());
    let Queue {
        pending, inflight, ..
    } = &mut *q;
    for tx in inflight.drain(..).chain(pending.drain(..)) {
        let _ = tx.send(Reply::Failed(e.clone()));
    }
}
