//! Meta commands: typed flags and their encoders.
//!
//! memcached 1.6's meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`) take single-letter
//! flags, some with an argument: `mg user:1 v c t N30 O7`. Here each command has a
//! flags struct ([`MetaGet`], [`MetaSet`], [`MetaDelete`], [`MetaArith`]) with one field
//! per flag and a builder method of the same name, so a request is written as
//! `MetaGet::new().return_value().return_cas().vivify(Expiry::secs(30))` and a misspelt
//! flag is a compile error, not a `CLIENT_ERROR`.
//!
//! The names say what a flag does: `return_*` asks for something back (`return_ttl()` is
//! `t`), a name with an argument sets it (`ttl(x)` is `ms ... T<x>`), and the rest are
//! modifiers (`quiet()`, `base64_key()`, `invalidate()`).
//!
//! Each command's flags are one table, in its own module (`get`, `set`, `delete`,
//! `arith`; `me` and `mn` have no flags to speak of), from which the struct, the builder
//! methods, the encoding, the version gate, the parser of protocol spellings
//! ([`MetaGet::from_tokens`]) and the flag descriptions ([`MetaGet::FLAGS`]) are made;
//! the machinery is in the private module `flags`. **Adding a flag is one row in its
//! command's table** (plus, if the server answers it with a new returned flag, one row in
//! the table of [`ReturnedFlags`](super::ReturnedFlags)).
//!
//! The encoders check everything the server would refuse, before writing a byte: the key
//! (text keys as in the classic commands; binary keys, sent base64-encoded with `b`,
//! must encode to at most 250 bytes, which is what the server checks), TTLs that make no
//! sense negative, an opaque token over the server's 31 bytes, flags that need another
//! (`J` without `N`), and flags the server is too old for ([`Features`]). A refused
//! command leaves the buffer as it was.
//!
//! Flags are written in table order, the opaque token last; the server returns flags in
//! the order they were asked for, but the reply parser reads them into typed fields, so
//! order does not matter to this client.

mod arith;
mod delete;
mod flags;
mod get;
pub(crate) mod returned;
mod set;

use std::fmt;

use bytes::{BufMut, BytesMut};

pub use arith::{ArithMode, MetaArith, ma};
pub use delete::{MetaDelete, md};
pub use flags::FlagInfo;
pub use get::{MetaGet, mg};
pub use set::{MetaSet, SetMode, ms, ms_head};

use super::base64;
use super::encode::decimal;
use super::key::{MAX_KEY_LEN, check_key, is_key_byte};
use super::version::{Feature, Features};
use crate::error::InputError;

/// The longest binary key: its base64 form must fit the 250-byte key limit, which the
/// server applies to the key as sent (tested on 1.6.18: 186 bytes encode to 248, 187 to
/// 252 and are refused).
pub const MAX_BINARY_KEY_LEN: usize = MAX_KEY_LEN / 4 * 3;

/// The longest opaque token memcached 1.6.18 accepts (its protocol.txt says 32; the
/// server answers `CLIENT_ERROR opaque token too long` at 32).
pub const MAX_OPAQUE_LEN: usize = 31;

/// An opaque token (`O`): copied back in the reply, so pipelined replies can be matched
/// to requests. Up to 31 bytes with no space or control byte; numbers convert directly.
///
/// ```
/// use mcaside::proto::meta::Opaque;
/// assert_eq!(Opaque::from(42u32).as_bytes(), b"42");
/// assert!(Opaque::new(b"has space").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opaque {
    bytes: [u8; MAX_OPAQUE_LEN],
    len: u8,
}

impl Opaque {
    /// An opaque token from bytes.
    pub fn new(token: &[u8]) -> Result<Opaque, InputError> {
        if token.is_empty()
            || token.len() > MAX_OPAQUE_LEN
            || !token.iter().all(|&b| is_key_byte(b))
        {
            return Err(InputError::BadToken {
                what: "opaque token (1 to 31 bytes, no space or control byte)",
            });
        }
        let mut bytes = [0; MAX_OPAQUE_LEN];
        bytes[..token.len()].copy_from_slice(token);
        Ok(Opaque {
            bytes,
            len: token.len() as u8,
        })
    }

    /// The token's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl From<u64> for Opaque {
    fn from(n: u64) -> Self {
        // Unchecked, unlike `Opaque::new`: digits are always a valid token, and this
        // runs once per meta request.
        let mut digits = [0u8; 20];
        let digits = decimal(n, &mut digits);
        let mut bytes = [0; MAX_OPAQUE_LEN];
        bytes[..digits.len()].copy_from_slice(digits);
        Opaque {
            bytes,
            len: digits.len() as u8,
        }
    }
}

impl From<u32> for Opaque {
    fn from(n: u32) -> Self {
        Opaque::from(u64::from(n))
    }
}

/// The token's bytes, so that an `Option<Opaque>` reads as bytes with `as_deref`.
impl std::ops::Deref for Opaque {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({})", super::Escaped(self.as_bytes()))
    }
}

/// Checks a meta key: a text key as in the classic commands, or a binary key whose
/// base64 form fits the 250-byte limit.
pub fn check_meta_key(key: &[u8], base64: bool) -> Result<(), InputError> {
    if !base64 {
        return check_key(key);
    }
    if key.is_empty() {
        return Err(InputError::EmptyKey);
    }
    if key.len() > MAX_BINARY_KEY_LEN {
        return Err(InputError::BinaryKeyTooLong { len: key.len() });
    }
    Ok(())
}

/// `mn`: the no-op whose `MN` reply fences a pipeline of quiet commands.
pub fn mn(buf: &mut BytesMut) {
    buf.put_slice(b"mn\r\n");
}

/// `me <key> [b]`: the item's metadata, for debugging.
pub fn me(
    buf: &mut BytesMut,
    key: &[u8],
    base64_key: bool,
    server: &Features,
) -> Result<(), InputError> {
    check_command(key, base64_key, true, server)?;
    buf.put_slice(b"me ");
    put_key(buf, key, base64_key);
    if base64_key {
        buf.put_slice(b" b");
    }
    buf.put_slice(b"\r\n");
    Ok(())
}

/// What every meta command checks first: that the server has meta commands, that the key
/// can be sent, and that asking for it back (`k`, or `me`) cannot break the reply line.
fn check_command(
    key: &[u8],
    base64: bool,
    echo: bool,
    server: &Features,
) -> Result<(), InputError> {
    server.require(Feature::Meta)?;
    check_meta_key(key, base64)?;
    // A binary key whose raw bytes could break the reply line (see
    // [`Feature::SafeBinaryKeyEcho`]).
    if base64 && echo && !key.iter().all(|&b| is_key_byte(b)) {
        server.require(Feature::SafeBinaryKeyEcho)?;
    }
    Ok(())
}

/// Writes `<verb> <key>`, the key base64-encoded for `b`.
fn put_head(buf: &mut BytesMut, verb: &[u8; 3], key: &[u8], base64_key: bool) {
    buf.put_slice(verb);
    put_key(buf, key, base64_key);
}

fn put_key(buf: &mut BytesMut, key: &[u8], base64_key: bool) {
    if base64_key {
        base64::encode_into(key, buf);
    } else {
        buf.put_slice(key);
    }
}

/// Runs `write`, which appends a command to `buf`; if it fails, takes back what it wrote,
/// so that a refused command leaves the buffer as it was.
fn all_or_nothing(
    buf: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let start = buf.len();
    let r = write(buf);
    if r.is_err() {
        buf.truncate(start);
    }
    r
}

#[cfg(test)]
mod tests;
