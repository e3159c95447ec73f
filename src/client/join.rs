//! Awaiting several requests at once, without a `futures` dependency.
//!
//! Public because it is what a caller of a multiplexed client needs to send many
//! requests from one task: every request is queued before any reply is awaited, so
//! they share writes. The CLI and the tests use it too.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Polls every future until all are done; returns their outputs in order. The first
/// poll of each happens in the same pass, so multiplexed requests all get queued before
/// any reply is awaited, and go out together.
///
/// Unlike spawning a task per request, the futures may borrow (the client, the keys),
/// and they run on the calling task.
///
/// ```no_run
/// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
/// use mcaside::{Expiry, join_all};
///
/// let rows = [("user:1", "Ada"), ("user:2", "Grace"), ("user:3", "Edsger")];
/// let stored = join_all(rows.iter().map(|(k, v)| client.set(k, v, Expiry::secs(60)))).await;
/// for result in stored {
///     result?;
/// }
/// # Ok(()) }
/// ```
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("all ready")).collect()
}
