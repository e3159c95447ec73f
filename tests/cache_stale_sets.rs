//! Stale sets under randomized interleavings: readers and writers of one row, run in a
//! chosen order against a real memcached and a real SQLite database.
//!
//! The stale set is a race: a reader misses, reads the *old* row, a writer commits a
//! new row and invalidates the key, and only then does the reader store the old row,
//! which stays cached until its TTL. The cache-aside layer prevents it with a lease
//! taken before the database read and a fill conditional on that lease's cas. Whether
//! that holds is a question about orders of events, so this harness enumerates orders.
//!
//! **A schedule** is one key and one row `rows(id, version)` in a namespace of its own,
//! 1 to 3 concurrent readers, 1 or 2 writers, none, one or two namespace invalidations,
//! sometimes a final reader after everything else, and the row either present
//! (version 1) or not yet created. Each actor's steps are gated by a oneshot the
//! coordinator fires:
//!
//! - a reader: `start` (calls `get_or_load`, which reads the namespace version, then
//!   takes the lease or hits under it), `read` (its loader reads the row from SQLite),
//!   `fill` (the loader returns; the fill is done when `get_or_load` returns);
//! - a writer, through `Cache::write`: `begin` (`write` reads the namespace version and
//!   calls the write), `commit` (the row's version + 1, or the row created at version
//!   1, in a committed transaction) and `invalidate` (the write returns; `write`
//!   invalidates); or, in one control, `invalidate` then `commit`;
//! - a namespace invalidation: one step, `invalidate_namespace`, which moves every key
//!   of the namespace to a new version, and so can fall between a writer's `begin` and
//!   its `invalidate`, or between a reader's `start` and its `fill`.
//!
//! The steps are drawn as a uniformly random interleaving from a seeded splitmix64 and
//! run one at a time: the coordinator fires a step, waits until the actor reports it
//! done, then fires the next. Memcached decides one thing the schedule cannot: a reader
//! that starts while another holds the lease waits (polling) and takes the lease, or
//! hits, only once the key changes. The coordinator keeps a model of the key under each
//! namespace version (missing, a lease held by reader *i*, or a value), and of which
//! version each reader and writer read, to know when that is: it lets such a reader
//! find the lease taken before going on, waits for it after each step that frees the
//! key, and defers the reader's own steps until it has the lease (or drops them if it
//! hit). The model also predicts every fill (stored or refused) and the final contents
//! of the key; any disagreement with memcached, an error, or a schedule that does not
//! finish in time is an *anomaly*, reported with the schedule's trace.
//!
//! **The check**, once every actor is done (so after every invalidation): the value
//! cached for the key, read back through the layer as the next reader would be served
//! it, must be the row as SQLite has it now, or nothing. A cached value older than the
//! row is a *stale final state*. When the schedule has a final reader, what it got must
//! be the row too. Thousands of schedules run at once, each on its own key and row, with
//! a separate `Cache` per reader (as if each were its own process, so that readers meet
//! at the memcached lease and not in the in-process coalescing).
//!
//! **The controls** matter as much as the zero: a harness that never produces a stale
//! state proves nothing unless it demonstrably produces them when the protection is
//! taken away. So schedules drawn the same way run with three mutants: (a) fills by plain
//! set instead of the lease's cas, (b) the writer invalidating *before* its commit, and
//! (c) `write` invalidating only under the namespace version it read before the write
//! (the bug of issue 11: a namespace invalidation during the write let a reader cache
//! the old row under the new version). Each must leave stale values behind, and the
//! test says how often.
//!
//! Reproduce with `MCASIDE_STALE_SEED=<seed>` (printed by every run); add
//! `MCASIDE_STALE_SCHEDULE=<index>` to run that one schedule and print its trace. The
//! schedules are the seed's; the one choice left to timing is which of several waiting
//! readers polls first when a lease frees up, so counts may differ slightly between
//! runs with the same seed, but not the verdict.

#[path = "support/server.rs"]
mod server;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mcaside::Client;
use mcaside::cache::{Cache, CacheError, OnWaitTimeout, StringCodec};
use mcaside::proto::Features;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use server::Memcached;

const DEFAULT_SEED: u64 = 0x5EED_CA5E_A51D_E001;

/// How many schedules each shard keeps in flight: enough that a core always has work
/// while most schedules wait for a round trip or a waiting reader's next poll, and that
/// the client batches many requests per write.
const WINDOW: usize = 2000;

/// Far longer than any schedule takes even under load, so that reaching it means a
/// hang. One timer per schedule rather than per step: timers are a noticeable part of
/// the cost of a schedule.
const SCHEDULE_TIMEOUT: Duration = Duration::from_secs(30);

/// A row's version as the harness sees it: `None` while the row does not exist.
type Row = Option<u64>;

// ---------------------------------------------------------------------------------
// Randomness: splitmix64, so that the schedules depend on nothing but the seed.

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n`; the modulo bias is negligible for the small `n` used here.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn seed() -> u64 {
    match std::env::var("MCASIDE_STALE_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("MCASIDE_STALE_SEED={s}: {e}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

fn only_schedule() -> Option<u64> {
    std::env::var("MCASIDE_STALE_SCHEDULE").ok().map(|s| {
        s.trim()
            .parse()
            .unwrap_or_else(|e| panic!("MCASIDE_STALE_SCHEDULE={s}: {e}"))
    })
}

// ---------------------------------------------------------------------------------
// Schedules.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Step {
    Start(usize),
    Read(usize),
    Fill(usize),
    /// `Cache::write` called: it reads the namespace version, then runs the write.
    Begin(usize),
    Commit(usize),
    Invalidate(usize),
    /// A namespace invalidation (`invalidate_namespace`) by actor `n`.
    Bump(usize),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Start(i) => write!(f, "R{i}.start"),
            Step::Read(i) => write!(f, "R{i}.read"),
            Step::Fill(i) => write!(f, "R{i}.fill"),
            Step::Begin(j) => write!(f, "W{j}.begin"),
            Step::Commit(j) => write!(f, "W{j}.commit"),
            Step::Invalidate(j) => write!(f, "W{j}.invalidate"),
            Step::Bump(n) => write!(f, "N{n}.invalidate_namespace"),
        }
    }
}

/// In which order a writer commits and invalidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteOrder {
    /// The correct order, through `Cache::write`.
    CommitThenInvalidate,
    /// The mistake of control (b).
    InvalidateThenCommit,
}

impl WriteOrder {
    fn steps(self, j: usize) -> Vec<Step> {
        match self {
            WriteOrder::CommitThenInvalidate => {
                vec![Step::Begin(j), Step::Commit(j), Step::Invalidate(j)]
            }
            WriteOrder::InvalidateThenCommit => vec![Step::Invalidate(j), Step::Commit(j)],
        }
    }
}

struct Schedule {
    initial: Row,
    /// Readers, the final one included.
    readers: usize,
    writers: usize,
    /// Namespace invalidations.
    bumps: usize,
    final_reader: bool,
    steps: Vec<Step>,
}

impl Schedule {
    fn describe(&self) -> String {
        let plan: Vec<String> = self.steps.iter().map(Step::to_string).collect();
        format!(
            "row initially {}, {} reader(s){}, {} writer(s), {} namespace invalidation(s); \
             plan: {}",
            show(self.initial),
            self.readers,
            if self.final_reader {
                " (the last one final)"
            } else {
                ""
            },
            self.writers,
            self.bumps,
            plan.join(" ")
        )
    }
}

fn reader_steps(i: usize) -> [Step; 3] {
    [Step::Start(i), Step::Read(i), Step::Fill(i)]
}

/// The `index`-th schedule drawn from `seed`. Its actors depend only on the seed and
/// the index, not on the write order, so each control runs schedules of the same
/// actors as the correct configuration (with each writer's steps in its order).
fn schedule(seed: u64, index: u64, order: WriteOrder, namespaces: bool) -> Schedule {
    let mut rng = SplitMix64(seed ^ SplitMix64(index).next_u64());
    let concurrent = 1 + rng.below(3) as usize;
    let writers = 1 + rng.below(2) as usize;
    let initial = if rng.below(4) == 0 { None } else { Some(1) };
    let final_reader = rng.below(2) == 0;
    // None, one or two namespace invalidations.
    let bumps = if namespaces { rng.below(3) as usize } else { 0 };

    let actors: Vec<Vec<Step>> = (0..concurrent)
        .map(|i| reader_steps(i).to_vec())
        .chain((0..writers).map(|j| order.steps(j)))
        .chain((0..bumps).map(|n| vec![Step::Bump(n)]))
        .collect();
    let total: usize = actors.iter().map(Vec::len).sum();
    let mut next = vec![0; actors.len()];
    let mut steps = Vec::with_capacity(total + 3);
    // Picking an actor with probability proportional to its steps left makes every
    // interleaving equally likely.
    for left_in_all in (1..=total).rev() {
        let mut pick = rng.below(left_in_all as u64) as usize;
        for (a, actor) in actors.iter().enumerate() {
            let left = actor.len() - next[a];
            if pick < left {
                steps.push(actor[next[a]]);
                next[a] += 1;
                break;
            }
            pick -= left;
        }
    }
    if final_reader {
        steps.extend(reader_steps(concurrent));
    }
    Schedule {
        initial,
        readers: concurrent + usize::from(final_reader),
        writers,
        bumps,
        final_reader,
        steps,
    }
}

fn show(row: Row) -> String {
    match row {
        Some(v) => format!("v{v}"),
        None => "absent".to_owned(),
    }
}

/// A cached value as the codec gives it back: the row's version, or `None` for an
/// absent row (negative caching).
fn parse(value: Option<String>) -> Result<Row, String> {
    value
        .map(|s| s.parse().map_err(|e| format!("cached value {s:?}: {e}")))
        .transpose()
}

// ---------------------------------------------------------------------------------
// The database: one in-memory SQLite database; every access takes the lock, so a
// commit is atomic with respect to every read, as it is for a real database.

struct Db(Mutex<Connection>);

impl Db {
    fn open() -> Db {
        let conn = Connection::open_in_memory().expect("open SQLite");
        conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)")
            .expect("create the table");
        Db(Mutex::new(conn))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create(&self, id: i64, row: Row) {
        if let Some(version) = row {
            self.lock()
                .prepare_cached("INSERT INTO rows (id, version) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![id, version as i64]))
                .expect("insert the row");
        }
    }

    fn read(&self, id: i64) -> Row {
        self.lock()
            .prepare_cached("SELECT version FROM rows WHERE id = ?1")
            .and_then(|mut s| s.query_row(params![id], |r| r.get::<_, i64>(0)).optional())
            .expect("read the row")
            .map(|v| v as u64)
    }

    /// The write: creates the row at version 1 or adds one to its version, and commits.
    /// `BEGIN` and `COMMIT` are cached statements rather than `Connection::transaction`,
    /// which parses them anew each time: in a debug build that was most of the cost.
    fn bump(&self, id: i64) -> Row {
        let conn = self.lock();
        let run = |sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        };
        run("BEGIN");
        let version: i64 = conn
            .prepare_cached(
                "INSERT INTO rows (id, version) VALUES (?1, 1) \
                 ON CONFLICT (id) DO UPDATE SET version = version + 1 RETURNING version",
            )
            .and_then(|mut s| s.query_row(params![id], |r| r.get(0)))
            .expect("update the row");
        run("COMMIT");
        Some(version as u64)
    }
}

// ---------------------------------------------------------------------------------
// The actors.

/// What the actors report to their schedule's coordinator.
#[derive(Debug)]
enum Event {
    /// Reader `i`'s loader was called: it holds the lease.
    Leased(usize),
    /// Reader `i`'s loader read the row.
    Read(usize, Row),
    /// Reader `i`'s `get_or_load` returned (after its fill, if it loaded).
    Returned(usize, Result<Option<String>, String>),
    /// Writer `j`'s `write` has read the namespace version and runs the write.
    Began(usize),
    /// Writer `j` committed; the row is now this.
    Committed(usize, Row),
    /// Writer `j`'s invalidation returned.
    Invalidated(usize, Result<(), String>),
    /// Namespace invalidation `n` returned.
    Bumped(usize, Result<(), String>),
}

impl Event {
    fn reader(&self) -> Option<usize> {
        match *self {
            Event::Leased(i) | Event::Read(i, _) | Event::Returned(i, _) => Some(i),
            Event::Began(_) | Event::Committed(..) | Event::Invalidated(..) | Event::Bumped(..) => {
                None
            }
        }
    }
}

type Gate = oneshot::Receiver<()>;

fn abandoned() -> std::io::Error {
    std::io::Error::other("the coordinator gave up on this schedule")
}

#[allow(clippy::too_many_arguments)]
async fn reader(
    run: Arc<Run>,
    cache: Cache<StringCodec>,
    i: usize,
    key: String,
    id: i64,
    start: Gate,
    read: Gate,
    fill: Gate,
    events: mpsc::UnboundedSender<Event>,
) {
    if start.await.is_err() {
        return;
    }
    let loader_events = events.clone();
    let db_run = run.clone();
    let result = cache
        .get_or_load(&key, move || async move {
            let _ = loader_events.send(Event::Leased(i));
            read.await.map_err(|_| abandoned())?;
            let row = db_run.db.read(id);
            let _ = loader_events.send(Event::Read(i, row));
            // Holding the row until the schedule says so is what lets a write slip in
            // between the read and the fill.
            fill.await.map_err(|_| abandoned())?;
            Ok::<_, std::io::Error>(row.map(|v| v.to_string()))
        })
        .await;
    let _ = events.send(Event::Returned(i, result.map_err(|e| e.to_string())));
}

/// Writer `j`: through `Cache::write` (`gates`: begin, commit, invalidate), or, in
/// control (b), `invalidate` and then the commit (`gates`: invalidate, commit).
async fn writer(
    run: Arc<Run>,
    cache: Cache<StringCodec>,
    j: usize,
    key: String,
    id: i64,
    gates: Vec<Gate>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut gates = gates.into_iter();
    if gates.next().expect("a first gate").await.is_err() {
        return;
    }
    match run.order {
        WriteOrder::CommitThenInvalidate => {
            // Through the API that exists to get this order right; holding the write
            // closure open lets the schedule put steps between the version lookup,
            // the commit and the invalidation.
            let (commit, invalidate) = (gates.next().unwrap(), gates.next().unwrap());
            let commit_events = events.clone();
            let db_run = run.clone();
            let result = cache
                .write(&key, move || async move {
                    let _ = commit_events.send(Event::Began(j));
                    commit.await.map_err(|_| abandoned())?;
                    let row = db_run.db.bump(id);
                    let _ = commit_events.send(Event::Committed(j, row));
                    invalidate.await.map_err(|_| abandoned())
                })
                .await;
            let _ = events.send(Event::Invalidated(j, result.map_err(|e| e.to_string())));
        }
        WriteOrder::InvalidateThenCommit => {
            let result = cache.invalidate(&key).await;
            let _ = events.send(Event::Invalidated(j, result.map_err(|e| e.to_string())));
            if gates.next().unwrap().await.is_err() {
                return;
            }
            let row = run.db.bump(id);
            let _ = events.send(Event::Committed(j, row));
        }
    }
}

/// Namespace invalidation `n`.
async fn bumper(
    cache: Cache<StringCodec>,
    n: usize,
    gate: Gate,
    events: mpsc::UnboundedSender<Event>,
) {
    if gate.await.is_err() {
        return;
    }
    let result = cache.invalidate_namespace().await;
    let _ = events.send(Event::Bumped(n, result.map_err(|e| e.to_string())));
}

// ---------------------------------------------------------------------------------
// The coordinator of one schedule, and its model of the key.

/// What memcached holds under the key (under one namespace version), as the
/// coordinator expects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Missing,
    /// Reader `i`'s lease placeholder.
    Lease(usize),
    Value(Row),
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Item::Missing => f.write_str("missing"),
            Item::Lease(i) => write!(f, "R{i}'s lease"),
            Item::Value(row) => write!(f, "{} cached", show(row)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReaderState {
    NotStarted,
    /// Started while another reader held the lease: polling memcached.
    Waiting,
    Leased,
    HasRead(Row),
    /// `get_or_load` returned this.
    Done(Row),
}

/// What happened, in order: the trace printed for an anomaly or a stale state.
#[derive(Clone, Copy, Debug)]
enum Note {
    /// Reader `i` started while reader `holder` held the lease.
    Waits(usize, usize),
    Leases(usize),
    Hit(usize, Row),
    Reads(usize, Row),
    Stores(usize, Row),
    /// Reader `i`'s fill of this row was refused; the key held this.
    Refused(usize, Row, Item),
    Committed(usize, Row),
    /// Writer `j`'s `write` read namespace version `v`.
    Began(usize, usize),
    /// Writer `j` invalidated the key under these versions (the second, if any, read
    /// after the commit).
    Deleted(usize, usize, Option<usize>),
    /// A namespace invalidation moved the namespace to version `v`.
    Bumped(usize, usize),
    /// A waiting reader took the lease (the key was missing when it polled).
    WaiterLeases(usize),
    WaiterHit(usize, Row),
    End(Row),
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Note::Waits(i, holder) => write!(f, "R{i}.start: waits, R{holder} holds the lease"),
            Note::Leases(i) => write!(f, "R{i}.start: miss, takes the lease (at its version)"),
            Note::Hit(i, row) => write!(f, "R{i}.start: hit {}", show(row)),
            Note::Reads(i, row) => write!(f, "R{i}.read: reads {}", show(row)),
            Note::Stores(i, row) => write!(f, "R{i}.fill: stores {}", show(row)),
            Note::Refused(i, row, item) => {
                write!(f, "R{i}.fill: {} refused (the key: {item})", show(row))
            }
            Note::Committed(j, row) => write!(f, "W{j}.commit: the row is now {}", show(row)),
            Note::Began(j, v) => write!(f, "W{j}.begin: reads version v{v}"),
            Note::Deleted(j, v, None) => write!(f, "W{j}.invalidate: deletes the key at v{v}"),
            Note::Deleted(j, v, Some(w)) => {
                write!(f, "W{j}.invalidate: deletes the key at v{v} and v{w}")
            }
            Note::Bumped(n, v) => write!(f, "N{n}: the namespace moves to v{v}"),
            Note::WaiterLeases(i) => write!(f, "R{i} (was waiting): takes the lease"),
            Note::WaiterHit(i, row) => write!(f, "R{i} (was waiting): hit {}", show(row)),
            Note::End(row) => write!(f, "end: the row is {}", show(row)),
        }
    }
}

struct Coordinator {
    /// The readers' caches, whose counters tell when a waiting reader has seen the lease.
    caches: Vec<Cache<StringCodec>>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Events that arrived while the coordinator waited for another one.
    early: VecDeque<Event>,
    /// The key under each namespace version (0 is the first), and the current one.
    items: Vec<Item>,
    version: usize,
    readers: Vec<ReaderState>,
    /// The version each reader read (when it started).
    reader_at: Vec<usize>,
    /// The version each writer's `write` read before the write (none for `invalidate`).
    writer_at: Vec<Option<usize>>,
    cas_fills: bool,
    /// `write` invalidates only under the version it read before the write (mutant c).
    early_version_only: bool,
    trace: Vec<Note>,
    refused: u64,
    waited: u64,
}

impl Coordinator {
    async fn next_event(&mut self) -> Result<Event, String> {
        self.events
            .recv()
            .await
            .ok_or_else(|| "every actor stopped before the schedule ended".to_owned())
    }

    /// The next event `want` accepts; the others are kept for [`Self::settle`].
    async fn wait_for(&mut self, want: impl Fn(&Event) -> bool) -> Result<Event, String> {
        loop {
            let e = self.next_event().await?;
            if want(&e) {
                return Ok(e);
            }
            self.early.push_back(e);
        }
    }

    async fn next_from_reader(&mut self, i: usize) -> Result<Event, String> {
        self.wait_for(|e| e.reader() == Some(i)).await
    }

    /// Waits until reader `i`, started while another reader holds the lease, has found
    /// the lease taken (its cache counts the miss), so that the next step comes after
    /// that and the reader really waits through it. Nothing else reports this moment:
    /// the reader's first look at memcached only shows in its counters.
    async fn seen_lease(&mut self, i: usize) -> Result<(), String> {
        while self.caches[i].metrics().misses == 0 {
            // Yield rather than sleep: the reader's reply comes within a few passes of
            // the scheduler, and a timer per pass would cost more than the pass.
            match self.events.try_recv() {
                // An event now is an anomaly (a second lease, an error); `settle` reports
                // it, and an event from this reader means it is done looking.
                Ok(e) => {
                    let from_reader = e.reader() == Some(i);
                    self.early.push_back(e);
                    if from_reader {
                        break;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => tokio::task::yield_now().await,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return Err("every actor stopped before the schedule ended".to_owned());
                }
            }
        }
        Ok(())
    }

    /// Runs the steps in the schedule's order, except that a reader's steps wait until
    /// the reader has what they need (a waiting reader cannot read before it leases),
    /// and the steps of a reader that hit are dropped.
    async fn drive(
        &mut self,
        steps: &[Step],
        gates: &mut HashMap<Step, oneshot::Sender<()>>,
    ) -> Result<(), String> {
        let mut pending = steps.to_vec();
        loop {
            let readers = &self.readers;
            pending.retain(|s| match *s {
                Step::Read(i) | Step::Fill(i) => !matches!(readers[i], ReaderState::Done(_)),
                _ => true,
            });
            if pending.is_empty() {
                break;
            }
            let Some(pos) = pending.iter().position(|s| match *s {
                Step::Start(i) => self.readers[i] == ReaderState::NotStarted,
                Step::Read(i) => self.readers[i] == ReaderState::Leased,
                Step::Fill(i) => matches!(self.readers[i], ReaderState::HasRead(_)),
                Step::Begin(_) | Step::Commit(_) | Step::Invalidate(_) | Step::Bump(_) => true,
            }) else {
                return Err(format!(
                    "no step can run: pending {pending:?}, readers {:?}, key {:?}",
                    self.readers, self.items
                ));
            };
            let step = pending.remove(pos);
            // A send fails only if the actor is gone, which the wait below reports.
            let _ = gates.remove(&step).expect("one gate per step").send(());
            self.complete(step).await?;
            self.settle().await?;
        }
        match self
            .readers
            .iter()
            .position(|r| !matches!(r, ReaderState::Done(_)))
        {
            Some(i) => Err(format!("R{i} never finished: {:?}", self.readers[i])),
            None => Ok(()),
        }
    }

    /// Reader `i` starts: it reads the current version, and finds the key as it is
    /// under it.
    fn start_at_current_version(&mut self, i: usize) -> Item {
        self.reader_at[i] = self.version;
        self.items[self.version]
    }

    /// Waits for `step` to be done and applies it to the model.
    async fn complete(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Start(i) => match self.start_at_current_version(i) {
                Item::Lease(holder) => {
                    self.seen_lease(i).await?;
                    self.readers[i] = ReaderState::Waiting;
                    self.waited += 1;
                    self.trace.push(Note::Waits(i, holder));
                }
                Item::Missing => match self.next_from_reader(i).await? {
                    Event::Leased(_) => {
                        self.items[self.version] = Item::Lease(i);
                        self.readers[i] = ReaderState::Leased;
                        self.trace.push(Note::Leases(i));
                    }
                    e => {
                        return Err(format!(
                            "{step} on a missing key: expected a lease, got {e:?}"
                        ));
                    }
                },
                Item::Value(cached) => match self.next_from_reader(i).await? {
                    Event::Returned(_, Ok(v)) if parse(v.clone()) == Ok(cached) => {
                        self.readers[i] = ReaderState::Done(cached);
                        self.trace.push(Note::Hit(i, cached));
                    }
                    e => {
                        return Err(format!(
                            "{step} with {} cached: expected a hit, got {e:?}",
                            show(cached)
                        ));
                    }
                },
            },
            Step::Read(i) => match self.next_from_reader(i).await? {
                Event::Read(_, row) => {
                    self.readers[i] = ReaderState::HasRead(row);
                    self.trace.push(Note::Reads(i, row));
                }
                e => return Err(format!("{step}: expected the read, got {e:?}")),
            },
            Step::Fill(i) => {
                let ReaderState::HasRead(row) = self.readers[i] else {
                    unreachable!("a fill runs after its read")
                };
                match self.next_from_reader(i).await? {
                    Event::Returned(_, Ok(v)) if parse(v.clone()) == Ok(row) => {}
                    e => return Err(format!("{step}: expected {} back, got {e:?}", show(row))),
                }
                self.readers[i] = ReaderState::Done(row);
                // A cas fill is stored only over the reader's own lease; a plain set
                // always is. Either way under the version the reader started with.
                let item = &mut self.items[self.reader_at[i]];
                if !self.cas_fills || *item == Item::Lease(i) {
                    *item = Item::Value(row);
                    self.trace.push(Note::Stores(i, row));
                } else {
                    self.refused += 1;
                    self.trace.push(Note::Refused(i, row, *item));
                }
            }
            Step::Commit(j) => match self
                .wait_for(|e| matches!(e, Event::Committed(k, _) if *k == j))
                .await?
            {
                Event::Committed(_, row) => self.trace.push(Note::Committed(j, row)),
                _ => unreachable!(),
            },
            Step::Invalidate(j) => match self
                .wait_for(|e| matches!(e, Event::Invalidated(k, _) if *k == j))
                .await?
            {
                Event::Invalidated(_, Ok(())) => {
                    // `write`: under the version it read first and, as built, under the
                    // one current now; `invalidate`: under the one current now.
                    let (first, second) = match self.writer_at[j] {
                        Some(early) if self.early_version_only || early == self.version => {
                            (early, None)
                        }
                        Some(early) => (early, Some(self.version)),
                        None => (self.version, None),
                    };
                    for v in [Some(first), second].into_iter().flatten() {
                        self.items[v] = Item::Missing;
                    }
                    self.trace.push(Note::Deleted(j, first, second));
                }
                e => return Err(format!("{step}: {e:?}")),
            },
            Step::Begin(j) => match self
                .wait_for(|e| matches!(e, Event::Began(k) if *k == j))
                .await?
            {
                Event::Began(_) => {
                    self.writer_at[j] = Some(self.version);
                    self.trace.push(Note::Began(j, self.version));
                }
                _ => unreachable!(),
            },
            Step::Bump(n) => match self
                .wait_for(|e| matches!(e, Event::Bumped(k, _) if *k == n))
                .await?
            {
                Event::Bumped(_, Ok(())) => {
                    self.version += 1;
                    self.items.push(Item::Missing);
                    self.trace.push(Note::Bumped(n, self.version));
                }
                e => return Err(format!("{step}: {e:?}")),
            },
        }
        Ok(())
    }

    /// Lets the waiting readers act on the key's new state before the next step: once
    /// the key holds a value they all hit it; once it is missing, the first to poll
    /// takes the lease and the others wait on. Without this, when they act would depend
    /// on their poll timers rather than on the schedule.
    async fn settle(&mut self) -> Result<(), String> {
        loop {
            while let Some(e) = self.early.pop_front() {
                self.unblock(e)?;
            }
            // Done when every waiting reader still finds a lease under its version.
            let blocked = (0..self.readers.len())
                .filter(|&i| self.readers[i] == ReaderState::Waiting)
                .all(|i| matches!(self.items[self.reader_at[i]], Item::Lease(_)));
            if blocked {
                return Ok(());
            }
            let e = self.next_event().await?;
            self.unblock(e)?;
        }
    }

    fn unblock(&mut self, e: Event) -> Result<(), String> {
        let Some(i) = e
            .reader()
            .filter(|&i| self.readers[i] == ReaderState::Waiting)
        else {
            return Err(format!(
                "unexpected {e:?}; readers {:?}, key {:?}",
                self.readers, self.items
            ));
        };
        let v = self.reader_at[i];
        match (e, self.items[v]) {
            (Event::Leased(_), Item::Missing) => {
                self.items[v] = Item::Lease(i);
                self.readers[i] = ReaderState::Leased;
                self.trace.push(Note::WaiterLeases(i));
            }
            (Event::Returned(_, Ok(v)), Item::Value(cached)) if parse(v.clone()) == Ok(cached) => {
                self.readers[i] = ReaderState::Done(cached);
                self.trace.push(Note::WaiterHit(i, cached));
            }
            (e, item) => return Err(format!("R{i} was waiting on {item:?} and got {e:?}")),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// One schedule, end to end.

/// Everything a run's schedules share.
struct Run {
    client: Client,
    db: Arc<Db>,
    order: WriteOrder,
    cas_fills: bool,
    early_version_only: bool,
    /// Schedules with namespace invalidations (and so a namespace per schedule).
    namespaces: bool,
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Final {
    Missing,
    Fresh,
    Stale,
}

struct Outcome {
    index: u64,
    schedule: Schedule,
    /// What memcached held at the end, if the schedule got that far.
    state: Option<Final>,
    /// Anything the model did not predict: an error, a hang, a fill stored or refused
    /// against expectations.
    anomaly: Option<String>,
    /// The final reader returned a value older than the row.
    stale_final_read: bool,
    /// The readers' `metrics().fills_refused`.
    fills_refused: u64,
    /// The readers' `metrics().lease_waits`.
    polls: u64,
    /// The fills the model expected to be refused.
    refused: u64,
    /// Readers that started while another held the lease.
    waited: u64,
    trace: Vec<Note>,
}

async fn run_schedule(run: Arc<Run>, index: u64) -> Outcome {
    let schedule = schedule(run.seed, index, run.order, run.namespaces);
    let id = index as i64;
    let key = format!("k{index}");
    run.db.create(id, schedule.initial);
    // A namespace per schedule: its invalidations are this schedule's alone. Its
    // version is created here, in one `add`, rather than by the first lookup (a miss,
    // an `add` and a second read): the same for the schedule, two round trips fewer.
    let namespace = format!("s{index}");
    if let Err(e) = run
        .client
        .add(format!("{namespace}#v"), "1", mcaside::Expiry::Never)
        .await
    {
        panic!("creating the namespace's version: {e}");
    }

    // A cache per reader, as if each were its own process: readers meet at the memcached
    // lease, not in one cache's in-process coalescing; and each cache's counters are
    // this reader's alone. The writers (and the namespace invalidations) share one, as
    // one process would.
    let caches: Vec<_> = (0..schedule.readers)
        .map(|_| cache(&run.client, &namespace, run.cas_fills))
        .collect();
    let mut writer_cache = cache(&run.client, &namespace, run.cas_fills);
    if run.early_version_only {
        writer_cache = Cache::builder(run.client.clone(), &namespace, StringCodec)
            .invalidate_early_version_only_for_tests()
            .build()
            .expect("a valid namespace");
    }
    // Reads the final state back through the layer, as the next reader would get it.
    // Nothing may be leased then, so it waits only briefly before saying so.
    let checker = Cache::builder(run.client.clone(), &namespace, StringCodec)
        .max_wait(Duration::from_secs(1), OnWaitTimeout::Fail)
        .build()
        .expect("a valid namespace");
    let (tx, rx) = mpsc::unbounded_channel();
    let mut gates = HashMap::new();
    let mut gate = |step| {
        let (send, receive) = oneshot::channel();
        gates.insert(step, send);
        receive
    };
    // Dropping the set aborts whatever an anomaly left running.
    let mut actors = JoinSet::new();
    for (i, cache) in caches.iter().enumerate() {
        let [start, read, fill] = reader_steps(i).map(&mut gate);
        actors.spawn(reader(
            run.clone(),
            cache.clone(),
            i,
            key.clone(),
            id,
            start,
            read,
            fill,
            tx.clone(),
        ));
    }
    for j in 0..schedule.writers {
        let gates = run.order.steps(j).into_iter().map(&mut gate).collect();
        actors.spawn(writer(
            run.clone(),
            writer_cache.clone(),
            j,
            key.clone(),
            id,
            gates,
            tx.clone(),
        ));
    }
    for n in 0..schedule.bumps {
        actors.spawn(bumper(
            writer_cache.clone(),
            n,
            gate(Step::Bump(n)),
            tx.clone(),
        ));
    }
    drop(tx);

    let mut c = Coordinator {
        caches,
        events: rx,
        early: VecDeque::new(),
        items: vec![Item::Missing],
        version: 0,
        readers: vec![ReaderState::NotStarted; schedule.readers],
        reader_at: vec![0; schedule.readers],
        writer_at: vec![None; schedule.writers],
        cas_fills: run.cas_fills,
        early_version_only: run.early_version_only,
        trace: Vec::with_capacity(schedule.steps.len() + 2),
        refused: 0,
        waited: 0,
    };
    let mut stale_final_read = false;
    let driven = tokio::time::timeout(SCHEDULE_TIMEOUT, async {
        c.drive(&schedule.steps, &mut gates).await?;
        check_final_state(&run, &checker, &key, id, c.items[c.version]).await
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "hang: not done after {SCHEDULE_TIMEOUT:?}; readers {:?}, key {:?}",
            c.readers, c.items
        ))
    });
    let (state, anomaly) = match driven {
        Ok(check) => {
            c.trace.push(Note::End(check.row));
            if schedule.final_reader
                && let ReaderState::Done(read) = c.readers[schedule.readers - 1]
            {
                stale_final_read = read != check.row;
            }
            (Some(check.state), check.mismatch)
        }
        Err(e) => (None, Some(e)),
    };
    let metrics = c.caches.iter().map(Cache::metrics);
    Outcome {
        index,
        schedule,
        state,
        anomaly,
        stale_final_read,
        fills_refused: metrics.clone().map(|m| m.fills_refused).sum(),
        polls: metrics.map(|m| m.lease_waits).sum(),
        refused: c.refused,
        waited: c.waited,
        trace: c.trace,
    }
}

struct FinalCheck {
    state: Final,
    /// The row at the end.
    row: Row,
    /// How memcached differs from the model's expectation, if it does.
    mismatch: Option<String>,
}

/// Compares what memcached holds with the row; also with what the model expects, so
/// that a fill stored or refused against expectations is reported too.
async fn check_final_state(
    run: &Run,
    checker: &Cache<StringCodec>,
    key: &str,
    id: i64,
    expected: Item,
) -> Result<FinalCheck, String> {
    let row = run.db.read(id);
    // Read back as the next reader would be served. The loader runs only if nothing is
    // cached (the checker took the lease), and fails so that nothing gets stored.
    let missing = AtomicBool::new(false);
    let read = checker
        .get_or_load(key, || async {
            missing.store(true, Ordering::Relaxed);
            Err::<Option<String>, _>(std::io::Error::other("nothing cached"))
        })
        .await;
    let cached = match read {
        Ok(value) => Some(parse(value)?),
        Err(_) if missing.load(Ordering::Relaxed) => None,
        Err(CacheError::WaitTimeout) => {
            return Err("the key is still leased: a placeholder was left behind".to_owned());
        }
        Err(e) => return Err(format!("reading back the cached value: {e}")),
    };
    let model = match expected {
        Item::Missing => None,
        Item::Value(v) => Some(v),
        Item::Lease(i) => return Err(format!("the model ended with R{i}'s lease")),
    };
    let mismatch = (cached != model).then(|| {
        format!(
            "memcached holds {}, the model expected {}",
            cached.map_or("nothing".to_owned(), show),
            model.map_or("nothing".to_owned(), show)
        )
    });
    let state = match cached {
        None => Final::Missing,
        Some(c) if c == row => Final::Fresh,
        // Versions only grow (and a row, once created, stays), so any other value
        // is older than the row.
        Some(c) if c < row => Final::Stale,
        Some(c) => {
            return Err(format!(
                "cached {} is newer than the row {}",
                show(c),
                show(row)
            ));
        }
    };
    Ok(FinalCheck {
        state,
        row,
        mismatch,
    })
}

// ---------------------------------------------------------------------------------
// A run: many schedules against one memcached and one database.

struct Config {
    label: &'static str,
    /// A client kept to the classic commands (leases by `add`, fills by `cas`).
    classic: bool,
    /// Fills conditional on the lease's cas, as built; `false` for control (a).
    cas_fills: bool,
    order: WriteOrder,
    /// `write` invalidates only under the version read before the write; `true` for
    /// mutant (c).
    early_version_only: bool,
    /// Namespace invalidations among the steps.
    namespaces: bool,
    schedules: u64,
    /// Threads, each with its own runtime and client. Two for the big run; one for the
    /// small ones, which libtest runs beside it: more busy threads than cores make every
    /// step slower, and waiting readers then poll more.
    shards: u64,
}

#[derive(Default)]
struct Summary {
    schedules: u64,
    missing: u64,
    fresh: u64,
    stale: u64,
    stale_final_reads: u64,
    /// Refusals the model predicted.
    refused: u64,
    /// `metrics().fills_refused`, summed over the readers' caches.
    fills_refused: u64,
    waited: u64,
    /// `metrics().lease_waits`: polls by readers waiting on another's lease.
    polls: u64,
    anomalies: Vec<Outcome>,
    stale_examples: Vec<Outcome>,
}

impl Summary {
    const EXAMPLES: usize = 5;

    fn add(&mut self, outcome: Outcome) {
        self.schedules += 1;
        self.refused += outcome.refused;
        self.fills_refused += outcome.fills_refused;
        self.polls += outcome.polls;
        self.waited += u64::from(outcome.waited > 0);
        self.stale_final_reads += u64::from(outcome.stale_final_read);
        match outcome.state {
            Some(Final::Missing) => self.missing += 1,
            Some(Final::Fresh) => self.fresh += 1,
            Some(Final::Stale) => self.stale += 1,
            None => {}
        }
        if outcome.anomaly.is_some() {
            self.anomalies.push(outcome);
        } else if outcome.state == Some(Final::Stale) && self.stale_examples.len() < Self::EXAMPLES
        {
            self.stale_examples.push(outcome);
        }
    }

    fn merge(&mut self, other: Summary) {
        self.schedules += other.schedules;
        self.missing += other.missing;
        self.fresh += other.fresh;
        self.stale += other.stale;
        self.stale_final_reads += other.stale_final_reads;
        self.refused += other.refused;
        self.fills_refused += other.fills_refused;
        self.waited += other.waited;
        self.polls += other.polls;
        self.anomalies.extend(other.anomalies);
        let room = Self::EXAMPLES.saturating_sub(self.stale_examples.len());
        self.stale_examples
            .extend(other.stale_examples.into_iter().take(room));
    }

    fn stale_percent(&self) -> f64 {
        100.0 * self.stale as f64 / self.schedules.max(1) as f64
    }
}

fn cache(client: &Client, namespace: &str, cas_fills: bool) -> Cache<StringCodec> {
    let builder = Cache::builder(client.clone(), namespace, StringCodec)
        .ttl(Duration::from_secs(600))
        .negative_ttl(Duration::from_secs(600))
        // Far beyond any schedule's length, so that neither a lease nor a wait runs out
        // mid-schedule and changes the order behind the coordinator's back (a wait that
        // did would fail loudly rather than load quietly).
        .lease_ttl(Duration::from_secs(120))
        .max_wait(Duration::from_secs(60), OnWaitTimeout::Fail);
    let builder = if cas_fills {
        builder
    } else {
        builder.fill_without_cas_for_tests()
    };
    builder.build().expect("a valid namespace")
}

/// Runs `config`'s schedules: `Config::shards` threads, each with its own single-threaded
/// runtime, client and caches, share the memcached and the database. Single-threaded
/// runtimes, because a multi-threaded one took about 45% more CPU per schedule here,
/// moving wake-ups between threads; several of them, so that a run can use both cores.
fn run(config: Config) -> Summary {
    let server = Memcached::start();
    let seed = seed();
    let db = Arc::new(Db::open());
    let only = only_schedule();
    let started = Instant::now();
    let shards: Vec<Summary> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..config.shards)
            .map(|shard| {
                let (config, addr, db) = (&config, server.addr.as_str(), db.clone());
                scope.spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime")
                        .block_on(run_shard(config, addr, db, seed, shard, only))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a shard panicked"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut summary = Summary::default();
    for shard in shards {
        summary.merge(shard);
    }
    println!(
        "[{}] seed {seed:#x} (MCASIDE_STALE_SEED): {} schedules in {:.1?}: \
         stale final states {} ({:.2}%), stale final reads {}, fresh {}, nothing cached {}, \
         fills refused {} (metrics; the model predicted {}), schedules with a reader \
         waiting on another's lease {} ({} polls), anomalies {}",
        config.label,
        summary.schedules,
        elapsed,
        summary.stale,
        summary.stale_percent(),
        summary.stale_final_reads,
        summary.fresh,
        summary.missing,
        summary.fills_refused,
        summary.refused,
        summary.waited,
        summary.polls,
        summary.anomalies.len(),
    );
    for o in summary.anomalies.iter().take(5) {
        print_outcome(config.label, "ANOMALY", o);
    }
    summary
}

/// One shard's part of a run: the schedules whose index is `shard` modulo `Config::shards`.
async fn run_shard(
    config: &Config,
    addr: &str,
    db: Arc<Db>,
    seed: u64,
    shard: u64,
    only: Option<u64>,
) -> Summary {
    let mut builder = Client::builder()
        .connections(2)
        // The schedule's own timeout catches a hang, so requests need none: a timer
        // each is a noticeable cost in a debug build, and the default 1 s could trip
        // when a thousand schedules share a core.
        .no_request_timeout();
    if config.classic {
        builder = builder.features(Features::CLASSIC);
    }
    let client = builder
        .connect(addr)
        .await
        .expect("connect to the test server");
    let run = Arc::new(Run {
        client,
        db,
        order: config.order,
        cas_fills: config.cas_fills,
        early_version_only: config.early_version_only,
        namespaces: config.namespaces,
        seed,
    });
    let mut indices = match only {
        Some(i) => i..i + 1,
        None => 0..config.schedules,
    }
    .filter(|i| i % config.shards == shard);

    let mut summary = Summary::default();
    let mut running = JoinSet::new();
    loop {
        while running.len() < WINDOW {
            match indices.next() {
                Some(i) => running.spawn(run_schedule(run.clone(), i)),
                None => break,
            };
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let outcome = done.expect("a schedule panicked");
        if only.is_some() {
            print_outcome(config.label, "trace", &outcome);
        }
        summary.add(outcome);
    }
    summary
}

fn print_outcome(label: &str, what: &str, o: &Outcome) {
    println!(
        "[{label}] {what} in schedule {} (MCASIDE_STALE_SCHEDULE={}): final state {}{}",
        o.index,
        o.index,
        o.state.map_or("unknown".to_owned(), |s| format!("{s:?}")),
        o.anomaly
            .as_ref()
            .map_or(String::new(), |a| format!("; anomaly: {a}"))
    );
    println!("    {}", o.schedule.describe());
    for line in &o.trace {
        println!("    {line}");
    }
}

/// The assertions for the configuration as built: nothing stale, nothing unexpected.
fn assert_no_stale_state(label: &str, s: &Summary) {
    for o in &s.stale_examples {
        print_outcome(label, "STALE", o);
    }
    assert!(
        s.anomalies.is_empty(),
        "[{label}] {} anomalies (see above)",
        s.anomalies.len()
    );
    assert_eq!(s.stale, 0, "[{label}] stale final states (see above)");
    assert_eq!(s.stale_final_reads, 0, "[{label}] stale final reads");
    assert_eq!(
        s.fills_refused, s.refused,
        "[{label}] fills refused: the metrics and the model disagree"
    );
    if only_schedule().is_none() {
        // Each refusal is a stale set prevented: without any, the runs would not have
        // exercised the protection at all.
        assert!(s.fills_refused > 0, "[{label}] no fill was ever refused");
    }
}

/// The assertions for a control: the harness must see the harm it is built to detect.
fn assert_stale_states_seen(label: &str, s: &Summary) {
    if let Some(o) = s.stale_examples.first() {
        print_outcome(label, "a stale final state, as expected,", o);
    }
    assert!(
        s.anomalies.is_empty(),
        "[{label}] {} anomalies (see above)",
        s.anomalies.len()
    );
    if only_schedule().is_none() {
        assert!(
            s.stale > 0,
            "[{label}] the control produced no stale state: the harness cannot detect one"
        );
    }
}

/// The configuration as built, with namespace invalidations interleaved with the
/// writes, reads and fills: the main run.
#[test]
fn cas_fills_leave_no_stale_state_meta() {
    let label = "meta, cas fills, invalidate after commit, namespace invalidations";
    let s = run(Config {
        label,
        classic: false,
        cas_fills: true,
        order: WriteOrder::CommitThenInvalidate,
        early_version_only: false,
        namespaces: true,
        schedules: 100_000,
        shards: 2,
    });
    assert_no_stale_state(label, &s);
}

#[test]
fn cas_fills_leave_no_stale_state_classic() {
    let label = "classic, cas fills, invalidate after commit, namespace invalidations";
    let s = run(Config {
        label,
        classic: true,
        cas_fills: true,
        order: WriteOrder::CommitThenInvalidate,
        early_version_only: false,
        namespaces: true,
        schedules: 5_000,
        shards: 1,
    });
    assert_no_stale_state(label, &s);
}

#[test]
fn control_plain_set_fills_leave_stale_states() {
    let label = "control (a): meta, plain set fills, invalidate after commit";
    let s = run(Config {
        label,
        classic: false,
        cas_fills: false,
        order: WriteOrder::CommitThenInvalidate,
        early_version_only: false,
        namespaces: true,
        schedules: 5_000,
        shards: 1,
    });
    assert_stale_states_seen(label, &s);
}

#[test]
fn control_invalidate_before_commit_leaves_stale_states() {
    let label = "control (b): meta, cas fills, invalidate before commit";
    let s = run(Config {
        label,
        classic: false,
        cas_fills: true,
        order: WriteOrder::InvalidateThenCommit,
        early_version_only: false,
        namespaces: true,
        schedules: 5_000,
        shards: 1,
    });
    assert_stale_states_seen(label, &s);
}

/// Issue 11's `write`: it invalidated only under the namespace version it read before
/// the write, so a namespace invalidation during the write let a reader cache the old
/// row under the new version.
#[test]
fn control_write_invalidating_under_the_early_version_only_leaves_stale_states() {
    let label = "control (c): meta, cas fills, write invalidates under the early version only";
    let s = run(Config {
        label,
        classic: false,
        cas_fills: true,
        order: WriteOrder::CommitThenInvalidate,
        early_version_only: true,
        namespaces: true,
        schedules: 5_000,
        shards: 1,
    });
    assert_stale_states_seen(label, &s);
}
