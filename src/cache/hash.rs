//! SHA-256 (FIPS 180-4): the hash that names keys too long or too odd to be sent as
//! they are.
//!
//! Keys often come from users (URLs, search queries, e-mail addresses), so the hash
//! must hold against someone *choosing* keys to collide: two caller keys with one wire
//! key would serve one user's row to another. A fast non-cryptographic hash such as
//! MurmurHash3 (used here before) has no secret and can be steered to any state by a
//! single chosen block, so colliding pairs take seconds to find. SHA-256 is collision
//! resistant (the best known attack is the generic 2^128 birthday search), is published
//! with test vectors, and is short to write: written here, rather than taken from a
//! crate, because the library's dependencies stay tokio, bytes, nom and tracing. The
//! tests check the published vectors (NIST, RFC 6234) and compare with the `sha2`
//! crate over a million random inputs. Speed hardly matters: only keys that cannot be
//! sent as they are get hashed, once per request.

/// The round constants: the first 32 bits of the fractional parts of the cube roots of
/// the first 64 primes.
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// The initial state: the first 32 bits of the fractional parts of the square roots of
/// the first 8 primes.
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The SHA-256 digest of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut state = H0;
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress(&mut state, block.try_into().expect("64 bytes"));
    }
    // The padding: a 1 bit, zeros, and the message length in bits (64-bit big-endian),
    // in one block or, if the length does not fit after the tail, two.
    let tail = blocks.remainder();
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let len = if tail.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    last[len - 8..len].copy_from_slice(&bits.to_be_bytes());
    for block in last[..len].chunks_exact(64) {
        compress(&mut state, block.try_into().expect("64 bytes"));
    }
    let mut out = [0u8; 32];
    for (o, s) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&s.to_be_bytes());
    }
    out
}

/// One 64-byte block into the state (FIPS 180-4, section 6.2.2). Plain indexed loops:
/// in a debug build (the tests') iterator adaptors cost several times the arithmetic.
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    let mut t = 0;
    while t < 16 {
        let i = 4 * t;
        w[t] = u32::from_be_bytes([block[i], block[i + 1], block[i + 2], block[i + 3]]);
        t += 1;
    }
    while t < 64 {
        let (x, y) = (w[t - 15], w[t - 2]);
        let s0 = x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3);
        let s1 = y.rotate_right(17) ^ y.rotate_right(19) ^ (y >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
        t += 1;
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    t = 0;
    while t < 64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
        t += 1;
    }
    let v = [a, b, c, d, e, f, g, h];
    t = 0;
    while t < 8 {
        state[t] = state[t].wrapping_add(v[t]);
        t += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 32]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The vectors of FIPS 180-4's examples (NIST CSRC) and RFC 6234 section 8.5.
    #[test]
    fn published_vectors() {
        let cases: [(&[u8], usize, &str); 5] = [
            (
                b"",
                1,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                1,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                1,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                1,
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
            // RFC 6234 TEST3: a million times "a".
            (
                b"a",
                1_000_000,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
        ];
        for (piece, times, want) in cases {
            assert_eq!(
                hex(sha256(&piece.repeat(times))),
                want,
                "{times} x {piece:?}"
            );
        }
        // RFC 6234 TEST4: "01234567" x 8, repeated 10 times (640 bytes).
        assert_eq!(
            hex(sha256(
                &b"0123456701234567012345670123456701234567012345670123456701234567".repeat(10)
            )),
            "594847328451bdfa85056225462cc1d867d877fb388df0ce35f25ab5562bfbb5"
        );
    }

    /// The same digest as the `sha2` crate for a million inputs of random bytes: every
    /// length from 0 to 129 many times over (so every padding case: the length in the
    /// tail's block, in a block of its own, and exact multiples of 64, for one to three
    /// blocks), and one in a thousand up to 1 KiB.
    #[test]
    fn matches_the_sha2_crate_on_a_million_random_inputs() {
        use sha2::Digest;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            // splitmix64
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut buf = Vec::with_capacity(1100);
        for i in 0..1_000_000u64 {
            let len = if i % 1000 == 999 {
                (next() % 1024) as usize
            } else {
                (i % 130) as usize
            };
            buf.clear();
            while buf.len() < len {
                buf.extend_from_slice(&next().to_le_bytes());
            }
            buf.truncate(len);
            let theirs: [u8; 32] = sha2::Sha256::digest(&buf).into();
            assert_eq!(sha256(&buf), theirs, "input {i}: {buf:?}");
        }
    }
}
