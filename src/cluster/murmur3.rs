//! MurmurHash3 x86 32-bit (Austin Appleby, public domain), for the rendezvous placement
//! of pymemcache's `HashClient`, which scores each server with it.
//!
//! Proven by the reference values of the algorithm and by a differential test against
//! the `murmur3` crate over a million random inputs and seeds (both below).

/// The 32-bit MurmurHash3 of `data` with `seed`.
#[cfg(test)]
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    murmur3_32_iter(data.iter().copied(), data.len(), seed)
}

/// The same hash over `len` bytes given one at a time, so that a caller can hash a
/// concatenation (`host:port-key`) or a transformed string without building it.
pub(super) fn murmur3_32_iter(bytes: impl Iterator<Item = u8>, len: usize, seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let (mut k, mut n) = (0u32, 0usize);
    for b in bytes {
        k |= u32::from(b) << (8 * (n % 4));
        n += 1;
        if n % 4 == 0 {
            h ^= mix(k);
            h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
            k = 0;
        }
    }
    debug_assert_eq!(n, len, "the iterator yields `len` bytes");
    if n % 4 != 0 {
        h ^= mix(k);
    }
    // The length is mixed in as a 32-bit number, as the reference does.
    h ^= len as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::murmur3_32;

    /// The reference implementation's values (SMHasher's MurmurHash3_x86_32).
    #[test]
    fn reference_values() {
        let cases: [(&[u8], u32, u32); 13] = [
            (b"", 0, 0),
            (b"", 1, 0x514e_28b7),
            (b"", 0xffff_ffff, 0x81f1_6f39),
            (b"\0\0\0\0", 0, 0x2362_f9de),
            (b"aaaa", 0x9747_b28c, 0x5a97_808a),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
            (
                b"The quick brown fox jumps over the lazy dog",
                0x9747_b28c,
                0x2fa8_26cd,
            ),
            (b"abc", 0, 0xb3dd_93fa),
            (b"test", 0, 0xba6b_d213),
            (b"a", 0, 0x3c25_69b2),
            (b"ab", 0, 0x9bbf_d75f),
            (b"abcd", 0, 0x43ed_676a),
            (b"abcde", 0, 0xe89b_9af6),
        ];
        for (data, seed, want) in cases {
            assert_eq!(murmur3_32(data, seed), want, "{data:?} seed {seed:#x}");
        }
    }

    /// A million random inputs and seeds agree with the `murmur3` crate.
    #[test]
    fn agrees_with_the_murmur3_crate() {
        let mut rng = crate::cluster::tests::Rng(0x2545_f491_4f6c_dd1d);
        let mut data = Vec::with_capacity(300);
        for _ in 0..1_000_000 {
            data.clear();
            let len = (rng.next() % 301) as usize;
            data.extend((0..len).map(|_| rng.next() as u8));
            let seed = rng.next() as u32;
            let theirs = ::murmur3::murmur3_32(&mut &data[..], seed).unwrap();
            assert_eq!(murmur3_32(&data, seed), theirs, "{data:?} seed {seed}");
        }
    }
}
