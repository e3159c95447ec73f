use std::time::Duration;

use bytes::BytesMut;

use super::*;
use crate::proto::{Expiry, Limits, Version};

const OLD: Features = Features::of(Version(1, 6, 18));

/// Encodes with `f`, checking that a refused command writes nothing, even into a buffer
/// that already holds something.
fn enc(f: impl FnOnce(&mut BytesMut) -> Result<(), InputError>) -> Result<String, InputError> {
    let mut buf = BytesMut::from(&b"before"[..]);
    let r = f(&mut buf);
    if r.is_err() {
        assert_eq!(&buf[..], b"before", "a rejected command must write nothing");
    }
    r.map(|()| String::from_utf8_lossy(&buf[6..]).into_owned())
}

fn g(f: MetaGet) -> String {
    enc(|b| mg(b, b"k", &f, &Features::ALL)).unwrap()
}
fn s(f: MetaSet) -> String {
    enc(|b| ms(b, b"k", b"val", &f, &Limits::default(), &Features::ALL)).unwrap()
}
fn d(f: MetaDelete) -> String {
    enc(|b| md(b, b"k", &f, &Features::ALL)).unwrap()
}
fn a(f: MetaArith) -> String {
    enc(|b| ma(b, b"k", &f, &Features::ALL)).unwrap()
}

/// Every flag of every command, alone and all together, against the lines the
/// hand-written encoders produced before the flags became tables (captured from them):
/// the tables changed how flags are declared, not a byte on the wire.
#[test]
fn every_flag_encodes_as_before() {
    let cases: Vec<(String, &str)> = vec![
        (g(MetaGet::new()), "mg k\r\n"),
        (g(MetaGet::new().base64_key()), "mg aw== b\r\n"),
        (g(MetaGet::new().return_cas()), "mg k c\r\n"),
        (g(MetaGet::new().return_client_flags()), "mg k f\r\n"),
        (g(MetaGet::new().return_hit_before()), "mg k h\r\n"),
        (g(MetaGet::new().return_key()), "mg k k\r\n"),
        (g(MetaGet::new().return_last_access()), "mg k l\r\n"),
        (g(MetaGet::new().quiet()), "mg k q\r\n"),
        (g(MetaGet::new().return_size()), "mg k s\r\n"),
        (g(MetaGet::new().return_ttl()), "mg k t\r\n"),
        (g(MetaGet::new().no_bump()), "mg k u\r\n"),
        (g(MetaGet::new().return_value()), "mg k v\r\n"),
        (g(MetaGet::new().compare_cas(77)), "mg k C77\r\n"),
        (g(MetaGet::new().new_cas(78)), "mg k E78\r\n"),
        (g(MetaGet::new().vivify(Expiry::secs(30))), "mg k N30\r\n"),
        (g(MetaGet::new().vivify(Expiry::Never)), "mg k N0\r\n"),
        (
            g(MetaGet::new().recache(Duration::from_millis(1500))),
            "mg k R2\r\n",
        ),
        (g(MetaGet::new().touch(Expiry::secs(40))), "mg k T40\r\n"),
        (g(MetaGet::new().touch(Expiry::Expired)), "mg k T-1\r\n"),
        (g(MetaGet::new().opaque(9u32)), "mg k O9\r\n"),
        (
            g(MetaGet::new()
                .base64_key()
                .return_cas()
                .return_client_flags()
                .return_hit_before()
                .return_key()
                .return_last_access()
                .quiet()
                .return_size()
                .return_ttl()
                .no_bump()
                .return_value()
                .compare_cas(1)
                .new_cas(2)
                .vivify(Expiry::secs(3))
                .recache(Duration::from_secs(4))
                .touch(Expiry::secs(5))
                .opaque(6u32)),
            "mg aw== b c f h k l q s t u v C1 E2 N3 R4 T5 O6\r\n",
        ),
        (s(MetaSet::new()), "ms k 3\r\nval\r\n"),
        (s(MetaSet::new().base64_key()), "ms aw== 3 b\r\nval\r\n"),
        (s(MetaSet::new().return_cas()), "ms k 3 c\r\nval\r\n"),
        (s(MetaSet::new().invalidate()), "ms k 3 I\r\nval\r\n"),
        (s(MetaSet::new().return_key()), "ms k 3 k\r\nval\r\n"),
        (s(MetaSet::new().quiet()), "ms k 3 q\r\nval\r\n"),
        (s(MetaSet::new().return_size()), "ms k 3 s\r\nval\r\n"),
        (s(MetaSet::new().compare_cas(77)), "ms k 3 C77\r\nval\r\n"),
        (s(MetaSet::new().new_cas(78)), "ms k 3 E78\r\nval\r\n"),
        (s(MetaSet::new().client_flags(79)), "ms k 3 F79\r\nval\r\n"),
        (
            s(MetaSet::new().ttl(Expiry::secs(90))),
            "ms k 3 T90\r\nval\r\n",
        ),
        (
            s(MetaSet::new().ttl(Expiry::Expired)),
            "ms k 3 T-1\r\nval\r\n",
        ),
        (
            s(MetaSet::new()
                .mode(SetMode::Append)
                .vivify(Expiry::secs(30))),
            "ms k 3 N30 MA\r\nval\r\n",
        ),
        (s(MetaSet::new().mode(SetMode::Set)), "ms k 3\r\nval\r\n"),
        (s(MetaSet::new().mode(SetMode::Add)), "ms k 3 ME\r\nval\r\n"),
        (
            s(MetaSet::new().mode(SetMode::Replace)),
            "ms k 3 MR\r\nval\r\n",
        ),
        (
            s(MetaSet::new().mode(SetMode::Append)),
            "ms k 3 MA\r\nval\r\n",
        ),
        (
            s(MetaSet::new().mode(SetMode::Prepend)),
            "ms k 3 MP\r\nval\r\n",
        ),
        (s(MetaSet::new().opaque(9u32)), "ms k 3 O9\r\nval\r\n"),
        (
            s(MetaSet::new()
                .base64_key()
                .return_cas()
                .invalidate()
                .return_key()
                .quiet()
                .return_size()
                .compare_cas(1)
                .new_cas(2)
                .client_flags(3)
                .ttl(Expiry::secs(4))
                .vivify(Expiry::secs(5))
                .mode(SetMode::Prepend)
                .opaque(6u32)),
            "ms aw== 3 b c I k q s C1 E2 F3 T4 N5 MP O6\r\nval\r\n",
        ),
        (d(MetaDelete::new()), "md k\r\n"),
        (d(MetaDelete::new().base64_key()), "md aw== b\r\n"),
        (d(MetaDelete::new().invalidate()), "md k I\r\n"),
        (d(MetaDelete::new().return_key()), "md k k\r\n"),
        (d(MetaDelete::new().quiet()), "md k q\r\n"),
        (d(MetaDelete::new().remove_value()), "md k x\r\n"),
        (d(MetaDelete::new().compare_cas(77)), "md k C77\r\n"),
        (d(MetaDelete::new().new_cas(78)), "md k E78\r\n"),
        (
            d(MetaDelete::new().invalidate().ttl(Expiry::secs(30))),
            "md k I T30\r\n",
        ),
        (d(MetaDelete::new().opaque(9u32)), "md k O9\r\n"),
        (
            d(MetaDelete::new()
                .base64_key()
                .invalidate()
                .return_key()
                .quiet()
                .remove_value()
                .compare_cas(1)
                .new_cas(2)
                .ttl(Expiry::secs(3))
                .opaque(4u32)),
            "md aw== b I k q x C1 E2 T3 O4\r\n",
        ),
        (a(MetaArith::new()), "ma k\r\n"),
        (a(MetaArith::new().base64_key()), "ma aw== b\r\n"),
        (a(MetaArith::new().return_cas()), "ma k c\r\n"),
        (a(MetaArith::new().return_key()), "ma k k\r\n"),
        (a(MetaArith::new().quiet()), "ma k q\r\n"),
        (a(MetaArith::new().return_ttl()), "ma k t\r\n"),
        (a(MetaArith::new().return_value()), "ma k v\r\n"),
        (a(MetaArith::new().compare_cas(77)), "ma k C77\r\n"),
        (a(MetaArith::new().new_cas(78)), "ma k E78\r\n"),
        (
            a(MetaArith::new().auto_create(Expiry::secs(30))),
            "ma k N30\r\n",
        ),
        (
            a(MetaArith::new().auto_create(Expiry::Never).initial(5)),
            "ma k N0 J5\r\n",
        ),
        (a(MetaArith::new().delta(6)), "ma k D6\r\n"),
        (a(MetaArith::new().touch(Expiry::secs(40))), "ma k T40\r\n"),
        (a(MetaArith::new().decr()), "ma k MD\r\n"),
        (a(MetaArith::new().mode(ArithMode::Decr)), "ma k MD\r\n"),
        (a(MetaArith::new().mode(ArithMode::Incr)), "ma k\r\n"),
        (a(MetaArith::new().opaque(9u32)), "ma k O9\r\n"),
        (
            a(MetaArith::new()
                .base64_key()
                .return_cas()
                .return_key()
                .quiet()
                .return_ttl()
                .return_value()
                .compare_cas(1)
                .new_cas(2)
                .auto_create(Expiry::secs(3))
                .initial(4)
                .delta(5)
                .touch(Expiry::secs(6))
                .decr()
                .opaque(7u32)),
            "ma aw== b c k q t v C1 E2 N3 J4 D5 T6 MD O7\r\n",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

/// Every row of every table: the flag parsed from its protocol spelling is the flag the
/// builder sets, and it is written with its own letter.
#[test]
fn every_table_row_parses_and_encodes() {
    fn arg(info: &FlagInfo) -> &'static str {
        match (info.letter, info.argument) {
            (_, None) => "",
            ('M', Some("S|E|R|A|P")) => "A",
            ('M', Some("I|D")) => "D",
            ('O', _) => "tok",
            _ => "5",
        }
    }
    fn line<F>(encode: impl Fn(&F) -> Result<String, InputError>, flags: &F) -> String {
        encode(flags).unwrap()
    }
    fn check<F: Default + PartialEq + std::fmt::Debug>(
        table: &[FlagInfo],
        parse: impl Fn(&[&str]) -> Result<F, InputError>,
        encode: impl Fn(&F) -> Result<String, InputError>,
        needs: impl Fn(char) -> &'static [&'static str],
    ) {
        let mut letters: Vec<char> = table.iter().map(|f| f.letter).collect();
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(letters.len(), table.len(), "a letter appears twice");
        assert_eq!(table.last().map(|f| f.letter), Some('O'), "O ends the line");
        for info in table {
            let token = format!("{}{}", info.letter, arg(info));
            let mut tokens: Vec<&str> = needs(info.letter).to_vec();
            tokens.push(&token);
            let flags = parse(&tokens).unwrap_or_else(|e| panic!("{token}: {e}"));
            assert_ne!(flags, F::default(), "{token} sets nothing");
            let written = line(&encode, &flags);
            assert!(
                written.contains(&format!(" {token}")),
                "{token} not in {written:?}"
            );
            // A flag without an argument refuses one, and one with an argument needs it.
            let wrong = if info.argument.is_none() {
                format!("{}9", info.letter)
            } else {
                info.letter.to_string()
            };
            assert!(matches!(parse(&[&wrong]), Err(InputError::BadFlag { .. })));
            assert!(!info.summary().is_empty() && !info.summary().starts_with('`'));
        }
        assert!(matches!(parse(&["y"]), Err(InputError::BadFlag { .. })));
        assert!(matches!(parse(&[""]), Err(InputError::BadFlag { .. })));
    }
    check(
        MetaGet::FLAGS,
        |t| MetaGet::from_tokens(t.iter().copied()),
        |f| enc(|b| mg(b, b"k", f, &Features::ALL)),
        |_| &[],
    );
    check(
        MetaSet::FLAGS,
        |t| MetaSet::from_tokens(t.iter().copied()),
        |f| enc(|b| ms(b, b"k", b"v", f, &Limits::default(), &Features::ALL)),
        |c| if c == 'N' { &["MA"] } else { &[] },
    );
    check(
        MetaDelete::FLAGS,
        |t| MetaDelete::from_tokens(t.iter().copied()),
        |f| enc(|b| md(b, b"k", f, &Features::ALL)),
        |c| if c == 'T' { &["I"] } else { &[] },
    );
    check(
        MetaArith::FLAGS,
        |t| MetaArith::from_tokens(t.iter().copied()),
        |f| enc(|b| ma(b, b"k", f, &Features::ALL)),
        |c| if c == 'J' { &["N0"] } else { &[] },
    );
}

#[test]
fn tokens_as_the_protocol_spells_them() {
    assert_eq!(
        MetaGet::from_tokens(["v", "c", "t", "N30", "R5", "T-1", "O7"]).unwrap(),
        MetaGet::new()
            .return_value()
            .return_cas()
            .return_ttl()
            .vivify(Expiry::secs(30))
            .recache(Duration::from_secs(5))
            .touch(Expiry::Expired)
            .opaque(7u32)
    );
    assert_eq!(
        MetaSet::from_tokens(["T0", "F5", "Me"]).unwrap(),
        MetaSet::new()
            .ttl(Expiry::Never)
            .client_flags(5)
            .mode(SetMode::Add)
    );
    assert_eq!(
        MetaArith::from_tokens(["M-", "D3"]).unwrap(),
        MetaArith::new().decr().delta(3)
    );
    let e = MetaSet::from_tokens(["MX"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ms flag \"MX\": needs a mode: S, E, R, A or P"
    );
    let e = MetaGet::from_tokens(["Cx"]).unwrap_err();
    assert_eq!(e.to_string(), "mg flag \"Cx\": needs a number");
    let e = MetaDelete::from_tokens(["v"]).unwrap_err();
    assert_eq!(e.to_string(), "md flag \"v\": unknown flag");
    assert!(MetaGet::from_tokens(["O"]).is_err());
    assert!(MetaGet::from_tokens([&"O".repeat(33)[..]]).is_err());
}

#[test]
fn version_gates_follow_the_tables() {
    let gated: Vec<(&str, char, Version)> = [
        ("mg", MetaGet::FLAGS),
        ("ms", MetaSet::FLAGS),
        ("md", MetaDelete::FLAGS),
        ("ma", MetaArith::FLAGS),
    ]
    .into_iter()
    .flat_map(|(cmd, table)| {
        table
            .iter()
            .filter_map(move |f| f.since.map(|v| (cmd, f.letter, v)))
    })
    .collect();
    assert_eq!(
        gated,
        [
            ("mg", 'C', Version(1, 6, 27)),
            ("mg", 'E', Version(1, 6, 27)),
            ("ms", 's', Version(1, 6, 20)),
            ("ms", 'E', Version(1, 6, 27)),
            ("ms", 'N', Version(1, 6, 27)),
            ("md", 'x', Version(1, 6, 27)),
            ("md", 'E', Version(1, 6, 27)),
            ("ma", 'E', Version(1, 6, 27)),
        ]
    );
    // The error names the command, the flag and the version.
    assert_eq!(
        enc(|b| mg(b, b"k", &MetaGet::new().compare_cas(1), &OLD)),
        Err(InputError::Unsupported {
            what: "meta flag mg C (memcached 1.6.27+)"
        })
    );
    // 1.6.20 has `ms s`, not `ms E`.
    let v1620 = Features::of(Version(1, 6, 20));
    let lim = Limits::default();
    assert!(enc(|b| ms(b, b"k", b"", &MetaSet::new().return_size(), &lim, &v1620)).is_ok());
    assert!(enc(|b| ms(b, b"k", b"", &MetaSet::new().new_cas(3), &lim, &v1620)).is_err());
}

#[test]
fn binary_keys() {
    let key = b"a\0b\r\nc";
    assert_eq!(
        enc(|b| mg(b, key, &MetaGet::new().base64_key().return_value(), &OLD)).unwrap(),
        "mg YQBiDQpj b v\r\n"
    );
    assert!(check_meta_key(&[0u8; MAX_BINARY_KEY_LEN], true).is_ok());
    assert_eq!(base64::encoded_len(MAX_BINARY_KEY_LEN), 248);
    assert_eq!(
        check_meta_key(&[0u8; MAX_BINARY_KEY_LEN + 1], true),
        Err(InputError::BinaryKeyTooLong { len: 187 })
    );
    // Without `b`, the classic rules apply.
    assert!(enc(|b| mg(b, key, &MetaGet::new(), &OLD)).is_err());
    // Asking for such a key back could break the reply line; a safe one is fine.
    assert!(matches!(
        enc(|b| mg(b, key, &MetaGet::new().base64_key().return_key(), &OLD)),
        Err(InputError::Unsupported { .. })
    ));
    assert!(
        enc(|b| mg(
            b,
            b"\x80\xff",
            &MetaGet::new().base64_key().return_key(),
            &OLD
        ))
        .is_ok()
    );
    assert!(enc(|b| me(b, key, true, &OLD)).is_err());
    assert_eq!(enc(|b| me(b, b"k", false, &OLD)).unwrap(), "me k\r\n");
    assert_eq!(
        enc(|b| me(b, b"\x80", true, &OLD)).unwrap(),
        "me gA== b\r\n"
    );
}

#[test]
fn refused_before_sending() {
    let e = |r: Result<String, InputError>| r.unwrap_err();
    // Flags this server is too old for.
    assert!(matches!(
        e(enc(|b| mg(b, b"k", &MetaGet::new().new_cas(1), &OLD))),
        InputError::Unsupported { .. }
    ));
    assert!(matches!(
        e(enc(|b| md(
            b,
            b"k",
            &MetaDelete::new().remove_value(),
            &OLD
        ))),
        InputError::Unsupported { .. }
    ));
    assert!(matches!(
        e(enc(|b| ms(
            b,
            b"k",
            b"",
            &MetaSet::new().return_size(),
            &Limits::default(),
            &OLD
        ))),
        InputError::Unsupported { .. }
    ));
    assert!(matches!(
        e(enc(|b| mg(b, b"k", &MetaGet::new(), &Features::CLASSIC))),
        InputError::Unsupported { .. }
    ));
    // Negative TTLs where none is allowed, flags that need another.
    assert!(enc(|b| mg(b, b"k", &MetaGet::new().vivify(Expiry::Expired), &OLD)).is_err());
    assert!(enc(|b| md(b, b"k", &MetaDelete::new().ttl(Expiry::secs(5)), &OLD)).is_err());
    assert!(enc(|b| ma(b, b"k", &MetaArith::new().initial(5), &OLD)).is_err());
    assert!(
        enc(|b| ms(
            b,
            b"k",
            b"v",
            &MetaSet::new().vivify(Expiry::secs(5)),
            &Limits::default(),
            &Features::ALL
        ))
        .is_err()
    );
    // Durations too large for the wire are refused, never wrapped, and what was written
    // before the bad flag is taken back (`enc` checks the buffer).
    for bad in [
        MetaGet::new().return_value().recache(Duration::MAX),
        MetaGet::new().return_value().touch(Duration::MAX),
        MetaGet::new().return_value().vivify(Duration::MAX),
    ] {
        assert_eq!(
            enc(|b| mg(b, b"k", &bad, &OLD)),
            Err(InputError::ExpiryOutOfRange)
        );
    }
    assert_eq!(
        enc(|b| ms(
            b,
            b"k",
            b"v",
            &MetaSet::new().ttl(Duration::MAX),
            &Limits::default(),
            &OLD
        )),
        Err(InputError::ExpiryOutOfRange)
    );
    // Opaque tokens.
    assert!(Opaque::new(&[b'x'; 31]).is_ok());
    assert!(Opaque::new(&[b'x'; 32]).is_err());
    assert!(Opaque::new(b"a b").is_err());
    assert!(Opaque::new(b"").is_err());
    assert_eq!(
        Opaque::from(u64::MAX).as_bytes(),
        u64::MAX.to_string().as_bytes()
    );
}

#[test]
fn numeric_opaque_tokens_are_their_decimal_digits() {
    for n in [0u64, 7, 9, 10, 99, 100, 4_294_967_295, u64::MAX] {
        let token = Opaque::from(n);
        assert_eq!(token.as_bytes(), n.to_string().as_bytes());
        assert_eq!(Opaque::new(n.to_string().as_bytes()).unwrap(), token);
    }
}
