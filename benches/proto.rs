//! Throughput of the sans-IO protocol core: reply bytes decoded and assembled per
//! second, and command bytes encoded per second.
//!
//! No socket is involved, so these numbers are the ceiling the connection layer can
//! reach and a regression here is a regression in `src/proto`, not in tokio or the
//! network. Every benchmark reports `Throughput::Bytes`, so criterion prints bytes/s.
//!
//! Groups:
//!
//! - `decode_small`: 1000 copies of one short reply (`STORED`, a classic miss and hit,
//!   meta `VA`/`HD`/`EN`), each decoded *and* assembled into a `Reply`, as the
//!   connection does. This is the per-request fixed cost.
//! - `decode_multiget_100`: the reply to a 100-key get, classic (`VALUE`… `END`) and
//!   meta (`VA … O<i>`… `MN`), assembled into one reply.
//! - `decode_1mib`: one 1 MiB value arriving in one read and in 16 KiB reads. Both
//!   include copying the bytes into the read buffer (see [`decode_1mib`] for why), so
//!   the two are directly comparable: if the decoder re-parsed or re-scanned while
//!   waiting for the data block, the chunked case would fall far behind.
//! - `encode`: classic `get`/`set` and meta `mg`/`ms` into a reused buffer.
//!
//! Run with `cargo bench --bench proto` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use mcaside::InputError;
use mcaside::proto::encode::{self, GetKind, Store, StoreVerb};
use mcaside::proto::meta::{self, MetaGet, MetaSet};
use mcaside::proto::{Assembler, Decoder, Expect, Expiry, Features, Limits};

/// How many replies the small-reply buffers hold: enough that the per-iteration
/// overhead of criterion and of cloning the input is amortised away.
const SMALL_REPEAT: usize = 1000;

/// The connection's read-buffer policy (`src/conn/session.rs`), copied so that the
/// chunked 1 MiB case grows its buffer the way the real connection does.
const MIN_READ_SPACE: usize = 4 * 1024;
const READ_CHUNK: usize = 32 * 1024;

/// Decodes every frame in `buf`, assembles them into replies of shape `expect`, and
/// returns how many replies were completed. Replies are dropped here, inside the
/// measurement, because the caller of a real request drops them too.
fn decode_replies(decoder: &mut Decoder, buf: &mut BytesMut, expect: Expect) -> usize {
    let mut replies = 0;
    let mut assembler = Assembler::new(expect);
    while let Some(frame) = decoder.decode(buf).expect("benchmark input is valid") {
        if let Some(outcome) = assembler.push(frame).expect("frames answer the request") {
            black_box(outcome.expect("no server error in the input"));
            replies += 1;
            assembler = Assembler::new(expect);
        }
    }
    replies
}

/// Checks, once and outside any measurement, that `wire` decodes into exactly
/// `replies` replies with nothing left over: a benchmark over input that silently
/// stops at the first frame would report a wonderful and meaningless number.
fn check(wire: &[u8], expect: Expect, replies: usize) {
    let mut buf = BytesMut::from(wire);
    let mut decoder = Decoder::new(Limits::default());
    assert_eq!(decode_replies(&mut decoder, &mut buf, expect), replies);
    assert!(buf.is_empty(), "input left undecoded");
}

/// Benchmarks decoding `wire` as a stream of replies of shape `expect`.
///
/// The decoder consumes its buffer, so each iteration gets a fresh clone of the input,
/// made in `iter_batched`'s untimed setup. The buffer is returned from the routine so
/// that freeing it is not timed either (it is not part of decoding).
fn bench_decode(c: &mut Criterion, group: &str, name: &str, wire: &[u8], expect: Expect) {
    let replies = match expect {
        Expect::Values { .. } | Expect::MetaBatch => 1,
        _ => SMALL_REPEAT,
    };
    check(wire, expect, replies);
    let input = BytesMut::from(wire);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function(name, |b| {
        b.iter_batched(
            || input.clone(),
            |mut buf| {
                let mut decoder = Decoder::new(Limits::default());
                let n = decode_replies(&mut decoder, &mut buf, expect);
                (n, buf)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

fn repeat(reply: &[u8]) -> Vec<u8> {
    reply.repeat(SMALL_REPEAT)
}

fn decode_small(c: &mut Criterion) {
    let g = "decode_small";
    bench_decode(c, g, "stored", &repeat(b"STORED\r\n"), Expect::Status);
    bench_decode(c, g, "classic_miss_end", &repeat(b"END\r\n"), Expect::Value);
    bench_decode(
        c,
        g,
        "classic_hit_value_5b",
        &repeat(b"VALUE k 0 5\r\nhello\r\nEND\r\n"),
        Expect::Value,
    );
    bench_decode(
        c,
        g,
        "meta_hit_va_5b",
        &repeat(b"VA 5 f0 c12\r\nhello\r\n"),
        Expect::Meta,
    );
    // What the client's own `get` gets back: its opaque token, echoed.
    bench_decode(
        c,
        g,
        "meta_hit_va_5b_opaque",
        &repeat(b"VA 5 f0 O123\r\nhello\r\n"),
        Expect::Meta,
    );
    bench_decode(c, g, "meta_hd", &repeat(b"HD\r\n"), Expect::Meta);
    bench_decode(c, g, "meta_miss_en", &repeat(b"EN\r\n"), Expect::Meta);
}

/// A value of `len` printable bytes (never `\r\n`, which a real value may contain but
/// which would make no difference to a length-delimited decoder).
fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn decode_multiget(c: &mut Criterion) {
    let data = value(100);
    let mut classic = Vec::new();
    let mut meta = Vec::new();
    for i in 0..100 {
        classic.extend_from_slice(format!("VALUE key:{i:03} 0 {}\r\n", data.len()).as_bytes());
        classic.extend_from_slice(&data);
        classic.extend_from_slice(b"\r\n");
        // What `get_many` asks for (`mg <key> v f q O<i>`) and so what it gets back.
        meta.extend_from_slice(format!("VA {} f0 O{i}\r\n", data.len()).as_bytes());
        meta.extend_from_slice(&data);
        meta.extend_from_slice(b"\r\n");
    }
    classic.extend_from_slice(b"END\r\n");
    meta.extend_from_slice(b"MN\r\n");
    let g = "decode_multiget_100x100b";
    bench_decode(
        c,
        g,
        "classic_values",
        &classic,
        Expect::Values {
            commands: 1,
            keys: 100,
        },
    );
    bench_decode(c, g, "meta_batch", &meta, Expect::MetaBatch);
}

/// A 1 MiB-class value (1,048,000 bytes: under memcached's default 1 MiB item limit
/// once the item header is added), as one reply, delivered in one read and in 16 KiB
/// reads.
///
/// Unlike the other groups, the copy of the bytes into the read buffer is timed here.
/// Decoding a buffer that already holds the whole reply costs the same for 1 MiB as for
/// 5 bytes (the data block is split off, not scanned), so the untimed 1 MiB setup copy
/// would be a thousand times the timed work; criterion sizes its iteration count from
/// the timed part only, and the run would take hours. Copying into a reused read
/// buffer is also exactly what the socket read does in the real connection, so the
/// result is the decode path's real cost per byte; the decode-only fixed cost is what
/// `decode_small/classic_hit_value_5b` measures.
fn decode_1mib(c: &mut Criterion) {
    const LEN: usize = 1_048_000;
    let mut wire = format!("VALUE k 0 {LEN}\r\n").into_bytes();
    wire.extend_from_slice(&value(LEN));
    wire.extend_from_slice(b"\r\nEND\r\n");
    check(&wire, Expect::Value, 1);
    let wire = Bytes::from(wire);

    let mut g = c.benchmark_group("decode_1mib");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    // Each iteration takes tens of microseconds: fewer samples keep the run short
    // without hurting the estimate.
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("one_read", |b| {
        // Kept across iterations like the connection's read buffer, so the allocation
        // is reclaimed (once the previous reply is dropped) rather than made anew.
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut decoder = Decoder::new(Limits::default());
        b.iter(|| {
            buf.extend_from_slice(&wire);
            decode_replies(&mut decoder, &mut buf, Expect::Value)
        });
    });

    g.bench_function("16kib_reads", |b| {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut decoder = Decoder::new(Limits::default());
        b.iter(|| {
            let mut replies = 0;
            let mut assembler = Assembler::new(Expect::Value);
            for chunk in wire.chunks(16 * 1024) {
                if buf.capacity() - buf.len() < MIN_READ_SPACE {
                    buf.reserve(READ_CHUNK);
                }
                buf.extend_from_slice(chunk);
                // After each read the decoder is asked for frames, as `Session::dispatch`
                // does; while the data block is incomplete this must be O(1).
                while let Some(frame) = decoder.decode(&mut buf).expect("valid") {
                    if let Some(outcome) = assembler.push(frame).expect("in step") {
                        black_box(outcome.expect("no server error"));
                        replies += 1;
                        assembler = Assembler::new(Expect::Value);
                    }
                }
            }
            assert_eq!(replies, 1);
            replies
        });
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let limits = Limits::default();
    let keys: Vec<String> = (0..100).map(|i| format!("key:{i:03}")).collect();
    let data = value(100);
    let set = Store {
        verb: StoreVerb::Set,
        key: b"key:001",
        flags: 0,
        expiry: Expiry::secs(60),
        value: &data,
        noreply: false,
    };
    // The flags `get_many` and a typical cache-aside read use: value, client flags,
    // cas, an opaque, and a touch.
    let mg_flags = MetaGet::new()
        .return_value()
        .return_client_flags()
        .return_cas()
        .opaque(7u32)
        .touch(Expiry::secs(60));
    let ms_flags = MetaSet::new().ttl(Expiry::secs(60)).client_flags(7);

    let mut g = c.benchmark_group("encode");
    bench_encode(&mut g, "get_1_key", |b| {
        encode::get(b, GetKind::Get, ["key:001"]).map(drop)
    });
    bench_encode(&mut g, "get_100_keys", |b| {
        encode::get(b, GetKind::Get, &keys).map(drop)
    });
    bench_encode(&mut g, "set_100b", |b| encode::store(b, &set, &limits));
    bench_encode(&mut g, "mg_v_f_c_o_t", |b| {
        meta::mg(b, b"key:001", &mg_flags, &Features::ALL)
    });
    bench_encode(&mut g, "ms_100b", |b| {
        meta::ms(b, b"key:001", &data, &ms_flags, &limits, &Features::ALL)
    });
    g.finish();
}

/// Benchmarks one encoder. Generic rather than boxed so that an indirect call does not
/// weigh on encoders that take a few nanoseconds.
fn bench_encode<F>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, enc: F)
where
    F: Fn(&mut BytesMut) -> Result<(), InputError>,
{
    let mut buf = BytesMut::new();
    enc(&mut buf).expect("valid command");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function(name, |b| {
        // Cleared, not reallocated: the connection encodes into a long-lived write
        // buffer, so allocation is not part of an encoder's cost.
        b.iter(|| {
            buf.clear();
            enc(black_box(&mut buf)).expect("valid command");
            black_box(buf.len())
        });
    });
}

criterion_group!(benches, decode_small, decode_multiget, decode_1mib, encode);
criterion_main!(benches);
