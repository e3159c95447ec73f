//! The clients under comparison, each driven the way its documentation suggests, and
//! the hand-written raw reference. Every driver runs its tasks until the worker's phase
//! says stop, checks every value it reads, and counts only what completes inside the
//! measured window (see `worker.rs`).

pub mod async_memcached;
pub mod mcaside;
pub mod memcache;
pub mod raw;
pub mod raw_tasks;
