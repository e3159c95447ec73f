//! Awaiting several requests at once, without a `futures` dependency.
//!
//! Public because it is what a caller of a multiplexed client needs to send many
//! requests from one task: every request is queued before any reply is awaited, so
//! they share writes. The CLI and the tests use it too.
//!
//! Each future gets a waker of its own, which puts it on a ready list and wakes the
//! task: a wake polls the futures that were woken, not all of them, so awaiting n
//! futures that complete one by one costs O(n) polls, not O(n²).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Polls every future until all are done; returns their outputs in order. The first
/// poll of each happens in the same pass, so multiplexed requests all get queued before
/// any reply is awaited, and go out together. After that, a future is polled again
/// only when it is woken.
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
    let n = futures.len();
    let ready = Arc::new(Ready {
        // Every future is polled once, in order, in the first pass.
        list: Mutex::new((0..n).collect()),
        listed: (0..n).map(|_| AtomicBool::new(true)).collect(),
        task: Mutex::new(None),
    });
    let wakers: Vec<Waker> = (0..n)
        .map(|index| {
            Waker::from(Arc::new(Child {
                index,
                ready: ready.clone(),
            }))
        })
        .collect();
    let mut left = n;
    let mut batch = Vec::new();
    let mut first = true;
    poll_fn(|cx| {
        // The task's waker first, so that a wake from now on reaches it.
        ready.set_task(cx.waker());
        std::mem::swap(&mut batch, &mut *ready.list.lock().expect("not poisoned"));
        let mut at = 0;
        while let Some(&index) = batch.get(at) {
            if !first && !tokio::task::coop::has_budget_remaining() {
                // tokio's budget for this task's poll is spent: a future polled now
                // would only say so (and be woken, every one of them, after this pass:
                // the quadratic case again), so the rest wait for the next pass, first
                // in line. Not in the first pass, which polls every future once.
                let mut list = ready.list.lock().expect("not poisoned");
                let woken = std::mem::take(&mut *list);
                list.extend(batch.drain(at..));
                list.extend(woken);
                cx.waker().wake_by_ref();
                break;
            }
            at += 1;
            ready.listed[index].store(false, Ordering::SeqCst);
            if outputs[index].is_some() {
                continue;
            }
            let mut child = Context::from_waker(&wakers[index]);
            if let Poll::Ready(v) = futures[index].as_mut().poll(&mut child) {
                outputs[index] = Some(v);
                left -= 1;
            }
        }
        batch.clear();
        first = false;
        // A future woken while this pass ran is on the list again, and its wake woke
        // the task: it is polled in the next pass, not this one, so that a future that
        // always wakes itself cannot keep the others (or the executor) waiting.
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("all ready")).collect()
}

/// The futures woken since the last pass, and the task to wake for them.
struct Ready {
    list: Mutex<Vec<usize>>,
    /// Whether each future is on the list, so that it is listed once however often it
    /// is woken.
    listed: Vec<AtomicBool>,
    task: Mutex<Option<Waker>>,
}

impl Ready {
    fn set_task(&self, waker: &Waker) {
        let mut task = self.task.lock().expect("not poisoned");
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }
}

/// The waker of one future: lists it, then wakes the task.
struct Child {
    index: usize,
    ready: Arc<Ready>,
}

impl Wake for Child {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let ready = &self.ready;
        if !ready.listed[self.index].swap(true, Ordering::SeqCst) {
            ready.list.lock().expect("not poisoned").push(self.index);
        }
        // Cloned out so that the task is not woken under the lock.
        let task = ready.task.lock().expect("not poisoned").clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A future that counts its polls and is ready once its turn has come.
    struct Turn<'a> {
        me: usize,
        turn: &'a AtomicUsize,
        polls: &'a AtomicUsize,
        waker: &'a Mutex<Vec<Option<Waker>>>,
    }

    impl Future for Turn<'_> {
        type Output = usize;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.turn.load(Ordering::SeqCst) > self.me {
                return Poll::Ready(self.me);
            }
            self.waker.lock().unwrap()[self.me] = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// 10,000 futures that complete one at a time, each woken by its own waker: every
    /// future is polled once up front and once more when it is woken, whatever the
    /// others do. (Polling every pending future on every wake, as join_all did before,
    /// took 50 million polls here.)
    #[tokio::test]
    async fn a_wake_polls_only_the_woken() {
        const N: usize = 10_000;
        let turn = AtomicUsize::new(0);
        let polls = AtomicUsize::new(0);
        let wakers = Mutex::new(vec![None; N]);
        let futures = (0..N).map(|me| Turn {
            me,
            turn: &turn,
            polls: &polls,
            waker: &wakers,
        });
        let driver = async {
            for i in 0..N {
                // Let join_all run a pass between completions.
                tokio::task::yield_now().await;
                turn.store(i + 1, Ordering::SeqCst);
                if let Some(w) = wakers.lock().unwrap()[i].take() {
                    w.wake();
                }
            }
        };
        let (out, ()) = tokio::join!(join_all(futures), driver);
        assert_eq!(out, (0..N).collect::<Vec<_>>());
        let polls = polls.load(Ordering::Relaxed);
        assert!(polls <= 2 * N, "{polls} polls for {N} futures");
    }

    /// 10,000 replies that are all there at once. tokio lets one poll of a task complete
    /// 128 of them (its coop budget) and makes the others wait, waking them all after
    /// the poll; polling them all again in every pass would cost 128 completions per
    /// n polls (400,000 polls here). Passes stop when the budget is spent instead.
    #[tokio::test]
    async fn a_spent_budget_ends_the_pass() {
        const N: usize = 10_000;
        let polls = AtomicUsize::new(0);
        let receivers: Vec<_> = (0..N)
            .map(|i| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tx.send(i).unwrap();
                rx
            })
            .collect();
        let futures = receivers.into_iter().map(|mut rx| {
            let polls = &polls;
            poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                Pin::new(&mut rx).poll(cx).map(Result::unwrap)
            })
        });
        assert_eq!(join_all(futures).await, (0..N).collect::<Vec<_>>());
        let polls = polls.load(Ordering::Relaxed);
        assert!(polls <= 2 * N, "{polls} polls for {N} futures");
    }

    /// A future woken many times before the next pass is polled once for them.
    #[tokio::test]
    async fn wakes_are_deduplicated() {
        let polls = AtomicUsize::new(0);
        let mut woken = false;
        let f = poll_fn(|cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            if woken {
                return Poll::Ready(());
            }
            woken = true;
            for _ in 0..100 {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        });
        join_all([f]).await;
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn empty_and_ready() {
        assert!(
            join_all(Vec::<std::future::Ready<()>>::new())
                .await
                .is_empty()
        );
        assert_eq!(
            join_all((0..5).map(std::future::ready)).await,
            [0, 1, 2, 3, 4]
        );
    }
}
