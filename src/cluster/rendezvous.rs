//! Rendezvous (highest random weight) placement, as pymemcache's `HashClient` does it,
//! for fleets of Python services: a key goes to the server with the highest
//! `murmur3_32("<host>:<port>-<key>", seed 0)`, ties to the greater name.
//!
//! The details are documented on [`Rendezvous`].

use std::fmt;

use super::murmur3::murmur3_32_iter;
use super::{Distribution, Placement, Server};

/// pymemcache `HashClient`'s placement: the highest `murmur3_32("<host>:<port>-<key>")`
/// wins.
///
/// pymemcache hashes Python strings, not bytes: its MurmurHash3 reads each *character*
/// and keeps the low byte of its code point (`ord(c) & 0xff`; the one unmasked term only
/// affects bits that the final 32-bit mask drops), and the length it mixes in is the
/// number of characters. So a key that is valid UTF-8 is hashed here as pymemcache
/// hashes the `str` it decodes to (a `str` key is what a pymemcache user passes; it goes
/// on the wire as its UTF-8). A key that is not UTF-8 has no `str` form; its bytes are
/// hashed as they are. For ASCII keys, all of this is plain MurmurHash3 of the bytes.
///
/// Weights do not exist in pymemcache's placement and are ignored here. Adding or
/// removing a server moves only the keys whose highest score it has (≈ 1/n of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendezvous;

impl Distribution for Rendezvous {
    fn build(&self, servers: &[&Server]) -> Box<dyn Placement> {
        Box::new(Scores {
            names: servers.iter().map(|s| rendezvous_name(s)).collect(),
        })
    }
}

/// The server names that keys are scored against.
#[derive(Clone, PartialEq, Eq)]
struct Scores {
    names: Vec<String>,
}

impl Placement for Scores {
    fn locate(&self, key: &[u8]) -> usize {
        let mut best: Option<(u32, usize)> = None;
        for (i, name) in self.names.iter().enumerate() {
            let score = score(name, key);
            best = match best {
                Some((s, b)) if s > score || (s == score && self.names[b] >= *name) => Some((s, b)),
                _ => Some((score, i)),
            };
        }
        best.map_or(0, |(_, i)| i)
    }
}

impl fmt::Debug for Scores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendezvous")
            .field("servers", &self.names)
            .finish()
    }
}

/// `murmur3_32("<name>-<key>")`, with the key read as pymemcache reads a `str`.
pub(crate) fn score(name: &str, key: &[u8]) -> u32 {
    let head = name.bytes().chain(std::iter::once(b'-'));
    let head_len = name.len() + 1;
    match std::str::from_utf8(key) {
        Ok(text) => {
            let chars = text.chars().map(|c| (u32::from(c) & 0xff) as u8);
            murmur3_32_iter(head.chain(chars), head_len + text.chars().count(), 0)
        }
        Err(_) => murmur3_32_iter(head.chain(key.iter().copied()), head_len + key.len(), 0),
    }
}

/// The name pymemcache gives a `(host, port)` server: `"host:port"`, always with the
/// port. A Unix socket is its path.
fn rendezvous_name(server: &Server) -> String {
    match server.addr() {
        crate::conn::ServerAddr::Unix(p) => p.display().to_string(),
        crate::conn::ServerAddr::Tcp(_) => format!("{}:{}", server.host(), server.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_as_pymemcache() {
        // pymemcache 3.5.2's murmur3_32("127.0.0.1:11211-<key>"), for an ASCII key and
        // for keys whose characters are not bytes.
        assert_eq!(score("127.0.0.1:11211", b"foo"), 0x20f9_d679);
        assert_eq!(score("127.0.0.1:11211", "ü".as_bytes()), 0x6b1d_acc8);
        assert_eq!(score("127.0.0.1:11211", "日本".as_bytes()), 0x2d32_a640);
    }
}
