//! The decoder yields the same frames however the byte stream is cut.
//!
//! Random replies are rendered to wire bytes, then decoded: all at once, at every single
//! cut point, one byte at a time, and at random sets of cut points. Every way must give
//! back exactly the frames that were rendered.

use bytes::{Bytes, BytesMut};
use mcaside::ServerErrorKind;
use mcaside::proto::meta::Opaque;
use mcaside::proto::{Decoder, Frame, Limits, MetaCode, MetaReply, ReturnedFlags, Value};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(0x21u8..0x7f, 1..20).prop_map(Bytes::from)
}

fn data() -> impl Strategy<Value = Bytes> {
    // Biased towards the bytes that matter: CR, LF, NUL and protocol words.
    let byte = prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), Just(b'E'), any::<u8>()];
    proptest::collection::vec(byte, 0..40).prop_map(Bytes::from)
}

fn text() -> impl Strategy<Value = Bytes> {
    "[a-z0-9 .:_-]{0,20}".prop_map(|s| Bytes::from(s.trim().to_owned()))
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            key(),
            any::<u32>(),
            proptest::option::of(any::<u64>()),
            data()
        )
            .prop_map(|(key, flags, cas, data)| Frame::Value(Value {
                key,
                flags,
                cas,
                data
            })),
        Just(Frame::End),
        Just(Frame::Stored),
        Just(Frame::NotStored),
        Just(Frame::Exists),
        Just(Frame::NotFound),
        Just(Frame::Deleted),
        Just(Frame::Touched),
        Just(Frame::Ok),
        Just(Frame::MetaNoop),
        any::<u64>().prop_map(Frame::Number),
        "[0-9.]{1,10}".prop_map(|v| Frame::Version(Bytes::from(v))),
        (key(), text()).prop_map(|(name, value)| Frame::Stat { name, value }),
        (
            prop_oneof![Just(ServerErrorKind::Client), Just(ServerErrorKind::Server)],
            text()
        )
            .prop_map(|(kind, message)| Frame::Error { kind, message }),
        Just(Frame::Error {
            kind: ServerErrorKind::Error,
            message: Bytes::new()
        }),
        meta(),
    ]
}

fn meta() -> impl Strategy<Value = Frame> {
    let code = prop_oneof![
        Just(MetaCode::Value),
        Just(MetaCode::Header),
        Just(MetaCode::Miss),
        Just(MetaCode::NotStored),
        Just(MetaCode::Exists),
        Just(MetaCode::NotFound),
    ];
    (
        code,
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(-1i64..100_000),
        proptest::option::of(key()),
        proptest::option::of(key()),
        any::<(bool, bool, bool)>(),
        data(),
    )
        .prop_map(
            |(code, cas, client_flags, ttl, k, opaque, (won, stale, win_taken), data)| {
                // Field by field: the struct is non-exhaustive, as new flags may come.
                let mut flags = ReturnedFlags::default();
                flags.cas = cas;
                flags.client_flags = client_flags;
                flags.ttl = ttl;
                flags.key = k;
                flags.opaque = opaque.map(|o: Bytes| Opaque::new(&o).expect("a key is a token"));
                flags.won = won;
                flags.stale = stale;
                flags.win_taken = win_taken;
                Frame::Meta(MetaReply {
                    code,
                    flags,
                    value: (code == MetaCode::Value).then_some(data),
                })
            },
        )
}

/// The wire form of a frame, as memcached writes it.
fn render(f: &Frame, out: &mut Vec<u8>) {
    let line = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
    };
    match f {
        Frame::Value(v) => {
            out.extend_from_slice(b"VALUE ");
            out.extend_from_slice(&v.key);
            out.extend_from_slice(format!(" {} {}", v.flags, v.data.len()).as_bytes());
            if let Some(c) = v.cas {
                out.extend_from_slice(format!(" {c}").as_bytes());
            }
            line(out, b"");
            line(out, &v.data);
        }
        Frame::End => line(out, b"END"),
        Frame::Stored => line(out, b"STORED"),
        Frame::NotStored => line(out, b"NOT_STORED"),
        Frame::Exists => line(out, b"EXISTS"),
        Frame::NotFound => line(out, b"NOT_FOUND"),
        Frame::Deleted => line(out, b"DELETED"),
        Frame::Touched => line(out, b"TOUCHED"),
        Frame::Ok => line(out, b"OK"),
        Frame::MetaNoop => line(out, b"MN"),
        Frame::Number(n) => line(out, n.to_string().as_bytes()),
        Frame::Version(v) => line(out, &[&b"VERSION "[..], v].concat()),
        Frame::Stat { name, value } => {
            line(out, &[&b"STAT "[..], name, b" ", value].concat());
        }
        Frame::Error { kind, message } => {
            let word: &[u8] = match kind {
                ServerErrorKind::Error => b"ERROR",
                ServerErrorKind::Client => b"CLIENT_ERROR",
                ServerErrorKind::Server => b"SERVER_ERROR",
            };
            if message.is_empty() {
                line(out, word);
            } else {
                line(out, &[word, b" ", message].concat());
            }
        }
        Frame::Meta(m) => {
            out.extend_from_slice(m.code.as_str().as_bytes());
            if let Some(v) = &m.value {
                out.extend_from_slice(format!(" {}", v.len()).as_bytes());
            }
            let fl = &m.flags;
            if let Some(f) = fl.client_flags {
                out.extend_from_slice(format!(" f{f}").as_bytes());
            }
            if let Some(c) = fl.cas {
                out.extend_from_slice(format!(" c{c}").as_bytes());
            }
            if let Some(t) = fl.ttl {
                out.extend_from_slice(format!(" t{t}").as_bytes());
            }
            if let Some(k) = &fl.key {
                out.extend_from_slice(&[&b" k"[..], k].concat());
            }
            if let Some(o) = &fl.opaque {
                out.extend_from_slice(&[&b" O"[..], o].concat());
            }
            for (set, c) in [(fl.won, " W"), (fl.stale, " X"), (fl.win_taken, " Z")] {
                if set {
                    out.extend_from_slice(c.as_bytes());
                }
            }
            line(out, b"");
            if let Some(v) = &m.value {
                line(out, v);
            }
        }
        // Frames the strategies above do not generate (the decoder makes `Oversized`).
        other => unreachable!("not generated: {other:?}"),
    }
}

/// Feeds `wire` to a fresh decoder in the given chunks; returns every frame decoded.
fn decode_in_chunks(wire: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut d = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        buf.extend_from_slice(&wire[start..end]);
        start = end;
        while let Some(f) = d.decode(&mut buf).expect("valid wire bytes") {
            frames.push(f);
        }
    }
    assert!(buf.is_empty(), "all bytes consumed");
    frames
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_split_yields_the_same_frames(
        frames in proptest::collection::vec(frame(), 1..8),
        mut random_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for f in &frames {
            render(f, &mut wire);
        }
        prop_assert_eq!(&decode_in_chunks(&wire, &[]), &frames);
        for cut in 0..=wire.len() {
            prop_assert_eq!(&decode_in_chunks(&wire, &[cut]), &frames, "cut at {}", cut);
        }
        let every_byte: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(&decode_in_chunks(&wire, &every_byte), &frames);
        let mut cuts: Vec<usize> = random_cuts.iter_mut().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(&decode_in_chunks(&wire, &cuts), &frames);
    }
}
