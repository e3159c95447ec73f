//! Placement proven against the real implementations, not against our reading of them.
//!
//! For each scenario this starts real memcached servers, stores 10,000 keys through a
//! real client of another ecosystem (pylibmc with `ketama_weighted`, pymemcache's
//! `HashClient`, or a nutcracker with `distribution: ketama` and `hash: md5`), asks each
//! server which keys it holds, and compares with where mcaside's placement puts them:
//! 0 mismatches allowed. Keys use every byte value the wire allows (printable ASCII and
//! 0x80-0xff; for pymemcache, which takes strings, UTF-8 text with non-ASCII
//! characters). 3 and 5 servers, equal and unequal weights (ketama only: pymemcache's
//! rendezvous has no weights).

#[path = "support/nutcracker.rs"]
mod nutcracker;
#[path = "support/server.rs"]
mod server;

use std::io::Write;
use std::process::{Command, Stdio};

use mcaside::Client;
use mcaside::cluster::{self, Distribution, Ketama, Rendezvous, Server};
use server::Memcached;

const KEYS: usize = 10_000;

const PYTHON_HINT: &str = "the placement tests need Debian's python3-pylibmc and \
     python3-pymemcache: `apt-get update && apt-get install -y python3-pylibmc \
     python3-pymemcache` (or run ./scripts/test, which does)";

/// The Python that has pylibmc and pymemcache (Debian's, not a pyenv's).
fn python() -> &'static str {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import pylibmc, pymemcache"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return candidate;
        }
    }
    panic!("{PYTHON_HINT}");
}

/// xorshift64*, so that the keys are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Distinct keys of 1 to 250 bytes, each byte one the wire allows (0x21-0x7e,
/// 0x80-0xff), short ones more often.
fn byte_keys(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let allowed: Vec<u8> = (0x21..=0x7e).chain(0x80..=0xff).collect();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < KEYS {
        let len = if rng.below(4) == 0 {
            1 + rng.below(250)
        } else {
            1 + rng.below(40)
        };
        let key: Vec<u8> = (0..len)
            .map(|_| allowed[rng.below(allowed.len() as u64) as usize])
            .collect();
        seen.insert(key);
    }
    let mut keys: Vec<Vec<u8>> = seen.into_iter().collect();
    keys.sort();
    keys
}

/// Distinct UTF-8 keys (as a Python service's `str` keys), mixing ASCII with
/// characters of one, two, three and four UTF-8 bytes, at most 250 bytes encoded.
fn text_keys(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let ranges = [
        (0x21u32, 0x7e),
        (0xa1, 0x17f),
        (0x391, 0x3c9),
        (0x4e00, 0x4fff),
        (0x1f600, 0x1f64f),
    ];
    let mut seen = std::collections::HashSet::new();
    while seen.len() < KEYS {
        let chars = 1 + rng.below(30);
        let mut key = String::new();
        for _ in 0..chars {
            let (lo, hi) = ranges[rng.below(ranges.len() as u64) as usize];
            let c = char::from_u32(lo + rng.below(u64::from(hi - lo + 1)) as u32).unwrap();
            if key.len() + c.len_utf8() <= 250 {
                key.push(c);
            }
        }
        seen.insert(key.into_bytes());
    }
    let mut keys: Vec<Vec<u8>> = seen.into_iter().collect();
    keys.sort();
    keys
}

/// Stores `keys` through a Python client (`mode`: pylibmc or pymemcache).
fn store_with_python(mode: &str, specs: &[String], keys: &[Vec<u8>]) {
    let mut child = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/placement/store.py"
        ))
        .arg(mode)
        .args(specs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut stdin = child.stdin.take().unwrap();
    for k in keys {
        let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(stdin, "{hex}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("stored {}", keys.len())
    );
}

/// Stores `keys` through `proxy` (a nutcracker), with mcaside's classic commands.
async fn store_through(proxy: &str, keys: &[Vec<u8>]) {
    let client = Client::builder()
        .features(mcaside::proto::Features::CLASSIC)
        .connect(proxy)
        .await
        .expect("connect to nutcracker");
    for chunk in keys.chunks(500) {
        let stored = mcaside::join_all(
            chunk
                .iter()
                .map(|k| client.set(k, "1", mcaside::Expiry::Never)),
        )
        .await;
        for r in stored {
            r.expect("set through nutcracker");
        }
    }
}

/// For each key, the index of the one server that holds it.
async fn holders(servers: &[Memcached], keys: &[Vec<u8>]) -> Vec<usize> {
    let mut holder = vec![None; keys.len()];
    for (s, server) in servers.iter().enumerate() {
        let client = Client::connect(server.addr.as_str()).await.unwrap();
        let found = client.get_many(keys).await.unwrap();
        for (i, item) in found.iter().enumerate() {
            if item.is_some() {
                assert!(holder[i].is_none(), "key {:?} is on two servers", keys[i]);
                holder[i] = Some(s);
            }
        }
    }
    holder
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.unwrap_or_else(|| panic!("key {:?} was stored nowhere", keys[i])))
        .collect()
}

/// Counts the keys that `distribution` over `specs` places elsewhere than they are.
fn mismatches(
    distribution: &dyn Distribution,
    specs: &[String],
    keys: &[Vec<u8>],
    held: &[usize],
) -> usize {
    let servers: Vec<Server> = specs.iter().map(|s| s.parse().unwrap()).collect();
    let refs: Vec<&Server> = servers.iter().collect();
    let placement = distribution.build(&refs);
    let mut wrong = 0;
    for (k, &h) in keys.iter().zip(held) {
        let mine = placement.locate(k);
        assert_eq!(
            mine,
            cluster::locate(distribution, &servers, k),
            "locate agrees"
        );
        wrong += usize::from(mine != h);
    }
    wrong
}

fn start(n: usize) -> Vec<Memcached> {
    (0..n).map(|_| Memcached::start()).collect()
}

fn specs(servers: &[Memcached], weights: Option<&[u32]>) -> Vec<String> {
    servers
        .iter()
        .enumerate()
        .map(|(i, s)| match weights {
            Some(w) => format!("{}:{}", s.addr, w[i]),
            None => s.addr.clone(),
        })
        .collect()
}

/// Equal weights, spelled out (`:1`), as nutcracker's config requires.
const EQUAL_3: [u32; 3] = [1, 1, 1];
const EQUAL_5: [u32; 5] = [1, 1, 1, 1, 1];
const UNEQUAL_3: [u32; 3] = [1, 3, 2];
const UNEQUAL_5: [u32; 5] = [5, 1, 2, 1, 3];

async fn pylibmc_case(weights: &[u32], seed: u64) {
    let servers = start(weights.len());
    let specs = specs(&servers, Some(weights));
    let keys = byte_keys(seed);
    store_with_python("pylibmc", &specs, &keys);
    let held = holders(&servers, &keys).await;
    let used: std::collections::HashSet<_> = held.iter().collect();
    assert_eq!(used.len(), weights.len(), "every server got keys");
    assert_eq!(
        mismatches(&Ketama, &specs, &keys, &held),
        0,
        "pylibmc {weights:?}"
    );
}

async fn nutcracker_case(weights: &[u32], seed: u64) {
    let servers = start(weights.len());
    let specs = specs(&servers, Some(weights));
    let proxy = nutcracker::Nutcracker::start_pool(&specs, "ketama", "md5", &[]);
    let keys = byte_keys(seed);
    store_through(&proxy.addr, &keys).await;
    let held = holders(&servers, &keys).await;
    assert_eq!(
        mismatches(&Ketama, &specs, &keys, &held),
        0,
        "nutcracker {weights:?}"
    );
}

async fn pymemcache_case(n: usize, seed: u64) {
    let servers = start(n);
    let specs = specs(&servers, None);
    let keys = text_keys(seed);
    store_with_python("pymemcache", &specs, &keys);
    let held = holders(&servers, &keys).await;
    assert_eq!(
        mismatches(&Rendezvous, &specs, &keys, &held),
        0,
        "pymemcache {n} servers"
    );
}

#[tokio::test]
async fn ketama_matches_pylibmc_3_equal() {
    pylibmc_case(&EQUAL_3, 1).await;
}
#[tokio::test]
async fn ketama_matches_pylibmc_5_equal() {
    pylibmc_case(&EQUAL_5, 2).await;
}
#[tokio::test]
async fn ketama_matches_pylibmc_3_unequal() {
    pylibmc_case(&UNEQUAL_3, 3).await;
}
#[tokio::test]
async fn ketama_matches_pylibmc_5_unequal() {
    pylibmc_case(&UNEQUAL_5, 4).await;
}
#[tokio::test]
async fn ketama_matches_nutcracker_3_equal() {
    nutcracker_case(&EQUAL_3, 5).await;
}
#[tokio::test]
async fn ketama_matches_nutcracker_5_equal() {
    nutcracker_case(&EQUAL_5, 6).await;
}
#[tokio::test]
async fn ketama_matches_nutcracker_3_unequal() {
    nutcracker_case(&UNEQUAL_3, 7).await;
}
#[tokio::test]
async fn ketama_matches_nutcracker_5_unequal() {
    nutcracker_case(&UNEQUAL_5, 8).await;
}
#[tokio::test]
async fn rendezvous_matches_pymemcache_3() {
    pymemcache_case(3, 9).await;
}
#[tokio::test]
async fn rendezvous_matches_pymemcache_5() {
    pymemcache_case(5, 10).await;
}
