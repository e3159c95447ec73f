//! In-process coalescing: one fetch per key at a time, whoever else asks waits for it.
//!
//! The first caller for a key becomes the leader and does the work (the memcached
//! read, the lease, the load); callers arriving meanwhile follow and receive the
//! leader's result. Only the leader talks to memcached, so the waiters of a process
//! share one poll. If the leader's future is dropped before it finishes (a timeout, a
//! `select!`), its followers are released and one of them leads a new attempt: a
//! cancelled caller never leaves the others hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

/// One key's fetch in progress.
pub(crate) struct Flight<T> {
    result: OnceLock<T>,
    abandoned: std::sync::atomic::AtomicBool,
    done: Notify,
}

/// The flights in progress, by wire key.
pub(crate) struct Flights<T> {
    map: Mutex<HashMap<String, Arc<Flight<T>>>>,
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
}

impl<T: Clone> Flight<T> {
    /// Waits for the leader. `None` if the leader gave up, so the caller should join
    /// again (and perhaps lead).
    pub async fn wait(&self) -> Option<T> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Registered before checking, so a notification in between is not lost.
            notified.as_mut().enable();
            if let Some(v) = self.result.get() {
                return Some(v.clone());
            }
            if self.abandoned.load(std::sync::atomic::Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }
}

impl<T: Clone> Lead<'_, T> {
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
