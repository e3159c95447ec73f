//! The key space and the values stored under it, and the check every client runs on
//! every value it reads.
//!
//! A value is known from its key's index and its size alone, so a worker checks what it
//! reads without holding a copy of what was stored: `[` + the index in ten digits + `]`
//! at both ends (the stamps), and one filler letter, chosen by the index, in between. A
//! value handed to the wrong caller, cut short, or read from a stale item of another
//! size fails the check.
//!
//! Two depths of check, the same for every client so that their CPU figures stay
//! comparable: values up to `full_max` bytes are compared byte for byte; larger ones by
//! length and both stamps (the cheap check of issue 14: comparing a megabyte would cost
//! more client CPU than some clients spend reading it). [`Checker`] takes the value in
//! pieces, so the raw reference can check a large value as it streams through its one
//! reused buffer, without keeping it.

use std::sync::OnceLock;

/// Bytes in one stamp.
pub const STAMP: usize = 12;
/// The smallest value size: two stamps and a filler byte.
pub const MIN_SIZE: usize = 2 * STAMP + 1;

/// The keys of a scenario, built once per worker so that no request formats one.
pub fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:06}")).collect()
}

/// The index in a key built by [`keys`], for replies that name their key.
pub fn index_of(prefix: &str, key: &[u8]) -> Option<usize> {
    let digits = key.strip_prefix(prefix.as_bytes())?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn stamp(index: usize) -> [u8; STAMP] {
    let mut s = [b'0'; STAMP];
    s[0] = b'[';
    s[STAMP - 1] = b']';
    let mut n = index;
    for i in (1..STAMP - 1).rev() {
        s[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    s
}

fn filler(index: usize) -> u8 {
    b'a' + (index % 26) as u8
}

/// The value stored under key `index` for values of `size` bytes.
pub fn value(index: usize, size: usize) -> Vec<u8> {
    assert!(size >= MIN_SIZE, "values are at least {MIN_SIZE} bytes");
    let mut v = vec![filler(index); size];
    let s = stamp(index);
    v[..STAMP].copy_from_slice(&s);
    v[size - STAMP..].copy_from_slice(&s);
    v
}

/// 4 KiB of each filler letter, to compare bodies with `memcmp` rather than byte by byte.
fn fill_block(letter: u8) -> &'static [u8] {
    static BLOCKS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let blocks = BLOCKS.get_or_init(|| (0..26u8).map(|i| vec![b'a' + i; 4096]).collect());
    &blocks[(letter - b'a') as usize]
}

/// Checks one value, fed in order in one or more pieces.
pub struct Checker {
    stamp: [u8; STAMP],
    filler: u8,
    size: usize,
    full: bool,
    offset: usize,
    ok: bool,
}

impl Checker {
    /// A check of the value of key `index`, expected to be `size` bytes; bodies are
    /// compared in full when `size <= full_max`.
    pub fn new(index: usize, size: usize, full_max: usize) -> Checker {
        Checker {
            stamp: stamp(index),
            filler: filler(index),
            size,
            full: size <= full_max,
            offset: 0,
            ok: true,
        }
    }

    /// The next piece of the value.
    pub fn feed(&mut self, piece: &[u8]) {
        let (start, end) = (self.offset, self.offset + piece.len());
        self.offset = end;
        if !self.ok || end > self.size {
            self.ok = false;
            return;
        }
        // The leading stamp: bytes [0, STAMP).
        if start < STAMP {
            let upto = end.min(STAMP);
            self.ok &= piece[..upto - start] == self.stamp[start..upto];
        }
        // The trailing stamp: bytes [size - STAMP, size).
        let tail = self.size - STAMP;
        if end > tail {
            let from = start.max(tail);
            self.ok &= piece[from - start..] == self.stamp[from - tail..end - tail];
        }
        if self.full {
            let (from, upto) = (start.max(STAMP), end.min(tail));
            if from < upto {
                let block = fill_block(self.filler);
                self.ok &= piece[from - start..upto - start]
                    .chunks(block.len())
                    .all(|c| c == &block[..c.len()]);
            }
        }
    }

    /// Whether the whole value was fed and matched.
    pub fn finish(&self) -> bool {
        self.ok && self.offset == self.size
    }
}

/// Checks a value read in one piece.
pub fn check(index: usize, size: usize, full_max: usize, value: &[u8]) -> bool {
    let mut c = Checker::new(index, size, full_max);
    c.feed(value);
    c.finish()
}

/// A small, fast random number generator (xorshift64*), one per task, so that every
/// client draws its keys the same way at the same cost.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
    }
}

/// Self-checks run by the orchestrator at start-up (benches have no test harness here):
/// the check accepts what [`value`] builds, in any split, and rejects near misses.
pub fn self_check() {
    for size in [MIN_SIZE, 100, 4096, 4097, 100_000] {
        for full_max in [0, usize::MAX] {
            let v = value(42, size);
            assert!(check(42, size, full_max, &v), "size {size}");
            let mut c = Checker::new(42, size, full_max);
            for piece in v.chunks(7) {
                c.feed(piece);
            }
            assert!(c.finish(), "pieces, size {size}");
            assert!(!check(42, size, full_max, &value(43, size)));
            assert!(!check(42, size, full_max, &v[..size - 1]));
            let mut longer = v.clone();
            longer.push(b'x');
            assert!(!check(42, size, full_max, &longer));
            let mut body = v.clone();
            body[size / 2] ^= 1;
            assert_eq!(
                check(42, size, full_max, &body),
                full_max == 0,
                "body {size}"
            );
        }
    }
    assert_eq!(index_of("k:", b"k:000123"), Some(123));
}
