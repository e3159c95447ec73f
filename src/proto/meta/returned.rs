//! The flags a meta reply can carry: one table, from which the typed struct
//! ([`ReturnedFlags`]), the grammar of each flag (for [`parse`](crate::proto::parse)'s
//! meta lines) and the list of what a reply carried ([`ReturnedFlags::fields`], which the
//! CLI prints) are made.
//!
//! A returned flag is not a request flag: `t` asks, `t<secs>` answers. A request flag that
//! makes the server return something new needs a row here as well as in its command's
//! table.

use bytes::Bytes;
use nom::Parser;
use nom::branch::alt;
use nom::bytes::streaming::{take, take_till};
use nom::character::streaming::{char, i64 as dec_i64, u32 as dec_u32, u64 as dec_u64};

use crate::proto::Escaped;
use crate::proto::meta::Opaque;
use crate::proto::parse::{Res, empty, ended, token};

/// One flag a reply carried, for printing: see [`ReturnedFlags::fields`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReturnedField {
    /// The flag's letter on the wire.
    pub letter: char,
    /// The name of its field in [`ReturnedFlags`] (`cas`, `won`...), except that the
    /// client flags `f` are `flags`.
    pub name: &'static str,
    /// Its argument as text (`k` and `O` escaped as [`Escaped`] prints bytes), or `None`
    /// for a flag without one (`b`, `W`, `X`, `Z`).
    pub value: Option<String>,
}

/// The type of a returned flag's field, owned (`ReturnedFlags`) or borrowing the line.
macro_rules! returned_type {
    (Switch, $b:ty) => { bool };
    (Hit, $b:ty) => { Option<bool> };
    (Token, $b:ty) => { Option<$b> };
    (Opaque, $b:ty) => { Option<Opaque> };
    ($num:ident, $b:ty) => { Option<$num> };
}

/// The parser of a returned flag's argument, after its letter.
macro_rules! returned_parser {
    (Switch) => {
        ended(empty)
    };
    (Hit) => {
        ended(alt((char('0'), char('1')))).map(|c| c == '1')
    };
    (Token) => {
        token
    };
    // Held inline, not as a slice of the line: a token is at most 31 bytes, and a copy
    // of it costs less than the reference count a slice would take and give back.
    // Longer than the client could have sent is malformed.
    (Opaque) => {
        token.map_res(Opaque::new)
    };
    (u64) => {
        ended(dec_u64)
    };
    (u32) => {
        ended(dec_u32)
    };
    (i64) => {
        ended(dec_i64)
    };
}

/// What a returned flag's field holds, as text, if it was returned.
macro_rules! returned_text {
    (Switch, $v:expr) => {
        $v.then_some(None)
    };
    (Hit, $v:expr) => {
        $v.map(|h| Some(h.to_string()))
    };
    (Token, $v:expr) => {
        $v.as_ref().map(|b| Some(Escaped(b).to_string()))
    };
    (Opaque, $v:expr) => {
        $v.as_ref().map(|o| Some(Escaped(o.as_bytes()).to_string()))
    };
    ($num:ident, $v:expr) => {
        $v.map(|n| Some(n.to_string()))
    };
}

/// Sets a returned flag's field in the borrowed flags from its parsed argument.
macro_rules! returned_set {
    (Switch, $field:expr, $v:expr) => {
        $field = true
    };
    ($kind:ident, $field:expr, $v:expr) => {
        $field = Some($v)
    };
}

macro_rules! returned_flags {
    (
        $(#[$attr:meta])*
        pub struct ReturnedFlags {
            $(
                $(#[doc = $doc:literal])*
                $letter:literal $field:ident: $kind:ident as $name:literal;
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct ReturnedFlags {
            $(
                $(#[doc = $doc])*
                pub $field: returned_type!($kind, Bytes),
            )*
        }

        impl ReturnedFlags {
            /// The flags this reply carried, in the table's order (`b c f h k l O s t W X
            /// Z`), each with its name and its argument as text: for printing a reply.
            ///
            /// ```
            /// let mut flags = mcaside::proto::ReturnedFlags::default();
            /// flags.cas = Some(7);
            /// flags.won = true;
            /// let shown: Vec<String> = flags
            ///     .fields()
            ///     .into_iter()
            ///     .map(|f| format!("{}={:?}", f.name, f.value))
            ///     .collect();
            /// assert_eq!(shown, ["cas=Some(\"7\")", "won=None"]);
            /// ```
            pub fn fields(&self) -> Vec<ReturnedField> {
                let mut out = Vec::new();
                $(
                    if let Some(value) = returned_text!($kind, self.$field) {
                        out.push(ReturnedField { letter: $letter, name: $name, value });
                    }
                )*
                out
            }
        }

        /// The returned flags of a meta line, typed, with `k` and `O` still borrowing
        /// from the line: the decoder turns this into [`ReturnedFlags`] once it owns the
        /// line as `Bytes`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Flags<'a> {
            $(
                $(#[doc = $doc])*
                pub $field: returned_type!($kind, &'a [u8]),
            )*
        }

        impl Flags<'_> {
            /// Copies out the typed flags, turning the borrowed `k` and `O` into `Bytes`
            /// with `to_bytes` (a zero-copy slice of the line in the decoder).
            pub fn into_returned(self, to_bytes: impl Fn(&[u8]) -> Bytes) -> ReturnedFlags {
                ReturnedFlags {
                    $( $field: returned_flags!(@own $kind, self.$field, to_bytes), )*
                }
            }
        }

        /// One returned flag: its letter, then an argument whose form the letter
        /// decides, recorded in `flags` as it is parsed (no value of its own to move:
        /// an opaque token is 32 bytes).
        pub(crate) fn returned_flag<'a>(input: &'a [u8], flags: &mut Flags<'a>) -> Res<'a, ()> {
            let (arg, letter) = take(1usize)(input)?;
            match letter[0] as char {
                $( $letter => returned_parser!($kind)
                    .map(|_v| returned_set!($kind, flags.$field, _v))
                    .parse(arg), )*
                // A flag this client does not know (a newer server's): skipped.
                _ => take_till(|c| c == b' ' || c == b'\r')
                    .map(|_| ())
                    .parse(arg),
            }
        }
    };
    (@own Token, $v:expr, $to_bytes:ident) => { $v.map(&$to_bytes) };
    (@own $kind:ident, $v:expr, $to_bytes:ident) => { $v };
}

returned_flags! {
    /// The flags a meta reply can carry, parsed into typed fields.
    ///
    /// Each field is set only when the server returned that flag, which it does when the
    /// request asked for it (`c` → `cas`, `t` → `ttl`, ...) or, for `W`, `X` and `Z`, when
    /// the lease state calls for it. Unknown flags are skipped so that a newer server does
    /// not break an older client.
    pub struct ReturnedFlags {
        /// `b`: the returned key (`k`) is base64 encoded.
        'b' base64_key: Switch as "base64_key";
        /// `c<u64>`: the item's cas unique.
        'c' cas: u64 as "cas";
        /// `f<u32>`: the client flags.
        'f' client_flags: u32 as "flags";
        /// `h<0|1>`: whether the item had been fetched before this request.
        'h' hit_before: Hit as "hit_before";
        /// `k<key>`: the item's key.
        'k' key: Token as "key";
        /// `l<secs>`: seconds since the item was last accessed.
        'l' last_access: u64 as "last_access";
        /// `O<token>`: the opaque token the request carried.
        'O' opaque: Opaque as "opaque";
        /// `s<bytes>`: the item's size.
        's' size: u64 as "size";
        /// `t<secs>`: remaining TTL; `-1` means the item never expires.
        't' ttl: i64 as "ttl";
        /// `W`: this client won the right to recache the item (vivify or recache).
        'W' won: Switch as "won";
        /// `X`: the item is stale (marked by `md ... I`).
        'X' stale: Switch as "stale";
        /// `Z`: another client already holds the win for this item.
        'Z' win_taken: Switch as "win_taken";
    }
}
