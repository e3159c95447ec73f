//! The random numbers behind key choice and the get/set mix: xoshiro256++ (from the
//! `rand` crate), one generator per lane of each worker.
//!
//! A named generator rather than `rand`'s `StdRng` or `SmallRng`, which may change
//! between versions: with the versions in Cargo.lock, a `--seed` gives the same
//! requests on every platform and every run.

use rand::SeedableRng;
pub use rand::rngs::Xoshiro256PlusPlus as Rng;

/// The splitmix64 output function: a bijective mixer of 64 bits, so that nearby inputs
/// (key indexes, worker numbers, hash values) give unrelated outputs.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator for `stream` (a lane's number) under `seed`. Different streams start
/// from unrelated states, so lanes do not repeat each other's keys.
pub fn stream(seed: u64, stream: u64) -> Rng {
    Rng::seed_from_u64(seed ^ mix64(stream.wrapping_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn same_seed_and_stream_repeat_other_streams_differ() {
        let draw = |seed, s| -> Vec<u64> {
            let mut r = stream(seed, s);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(draw(7, 0), draw(7, 0));
        assert_ne!(draw(7, 0), draw(7, 1));
        assert_ne!(draw(7, 0), draw(8, 0));
    }
}
