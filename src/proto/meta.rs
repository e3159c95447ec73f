//! Meta commands: typed flags and their encoders.
//!
//! memcached 1.6's meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`) take single-letter
//! flags, some with an argument: `mg user:1 v c t N30 O7`. Here each command has a
//! flags struct ([`MetaGet`], [`MetaSet`], [`MetaDelete`], [`MetaArith`]) with one field
//! per flag and builder methods, so a request is written as
//! `MetaGet::new().value().cas().vivify(Expiry::secs(30))` and a misspelt flag is a
//! compile error, not a `CLIENT_ERROR`.
//!
//! The encoders check everything the server would refuse, before writing a byte: the key
//! (text keys as in the classic commands; binary keys, sent base64-encoded with `b`,
//! must encode to at most 250 bytes, which is what the server checks), TTLs that make no
//! sense negative, an opaque token over the server's 31 bytes, flags that need another
//! (`J` without `N`), and flags the server is too old for ([`Features`]).
//!
//! Flags are written in a fixed order; the server returns flags in the order they were
//! asked for, but the reply parser reads them into typed fields, so order does not
//! matter to this client.

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, BytesMut};

use super::base64;
use super::encode::{decimal, put_i64, put_u64};
use super::key::{MAX_KEY_LEN, check_key, is_key_byte};
use super::version::{Feature, Features};
use super::{Expiry, Limits};
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
        // On the stack, not in a buffer: this runs once per request of a batch.
        let mut digits = [0u8; 20];
        Opaque::new(decimal(n, &mut digits)).expect("a number is a valid token")
    }
}

impl From<u32> for Opaque {
    fn from(n: u32) -> Self {
        Opaque::from(u64::from(n))
    }
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({})", super::Escaped(self.as_bytes()))
    }
}

/// Flags for `mg` (meta get).
///
/// ```
/// use bytes::BytesMut;
/// use mcaside::proto::{meta::{self, MetaGet}, Expiry, Features};
/// let mut buf = BytesMut::new();
/// let flags = MetaGet::new().value().client_flags().cas().vivify(Expiry::secs(30));
/// meta::mg(&mut buf, b"user:1", &flags, &Features::ALL).unwrap();
/// assert_eq!(&buf[..], b"mg user:1 c f v N30\r\n");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaGet {
    /// `b`: the key is binary; send it base64-encoded.
    pub base64_key: bool,
    /// `c`: return the cas unique.
    pub return_cas: bool,
    /// `f`: return the client flags.
    pub return_flags: bool,
    /// `h`: return whether the item was fetched before.
    pub return_hit: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `l`: return seconds since last access.
    pub return_last_access: bool,
    /// `O`: an opaque token to copy back.
    pub opaque: Option<Opaque>,
    /// `q`: quiet; the server says nothing on a miss (`EN`).
    pub quiet: bool,
    /// `s`: return the item size.
    pub return_size: bool,
    /// `t`: return the remaining TTL.
    pub return_ttl: bool,
    /// `u`: do not bump the item in the LRU.
    pub no_bump: bool,
    /// `v`: return the value.
    pub return_value: bool,
    /// `C`: skip the value if the item's cas is this one (1.6.27+).
    pub compare_cas: Option<u64>,
    /// `E`: the cas value to give the item if this request modifies it (1.6.27+).
    pub new_cas: Option<u64>,
    /// `N`: on a miss, create an empty item with this TTL and win the right to fill it.
    pub vivify: Option<Expiry>,
    /// `R`: win the right to recache if the remaining TTL is below this.
    pub recache: Option<Duration>,
    /// `T`: set a new TTL on a hit.
    pub touch: Option<Expiry>,
}

impl MetaGet {
    /// No flags: the reply says only hit (`HD`) or miss (`EN`).
    pub fn new() -> Self {
        Self::default()
    }
    /// `v`: return the value.
    pub fn value(mut self) -> Self {
        self.return_value = true;
        self
    }
    /// `c`: return the cas unique.
    pub fn cas(mut self) -> Self {
        self.return_cas = true;
        self
    }
    /// `f`: return the client flags.
    pub fn client_flags(mut self) -> Self {
        self.return_flags = true;
        self
    }
    /// `h`: return whether the item was fetched before.
    pub fn hit_before(mut self) -> Self {
        self.return_hit = true;
        self
    }
    /// `k`: return the key.
    pub fn key(mut self) -> Self {
        self.return_key = true;
        self
    }
    /// `l`: return seconds since last access.
    pub fn last_access(mut self) -> Self {
        self.return_last_access = true;
        self
    }
    /// `s`: return the item size.
    pub fn size(mut self) -> Self {
        self.return_size = true;
        self
    }
    /// `t`: return the remaining TTL (`-1`: none).
    pub fn ttl(mut self) -> Self {
        self.return_ttl = true;
        self
    }
    /// `u`: do not bump the item in the LRU.
    pub fn no_bump(mut self) -> Self {
        self.no_bump = true;
        self
    }
    /// `q`: quiet mode (no `EN` on a miss).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
    /// `b`: the key is binary.
    pub fn base64_key(mut self) -> Self {
        self.base64_key = true;
        self
    }
    /// `O`: an opaque token.
    pub fn opaque(mut self, o: impl Into<Opaque>) -> Self {
        self.opaque = Some(o.into());
        self
    }
    /// `N`: vivify on miss with this TTL (a lease: the first caller gets `W`, the rest `Z`).
    pub fn vivify(mut self, ttl: impl Into<Expiry>) -> Self {
        self.vivify = Some(ttl.into());
        self
    }
    /// `R`: win a recache when the remaining TTL drops below `threshold`.
    pub fn recache(mut self, threshold: Duration) -> Self {
        self.recache = Some(threshold);
        self
    }
    /// `T`: set a new TTL on a hit.
    pub fn touch(mut self, ttl: impl Into<Expiry>) -> Self {
        self.touch = Some(ttl.into());
        self
    }
    /// `C`: skip the value if the cas matches (1.6.27+).
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }
    /// `E`: the cas value to set if modified (1.6.27+).
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }
}

/// The mode of an `ms`: which classic storage command it acts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SetMode {
    /// `MS`: store unconditionally (the default).
    #[default]
    Set,
    /// `ME`: store only if absent ("add"; `E` for "exclusive").
    Add,
    /// `MR`: store only if present.
    Replace,
    /// `MA`: append to the existing value.
    Append,
    /// `MP`: prepend to the existing value.
    Prepend,
}

impl SetMode {
    fn letter(self) -> u8 {
        match self {
            SetMode::Set => b'S',
            SetMode::Add => b'E',
            SetMode::Replace => b'R',
            SetMode::Append => b'A',
            SetMode::Prepend => b'P',
        }
    }
}

/// Flags for `ms` (meta set).
///
/// ```
/// use bytes::BytesMut;
/// use mcaside::proto::{meta::{self, MetaSet, SetMode}, Expiry, Features, Limits};
/// let mut buf = BytesMut::new();
/// let flags = MetaSet::new().ttl(Expiry::secs(90)).client_flags(1).compare_cas(7).mode(SetMode::Replace);
/// meta::ms(&mut buf, b"foo", b"hi", &flags, &Limits::default(), &Features::ALL).unwrap();
/// assert_eq!(&buf[..], b"ms foo 2 C7 F1 T90 MR\r\nhi\r\n");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaSet {
    /// `b`: the key is binary.
    pub base64_key: bool,
    /// `c`: return the cas unique of the stored item.
    pub return_cas: bool,
    /// `C`: store only if the item's cas is this one.
    pub compare_cas: Option<u64>,
    /// `E`: give the stored item this cas value (1.6.27+).
    pub new_cas: Option<u64>,
    /// `F`: client flags (0 if absent).
    pub client_flags: Option<u32>,
    /// `I`: with `C`, accept a cas *older* than the item's and store the item as stale.
    pub invalidate: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `O`: an opaque token.
    pub opaque: Option<Opaque>,
    /// `q`: quiet; the server says nothing on success (`HD`).
    pub quiet: bool,
    /// `s`: return the stored size (1.6.20+).
    pub return_size: bool,
    /// `T`: the TTL (none if absent).
    pub ttl: Option<Expiry>,
    /// `M`: the mode (set, add, replace, append, prepend).
    pub mode: SetMode,
    /// `N`: in append/prepend mode, create the item on a miss with this TTL (1.6.27+).
    pub vivify: Option<Expiry>,
}

impl MetaSet {
    /// Mode set, no TTL, flags 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// `T`: the TTL.
    pub fn ttl(mut self, ttl: impl Into<Expiry>) -> Self {
        self.ttl = Some(ttl.into());
        self
    }
    /// `F`: client flags.
    pub fn client_flags(mut self, flags: u32) -> Self {
        self.client_flags = Some(flags);
        self
    }
    /// `C`: compare-and-swap against this cas.
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }
    /// `E`: set the new item's cas (1.6.27+).
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }
    /// `c`: return the new cas.
    pub fn cas(mut self) -> Self {
        self.return_cas = true;
        self
    }
    /// `I`: invalidate mode (see the field).
    pub fn invalidate(mut self) -> Self {
        self.invalidate = true;
        self
    }
    /// `k`: return the key.
    pub fn key(mut self) -> Self {
        self.return_key = true;
        self
    }
    /// `s`: return the size (1.6.20+).
    pub fn size(mut self) -> Self {
        self.return_size = true;
        self
    }
    /// `q`: quiet mode.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
    /// `b`: the key is binary.
    pub fn base64_key(mut self) -> Self {
        self.base64_key = true;
        self
    }
    /// `O`: an opaque token.
    pub fn opaque(mut self, o: impl Into<Opaque>) -> Self {
        self.opaque = Some(o.into());
        self
    }
    /// `M`: the mode.
    pub fn mode(mut self, mode: SetMode) -> Self {
        self.mode = mode;
        self
    }
    /// `N`: vivify in append mode (1.6.27+).
    pub fn vivify(mut self, ttl: impl Into<Expiry>) -> Self {
        self.vivify = Some(ttl.into());
        self
    }
}

/// Flags for `md` (meta delete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaDelete {
    /// `b`: the key is binary.
    pub base64_key: bool,
    /// `C`: delete only if the item's cas is this one.
    pub compare_cas: Option<u64>,
    /// `E`: the cas value to give an invalidated item (1.6.27+).
    pub new_cas: Option<u64>,
    /// `I`: invalidate: mark the item stale (and bump its cas) instead of removing it.
    pub invalidate: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `O`: an opaque token.
    pub opaque: Option<Opaque>,
    /// `q`: quiet; the server says nothing on success.
    pub quiet: bool,
    /// `T`: with `I`, the TTL the stale item keeps.
    pub ttl: Option<Expiry>,
    /// `x`: remove the value but keep the item (1.6.27+).
    pub remove_value: bool,
}

impl MetaDelete {
    /// A plain delete.
    pub fn new() -> Self {
        Self::default()
    }
    /// `I`: mark stale instead of deleting.
    pub fn invalidate(mut self) -> Self {
        self.invalidate = true;
        self
    }
    /// `T`: the stale item's TTL (only with `I`).
    pub fn ttl(mut self, ttl: impl Into<Expiry>) -> Self {
        self.ttl = Some(ttl.into());
        self
    }
    /// `C`: only if the cas matches.
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }
    /// `E`: new cas for an invalidated item (1.6.27+).
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }
    /// `k`: return the key.
    pub fn key(mut self) -> Self {
        self.return_key = true;
        self
    }
    /// `q`: quiet mode.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
    /// `b`: the key is binary.
    pub fn base64_key(mut self) -> Self {
        self.base64_key = true;
        self
    }
    /// `O`: an opaque token.
    pub fn opaque(mut self, o: impl Into<Opaque>) -> Self {
        self.opaque = Some(o.into());
        self
    }
    /// `x`: remove only the value (1.6.27+).
    pub fn remove_value(mut self) -> Self {
        self.remove_value = true;
        self
    }
}

/// The direction of an `ma`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArithMode {
    /// `MI`: add, wrapping at 2^64 (the default).
    #[default]
    Incr,
    /// `MD`: subtract, stopping at 0.
    Decr,
}

/// Flags for `ma` (meta arithmetic).
///
/// ```
/// use bytes::BytesMut;
/// use mcaside::proto::{meta::{self, MetaArith}, Expiry, Features};
/// let mut buf = BytesMut::new();
/// let flags = MetaArith::new().value().auto_create(Expiry::secs(60)).initial(10).delta(5);
/// meta::ma(&mut buf, b"hits", &flags, &Features::ALL).unwrap();
/// assert_eq!(&buf[..], b"ma hits v N60 J10 D5\r\n");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaArith {
    /// `b`: the key is binary.
    pub base64_key: bool,
    /// `C`: only if the item's cas is this one.
    pub compare_cas: Option<u64>,
    /// `E`: the cas value to give the item (1.6.27+).
    pub new_cas: Option<u64>,
    /// `N`: on a miss, create the item with this TTL.
    pub auto_create: Option<Expiry>,
    /// `J`: the value an auto-created item starts from (needs `N`; default 0).
    pub initial: Option<u64>,
    /// `D`: the delta (default 1).
    pub delta: Option<u64>,
    /// `T`: set this TTL on success.
    pub touch: Option<Expiry>,
    /// `M`: incr or decr.
    pub mode: ArithMode,
    /// `q`: quiet mode.
    pub quiet: bool,
    /// `O`: an opaque token.
    pub opaque: Option<Opaque>,
    /// `t`: return the remaining TTL.
    pub return_ttl: bool,
    /// `c`: return the new cas.
    pub return_cas: bool,
    /// `v`: return the new value.
    pub return_value: bool,
    /// `k`: return the key.
    pub return_key: bool,
}

impl MetaArith {
    /// Increment by 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// `MD`: decrement.
    pub fn decr(mut self) -> Self {
        self.mode = ArithMode::Decr;
        self
    }
    /// `D`: the delta.
    pub fn delta(mut self, d: u64) -> Self {
        self.delta = Some(d);
        self
    }
    /// `N`: create on a miss with this TTL.
    pub fn auto_create(mut self, ttl: impl Into<Expiry>) -> Self {
        self.auto_create = Some(ttl.into());
        self
    }
    /// `J`: the initial value for auto-create.
    pub fn initial(mut self, v: u64) -> Self {
        self.initial = Some(v);
        self
    }
    /// `T`: the TTL to set on success.
    pub fn touch(mut self, ttl: impl Into<Expiry>) -> Self {
        self.touch = Some(ttl.into());
        self
    }
    /// `C`: only if the cas matches.
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }
    /// `E`: the cas to set (1.6.27+).
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }
    /// `v`: return the new value.
    pub fn value(mut self) -> Self {
        self.return_value = true;
        self
    }
    /// `t`: return the TTL.
    pub fn ttl(mut self) -> Self {
        self.return_ttl = true;
        self
    }
    /// `c`: return the cas.
    pub fn cas(mut self) -> Self {
        self.return_cas = true;
        self
    }
    /// `k`: return the key.
    pub fn key(mut self) -> Self {
        self.return_key = true;
        self
    }
    /// `q`: quiet mode.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
    /// `b`: the key is binary.
    pub fn base64_key(mut self) -> Self {
        self.base64_key = true;
        self
    }
    /// `O`: an opaque token.
    pub fn opaque(mut self, o: impl Into<Opaque>) -> Self {
        self.opaque = Some(o.into());
        self
    }
}

/// Refuses to ask for a binary key back when its raw bytes could break the reply line
/// (see [`Feature::SafeBinaryKeyEcho`]).
fn check_key_echo(
    key: &[u8],
    base64: bool,
    echo: bool,
    server: &Features,
) -> Result<(), InputError> {
    if base64 && echo && !key.iter().all(|&b| is_key_byte(b)) {
        server.require(Feature::SafeBinaryKeyEcho)?;
    }
    Ok(())
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

/// `mg <key> <flags>*`.
pub fn mg(
    buf: &mut BytesMut,
    key: &[u8],
    f: &MetaGet,
    server: &Features,
) -> Result<(), InputError> {
    server.require(Feature::Meta)?;
    check_meta_key(key, f.base64_key)?;
    check_key_echo(key, f.base64_key, f.return_key, server)?;
    if f.compare_cas.is_some() {
        server.require(Feature::MetaGetCompareCas)?;
    }
    if f.new_cas.is_some() {
        server.require(Feature::ExplicitCas)?;
    }
    let vivify = f.vivify.map(Expiry::to_ttl).transpose()?;
    let touch = f.touch.map(Expiry::to_exptime).transpose()?;
    let recache = f.recache.map(recache_secs).transpose()?;
    buf.put_slice(b"mg ");
    put_key(buf, key, f.base64_key);
    for (set, c) in [
        (f.base64_key, b'b'),
        (f.return_cas, b'c'),
        (f.return_flags, b'f'),
        (f.return_hit, b'h'),
        (f.return_key, b'k'),
        (f.return_last_access, b'l'),
        (f.quiet, b'q'),
        (f.return_size, b's'),
        (f.return_ttl, b't'),
        (f.no_bump, b'u'),
        (f.return_value, b'v'),
    ] {
        flag(buf, set, c);
    }
    flag_u64(buf, b'C', f.compare_cas);
    flag_u64(buf, b'E', f.new_cas);
    flag_u64(buf, b'N', vivify.map(u64::from));
    flag_u64(buf, b'R', recache);
    flag_i64(buf, b'T', touch);
    flag_opaque(buf, f.opaque);
    buf.put_slice(b"\r\n");
    Ok(())
}

/// `ms <key> <datalen> <flags>*` and the data block.
pub fn ms(
    buf: &mut BytesMut,
    key: &[u8],
    value: &[u8],
    f: &MetaSet,
    limits: &Limits,
    server: &Features,
) -> Result<(), InputError> {
    server.require(Feature::Meta)?;
    check_meta_key(key, f.base64_key)?;
    check_key_echo(key, f.base64_key, f.return_key, server)?;
    if value.len() > limits.max_value {
        return Err(InputError::ValueTooLarge {
            len: value.len(),
            max: limits.max_value,
        });
    }
    if f.new_cas.is_some() {
        server.require(Feature::ExplicitCas)?;
    }
    if f.return_size {
        server.require(Feature::MetaSetSize)?;
    }
    if f.vivify.is_some() {
        server.require(Feature::MetaSetVivify)?;
        if !matches!(f.mode, SetMode::Append | SetMode::Prepend) {
            return Err(InputError::BadToken {
                what: "ms N (only in append or prepend mode)",
            });
        }
    }
    let ttl = f.ttl.map(Expiry::to_exptime).transpose()?;
    let vivify = f.vivify.map(Expiry::to_ttl).transpose()?;
    buf.reserve(key.len() + value.len() + 96);
    buf.put_slice(b"ms ");
    put_key(buf, key, f.base64_key);
    buf.put_u8(b' ');
    put_u64(buf, value.len() as u64);
    for (set, c) in [
        (f.base64_key, b'b'),
        (f.return_cas, b'c'),
        (f.invalidate, b'I'),
        (f.return_key, b'k'),
        (f.quiet, b'q'),
        (f.return_size, b's'),
    ] {
        flag(buf, set, c);
    }
    flag_u64(buf, b'C', f.compare_cas);
    flag_u64(buf, b'E', f.new_cas);
    flag_u64(buf, b'F', f.client_flags.map(u64::from));
    flag_i64(buf, b'T', ttl);
    flag_u64(buf, b'N', vivify.map(u64::from));
    if f.mode != SetMode::Set {
        buf.put_slice(b" M");
        buf.put_u8(f.mode.letter());
    }
    flag_opaque(buf, f.opaque);
    buf.put_slice(b"\r\n");
    buf.put_slice(value);
    buf.put_slice(b"\r\n");
    Ok(())
}

/// `md <key> <flags>*`.
pub fn md(
    buf: &mut BytesMut,
    key: &[u8],
    f: &MetaDelete,
    server: &Features,
) -> Result<(), InputError> {
    server.require(Feature::Meta)?;
    check_meta_key(key, f.base64_key)?;
    check_key_echo(key, f.base64_key, f.return_key, server)?;
    if f.new_cas.is_some() {
        server.require(Feature::ExplicitCas)?;
    }
    if f.remove_value {
        server.require(Feature::MetaDeleteValue)?;
    }
    if f.ttl.is_some() && !f.invalidate {
        return Err(InputError::BadToken {
            what: "md T (only with I)",
        });
    }
    let ttl = f.ttl.map(Expiry::to_ttl).transpose()?;
    buf.put_slice(b"md ");
    put_key(buf, key, f.base64_key);
    for (set, c) in [
        (f.base64_key, b'b'),
        (f.invalidate, b'I'),
        (f.return_key, b'k'),
        (f.quiet, b'q'),
        (f.remove_value, b'x'),
    ] {
        flag(buf, set, c);
    }
    flag_u64(buf, b'C', f.compare_cas);
    flag_u64(buf, b'E', f.new_cas);
    flag_u64(buf, b'T', ttl.map(u64::from));
    flag_opaque(buf, f.opaque);
    buf.put_slice(b"\r\n");
    Ok(())
}

/// `ma <key> <flags>*`.
pub fn ma(
    buf: &mut BytesMut,
    key: &[u8],
    f: &MetaArith,
    server: &Features,
) -> Result<(), InputError> {
    server.require(Feature::Meta)?;
    check_meta_key(key, f.base64_key)?;
    check_key_echo(key, f.base64_key, f.return_key, server)?;
    if f.new_cas.is_some() {
        server.require(Feature::ExplicitCas)?;
    }
    if f.initial.is_some() && f.auto_create.is_none() {
        return Err(InputError::BadToken {
            what: "ma J (only with N)",
        });
    }
    let create = f.auto_create.map(Expiry::to_ttl).transpose()?;
    let touch = f.touch.map(Expiry::to_exptime).transpose()?;
    buf.put_slice(b"ma ");
    put_key(buf, key, f.base64_key);
    for (set, c) in [
        (f.base64_key, b'b'),
        (f.return_cas, b'c'),
        (f.return_key, b'k'),
        (f.quiet, b'q'),
        (f.return_ttl, b't'),
        (f.return_value, b'v'),
    ] {
        flag(buf, set, c);
    }
    flag_u64(buf, b'C', f.compare_cas);
    flag_u64(buf, b'E', f.new_cas);
    flag_u64(buf, b'N', create.map(u64::from));
    flag_u64(buf, b'J', f.initial);
    flag_u64(buf, b'D', f.delta);
    flag_i64(buf, b'T', touch);
    if f.mode == ArithMode::Decr {
        buf.put_slice(b" MD");
    }
    flag_opaque(buf, f.opaque);
    buf.put_slice(b"\r\n");
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
    server.require(Feature::Meta)?;
    check_meta_key(key, base64_key)?;
    check_key_echo(key, base64_key, true, server)?;
    buf.put_slice(b"me ");
    put_key(buf, key, base64_key);
    flag(buf, base64_key, b'b');
    buf.put_slice(b"\r\n");
    Ok(())
}

fn put_key(buf: &mut BytesMut, key: &[u8], base64_key: bool) {
    if base64_key {
        base64::encode_into(key, buf);
    } else {
        buf.put_slice(key);
    }
}

fn flag(buf: &mut BytesMut, set: bool, c: u8) {
    if set {
        buf.put_u8(b' ');
        buf.put_u8(c);
    }
}

fn flag_u64(buf: &mut BytesMut, c: u8, n: Option<u64>) {
    if let Some(n) = n {
        buf.put_u8(b' ');
        buf.put_u8(c);
        put_u64(buf, n);
    }
}

fn flag_i64(buf: &mut BytesMut, c: u8, n: Option<i64>) {
    if let Some(n) = n {
        buf.put_u8(b' ');
        buf.put_u8(c);
        put_i64(buf, n);
    }
}

fn flag_opaque(buf: &mut BytesMut, o: Option<Opaque>) {
    if let Some(o) = o {
        buf.put_slice(b" O");
        buf.put_slice(o.as_bytes());
    }
}

/// The `R` threshold in seconds, rounded up. The server reads it as a 32-bit number.
fn recache_secs(d: Duration) -> Result<u64, InputError> {
    let secs = super::expiry::secs_up(d)?;
    if secs > u64::from(u32::MAX >> 1) {
        return Err(InputError::ExpiryOutOfRange);
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::version::Version;

    const OLD: Features = Features {
        version: Some(Version(1, 6, 18)),
    };

    fn enc(f: impl FnOnce(&mut BytesMut) -> Result<(), InputError>) -> Result<String, InputError> {
        let mut buf = BytesMut::new();
        let r = f(&mut buf);
        if r.is_err() {
            assert!(buf.is_empty(), "a rejected command must write nothing");
        }
        r.map(|()| String::from_utf8_lossy(&buf).into_owned())
    }

    #[test]
    fn every_flag_on_the_wire() {
        let all = MetaGet::new()
            .value()
            .cas()
            .client_flags()
            .hit_before()
            .key()
            .last_access()
            .size()
            .ttl()
            .no_bump()
            .quiet()
            .opaque(9u32)
            .vivify(Expiry::secs(30))
            .recache(Duration::from_millis(1500))
            .touch(Expiry::Never);
        assert_eq!(
            enc(|b| mg(b, b"k", &all, &OLD)).unwrap(),
            "mg k c f h k l q s t u v N30 R2 T0 O9\r\n"
        );
        let set = MetaSet::new()
            .cas()
            .invalidate()
            .key()
            .quiet()
            .compare_cas(5)
            .client_flags(3)
            .ttl(Expiry::Expired)
            .mode(SetMode::Add)
            .opaque(1u32);
        assert_eq!(
            enc(|b| ms(b, b"k", b"v", &set, &Limits::default(), &OLD)).unwrap(),
            "ms k 1 c I k q C5 F3 T-1 ME O1\r\nv\r\n"
        );
        let del = MetaDelete::new()
            .invalidate()
            .ttl(Expiry::secs(30))
            .key()
            .quiet()
            .compare_cas(4);
        assert_eq!(
            enc(|b| md(b, b"k", &del, &OLD)).unwrap(),
            "md k I k q C4 T30\r\n"
        );
        let ar = MetaArith::new()
            .decr()
            .delta(2)
            .auto_create(Expiry::Never)
            .initial(9)
            .touch(Expiry::secs(5))
            .ttl()
            .cas()
            .value()
            .key()
            .quiet();
        assert_eq!(
            enc(|b| ma(b, b"n", &ar, &OLD)).unwrap(),
            "ma n c k q t v N0 J9 D2 T5 MD\r\n"
        );
        assert_eq!(enc(|b| me(b, b"k", false, &OLD)).unwrap(), "me k\r\n");
    }

    #[test]
    fn binary_keys() {
        let key = b"a\0b\r\nc";
        assert_eq!(
            enc(|b| mg(b, key, &MetaGet::new().base64_key().value(), &OLD)).unwrap(),
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
            enc(|b| mg(b, key, &MetaGet::new().base64_key().key(), &OLD)),
            Err(InputError::Unsupported { .. })
        ));
        assert!(enc(|b| mg(b, b"\x80\xff", &MetaGet::new().base64_key().key(), &OLD)).is_ok());
        assert!(enc(|b| me(b, key, true, &OLD)).is_err());
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
                &MetaSet::new().size(),
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
        // Durations too large for the wire are refused, never wrapped.
        for bad in [
            MetaGet::new().recache(Duration::MAX),
            MetaGet::new().touch(Duration::MAX),
            MetaGet::new().vivify(Duration::MAX),
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
}
