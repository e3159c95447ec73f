//! In-process coalescing: one fetch per key at a time, whoever else asks waits for it.
//!
//! The first caller for a key becomes the leader and does the work (the memcached
//! read, the lease, the load); callers arriving meanwhile follow and receive the
//! leader's result. Only the leader talks to memcached, so the waiters of a process
//! share one poll. If the leader's future is dropped before it finishes (a timeout, a
//! `select!`), its followers are released and one of them leads a new attempt: a
//! cancelled caller never leaves the others hanging.
//!
//! A leader that already holds a value it may serve before its work is done (a stale
//! value within the serve-stale bound, or a valid one it is refreshing early) shares it
//! [`early`](Lead::share_early): the followers, and whoever joins until the leader
//! finishes, get that value at once, so that only the leader waits for the reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

/// One key's fetch in progress.
pub(crate) struct Flight<T> {
    result: OnceLock<T>,
    early: OnceLock<Early<T>>,
    abandoned: std::sync::atomic::AtomicBool,
    done: Notify,
}

/// The flights in progress, by wire key.
pub(crate) struct Flights<T> {
    map: Mutex<HashMap<String, Arc<Flight<T>>>>,
}

/// A value a leader shared before finishing: `stale` if it is a stale value served
/// within the serve-stale bound, rather than a valid one being refreshed.
#[derive(Debug, Clone)]
pub(crate) struct Early<T> {
    pub value: T,
    pub stale: bool,
}

/// What a follower got.
#[derive(Debug)]
pub(crate) enum Waited<T> {
    /// The leader's result.
    Done(T),
    /// The value the leader shared before finishing.
    Early(Early<T>),
}

/// Joining a flight: either lead it or follow it.
pub(crate) enum Joined<'a, T> {
    Leader(Lead<'a, T>),
    Follower(Arc<Flight<T>>),
}

/// The right (and duty) to finish a flight.
pub(crate) struct Lead<'a, T> {
    flights: &'a Flights<T>,
    key: String,
    flight: Arc<Flight<T>>,
    finished: bool,
}

impl<T: Clone> Flights<T> {
    pub fn new() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Flight<T>>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leads the flight for `key`, or follows the one in progress.
    pub fn join(&self, key: &str) -> Joined<'_, T> {
        let mut map = self.map();
        if let Some(f) = map.get(key) {
            return Joined::Follower(f.clone());
        }
        let flight = Arc::new(Flight {
            result: OnceLock::new(),
            early: OnceLock::new(),
            abandoned: std::sync::atomic::AtomicBool::new(false),
            done: Notify::new(),
        });
        map.insert(key.to_owned(), flight.clone());
        Joined::Leader(Lead {
            flights: self,
            key: key.to_owned(),
            flight,
            finished: false,
        })
    }

    /// Lets whoever asks for `key` from now on start a fetch of their own instead of
    /// joining the one in progress (whose leader and followers carry on): after an
    /// invalidation, a flight that began before it must not answer callers that came
    /// after it.
    pub fn forget(&self, key: &str) {
        self.map().remove(key);
    }
}

impl<T: Clone> Flight<T> {
    /// Waits for the leader's result, or the value it shared early. `None` if the
    /// leader gave up, so the caller should join again (and perhaps lead).
    pub async fn wait(&self) -> Option<Waited<T>> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Registered before checking, so a notification in between is not lost.
            notified.as_mut().enable();
            if let Some(v) = self.result.get() {
                return Some(Waited::Done(v.clone()));
            }
            if let Some(early) = self.early.get() {
                return Some(Waited::Early(early.clone()));
            }
            if self.abandoned.load(std::sync::atomic::Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    /// Waits for the leader's result (for flights that share nothing early).
    pub async fn wait_done(&self) -> Option<T> {
        match self.wait().await? {
            Waited::Done(v) | Waited::Early(Early { value: v, .. }) => Some(v),
        }
    }
}

impl<T: Clone> Lead<'_, T> {
    /// Hands `value` to the followers now, and to whoever joins until the flight
    /// ends, while this leader carries on (see the module docs). Once per flight.
    pub fn share_early(&self, value: T, stale: bool) {
        if self.flight.early.set(Early { value, stale }).is_ok() {
            self.flight.done.notify_waiters();
        }
    }

    /// Hands `value` to every follower and ends the flight.
    pub fn finish(mut self, value: T) -> T {
        let _ = self.flight.result.set(value.clone());
        self.end();
        self.finished = true;
        value
    }

    fn end(&self) {
        let mut map = self.flights.map();
        if map
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            map.remove(&self.key);
        }
        drop(map);
        self.flight.done.notify_waiters();
    }
}

impl<T> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            // The leader was cancelled: release the followers to try again.
            self.flight
                .abandoned
                .store(true, std::sync::atomic::Ordering::Release);
            let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
            if map
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                map.remove(&self.key);
            }
            drop(map);
            self.flight.done.notify_waiters();
        }
    }
}
