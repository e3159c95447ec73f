//! The keys the bench uses, the value each one holds, and how requests pick keys.
//!
//! Every value is a function of its key's index, so any hit, whenever it happens and
//! whoever wrote it last (the preload or a set during the run), can be checked without
//! remembering what was stored.

use std::io::Write;

use rand::RngExt;
use rand_distr::Zipf;

use super::args::Distribution;
use super::rng::Rng;

/// Keys are `bench:<index>`, index in 0..keys: short, readable with `mcaside get`, and
/// unlikely to collide with an application's keys on a shared server.
const KEY_PREFIX: &str = "bench:";

/// A key, formatted on the stack: requests are made millions of times a second, and a
/// heap allocation for each key would be a noticeable part of the client's cost.
#[derive(Clone, Copy)]
pub struct Key {
    buf: [u8; 32],
    len: u8,
}

impl Key {
    pub fn new(index: u64) -> Key {
        let mut buf = [0u8; 32];
        let mut w = &mut buf[..];
        write!(w, "{KEY_PREFIX}{index}").expect("a u64 fits in 32 bytes with the prefix");
        let len = 32 - w.len();
        Key {
            buf,
            len: len as u8,
        }
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// What the value of key `index` repeats: the index in decimal and `|`, as in
/// `42|42|42|4`. Not zero-padded, so that even short values differ from key to key.
struct Block {
    buf: [u8; 24],
    len: usize,
}

impl Block {
    fn new(index: u64) -> Block {
        let mut buf = [0u8; 24];
        let mut w = &mut buf[..];
        write!(w, "{index}|").expect("a u64 and | fit in 24 bytes");
        let len = 24 - w.len();
        Block { buf, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The value stored under key `index`: its block, repeated, cut to `size` bytes.
pub fn value(index: u64, size: usize) -> Vec<u8> {
    Block::new(index)
        .bytes()
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect()
}

/// Whether `got` is exactly the value of key `index`. Cheap enough (a compare per
/// block, no allocation) to run on every hit.
pub fn is_value_of(index: u64, size: usize, got: &[u8]) -> bool {
    if got.len() != size {
        return false;
    }
    let block = Block::new(index);
    let b = block.bytes();
    let mut chunks = got.chunks_exact(b.len());
    chunks.all(|c| c == b) && *chunks.remainder() == b[..chunks.remainder().len()]
}

/// Picks key indexes in 0..n.
#[derive(Debug, Clone)]
pub enum Picker {
    Uniform(u64),
    /// Ranks 1..=n, drawn with probability ∝ 1/k^s (rand_distr's exact rejection
    /// sampler: O(1) memory and time whatever n is). Rank 1, the most frequent, is key 0.
    Zipf {
        n: u64,
        zipf: Zipf<f64>,
    },
}

impl Picker {
    pub fn new(keys: u64, distribution: Distribution) -> Picker {
        match distribution {
            Distribution::Uniform => Picker::Uniform(keys),
            Distribution::Zipf(s) => Picker::Zipf {
                n: keys,
                // n ≥ 1 and s > 0, finite: checked by the argument parser.
                zipf: Zipf::new(keys as f64, s).expect("valid zipf parameters"),
            },
        }
    }

    pub fn pick(&self, rng: &mut Rng) -> u64 {
        match self {
            Picker::Uniform(n) => rng.random_range(0..*n),
            // The rank is an integer-valued f64; clamp against rounding at 2^40.
            Picker::Zipf { n, zipf } => (rng.sample(zipf) as u64).clamp(1, *n) - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        assert_eq!(Key::new(0).as_ref(), b"bench:0");
        assert_eq!(
            Key::new(u64::MAX).as_ref(),
            format!("bench:{}", u64::MAX).as_bytes()
        );
        assert_eq!(value(42, 10), b"42|42|42|4");
        assert_eq!(value(42, 0), b"");
        assert!(is_value_of(7, 0, b""));
        for size in [1, 2, 3, 4, 10, 100, 1000] {
            let v = value(7, size);
            assert!(is_value_of(7, size, &v));
            assert!(!is_value_of(8, size, &v), "{size}");
            assert!(!is_value_of(7, size + 1, &v));
            let mut bad = v.clone();
            bad[size - 1] ^= 1;
            assert!(!is_value_of(7, size, &bad));
        }
        // Values long enough tell apart keys with a common prefix.
        assert!(!is_value_of(12, 10, &value(123, 10)));
    }

    /// The observed frequency of every key is within a few standard errors of the
    /// exact Zipf probability, for exponents on both sides of the delicate s = 1.
    #[test]
    fn zipf_frequencies_match_the_exact_distribution() {
        const N: u64 = 20;
        const DRAWS: usize = 400_000;
        for s in [0.5, 0.99, 1.0, 1.2, 2.0] {
            let picker = Picker::new(N, Distribution::Zipf(s));
            let mut rng = super::super::rng::stream(42, 0);
            let mut counts = vec![0u64; N as usize];
            for _ in 0..DRAWS {
                counts[picker.pick(&mut rng) as usize] += 1;
            }
            let norm: f64 = (1..=N).map(|k| (k as f64).powf(-s)).sum();
            for k in 1..=N {
                let p = (k as f64).powf(-s) / norm;
                let expected = p * DRAWS as f64;
                let sd = (DRAWS as f64 * p * (1.0 - p)).sqrt();
                let got = counts[k as usize - 1] as f64;
                assert!(
                    (got - expected).abs() < 5.0 * sd,
                    "s={s} key {}: {got} draws, expected {expected:.0} ± {sd:.0}",
                    k - 1
                );
            }
        }
    }

    #[test]
    fn picks_stay_in_the_key_space() {
        let mut rng = super::super::rng::stream(1, 0);
        for dist in [Distribution::Uniform, Distribution::Zipf(0.99)] {
            assert_eq!(Picker::new(1, dist).pick(&mut rng), 0);
            let big = Picker::new(1 << 40, dist);
            for _ in 0..1000 {
                assert!(big.pick(&mut rng) < 1 << 40);
            }
        }
        let mut counts = [0u32; 10];
        let uniform = Picker::new(10, Distribution::Uniform);
        for _ in 0..100_000 {
            counts[uniform.pick(&mut rng) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
    }
}
