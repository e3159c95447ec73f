//! The bodies of the fuzz targets, shared by the coverage-guided targets in
//! `fuzz/fuzz_targets/` (run by `scripts/fuzz`) and by `tests/fuzz_bodies.rs`, which runs
//! them over the committed corpus and random inputs in every `./scripts/test`.
//!
//! Invariants checked, on any input:
//! - nothing panics;
//! - the decoder gives the same frames (or the same first error) whether the input
//!   arrives whole or cut at any points, and the assembler the same replies;
//! - the read buffer never holds more than the limits allow (no allocation driven by
//!   an announced length);
//! - the encoders either write a command that the reply parser's sibling rules accept
//!   (one line, no stray CR/LF outside the data block) or write nothing.

#![allow(dead_code)]

use bytes::BytesMut;
use mcaside::proto::encode::{self, ArithOp, GetKind, Store, StoreVerb};
use mcaside::proto::internal::{Stamp, push_checked};
use mcaside::proto::meta::{self, MetaArith, MetaDelete, MetaGet, MetaSet};
use mcaside::proto::{Assembler, Decoder, Expect, Expiry, Features, Frame, Limits};

/// Small limits, so that the fuzzer reaches them.
pub const LIMITS: Limits = Limits::new().max_value(64).max_line(128);

/// The most the read buffer may hold between frames: an unfinished line at the limit,
/// or an unfinished value at the limit with its terminator.
const MAX_HELD: usize = 128 + 64 + 2;

/// Decodes `input` fed in pieces cut at `cuts` (positions, any order, out of range
/// ignored). Returns the frames and the first error, if any.
pub fn decode_in_pieces(input: &[u8], cuts: &[usize]) -> (Vec<Frame>, Option<String>) {
    let mut points: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    let mut decoder = Decoder::new(LIMITS);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for to in points {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
        // Waiting for more: what is held is one unfinished frame, within the limits
        // (an oversized block is thrown away as it comes).
        assert!(buf.len() <= MAX_HELD, "decoder holds {} bytes", buf.len());
    }
    (frames, None)
}

/// Target `decoder`: whole input and split input decode alike.
pub fn decoder(data: &[u8]) {
    if data.is_empty() {
        return;
    }
    // The first bytes choose the cut points; the rest is the stream.
    let (head, input) = data.split_at(data.len().min(4));
    let whole = decode_in_pieces(input, &[]);
    let cuts: Vec<usize> = head
        .iter()
        .map(|&b| usize::from(b) * input.len() / 256)
        .collect();
    assert_eq!(
        whole,
        decode_in_pieces(input, &cuts),
        "split decode differs"
    );
    let bytewise: Vec<usize> = (0..input.len()).collect();
    if input.len() < 512 {
        assert_eq!(
            whole,
            decode_in_pieces(input, &bytewise),
            "bytewise decode differs"
        );
    }
}

const SHAPES: [Expect; 8] = [
    Expect::Status,
    Expect::Number,
    Expect::Version,
    Expect::Value,
    Expect::Values {
        commands: 2,
        keys: 4,
    },
    Expect::Stats,
    Expect::Meta,
    Expect::MetaBatch,
];

/// Target `assembler`: frames from any stream assembled into replies of any shape,
/// checked against identity records built from the input: no panic, and the same
/// outcome however the stream is cut.
pub fn assembler(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let shape = SHAPES[usize::from(data[0]) % SHAPES.len()];
    let cut = usize::from(data[1]);
    let input = &data[2..];
    // An identity record: a few keys and tokens taken from the input's words.
    let (mut record, mut next) = (BytesMut::new(), 1u32);
    let mut stamp = Stamp::new(&mut record, &mut next);
    for word in input.split(|&b| b == b' ' || b == b'\n').take(4) {
        if !word.is_empty() && word.len() <= 250 {
            stamp.key(word);
        }
    }
    stamp.end_command();
    stamp.opaque();
    let run = |frames: &[Frame]| {
        let mut out = Vec::new();
        let mut a = Assembler::new(shape);
        for f in frames {
            match push_checked(&mut a, f.clone(), &record) {
                Ok(Some(done)) => {
                    out.push(format!("{done:?}"));
                    a = Assembler::new(shape);
                }
                Ok(None) => {}
                Err(e) => {
                    out.push(format!("error {e}"));
                    break;
                }
            }
        }
        out
    };
    let (whole, _) = decode_in_pieces(input, &[]);
    let (split, _) = decode_in_pieces(input, &[cut * input.len() / 256]);
    assert_eq!(run(&whole), run(&split));
}

/// Target `parse_line`: the line grammar on any bytes: no panic, and whatever it
/// accepts ends with `\r\n`.
pub fn parse_line(data: &[u8]) {
    if let Ok((rest, _)) = mcaside::proto::internal::parse_line(data) {
        let used = &data[..data.len() - rest.len()];
        assert!(
            used.ends_with(b"\r\n"),
            "accepted a line without its ending"
        );
    }
}

/// Target `encoders`: every encoder with arbitrary keys, values and numbers: it writes
/// exactly one command (one line, plus a data block for storage) or nothing.
pub fn encoders(data: &[u8]) {
    if data.len() < 10 {
        return;
    }
    let which = data[0];
    let n = u64::from_le_bytes(data[1..9].try_into().expect("8 bytes"));
    let rest = &data[9..];
    let split = rest.len() / 2;
    let (key, value) = rest.split_at(split);
    let expiry = match data[9] % 4 {
        0 => Expiry::Never,
        1 => Expiry::secs(n),
        2 => Expiry::After(std::time::Duration::new(n, u32::from(data[9]) * 1000)),
        _ => Expiry::Expired,
    };
    let limits = LIMITS;
    let mut buf = BytesMut::from(&b"before"[..]);
    let features = Features::ALL;
    let result = match which % 12 {
        0 => encode::get(&mut buf, GetKind::Get, [key, value]).map(drop),
        1 => encode::get(&mut buf, GetKind::Gat(expiry), [key]).map(drop),
        2 => encode::store(
            &mut buf,
            &Store {
                verb: StoreVerb::Cas(n),
                key,
                flags: n as u32,
                expiry,
                value,
                noreply: n % 2 == 0,
            },
            &limits,
        ),
        3 => encode::delete(&mut buf, key, n % 2 == 0),
        4 => encode::arith(&mut buf, ArithOp::Incr, key, n, false),
        5 => encode::touch(&mut buf, key, expiry, false),
        6 => encode::flush_all(&mut buf, Some(std::time::Duration::from_secs(n)), true),
        7 => meta::mg(
            &mut buf,
            key,
            &MetaGet::new()
                .return_value()
                .return_key()
                .touch(expiry)
                .recache(std::time::Duration::from_secs(n))
                .opaque(n),
            &features,
        ),
        8 => meta::ms(
            &mut buf,
            key,
            value,
            &MetaSet::new().ttl(expiry).compare_cas(n).base64_key(),
            &limits,
            &features,
        ),
        9 => meta::md(
            &mut buf,
            key,
            &MetaDelete::new().base64_key().opaque(n),
            &features,
        ),
        10 => meta::ma(
            &mut buf,
            key,
            &MetaArith::new().delta(n).auto_create(expiry).initial(n),
            &features,
        ),
        _ => encode::stats(&mut buf, std::str::from_utf8(key).ok()),
    };
    match result {
        Err(_) => assert_eq!(&buf[..], b"before", "a refused command wrote something"),
        Ok(()) => {
            let cmd = &buf[6..];
            let line_end = cmd
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a command ends its line");
            let line = &cmd[..line_end];
            assert!(
                !line.contains(&b'\n') && !line.contains(&b'\r') && !line.contains(&0),
                "a control byte in the command line"
            );
            let after = &cmd[line_end + 2..];
            if matches!(which % 12, 2 | 8) {
                assert_eq!(after.len(), value.len() + 2, "the data block and its end");
            } else {
                assert!(after.is_empty(), "one command, one line");
            }
        }
    }
}
