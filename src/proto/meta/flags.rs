//! The machinery that turns a table of meta flags into a flags struct.
//!
//! Each meta command's file declares its flags once, in wire order, with
//! [`meta_flags!`]: the letter, the field name, the kind of argument, its doc comment and,
//! for a flag newer than memcached 1.6.0, the first server version that has it. Everything
//! else follows from that one declaration:
//!
//! - the struct's public field and its builder method (same name, same doc);
//! - the encoder's piece of the command line, written in table order (so the table's order
//!   is the wire order, and the opaque token, last in every table, ends the line);
//! - the version gate: a flag the server is too old for is refused before anything is
//!   written, with an [`InputError::Unsupported`] that names the command, the flag and
//!   the version;
//! - the parser of flags as the protocol spells them (`v c N30`), which the CLI uses;
//! - the description in the struct's `FLAGS` table ([`FlagInfo`]), which the CLI's help
//!   prints.
//!
//! What a flag means *together with another* (`ma J` needs `N`, `md T` needs `I`) is the
//! command's own rule, written by hand next to its encoder.
//!
//! The kinds of argument ([`Switch`], [`Number`], [`Exptime`], [`Ttl`], [`Recache`],
//! [`Token`], [`Mode`]) each know how to write and parse themselves ([`Kind`]).

use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use bytes::{BufMut, BytesMut};

use super::Opaque;
use crate::error::InputError;
use crate::proto::encode::{put_i64, put_u64};
use crate::proto::{Expiry, Version};

/// What a meta flag is, as declared in its command's table: for tools that list, print or
/// explain flags (the CLI's help is written from these).
///
/// ```
/// use mcaside::proto::meta::MetaGet;
/// let c = MetaGet::FLAGS.iter().find(|f| f.letter == 'C').unwrap();
/// assert_eq!(c.name, "compare_cas");
/// assert_eq!(c.argument, Some("cas"));
/// assert_eq!(c.since.unwrap().to_string(), "1.6.27");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlagInfo {
    /// The flag's letter on the wire.
    pub letter: char,
    /// The name of its field and builder method.
    pub name: &'static str,
    /// What its argument is (`"cas"`, `"ttl"`, ...), or `None` for a flag without one.
    pub argument: Option<&'static str>,
    /// Its doc comment.
    pub doc: &'static str,
    /// The first memcached version with it, for flags newer than the meta commands.
    pub since: Option<Version>,
}

impl FlagInfo {
    /// The doc comment's first paragraph on one line, without the leading `` `x`: ``.
    ///
    /// ```
    /// use mcaside::proto::meta::MetaGet;
    /// let v = MetaGet::FLAGS.iter().find(|f| f.letter == 'v').unwrap();
    /// assert_eq!(v.summary(), "return the value.");
    /// ```
    pub fn summary(&self) -> String {
        let first: Vec<&str> = self
            .doc
            .lines()
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect();
        let text = first.join(" ");
        match text.split_once("`: ") {
            Some((_, rest)) if text.starts_with('`') => rest.to_owned(),
            _ => text,
        }
    }
}

/// How one kind of flag argument is written and parsed. `Field` is the type of the
/// flag's field in the flags struct.
pub(crate) trait Kind {
    type Field: Copy;
    /// Whether the flag is to be sent.
    fn is_set(field: &Self::Field) -> bool;
    /// Writes ` <letter><argument>` when the flag is set.
    fn put(buf: &mut BytesMut, letter: u8, field: &Self::Field) -> Result<(), InputError>;
    /// The field for the argument written after the letter (as the protocol spells it),
    /// or why it is not one.
    fn parse(arg: &str) -> Result<Self::Field, &'static str>;
}

/// A flag's letter as the byte it is on the wire; a letter that is not ASCII fails to
/// compile (the tables use it in constants).
pub(crate) const fn ascii(letter: char) -> u8 {
    assert!(letter.is_ascii(), "a meta flag is an ASCII letter");
    letter as u8
}

fn put_letter(buf: &mut BytesMut, letter: u8) {
    buf.put_u8(b' ');
    buf.put_u8(letter);
}

/// A flag without an argument (`v`, `q`, `I`): a `bool`.
pub(crate) struct Switch;

impl Kind for Switch {
    type Field = bool;
    #[inline]
    fn is_set(field: &bool) -> bool {
        *field
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &bool) -> Result<(), InputError> {
        if *field {
            put_letter(buf, letter);
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<bool, &'static str> {
        if arg.is_empty() {
            Ok(true)
        } else {
            Err("takes no argument")
        }
    }
}

/// A flag with a decimal argument (`C<cas>`, `F<flags>`): an `Option<T>`.
pub(crate) struct Number<T>(PhantomData<T>);

impl<T: Copy + Into<u64> + FromStr> Kind for Number<T> {
    type Field = Option<T>;
    #[inline]
    fn is_set(field: &Option<T>) -> bool {
        field.is_some()
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &Option<T>) -> Result<(), InputError> {
        if let Some(n) = *field {
            put_letter(buf, letter);
            put_u64(buf, n.into());
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<Option<T>, &'static str> {
        arg.parse().map(Some).map_err(|_| "needs a number")
    }
}

/// A TTL as an exptime, which may be negative ("already expired"): `T` of `mg`, `ms`,
/// `ma`. Over 30 days it is sent as an absolute time (see [`Expiry`]).
pub(crate) struct Exptime;

impl Kind for Exptime {
    type Field = Option<Expiry>;
    #[inline]
    fn is_set(field: &Option<Expiry>) -> bool {
        field.is_some()
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &Option<Expiry>) -> Result<(), InputError> {
        if let Some(e) = *field {
            let exptime = e.to_exptime()?;
            put_letter(buf, letter);
            put_i64(buf, exptime);
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<Option<Expiry>, &'static str> {
        parse_expiry(arg).map(Some)
    }
}

/// A TTL that makes no sense negative: `N` (vivify, auto-create) and `md`'s `T`.
pub(crate) struct Ttl;

impl Kind for Ttl {
    type Field = Option<Expiry>;
    #[inline]
    fn is_set(field: &Option<Expiry>) -> bool {
        field.is_some()
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &Option<Expiry>) -> Result<(), InputError> {
        if let Some(e) = *field {
            let ttl = e.to_ttl()?;
            put_letter(buf, letter);
            put_u64(buf, u64::from(ttl));
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<Option<Expiry>, &'static str> {
        parse_expiry(arg).map(Some)
    }
}

/// As the protocol spells a TTL: seconds, `0` for never, negative for already expired.
fn parse_expiry(arg: &str) -> Result<Expiry, &'static str> {
    let n: i64 = arg.parse().map_err(|_| "needs a number of seconds")?;
    Ok(match n {
        0 => Expiry::Never,
        n if n < 0 => Expiry::Expired,
        n => Expiry::secs(n.unsigned_abs()),
    })
}

/// A threshold in whole seconds, rounded up (`R`). The server reads it as a 32-bit
/// number.
pub(crate) struct Recache;

impl Kind for Recache {
    type Field = Option<Duration>;
    #[inline]
    fn is_set(field: &Option<Duration>) -> bool {
        field.is_some()
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &Option<Duration>) -> Result<(), InputError> {
        if let Some(d) = *field {
            let secs = crate::proto::expiry::secs_up(d)?;
            if secs > u64::from(u32::MAX >> 1) {
                return Err(InputError::ExpiryOutOfRange);
            }
            put_letter(buf, letter);
            put_u64(buf, secs);
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<Option<Duration>, &'static str> {
        arg.parse()
            .map(|s| Some(Duration::from_secs(s)))
            .map_err(|_| "needs a number of seconds")
    }
}

/// The opaque token (`O`), last on every command line: a connection's client puts its own
/// there when the caller sets none.
pub(crate) struct Token;

impl Kind for Token {
    type Field = Option<Opaque>;
    #[inline]
    fn is_set(field: &Option<Opaque>) -> bool {
        field.is_some()
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &Option<Opaque>) -> Result<(), InputError> {
        if let Some(o) = field {
            put_letter(buf, letter);
            buf.put_slice(o.as_bytes());
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<Option<Opaque>, &'static str> {
        Opaque::new(arg.as_bytes())
            .map(Some)
            .map_err(|_| "needs a token of 1 to 31 bytes, no space or control byte")
    }
}

/// A command's mode (`M<letter>`), written only when it is not the default.
pub(crate) trait ModeLetter: Copy + Default + PartialEq {
    /// The letter on the wire.
    fn letter(self) -> u8;
    /// The mode for a letter, as the protocol and the CLI accept it.
    fn from_letter(arg: &str) -> Option<Self>;
    /// What `from_letter` accepts, for its error.
    const CHOICES: &'static str;
}

/// The mode flag (`M`) of `ms` and `ma`.
pub(crate) struct Mode<M>(PhantomData<M>);

impl<M: ModeLetter> Kind for Mode<M> {
    type Field = M;
    #[inline]
    fn is_set(field: &M) -> bool {
        *field != M::default()
    }
    #[inline]
    fn put(buf: &mut BytesMut, letter: u8, field: &M) -> Result<(), InputError> {
        if Self::is_set(field) {
            put_letter(buf, letter);
            buf.put_u8(field.letter());
        }
        Ok(())
    }
    fn parse(arg: &str) -> Result<M, &'static str> {
        M::from_letter(arg).ok_or(M::CHOICES)
    }
}

/// The type of a flag's field, from its kind.
macro_rules! field_type {
    (Switch) => { bool };
    (Number<$t:ty>) => { Option<$t> };
    (Exptime) => { Option<$crate::proto::Expiry> };
    (Ttl) => { Option<$crate::proto::Expiry> };
    (Recache) => { Option<std::time::Duration> };
    (Token) => { Option<$crate::proto::meta::Opaque> };
    (Mode<$t:ty>) => { $t };
}

/// A flag's builder method, from its kind.
macro_rules! builder {
    ([$(#[$doc:meta])*] $field:ident Switch) => {
        $(#[$doc])*
        pub fn $field(mut self) -> Self {
            self.$field = true;
            self
        }
    };
    ([$(#[$doc:meta])*] $field:ident Number<$t:ty>) => {
        $(#[$doc])*
        pub fn $field(mut self, value: $t) -> Self {
            self.$field = Some(value);
            self
        }
    };
    ([$(#[$doc:meta])*] $field:ident Exptime) => {
        $(#[$doc])*
        pub fn $field(mut self, ttl: impl Into<$crate::proto::Expiry>) -> Self {
            self.$field = Some(ttl.into());
            self
        }
    };
    ([$(#[$doc:meta])*] $field:ident Ttl) => {
        $(#[$doc])*
        pub fn $field(mut self, ttl: impl Into<$crate::proto::Expiry>) -> Self {
            self.$field = Some(ttl.into());
            self
        }
    };
    ([$(#[$doc:meta])*] $field:ident Recache) => {
        $(#[$doc])*
        pub fn $field(mut self, threshold: std::time::Duration) -> Self {
            self.$field = Some(threshold);
            self
        }
    };
    ([$(#[$doc:meta])*] $field:ident Token) => {
        $(#[$doc])*
        pub fn $field(mut self, token: impl Into<$crate::proto::meta::Opaque>) -> Self {
            self.$field = Some(token.into());
            self
        }
    };
    ([$(#[$doc:meta])*] $field:ident Mode<$t:ty>) => {
        $(#[$doc])*
        pub fn $field(mut self, mode: $t) -> Self {
            self.$field = mode;
            self
        }
    };
}

/// Declares a meta command's flags struct from its table of flags, in wire order.
///
/// ```text
/// meta_flags! {
///     /// The struct's doc.
///     pub struct MetaGet("mg") {
///         /// `v`: return the value.
///         'v' return_value: Switch;
///         /// `C`: skip the value if the item's cas is this one.
///         'C' compare_cas: Number<u64> as "cas", since (1, 6, 27);
///         ...
///     }
/// }
/// ```
///
/// A row is: the letter, the field (and builder) name, the kind of argument (see the
/// module docs), for a flag with an argument what to call it (`as "cas"`), and for a flag
/// newer than 1.6.0 the first version that has it.
macro_rules! meta_flags {
    (
        $(#[$attr:meta])*
        pub struct $name:ident($cmd:literal) {
            $(
                $(#[doc = $doc:literal])*
                $letter:literal $field:ident: $kind:ident $(<$t:ty>)?
                    $(as $arg:literal)? $(, since ($a:literal, $b:literal, $c:literal))?;
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $crate::proto::meta::flags::field_type!($kind $(<$t>)?),
            )*
        }

        impl $name {
            /// No flags set.
            pub fn new() -> Self {
                Self::default()
            }

            $(
                $crate::proto::meta::flags::builder!([$(#[doc = $doc])*] $field $kind $(<$t>)?);
            )*

            #[doc = concat!("Every flag `", $cmd, "` takes, in the order they are written.")]
            pub const FLAGS: &'static [$crate::proto::meta::FlagInfo] = &[
                $(
                    $crate::proto::meta::FlagInfo {
                        letter: $letter,
                        name: stringify!($field),
                        argument: $crate::proto::meta::flags::meta_flags!(@opt $($arg)?),
                        doc: concat!($($doc, "\n"),*),
                        since: $crate::proto::meta::flags::meta_flags!(
                            @opt $($crate::proto::Version($a, $b, $c))?
                        ),
                    },
                )*
            ];

            /// Parses flags as the protocol spells them (`v`, `c`, `N30`, `O7`, `MS`...):
            /// a letter, then its argument. An unknown flag, or a bad or missing argument,
            /// is an [`InputError::BadFlag`](crate::InputError::BadFlag).
            ///
            /// ```
            #[doc = concat!("use mcaside::proto::meta::", stringify!($name), ";")]
            #[doc = concat!("assert!(", stringify!($name), "::from_tokens([\"y?\"]).is_err());")]
            /// ```
            pub fn from_tokens<'a>(
                tokens: impl IntoIterator<Item = &'a str>,
            ) -> Result<Self, $crate::InputError> {
                use $crate::proto::meta::flags::Kind as _;
                let mut flags = Self::default();
                for token in tokens {
                    let bad = |reason: &'static str| $crate::InputError::BadFlag {
                        command: $cmd,
                        token: token.to_owned(),
                        reason,
                    };
                    let mut chars = token.chars();
                    let letter = chars.next().ok_or_else(|| bad("empty flag"))?;
                    let arg = chars.as_str();
                    match letter {
                        $(
                            $letter => {
                                flags.$field = <$crate::proto::meta::flags::$kind $(<$t>)?>::parse(arg)
                                    .map_err(bad)?;
                            }
                        )*
                        _ => return Err(bad("unknown flag")),
                    }
                }
                Ok(flags)
            }

            /// Refuses flags the server is too old for.
            fn check_versions(
                &self,
                server: &$crate::proto::Features,
            ) -> Result<(), $crate::InputError> {
                use $crate::proto::meta::flags::Kind as _;
                $(
                    $crate::proto::meta::flags::meta_flags!(
                        @gate server, &self.$field, $cmd, $letter, [$kind $(<$t>)?]
                        $(($a, $b, $c))?
                    );
                )*
                Ok(())
            }

            /// Writes every flag that is set, in table order: ` <letter><argument>`...
            #[inline]
            fn put_flags(&self, buf: &mut bytes::BytesMut) -> Result<(), $crate::InputError> {
                use $crate::proto::meta::flags::Kind as _;
                $(
                    <$crate::proto::meta::flags::$kind $(<$t>)?>::put(
                        buf,
                        {
                            const LETTER: u8 = $crate::proto::meta::flags::ascii($letter);
                            LETTER
                        },
                        &self.$field,
                    )?;
                )*
                Ok(())
            }
        }
    };
    (@gate $server:ident, $value:expr, $cmd:literal, $letter:literal, [$($kind:tt)*]) => {};
    (
        @gate $server:ident, $value:expr, $cmd:literal, $letter:literal, [$($kind:tt)*]
        ($a:literal, $b:literal, $c:literal)
    ) => {
        if <$crate::proto::meta::flags::$($kind)*>::is_set($value) {
            $server.require_version(
                $crate::proto::Version($a, $b, $c),
                concat!(
                    "meta flag ", $cmd, " ", $letter,
                    " (memcached ", $a, ".", $b, ".", $c, "+)"
                ),
            )?;
        }
    };
    (@opt) => { None };
    (@opt $x:expr) => { Some($x) };
}

pub(crate) use {builder, field_type, meta_flags};
