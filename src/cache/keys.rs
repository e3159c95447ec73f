//! From a caller's key to a memcached key: namespaces, versions, and keys the wire
//! cannot carry as they are.
//!
//! A cached row lives under `<namespace>:<version>:<key>`. The version belongs to the
//! namespace and is stored in memcached itself, under `<namespace>#v`; invalidating a
//! whole namespace is one change of that number, after which every old key is simply
//! never asked for again (memcached evicts them in time). Reading it costs at most one
//! lookup per namespace per request, and concurrent requests of a process share it.
//!
//! A caller's key is used as it is when it is printable ASCII without `#` and fits the
//! 250-byte limit with its prefix. Any other key (longer, with spaces, control bytes,
//! non-ASCII, or `#`) becomes a readable prefix (its printable bytes, the rest shown as
//! `_`), then `#`, then its SHA-256 in hex (all 256 bits, 64 digits):
//! `user:7:J_rgen_M_ller#5f3c...`. As kept keys never contain `#` and hashed ones always
//! do, a kept key never equals a hashed one; two hashed keys are equal only if their
//! SHA-256 digests are, which nobody knows how to bring about, even choosing both keys
//! (see [`hash`](super::hash)).
//!
//! Before SHA-256, hashed keys ended in a 128-bit MurmurHash3 (32 hex digits), which an
//! attacker could make collide. Those wire keys are simply never asked for again and
//! age out of memcached: after its only `#`, an old hashed key has 32 digits and a new
//! one 64, so no new wire key can equal an old one, and kept keys are the same in both.

use super::hash::sha256;
use crate::proto::MAX_KEY_LEN;

/// The longest namespace name.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// A valid namespace name: 1 to 64 of `A-Z a-z 0-9 _ . -`.
pub(crate) fn check_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= MAX_NAMESPACE_LEN
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The key under which a namespace's version is stored.
pub(crate) fn version_key(ns: &str) -> String {
    format!("{ns}#v")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// True for bytes a kept key may contain.
fn plain(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'#'
}

/// The memcached key for `key` in namespace `ns` at `version`. Always a valid key.
pub(crate) fn wire_key(ns: &str, version: u64, key: &[u8]) -> String {
    let prefix = format!("{ns}:{version}:");
    if !key.is_empty() && prefix.len() + key.len() <= MAX_KEY_LEN && key.iter().all(|&b| plain(b)) {
        // Every byte is printable ASCII, so this is the key itself.
        return prefix + std::str::from_utf8(key).expect("ASCII");
    }
    let mut hash = String::with_capacity(1 + 2 * 32);
    hash.push('#');
    for b in sha256(key) {
        hash.push(char::from(HEX[usize::from(b >> 4)]));
        hash.push(char::from(HEX[usize::from(b & 15)]));
    }
    // As much of the key as fits, readable.
    let room = MAX_KEY_LEN - prefix.len() - hash.len();
    let readable: String = key
        .iter()
        .take(room)
        .map(|&b| if plain(b) { b as char } else { '_' })
        .collect();
    prefix + &readable + &hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::check_key;

    #[test]
    fn kept_and_hashed() {
        assert_eq!(wire_key("user", 7, b"123"), "user:7:123");
        let hashed = wire_key("user", 7, "Jürgen Müller".as_bytes());
        assert!(hashed.starts_with("user:7:J__rgen_M__ller#"), "{hashed}");
        assert_eq!(hashed.len(), "user:7:J__rgen_M__ller#".len() + 64);
        // SHA-256 of the key, in full.
        assert_eq!(
            wire_key("n", 1, b"a b"),
            "n:1:a_b#c8687a08aa5d6ed2044328fa6a697ab8e96dc34291e8c2034ae8c38e6fcc6d65"
        );
        assert_ne!(wire_key("n", 1, b"a#b"), "n:1:a#b", "a # forces hashing");
        assert_ne!(wire_key("n", 1, b""), "n:1:");
        for len in [200, 240, 243, 244, 245, 250, 251, 1000] {
            let k = vec![b'k'; len];
            let w = wire_key("user", 7, &k);
            assert!(check_key(w.as_bytes()).is_ok(), "{len}: {w}");
        }
        assert_eq!(
            wire_key("user", 7, &[b'k'; 243]).len(),
            250,
            "kept at exactly 250"
        );
        assert!(
            wire_key("user", 7, &[b'k'; 244]).contains('#'),
            "hashed at 251"
        );
        assert!(check_namespace("user_v2.a-b") && !check_namespace("a:b") && !check_namespace(""));
    }

    /// More than a million distinct caller keys, of the shapes that matter (short,
    /// around every length boundary, multi-byte, with spaces, control bytes and `#`,
    /// sharing long prefixes): every wire key is valid, and no two caller keys share
    /// one.
    #[test]
    fn a_million_keys_map_to_distinct_valid_wire_keys() {
        use std::collections::HashSet;
        let mut seen: HashSet<String> = HashSet::with_capacity(1_300_000);
        let mut count = 0usize;
        let mut check = |key: Vec<u8>| {
            let w = wire_key("users", 1_700_000_000_000_000, &key);
            assert!(check_key(w.as_bytes()).is_ok(), "invalid wire key {w:?}");
            // At most one `#`, followed by exactly 64 hex digits: never equal to a key
            // hashed by the old scheme (32 digits after its only `#`).
            if let Some((_, digest)) = w.split_once('#') {
                assert!(
                    digest.len() == 64 && digest.bytes().all(|b| HEX.contains(&b)),
                    "{w}"
                );
            }
            if !seen.insert(w) {
                panic!("two caller keys map to one wire key; the second is {key:?}");
            }
            count += 1;
        };
        // Numbers, as most ids are.
        for i in 0..600_000u32 {
            check(i.to_string().into_bytes());
        }
        // Every length from 1 to 300, with a distinct filler per variant, so the keys
        // around the 250-byte boundary (kept, then hashed) are all there.
        for len in 1..=300usize {
            for variant in 0..600u32 {
                let mut k = format!("{variant}:").into_bytes();
                k.resize(len.max(k.len()), b'x');
                if k.len() == len {
                    check(k);
                }
            }
        }
        // Multi-byte UTF-8, spaces, control bytes, '#', near the boundaries too.
        let pieces = ["ü", "日本", " ", "\r\n", "#", "\0", "é", "🙂"];
        for i in 0..200_000u32 {
            let piece = pieces[(i % pieces.len() as u32) as usize];
            let mut k = format!("{piece}{i}{piece}");
            let target = [10usize, 120, 246, 247, 248, 249, 250, 251, 252][(i % 9) as usize];
            while k.len() < target {
                k.push_str(piece);
            }
            check(k.into_bytes());
        }
        // Long keys sharing everything but their last byte (the readable prefixes are
        // equal; only the hash tells them apart).
        for i in 0..100_000u32 {
            let mut k = vec![b'p'; 400];
            k.extend_from_slice(&i.to_le_bytes());
            check(k);
        }
        assert!(count >= 1_000_000, "{count} keys");
    }
}
