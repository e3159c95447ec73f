//! Many servers: which server a key lives on, and what happens when one dies.
//!
//! A [`Client`](crate::Client) built with
//! [`connect_cluster`](crate::ClientBuilder::connect_cluster) keeps a small pool of
//! connections per server, routes every key to its server, splits multi-key calls per
//! server, and marks servers dead and alive again (see [`DeadServerPolicy`]). This
//! module holds the placement, the server list and the routing behind it.
//!
//! Every client of a memcached fleet must put each key on the same server, or each
//! misses what the others stored and invalidations do not reach. So placement here is
//! not "a good hash" but the exact algorithm other clients run:
//!
//! | [`Distribution`] | matches |
//! |---|---|
//! | [`Ketama`] (default) | libmemcached `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, php-memcached `OPT_LIBKETAMA_COMPATIBLE`, pylibmc `ketama_weighted`, twemproxy `distribution: ketama` + `hash: md5` |
//! | [`Rendezvous`] | pymemcache `HashClient` (its default `RendezvousHash`) |
//! | your own | implement [`Distribution`] and [`Placement`] |
//!
//! Both are proven against the real implementations (pylibmc, pymemcache, nutcracker)
//! by `tests/placement.rs`, which stores keys through them into real servers and asks
//! each server what it holds.

mod health;
mod ketama;
mod md5;
mod murmur3;
mod policy;
pub(crate) mod pool;
mod rendezvous;
pub(crate) mod router;
mod server;

pub use ketama::{Ketama, Ring};
pub use policy::DeadServerPolicy;
pub use rendezvous::Rendezvous;
pub use server::{Server, ToServer};

/// A health record for a server that dies after `dead_after` failures in a row.
pub(crate) fn health_for(dead_after: u32) -> health::Health {
    health::Health::new(dead_after)
}

/// A built placement: the server for a key, as an index into the servers it was built
/// over.
pub trait Placement: Send + Sync + std::fmt::Debug {
    /// The index of `key`'s server. Always less than the number of servers the
    /// placement was built over (which is at least one).
    fn locate(&self, key: &[u8]) -> usize;
}

/// A way of placing keys on servers: builds a [`Placement`] over a list of servers.
///
/// A cluster builds it once, and again whenever the set of servers taking keys changes
/// (a dead server ejected, or back).
///
/// ```
/// use mcaside::cluster::{Distribution, Placement, Server};
///
/// /// Keys by their first byte, modulo the server count.
/// #[derive(Debug)]
/// struct FirstByte;
/// #[derive(Debug)]
/// struct FirstBytePlacement(usize);
/// impl Placement for FirstBytePlacement {
///     fn locate(&self, key: &[u8]) -> usize {
///         key.first().map_or(0, |&b| usize::from(b) % self.0)
///     }
/// }
/// impl Distribution for FirstByte {
///     fn build(&self, servers: &[&Server]) -> Box<dyn Placement> {
///         Box::new(FirstBytePlacement(servers.len()))
///     }
/// }
/// ```
pub trait Distribution: Send + Sync + std::fmt::Debug {
    /// The placement over `servers` (never empty), in configuration order.
    fn build(&self, servers: &[&Server]) -> Box<dyn Placement>;
}

/// The server for `key` among `servers` with `distribution`: what `mcaside route`
/// prints. One server takes every key without hashing.
pub fn locate(distribution: &dyn Distribution, servers: &[Server], key: &[u8]) -> usize {
    if servers.len() <= 1 {
        return 0;
    }
    let refs: Vec<&Server> = servers.iter().collect();
    distribution.build(&refs).locate(key)
}

#[cfg(test)]
pub(crate) mod tests {
    /// xorshift64*: random test inputs without a dependency.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }
}
