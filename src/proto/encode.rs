//! Encoders for the classic text commands.
//!
//! Each function appends one complete command to a `BytesMut` and returns an error
//! *instead* of writing when any part is invalid: every check runs before the first byte
//! is put, so a rejected command leaves the buffer exactly as it was. That property is
//! what lets a connection encode straight into its shared write buffer.
//!
//! The functions are deliberately plain (`buf`, then the command's own arguments) so
//! that each one reads like the command line it produces. Meta commands live in
//! [`super::meta`].

use bytes::{BufMut, BytesMut};
use std::time::Duration;

use super::key::{check_key, check_token};
use super::{Expiry, Limits};
use crate::error::InputError;

/// Which retrieval command to send; the touching ones carry their new expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetKind {
    /// `get`: values and flags.
    Get,
    /// `gets`: values, flags and the cas unique.
    Gets,
    /// `gat`: like `get`, and set a new expiry on every hit.
    Gat(Expiry),
    /// `gats`: like `gets`, and set a new expiry on every hit.
    Gats(Expiry),
}

/// The longest `get`/`gets` line this client sends. memcached 1.6.18 reads these
/// commands in pieces and took a 983,759-byte line (3,999 keys of 245 bytes) in one
/// go; proxies are stricter, and a shorter line lets the server start answering sooner.
pub const MAX_GET_LINE: usize = 64 * 1024;

/// The longest line of any other command this client sends, `\r\n` included. memcached
/// 1.6.18 closes the connection when it has read more than 2,048 bytes of a line that is
/// not a `get`/`gets` without finding its end (see protocol-notes.md, "Line limits"): a
/// longer `gat` works only when the whole line arrives in one read, which nobody can
/// promise over TCP.
pub const MAX_LINE: usize = 2048;

impl GetKind {
    /// The longest line of this kind this client sends (see [`MAX_GET_LINE`],
    /// [`MAX_LINE`]).
    pub fn max_line(self) -> usize {
        match self {
            GetKind::Get | GetKind::Gets => MAX_GET_LINE,
            GetKind::Gat(_) | GetKind::Gats(_) => MAX_LINE,
        }
    }

    /// The length of this command's line before its keys: the verb, and for the touching
    /// kinds the exptime, as [`get`] writes them (an upper bound for the exptime).
    pub fn head_len(self) -> usize {
        match self {
            GetKind::Get | GetKind::Gets => self.verb().len(),
            GetKind::Gat(_) | GetKind::Gats(_) => self.verb().len() + 12,
        }
    }

    /// The command word.
    pub fn verb(self) -> &'static str {
        match self {
            GetKind::Get => "get",
            GetKind::Gets => "gets",
            GetKind::Gat(_) => "gat",
            GetKind::Gats(_) => "gats",
        }
    }
}

/// `get|gets <key>*` or `gat|gats <exptime> <key>*`. Returns the number of keys written.
///
/// The keys are validated in a first pass, so a bad tenth key leaves nothing behind.
///
/// ```
/// use bytes::BytesMut;
/// use mcaside::proto::encode::{self, GetKind};
/// let mut buf = BytesMut::new();
/// encode::get(&mut buf, GetKind::Gets, ["a", "b"]).unwrap();
/// assert_eq!(&buf[..], b"gets a b\r\n");
/// ```
pub fn get<I, K>(buf: &mut BytesMut, kind: GetKind, keys: I) -> Result<usize, InputError>
where
    I: IntoIterator<Item = K>,
    I::IntoIter: Clone,
    K: AsRef<[u8]>,
{
    let keys = keys.into_iter();
    let mut count = 0;
    let mut len = 0;
    for k in keys.clone() {
        check_key(k.as_ref())?;
        count += 1;
        len += k.as_ref().len() + 1;
    }
    if count == 0 {
        return Err(InputError::NoKeys);
    }
    let exptime = match kind {
        GetKind::Gat(e) | GetKind::Gats(e) => Some(e.to_exptime()?),
        _ => None,
    };
    buf.reserve(len + 32);
    buf.put_slice(kind.verb().as_bytes());
    if let Some(e) = exptime {
        buf.put_u8(b' ');
        put_i64(buf, e);
    }
    for k in keys {
        buf.put_u8(b' ');
        buf.put_slice(k.as_ref());
    }
    buf.put_slice(b"\r\n");
    Ok(count)
}

/// The storage verbs; `Cas` carries the unique it compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreVerb {
    /// Store unconditionally.
    Set,
    /// Store only if the key is absent.
    Add,
    /// Store only if the key is present.
    Replace,
    /// Add the data after the existing value (flags and exptime are ignored).
    Append,
    /// Add the data before the existing value (flags and exptime are ignored).
    Prepend,
    /// Store only if the item's cas unique is still this one.
    Cas(u64),
}

impl StoreVerb {
    /// The command word.
    pub fn verb(self) -> &'static str {
        match self {
            StoreVerb::Set => "set",
            StoreVerb::Add => "add",
            StoreVerb::Replace => "replace",
            StoreVerb::Append => "append",
            StoreVerb::Prepend => "prepend",
            StoreVerb::Cas(_) => "cas",
        }
    }
}

/// One storage command: `<verb> <key> <flags> <exptime> <bytes> [<cas>] [noreply]`,
/// then the data block.
#[derive(Debug, Clone, Copy)]
pub struct Store<'a> {
    /// Which storage command.
    pub verb: StoreVerb,
    /// The key.
    pub key: &'a [u8],
    /// The client flags stored with the item (32 bits: wider values cannot be expressed).
    pub flags: u32,
    /// When the item expires.
    pub expiry: Expiry,
    /// The data block.
    pub value: &'a [u8],
    /// Ask the server not to reply.
    pub noreply: bool,
}

/// Encodes a storage command and its data block.
///
/// ```
/// use bytes::BytesMut;
/// use mcaside::proto::{encode::{self, Store, StoreVerb}, Expiry, Limits};
/// let mut buf = BytesMut::new();
/// let cmd = Store { verb: StoreVerb::Set, key: b"k", flags: 7, expiry: Expiry::secs(60),
///                   value: b"hi", noreply: false };
/// encode::store(&mut buf, &cmd, &Limits::default()).unwrap();
/// assert_eq!(&buf[..], b"set k 7 60 2\r\nhi\r\n");
/// ```
pub fn store(buf: &mut BytesMut, cmd: &Store<'_>, limits: &Limits) -> Result<(), InputError> {
    buf.reserve(cmd.key.len() + cmd.value.len() + 80);
    store_head(buf, cmd, cmd.value.len(), limits)?;
    buf.put_slice(cmd.value);
    buf.put_slice(b"\r\n");
    Ok(())
}

/// The command line of [`store`] alone, for a data block of `len` bytes (`cmd.value`
/// is not used) that the caller sends after it, followed by `\r\n`, without copying
/// it here. Writes nothing on error.
pub fn store_head(
    buf: &mut BytesMut,
    cmd: &Store<'_>,
    len: usize,
    limits: &Limits,
) -> Result<(), InputError> {
    check_key(cmd.key)?;
    if len > limits.max_value {
        return Err(InputError::ValueTooLarge {
            len,
            max: limits.max_value,
        });
    }
    let exptime = cmd.expiry.to_exptime()?;
    buf.reserve(cmd.key.len() + 80);
    buf.put_slice(cmd.verb.verb().as_bytes());
    buf.put_u8(b' ');
    buf.put_slice(cmd.key);
    buf.put_u8(b' ');
    put_u64(buf, u64::from(cmd.flags));
    buf.put_u8(b' ');
    put_i64(buf, exptime);
    buf.put_u8(b' ');
    put_u64(buf, len as u64);
    if let StoreVerb::Cas(unique) = cmd.verb {
        buf.put_u8(b' ');
        put_u64(buf, unique);
    }
    put_noreply(buf, cmd.noreply);
    Ok(())
}

/// `delete <key> [noreply]`.
pub fn delete(buf: &mut BytesMut, key: &[u8], noreply: bool) -> Result<(), InputError> {
    check_key(key)?;
    buf.reserve(key.len() + 20);
    buf.put_slice(b"delete ");
    buf.put_slice(key);
    put_noreply(buf, noreply);
    Ok(())
}

/// Which way `incr`/`decr` moves the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `incr`: adds, wrapping at 2^64.
    Incr,
    /// `decr`: subtracts, stopping at 0.
    Decr,
}

/// `incr|decr <key> <delta> [noreply]`.
pub fn arith(
    buf: &mut BytesMut,
    op: ArithOp,
    key: &[u8],
    delta: u64,
    noreply: bool,
) -> Result<(), InputError> {
    check_key(key)?;
    buf.reserve(key.len() + 40);
    buf.put_slice(match op {
        ArithOp::Incr => b"incr ",
        ArithOp::Decr => b"decr ",
    });
    buf.put_slice(key);
    buf.put_u8(b' ');
    put_u64(buf, delta);
    put_noreply(buf, noreply);
    Ok(())
}

/// `touch <key> <exptime> [noreply]`.
pub fn touch(
    buf: &mut BytesMut,
    key: &[u8],
    expiry: Expiry,
    noreply: bool,
) -> Result<(), InputError> {
    check_key(key)?;
    let exptime = expiry.to_exptime()?;
    buf.reserve(key.len() + 40);
    buf.put_slice(b"touch ");
    buf.put_slice(key);
    buf.put_u8(b' ');
    put_i64(buf, exptime);
    put_noreply(buf, noreply);
    Ok(())
}

/// `flush_all [delay] [noreply]`: invalidate every item, now or after `delay`.
pub fn flush_all(
    buf: &mut BytesMut,
    delay: Option<Duration>,
    noreply: bool,
) -> Result<(), InputError> {
    // The delay is an exptime too, with the same 30-day rule.
    let delay = delay.map(|d| Expiry::After(d).to_exptime()).transpose()?;
    buf.put_slice(b"flush_all");
    if let Some(d) = delay {
        buf.put_u8(b' ');
        put_i64(buf, d.max(0));
    }
    put_noreply(buf, noreply);
    Ok(())
}

/// `version`.
pub fn version(buf: &mut BytesMut) {
    buf.put_slice(b"version\r\n");
}

/// `stats [group]`, where group is a single token such as `settings`, `items`, `slabs`.
pub fn stats(buf: &mut BytesMut, group: Option<&str>) -> Result<(), InputError> {
    if let Some(g) = group {
        check_token(g.as_bytes(), 64, "stats group")?;
    }
    buf.put_slice(b"stats");
    if let Some(g) = group {
        buf.put_u8(b' ');
        buf.put_slice(g.as_bytes());
    }
    buf.put_slice(b"\r\n");
    Ok(())
}

/// `verbosity <level> [noreply]`.
pub fn verbosity(buf: &mut BytesMut, level: u32, noreply: bool) {
    buf.put_slice(b"verbosity ");
    put_u64(buf, u64::from(level));
    put_noreply(buf, noreply);
}

/// `quit`: the server closes the connection without replying.
pub fn quit(buf: &mut BytesMut) {
    buf.put_slice(b"quit\r\n");
}

fn put_noreply(buf: &mut BytesMut, noreply: bool) {
    buf.put_slice(if noreply { b" noreply\r\n" } else { b"\r\n" });
}

/// Writes a decimal number without going through `fmt` (this runs for every request).
pub(crate) fn put_u64(buf: &mut BytesMut, n: u64) {
    let mut digits = [0u8; 20];
    buf.put_slice(decimal(n, &mut digits));
}

/// The decimal digits of `n`, written at the end of `digits`, which is returned cut to
/// them.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[i..]
}

pub(crate) fn put_i64(buf: &mut BytesMut, n: i64) {
    if n < 0 {
        buf.put_u8(b'-');
    }
    put_u64(buf, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut BytesMut) -> Result<(), InputError>) -> Result<Vec<u8>, InputError> {
        let mut buf = BytesMut::from(&b"before|"[..]);
        let r = f(&mut buf);
        if r.is_err() {
            assert_eq!(
                &buf[..],
                b"before|",
                "a rejected command must write nothing"
            );
        }
        r.map(|()| buf[7..].to_vec())
    }

    #[test]
    fn retrievals() {
        let g = |kind, keys: &[&str]| enc(|b| get(b, kind, keys.iter()).map(|_| ()));
        assert_eq!(g(GetKind::Get, &["a"]).unwrap(), b"get a\r\n");
        assert_eq!(g(GetKind::Gets, &["a", "b"]).unwrap(), b"gets a b\r\n");
        assert_eq!(
            g(GetKind::Gat(Expiry::secs(10)), &["a"]).unwrap(),
            b"gat 10 a\r\n"
        );
        assert_eq!(
            g(GetKind::Gats(Expiry::Never), &["a", "b"]).unwrap(),
            b"gats 0 a b\r\n"
        );
        assert_eq!(g(GetKind::Get, &[]), Err(InputError::NoKeys));
        assert!(g(GetKind::Get, &["good", "bad key"]).is_err());
    }

    #[test]
    fn storage() {
        let s = |verb, key: &[u8], value: &[u8], noreply| {
            let cmd = Store {
                verb,
                key,
                flags: 42,
                expiry: Expiry::secs(5),
                value,
                noreply,
            };
            enc(|b| store(b, &cmd, &Limits::default()))
        };
        assert_eq!(
            s(StoreVerb::Set, b"k", b"v", false).unwrap(),
            b"set k 42 5 1\r\nv\r\n"
        );
        assert_eq!(
            s(StoreVerb::Add, b"k", b"", true).unwrap(),
            b"add k 42 5 0 noreply\r\n\r\n"
        );
        assert_eq!(
            s(StoreVerb::Cas(99), b"k", b"\r\n", false).unwrap(),
            b"cas k 42 5 2 99\r\n\r\n\r\n"
        );
        assert!(s(StoreVerb::Set, b"a\r\nflush_all", b"v", false).is_err());
        let big = vec![0u8; Limits::default().max_value + 1];
        assert!(matches!(
            s(StoreVerb::Set, b"k", &big, false),
            Err(InputError::ValueTooLarge { .. })
        ));
    }

    #[test]
    fn others() {
        assert_eq!(enc(|b| delete(b, b"k", false)).unwrap(), b"delete k\r\n");
        assert_eq!(
            enc(|b| arith(b, ArithOp::Incr, b"n", u64::MAX, true)).unwrap(),
            b"incr n 18446744073709551615 noreply\r\n"
        );
        assert_eq!(
            enc(|b| arith(b, ArithOp::Decr, b"n", 0, false)).unwrap(),
            b"decr n 0\r\n"
        );
        assert_eq!(
            enc(|b| touch(b, b"k", Expiry::Expired, false)).unwrap(),
            b"touch k -1\r\n"
        );
        assert_eq!(
            enc(|b| flush_all(b, None, false)).unwrap(),
            b"flush_all\r\n"
        );
        assert_eq!(
            enc(|b| flush_all(b, Some(Duration::from_secs(9)), true)).unwrap(),
            b"flush_all 9 noreply\r\n"
        );
        // A delay too large for the wire is refused; it must never become `flush_all 0`.
        assert_eq!(
            enc(|b| flush_all(b, Some(Duration::MAX), true)),
            Err(InputError::ExpiryOutOfRange)
        );
        assert_eq!(
            enc(|b| stats(b, Some("settings"))).unwrap(),
            b"stats settings\r\n"
        );
        assert!(enc(|b| stats(b, Some("a b"))).is_err());
        let mut b = BytesMut::new();
        verbosity(&mut b, 1, false);
        version(&mut b);
        quit(&mut b);
        assert_eq!(&b[..], b"verbosity 1\r\nversion\r\nquit\r\n");
    }

    #[test]
    fn numbers() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut b = BytesMut::new();
            put_u64(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
        let mut b = BytesMut::new();
        put_i64(&mut b, i64::MIN);
        assert_eq!(&b[..], i64::MIN.to_string().as_bytes());
    }
}
