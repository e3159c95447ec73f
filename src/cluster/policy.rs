//! What a cluster does with the keys of a server it has marked dead.

use std::time::Duration;

use super::Server;

/// What happens to the keys of a server marked dead (see
/// [`ClientBuilder::dead_after`](crate::ClientBuilder::dead_after)). The three policies
/// users of libmemcached, pymemcache, twemproxy and mcrouter know:
///
/// | policy | the dead server's keys | trade-off |
/// |---|---|---|
/// | [`FailFast`](Self::FailFast) (default) | fail at once with [`Error::ServerDown`](crate::Error::ServerDown) | no key ever moves, so no stale copies anywhere; those keys are uncached while it is down |
/// | [`Eject`](Self::Eject) | move to the other servers (the ring is rebuilt without it), and back when it returns | the keys stay cached, but each moved key is loaded again twice (there, then back), and a copy written on another server meanwhile is not invalidated when the server returns: it can be served stale if the key is placed there again later (libmemcached `REMOVE_FAILED_SERVERS`, twemproxy `auto_eject_hosts`) |
/// | [`Gutter`](Self::Gutter) | go to a small separate pool, with a short TTL | Facebook's memcache (NSDI 2013): the database sees no stampede and the regular servers no stale copies; what the gutter holds expires quickly, so after the server returns nothing stale outlives the cap |
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadServerPolicy {
    /// Requests for the dead server's keys fail at once with
    /// [`Error::ServerDown`](crate::Error::ServerDown), until a probe finds it back.
    #[default]
    FailFast,
    /// The ring is rebuilt without the dead server: its keys move to the others. It is
    /// put back at the first probe that finds it answering after it has been out for
    /// at least `dead_timeout`, and its keys move back.
    Eject {
        /// The least time a dead server stays out of the ring.
        dead_timeout: Duration,
    },
    /// The dead server's keys go to the `servers` of a gutter pool (placed among them
    /// with the cluster's distribution), and every TTL set there is capped at
    /// `max_ttl`.
    Gutter {
        /// The gutter pool: servers that are not in the cluster.
        servers: Vec<Server>,
        /// The longest an item stored in the gutter lives.
        max_ttl: Duration,
    },
}
