//! The reply-line grammar, written with nom's streaming combinators.
//!
//! Read this file top to bottom to learn what memcached can send. [`line()`] takes one
//! complete line (through its `\r\n`) and returns a [`Line`] borrowing from it. The
//! decoder finds line boundaries and data blocks; this module only knows the grammar.
//!
//! The parsers are nom's *streaming* variants (`nom::bytes::streaming`,
//! `nom::character::streaming`), so a number running into the end of the input is
//! `Incomplete` rather than silently complete: that is what makes them safe to run on
//! a buffer that may end mid-reply.

// The variants' fields are the wire tokens their docs name, one for one.
#![allow(missing_docs)]

use nom::branch::alt;
use nom::bytes::streaming::{take_till, take_till1, take_until};
use nom::character::streaming::{char, crlf, satisfy, u32 as dec_u32, u64 as dec_u64};
use nom::combinator::{opt, peek};
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};

use super::frame::MetaCode;
use crate::error::ServerErrorKind;

/// One parsed reply line. Byte strings borrow from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// `VALUE <key> <flags> <bytes> [<cas>]`: a data block of `len` bytes follows.
    Value {
        key: &'a [u8],
        flags: u32,
        len: u64,
        cas: Option<u64>,
    },
    /// A line that is a single keyword: `END`, `STORED`, `MN`, ...
    Word(Word),
    /// A decimal number (the reply to `incr` / `decr`).
    Number(u64),
    /// `VERSION <text>`.
    Version(&'a [u8]),
    /// `STAT <name> <value>`.
    Stat { name: &'a [u8], value: &'a [u8] },
    /// `ERROR`, `CLIENT_ERROR <text>`, `SERVER_ERROR <text>`.
    Error {
        kind: ServerErrorKind,
        message: &'a [u8],
    },
    /// A meta reply line. For `VA`, `len` is the length of the data block that follows.
    Meta {
        code: MetaCode,
        len: Option<u64>,
        flags: Flags<'a>,
    },
    /// `ME <key> <k>=<v>*`.
    MetaDebug { key: &'a [u8], fields: &'a [u8] },
}

/// The single-keyword replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    End,
    Stored,
    NotStored,
    Exists,
    NotFound,
    Deleted,
    Touched,
    Ok,
    MetaNoop,
}

// The returned flags of a meta line, typed, borrowing `k` and `O` from the line. Each
// flag's grammar is a row of the table in `meta/returned.rs`.
pub use super::meta::returned::Flags;
use super::meta::returned::returned_flag;

pub(crate) type Res<'a, T> = IResult<&'a [u8], T>;

/// Parses one complete reply line, `\r\n` included.
pub fn line(input: &[u8]) -> Res<'_, Line<'_>> {
    // The first token decides the grammar of the rest of the line.
    let (rest, word) = take_till(|c| c == b' ' || c == b'\r')(input)?;
    match word {
        b"VA" => meta_value(rest),
        b"HD" => meta(MetaCode::Header, rest),
        b"EN" => meta(MetaCode::Miss, rest),
        b"NS" => meta(MetaCode::NotStored, rest),
        b"EX" => meta(MetaCode::Exists, rest),
        b"NF" => meta(MetaCode::NotFound, rest),
        b"VALUE" => value(rest),
        b"END" => word_only(Word::End, rest),
        b"STORED" => word_only(Word::Stored, rest),
        b"NOT_STORED" => word_only(Word::NotStored, rest),
        b"EXISTS" => word_only(Word::Exists, rest),
        b"NOT_FOUND" => word_only(Word::NotFound, rest),
        b"DELETED" => word_only(Word::Deleted, rest),
        b"TOUCHED" => word_only(Word::Touched, rest),
        b"OK" => word_only(Word::Ok, rest),
        b"MN" => word_only(Word::MetaNoop, rest),
        b"STAT" => stat(rest),
        b"VERSION" => text(rest).map(|(r, t)| (r, Line::Version(t))),
        b"ERROR" => error(ServerErrorKind::Error, rest),
        b"CLIENT_ERROR" => error(ServerErrorKind::Client, rest),
        b"SERVER_ERROR" => error(ServerErrorKind::Server, rest),
        b"ME" => meta_debug(rest),
        _ => number(input),
    }
}

/// `VALUE <key> <flags> <bytes> [<cas unique>]\r\n`, after the keyword.
fn value(input: &[u8]) -> Res<'_, Line<'_>> {
    let (input, key) = preceded(char(' '), token).parse(input)?;
    let (input, flags) = preceded(char(' '), dec_u32).parse(input)?;
    let (input, len) = preceded(char(' '), dec_u64).parse(input)?;
    // The line's end first: a cas unique comes only for `gets`.
    let (input, cas) = alt((
        crlf.map(|_| None),
        delimited(char(' '), dec_u64, crlf).map(Some),
    ))
    .parse(input)?;
    Ok((
        input,
        Line::Value {
            key,
            flags,
            len,
            cas,
        },
    ))
}

/// A keyword reply: nothing may follow but the line ending.
fn word_only(word: Word, input: &[u8]) -> Res<'_, Line<'_>> {
    crlf(input).map(|(r, _)| (r, Line::Word(word)))
}

/// The reply to `incr`/`decr`: digits and nothing else.
fn number(input: &[u8]) -> Res<'_, Line<'_>> {
    terminated(dec_u64, crlf).map(Line::Number).parse(input)
}

/// `STAT <name> <value>\r\n`, after the keyword. The value is the rest of the line and
/// may contain spaces (`STAT libevent 2.1.12-stable` does not, but some settings do).
fn stat(input: &[u8]) -> Res<'_, Line<'_>> {
    let (input, name) = preceded(char(' '), token).parse(input)?;
    let (input, value) =
        terminated(opt(preceded(char(' '), take_until("\r\n"))), crlf).parse(input)?;
    Ok((
        input,
        Line::Stat {
            name,
            value: value.unwrap_or_default(),
        },
    ))
}

/// ` <text>\r\n` or just `\r\n`, after the keyword.
fn text(input: &[u8]) -> Res<'_, &[u8]> {
    alt((
        delimited(char(' '), take_until("\r\n"), crlf),
        crlf.map(|_| &b""[..]),
    ))
    .parse(input)
}

fn error(kind: ServerErrorKind, input: &[u8]) -> Res<'_, Line<'_>> {
    text(input).map(|(r, message)| (r, Line::Error { kind, message }))
}

/// `VA <size> <flags>*\r\n`, after the code.
fn meta_value(input: &[u8]) -> Res<'_, Line<'_>> {
    let (input, len) = preceded(char(' '), dec_u64).parse(input)?;
    let (input, flags) = flag_tokens(input)?;
    Ok((
        input,
        Line::Meta {
            code: MetaCode::Value,
            len: Some(len),
            flags,
        },
    ))
}

/// `<code> <flags>*\r\n`, after the code.
fn meta(code: MetaCode, input: &[u8]) -> Res<'_, Line<'_>> {
    let (input, flags) = flag_tokens(input)?;
    Ok((
        input,
        Line::Meta {
            code,
            len: None,
            flags,
        },
    ))
}

/// Zero or more ` <flag><argument>` groups, then `\r\n`, folded into [`Flags`].
///
/// Numbers are read with the streaming parsers straight off the line, so the byte after
/// a number (a space, or the `\r` of the line ending) is what ends it: `c12x` fails.
///
/// This is `terminated(fold_many0(..), crlf)` written out: the fold keeps its
/// accumulator in place instead of moving the hundred-odd bytes of [`Flags`] through
/// every step (`benches/proto.rs`: a `VA` line with two flags decodes 18-28 % faster).
fn flag_tokens(mut input: &[u8]) -> Res<'_, Flags<'_>> {
    let mut flags = Flags::default();
    loop {
        match preceded(char(' '), |i| returned_flag(i, &mut flags)).parse(input) {
            Ok((rest, ())) => input = rest,
            // No more ` <flag>`: the line must end here.
            Err(nom::Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    let (input, _) = crlf(input)?;
    Ok((input, flags))
}

/// `parser`, which must be followed by the end of its token (a space or `\r`).
pub(crate) fn ended<'a, O>(
    parser: impl Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>>,
) -> impl Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>> {
    terminated(parser, peek(satisfy(|c| c == ' ' || c == '\r')))
}

pub(crate) fn empty(input: &[u8]) -> Res<'_, ()> {
    Ok((input, ()))
}

/// `ME <key> <k>=<v>*\r\n`, after the code.
fn meta_debug(input: &[u8]) -> Res<'_, Line<'_>> {
    let (input, key) = preceded(char(' '), token).parse(input)?;
    let (input, fields) = text(input)?;
    Ok((input, Line::MetaDebug { key, fields }))
}

/// A run of bytes up to the next space or `\r`.
pub(crate) fn token(input: &[u8]) -> Res<'_, &[u8]> {
    take_till1(|c| c == b' ' || c == b'\r')(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &[u8]) -> Line<'_> {
        let (r, l) = line(input).unwrap_or_else(|e| panic!("{e:?} on {input:?}"));
        assert!(r.is_empty());
        l
    }

    #[test]
    fn classic_lines() {
        assert_eq!(
            ok(b"VALUE k 5 3\r\n"),
            Line::Value {
                key: b"k",
                flags: 5,
                len: 3,
                cas: None
            }
        );
        assert_eq!(
            ok(b"VALUE k 0 0 18446744073709551615\r\n"),
            Line::Value {
                key: b"k",
                flags: 0,
                len: 0,
                cas: Some(u64::MAX)
            }
        );
        assert_eq!(ok(b"END\r\n"), Line::Word(Word::End));
        assert_eq!(ok(b"NOT_STORED\r\n"), Line::Word(Word::NotStored));
        assert_eq!(ok(b"42\r\n"), Line::Number(42));
        assert_eq!(ok(b"VERSION 1.6.18\r\n"), Line::Version(b"1.6.18"));
        assert_eq!(
            ok(b"STAT libevent 2.1.12-stable\r\n"),
            Line::Stat {
                name: b"libevent",
                value: b"2.1.12-stable"
            }
        );
        assert_eq!(
            ok(b"ERROR\r\n"),
            Line::Error {
                kind: ServerErrorKind::Error,
                message: b""
            }
        );
        assert_eq!(
            ok(b"SERVER_ERROR object too large for cache\r\n"),
            Line::Error {
                kind: ServerErrorKind::Server,
                message: b"object too large for cache"
            }
        );
    }

    #[test]
    fn meta_lines() {
        let Line::Meta { code, len, flags } = ok(b"VA 2 f5 c12 t-1 kmk s2 O123 W\r\n") else {
            panic!()
        };
        assert_eq!((code, len), (MetaCode::Value, Some(2)));
        assert_eq!(flags.client_flags, Some(5));
        assert_eq!(flags.cas, Some(12));
        assert_eq!(flags.ttl, Some(-1));
        assert_eq!(flags.key, Some(&b"mk"[..]));
        assert_eq!(flags.size, Some(2));
        assert_eq!(flags.opaque.as_deref(), Some(&b"123"[..]));
        assert!(flags.won && !flags.stale && !flags.win_taken);
        assert_eq!(
            ok(b"EN\r\n"),
            Line::Meta {
                code: MetaCode::Miss,
                len: None,
                flags: Flags::default()
            }
        );
        let Line::Meta { flags, .. } = ok(b"HD Qnew b X Z h1\r\n") else {
            panic!()
        };
        assert!(flags.base64_key && flags.stale && flags.win_taken);
        assert_eq!(flags.hit_before, Some(true));
        assert_eq!(ok(b"MN\r\n"), Line::Word(Word::MetaNoop));
        assert!(matches!(
            ok(b"ME k exp=-1 la=0\r\n"),
            Line::MetaDebug { key: b"k", .. }
        ));
    }

    #[test]
    fn rejects() {
        for bad in [
            &b"VALUE k x 1\r\n"[..],
            b"VALUE k 0 99999999999999999999999\r\n",
            b"VALUE k 4294967296 1\r\n",
            b"END \r\n",
            b"STORED\n",
            b"HD c12x\r\n",
            b"HD hx\r\n",
            b"WHAT\r\n",
            b"12a\r\n",
        ] {
            assert!(line(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
