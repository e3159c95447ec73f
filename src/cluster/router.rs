//! The servers of one client, and which of them a request goes to.
//!
//! A [`Cluster`] holds one [`Member`] per server (its connections and its health) and
//! the placement of keys on them. With one server there is nothing to decide: every key
//! goes to it without hashing, and no health is kept (its connections already fail
//! fast while it is down, and there is nowhere else to send its keys). With several:
//!
//! - a key is placed by the cluster's [`Distribution`] over the servers that take keys
//!   (all of them, except those ejected under [`DeadServerPolicy::Eject`]);
//! - every request's outcome is recorded against its server ([`super::health`]); after
//!   `dead_after` failures in a row the server is marked dead, and its keys fail at
//!   once, move to the other servers, or go to the gutter pool, as the policy says;
//! - one background probe (a task, while any server is dead) asks each dead server for
//!   its `version` on every one of its connections, every `retry_interval`, and marks
//!   it alive when all answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::BufMut;

use super::health::{Health, Verdict, counts_against_server};
use super::pool::Pool;
use super::{DeadServerPolicy, Distribution, Placement, Server};
use crate::error::{Error, Result};
use crate::proto::{Expect, Reply};

/// One server of a cluster: its connections and its health.
#[derive(Debug)]
pub(crate) struct Member {
    pub server: Server,
    pub pool: Pool,
    pub health: Health,
    /// A server of the gutter pool (TTLs capped), not of the cluster proper.
    pub gutter: bool,
}

/// Where a key goes: a placement and the members it was built over.
#[derive(Debug)]
struct Table {
    placement: Box<dyn Placement>,
    /// Placement index to member index.
    members: Vec<usize>,
}

impl Table {
    fn new(distribution: &dyn Distribution, all: &[Member], which: Vec<usize>) -> Table {
        let servers: Vec<&Server> = which.iter().map(|&i| &all[i].server).collect();
        let placement = if servers.is_empty() {
            Box::new(Nowhere) as Box<dyn Placement>
        } else {
            distribution.build(&servers)
        };
        Table {
            placement,
            members: which,
        }
    }

    fn locate(&self, key: &[u8]) -> Option<usize> {
        match self.members.len() {
            0 => None,
            1 => Some(self.members[0]),
            _ => Some(self.members[self.placement.locate(key)]),
        }
    }
}

/// The placement of an empty table (every server ejected): never consulted.
#[derive(Debug)]
struct Nowhere;

impl Placement for Nowhere {
    fn locate(&self, _key: &[u8]) -> usize {
        0
    }
}

/// The cluster's settings for dead servers.
#[derive(Debug, Clone)]
pub(crate) struct Deadness {
    pub policy: DeadServerPolicy,
    pub dead_after: u32,
    pub retry_interval: Duration,
    /// How long a probe waits for each connection's `version`.
    pub probe_timeout: Duration,
}

/// A client's servers. Cheap to share: the probe task holds a weak reference.
#[derive(Debug)]
pub(crate) struct Cluster {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The cluster's servers, then the gutter's.
    members: Box<[Member]>,
    /// How many of `members` are the cluster's own.
    regular: usize,
    distribution: Arc<dyn Distribution>,
    /// Over every regular member: where a key lives when all are up.
    full: Table,
    /// Over the regular members that take keys now (differs from `full` only while a
    /// server is ejected).
    live: RwLock<Arc<Table>>,
    /// Over the gutter members.
    gutter: Option<Table>,
    max_gutter_ttl: Option<Duration>,
    dead: Deadness,
    probing: AtomicBool,
}

impl Cluster {
    /// A cluster of `members` (the first `regular` are the cluster's, the rest the
    /// gutter's). Members whose `health` is already dead (they could not be reached
    /// when the client was built) are probed from the start.
    pub fn new(
        members: Vec<Member>,
        regular: usize,
        distribution: Arc<dyn Distribution>,
        dead: Deadness,
    ) -> Cluster {
        let members = members.into_boxed_slice();
        let full = Table::new(&*distribution, &members, (0..regular).collect());
        let gutter = (members.len() > regular)
            .then(|| Table::new(&*distribution, &members, (regular..members.len()).collect()));
        let max_gutter_ttl = match &dead.policy {
            DeadServerPolicy::Gutter { max_ttl, .. } => Some(*max_ttl),
            _ => None,
        };
        let shared = Arc::new(Shared {
            live: RwLock::new(Arc::new(Table::new(
                &*distribution,
                &members,
                (0..regular).collect(),
            ))),
            members,
            regular,
            distribution,
            full,
            gutter,
            max_gutter_ttl,
            dead,
            probing: AtomicBool::new(false),
        });
        let cluster = Cluster { shared };
        if cluster.shared.members.iter().any(|m| m.health.is_dead()) {
            cluster.shared.rebuild();
            Shared::ensure_probe(&cluster.shared);
        }
        cluster
    }

    /// Every member, the gutter's included.
    pub fn members(&self) -> &[Member] {
        &self.shared.members
    }

    /// The cluster's own servers (not the gutter's).
    pub fn regular(&self) -> &[Member] {
        &self.shared.members[..self.shared.regular]
    }

    pub fn member(&self, index: usize) -> &Member {
        &self.shared.members[index]
    }

    /// True with more than one server: then placement, health and policies apply.
    pub fn is_cluster(&self) -> bool {
        self.shared.members.len() > 1
    }

    /// The member `key` goes to now, or why it cannot go anywhere.
    pub fn for_key(&self, key: &[u8]) -> Result<usize> {
        let s = &*self.shared;
        if s.members.len() == 1 {
            return Ok(0);
        }
        let home = s.full.locate(key).unwrap_or(0);
        if !s.members[home].health.is_dead() {
            return Ok(home);
        }
        let down = || Error::ServerDown {
            server: s.members[home].server.addr().clone(),
        };
        match &s.dead.policy {
            DeadServerPolicy::FailFast => Err(down()),
            DeadServerPolicy::Eject { .. } => {
                let live = s.live.read().unwrap_or_else(|e| e.into_inner()).clone();
                match live.locate(key) {
                    Some(m) if !s.members[m].health.is_dead() => Ok(m),
                    // Ejected everything, or another server died since the last
                    // rebuild: nowhere to go right now.
                    _ => Err(down()),
                }
            }
            DeadServerPolicy::Gutter { .. } => {
                match s.gutter.as_ref().and_then(|g| g.locate(key)) {
                    Some(g) if !s.members[g].health.is_dead() => Ok(g),
                    Some(g) => Err(Error::ServerDown {
                        server: s.members[g].server.addr().clone(),
                    }),
                    None => Err(down()),
                }
            }
            #[allow(unreachable_patterns)]
            _ => Err(down()),
        }
    }

    /// Marks `member` dead now (it could not tell what it supports when the client was
    /// built), and starts probing it.
    pub fn mark_dead(&self, member: usize) {
        self.shared.members[member].health.mark_dead();
        self.shared.rebuild();
        Shared::ensure_probe(&self.shared);
    }

    /// The first member that is not marked dead (for requests without a key), or the
    /// error for the first one.
    pub fn first_live(&self) -> Result<usize> {
        let regular = self.regular();
        match regular.iter().position(|m| !m.health.is_dead()) {
            Some(i) => Ok(i),
            None => Err(Error::ServerDown {
                server: regular[0].server.addr().clone(),
            }),
        }
    }

    /// The TTL cap of requests that go to `member`: the gutter's, for its members.
    pub fn ttl_cap(&self, member: usize) -> Option<Duration> {
        let s = &*self.shared;
        if s.members[member].gutter {
            s.max_gutter_ttl
        } else {
            None
        }
    }

    /// True when some request may go to the gutter: a gutter is configured and some
    /// server is dead. (Cheap: the common case skips the gutter work.)
    pub fn gutter_in_use(&self) -> bool {
        let s = &*self.shared;
        s.max_gutter_ttl.is_some() && s.members[..s.regular].iter().any(|m| m.health.is_dead())
    }

    /// Records a request's outcome against `member`'s health.
    pub fn record<T>(&self, member: usize, result: &Result<T>) {
        let s = &self.shared;
        if s.members.len() == 1 {
            return;
        }
        let health = &s.members[member].health;
        match result {
            Err(e) if counts_against_server(e) => {
                if health.failed() == Verdict::Died {
                    tracing::warn!(
                        server = %s.members[member].server,
                        error = %e,
                        "server marked dead"
                    );
                    s.rebuild();
                    Shared::ensure_probe(s);
                }
            }
            _ => health.succeeded(),
        }
    }
}

impl Shared {
    /// Rebuilds the table of servers that take keys, under the eject policy.
    fn rebuild(&self) {
        let DeadServerPolicy::Eject { .. } = self.dead.policy else {
            return;
        };
        let up: Vec<usize> = (0..self.regular)
            .filter(|&i| !self.members[i].health.is_dead())
            .collect();
        let table = Arc::new(Table::new(&*self.distribution, &self.members, up));
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = table;
    }

    /// Starts the probe task, unless it runs.
    fn ensure_probe(this: &Arc<Shared>) {
        if this.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            this.probing.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(probe(Arc::downgrade(this)));
    }
}

/// The probe: every `retry_interval`, each dead member is asked for its version on
/// every connection; it is alive again when all answer (and, under eject, once it has
/// been out for `dead_timeout`). Ends when nothing is dead, or the client is dropped.
async fn probe(weak: Weak<Shared>) {
    loop {
        let interval = match weak.upgrade() {
            Some(s) => s.dead.retry_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(s) = weak.upgrade() else { return };
        let min_out = match s.dead.policy {
            DeadServerPolicy::Eject { dead_timeout } => dead_timeout,
            _ => Duration::ZERO,
        };
        let mut revived = false;
        for m in s.members.iter().filter(|m| m.health.is_dead()) {
            let long_enough = m
                .health
                .dead_since()
                .is_none_or(|t| Instant::now().duration_since(t) >= min_out);
            if long_enough && answers(m, s.dead.probe_timeout).await {
                tracing::info!(server = %m.server, "server answers again");
                m.health.revived();
                revived = true;
            }
        }
        if revived {
            s.rebuild();
        }
        if !s.members.iter().any(|m| m.health.is_dead()) {
            s.probing.store(false, Ordering::Release);
            // A server that died between the check and the store would otherwise
            // go unprobed.
            if s.members.iter().any(|m| m.health.is_dead())
                && !s.probing.swap(true, Ordering::AcqRel)
            {
                continue;
            }
            return;
        }
    }
}

/// True if every connection of `m` answers `version` within `timeout`.
async fn answers(m: &Member, timeout: Duration) -> bool {
    for i in 0..m.pool.len() {
        let ask = m.pool.get(i).request(Expect::Version, |b| {
            b.put_slice(b"version\r\n");
            Ok(())
        });
        match tokio::time::timeout(timeout, ask).await {
            Ok(Ok(Reply::Version(_))) => {}
            _ => return false,
        }
    }
    true
}
