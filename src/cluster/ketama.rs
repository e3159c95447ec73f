//! libketama-compatible placement: the consistent-hashing ring that libmemcached
//! (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`), php-memcached (`OPT_LIBKETAMA_COMPATIBLE`),
//! pylibmc (`ketama_weighted`) and twemproxy (`distribution: ketama`, `hash: md5`) build,
//! point for point, so that a key goes to the same server from all of them.
//!
//! The algorithm is documented on [`Ketama`], the public face of this file.

use std::fmt;

use super::md5::md5;
use super::{Distribution, Placement, Server};

/// Points per server at equal weights.
const POINTS_PER_SERVER: u32 = 160;
/// Points derived from one MD5 digest.
const POINTS_PER_HASH: u32 = 4;

/// The libketama-compatible distribution (the default).
///
/// The ring, as libmemcached, pylibmc and twemproxy compute it:
///
/// 1. Each server gets `floor(w / Σw · 160 / 4 · n + 1e-10) · 4` points, where `n` is the
///    number of servers, evaluated in **32-bit floating point** as their C does: 160
///    points each when the weights are equal, except for the server counts (25, 47,
///    50, ...) where `f32` rounding lands just under 40 and every server gets 156. The
///    `1e-10` is below the precision of an `f32` near these values, so it never changes
///    the result; it is kept for fidelity.
/// 2. For `i` in `0..points / 4`, the MD5 digest of `"<name>-<i>"` gives four points: the
///    little-endian `u32`s of digest bytes 0-3, 4-7, 8-11 and 12-15. The name is
///    `host:port` with the host exactly as configured (no DNS lookup), or just `host`
///    when the port is 11211 (libmemcached's default port; twemproxy keeps the rule for
///    compatibility).
/// 3. The points are sorted by value, ties by server order.
/// 4. A key's position is the little-endian `u32` of the first four bytes of `md5(key)`;
///    it goes to the server of the first point at or after it, wrapping to the first
///    point of the ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ketama;

impl Distribution for Ketama {
    fn build(&self, servers: &[&Server]) -> Box<dyn Placement> {
        Box::new(Ring::new(servers))
    }
}

/// A built ketama ring.
#[derive(Clone, PartialEq, Eq)]
pub struct Ring {
    /// `(point, server index)`, sorted.
    points: Vec<(u32, u32)>,
}

impl Ring {
    /// The ring over `servers`, in the order given (which only breaks ties between
    /// equal points).
    pub fn new(servers: &[&Server]) -> Ring {
        let total: u64 = servers.iter().map(|s| u64::from(s.weight())).sum();
        let mut points = Vec::new();
        for (index, server) in servers.iter().enumerate() {
            let n = points_for(server.weight(), total, servers.len());
            let name = ketama_name(server);
            for i in 0..n / POINTS_PER_HASH {
                let digest = md5(format!("{name}-{i}").as_bytes());
                for quarter in digest.chunks_exact(4) {
                    let point = u32::from_le_bytes(quarter.try_into().expect("4 bytes"));
                    points.push((point, index as u32));
                }
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// How many points the ring has.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True for a ring of no servers.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

impl Placement for Ring {
    fn locate(&self, key: &[u8]) -> usize {
        let digest = md5(key);
        let hash = u32::from_le_bytes(digest[..4].try_into().expect("4 bytes"));
        let at = self.points.partition_point(|&(p, _)| p < hash);
        // Past the last point: wrap around to the first.
        let (_, server) = self
            .points
            .get(at)
            .or(self.points.first())
            .copied()
            .unwrap_or((0, 0));
        server as usize
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("points", &self.points.len())
            .finish()
    }
}

/// The number of points of a server of weight `weight` among `servers` servers of total
/// weight `total`, in `f32` as libmemcached and twemproxy compute it:
/// `(uint32_t)(floorf((float)(pct * 160 / 4 * (float)n + 1e-10)) * 4)`.
pub(crate) fn points_for(weight: u32, total: u64, servers: usize) -> u32 {
    let pct = weight as f32 / total as f32;
    let quarter = pct * POINTS_PER_SERVER as f32 / POINTS_PER_HASH as f32 * servers as f32;
    // twemproxy adds the constant as a double and libmemcached as a float; either way
    // the sum rounds back to the same f32.
    let nudged = (f64::from(quarter) + 0.000_000_000_1) as f32;
    nudged.floor() as u32 * POINTS_PER_HASH
}

/// The name a server's points are derived from: `host:port`, or `host` alone on port
/// 11211. A Unix socket is its path with port 0, as libmemcached names it.
fn ketama_name(server: &Server) -> String {
    match server.port() {
        11211 => server.host().to_owned(),
        port => format!("{}:{port}", server.host()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_per_server() {
        // Equal weights: 160 each, except where f32 rounding lands just under 40 and
        // the floor takes it to 39: the C expression compiled with gcc gives 156 for
        // exactly these counts up to 100, and so does this.
        let short = [25, 47, 50, 55, 61, 71, 94, 100];
        for n in 1..=100usize {
            let want = if short.contains(&n) { 156 } else { 160 };
            assert_eq!(points_for(1, n as u64, n), want, "{n} servers");
        }
        // Unequal: proportional, rounded down to a multiple of 4 (values from the same
        // C expression).
        for (w, total, n, want) in [
            (1, 4, 3, 120),
            (2, 4, 3, 240),
            (1, 6, 3, 80),
            (3, 6, 3, 240),
            (1, 7, 5, 112),
            (3, 7, 5, 340),
            (2, 9, 3, 104),
            (5, 9, 3, 264),
        ] {
            assert_eq!(
                points_for(w, total, n),
                want,
                "weight {w} of {total}, {n} servers"
            );
        }
    }

    #[test]
    fn names_drop_the_default_port() {
        let s = |spec: &str| spec.parse::<Server>().unwrap();
        assert_eq!(ketama_name(&s("10.0.0.1:11211")), "10.0.0.1");
        assert_eq!(ketama_name(&s("cache-1:11212")), "cache-1:11212");
        assert_eq!(ketama_name(&s("[::1]:11212")), "::1:11212");
        assert_eq!(ketama_name(&s("/run/mc.sock")), "/run/mc.sock:0");
    }

    #[test]
    fn ring_shape_and_wrap() {
        let servers: Vec<Server> = ["a:1", "b:2", "c:3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let refs: Vec<&Server> = servers.iter().collect();
        let ring = Ring::new(&refs);
        assert_eq!(ring.len(), 480);
        assert!(ring.points.windows(2).all(|w| w[0] <= w[1]));
        // A key past the last point goes to the first point's server.
        let last = ring.points.last().unwrap().0;
        assert!(last < u32::MAX);
        let first_server = ring.points[0].1 as usize;
        let wrapped = (0u32..)
            .map(|i| format!("k{i}"))
            .find(|k| {
                let d = md5(k.as_bytes());
                u32::from_le_bytes(d[..4].try_into().unwrap()) > last
            })
            .unwrap();
        assert_eq!(ring.locate(wrapped.as_bytes()), first_server);
    }
}
