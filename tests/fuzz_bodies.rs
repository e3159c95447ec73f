//! The fuzz targets' bodies (`fuzz/bodies.rs`) run as an ordinary test: over the
//! committed seed corpus (real replies from protocol-notes.md), over mutations of it,
//! and over random bytes, with a fixed seed so that a failure reproduces. The
//! coverage-guided runs are `scripts/fuzz <seconds>` (cargo-fuzz, libFuzzer); this
//! keeps the invariants checked in every `./scripts/test` without installing it.

#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::path::Path;

/// A small, fixed-seed generator (xorshift64*): reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes the protocol is made of, so that random inputs reach past the first token.
const ALPHABET: &[&[u8]] = &[
    b"\r\n",
    b" ",
    b"VALUE ",
    b"END",
    b"VA ",
    b"HD",
    b"EN",
    b"MN",
    b"STAT ",
    b"ERROR",
    b"CLIENT_ERROR ",
    b"0",
    b"1",
    b"99999999999",
    b"k",
    b" O1",
    b" c5",
    b" t-1",
    b" f0",
    b"x",
    b"\0",
    b"\n",
    b"ME ",
    b"VERSION ",
    b"STORED",
    b"64",
    b"65",
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(v.len() + 1);
                let piece = ALPHABET[rng.below(ALPHABET.len())];
                v.splice(i..i, piece.iter().copied());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                let j = (i + rng.below(8)).min(v.len());
                v.drain(i..j);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let j = rng.below(v.len() + 1);
                let (a, b) = (i.min(j), i.max(j));
                let copy = v[a..b].to_vec();
                v.splice(a..a, copy);
            }
        }
    }
    v
}

fn random(rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..rng.below(24) {
        v.extend_from_slice(ALPHABET[rng.below(ALPHABET.len())]);
    }
    v
}

fn run(target: &str, body: fn(&[u8]), rounds: usize) {
    let seeds = seeds(target);
    let mut rng = Rng(0x6d63_6173_6964_6531 ^ target.len() as u64);
    for s in &seeds {
        body(s);
    }
    for _ in 0..rounds {
        let input = if rng.below(3) == 0 {
            random(&mut rng)
        } else {
            let s = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, s)
        };
        body(&input);
    }
}

#[test]
fn decoder() {
    run("decoder", bodies::decoder, 20_000);
}

#[test]
fn assembler() {
    run("assembler", bodies::assembler, 20_000);
}

#[test]
fn parse_line() {
    run("parse_line", bodies::parse_line, 50_000);
}

#[test]
fn encoders() {
    run("encoders", bodies::encoders, 50_000);
}
