//! Awaiting several requests at once, without a `futures` dependency (the library has
//! the same helper, but private to it).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Polls every future until all are done; returns their outputs in order. Every future
/// is first polled in the same pass, so multiplexed requests are all queued (and go out
/// in one write) before any reply is awaited.
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
    outputs
        .into_iter()
        .map(|o| o.expect("every future is ready"))
        .collect()
}
