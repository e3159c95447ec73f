//! `ms`: meta set, its flags, its modes and its encoder.

use bytes::{BufMut, BytesMut};

use super::flags::{ModeLetter, meta_flags};
use super::{all_or_nothing, check_command, put_head};
use crate::error::InputError;
use crate::proto::encode::put_u64;
use crate::proto::{Features, Limits};

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

impl ModeLetter for SetMode {
    fn letter(self) -> u8 {
        match self {
            SetMode::Set => b'S',
            SetMode::Add => b'E',
            SetMode::Replace => b'R',
            SetMode::Append => b'A',
            SetMode::Prepend => b'P',
        }
    }

    fn from_letter(arg: &str) -> Option<Self> {
        Some(match arg {
            "S" | "s" => SetMode::Set,
            "E" | "e" => SetMode::Add,
            "R" | "r" => SetMode::Replace,
            "A" | "a" => SetMode::Append,
            "P" | "p" => SetMode::Prepend,
            _ => return None,
        })
    }

    const CHOICES: &'static str = "needs a mode: S, E, R, A or P";
}

meta_flags! {
    /// Flags for `ms` (meta set).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use mcaside::proto::{meta::{self, MetaSet, SetMode}, Expiry, Features, Limits};
    /// let mut buf = BytesMut::new();
    /// let flags = MetaSet::new()
    ///     .ttl(Expiry::secs(90))
    ///     .client_flags(1)
    ///     .compare_cas(7)
    ///     .mode(SetMode::Replace);
    /// meta::ms(&mut buf, b"foo", b"hi", &flags, &Limits::default(), &Features::ALL).unwrap();
    /// assert_eq!(&buf[..], b"ms foo 2 C7 F1 T90 MR\r\nhi\r\n");
    /// ```
    pub struct MetaSet("ms") {
        /// `b`: the key is binary; send it base64-encoded.
        'b' base64_key: Switch;
        /// `c`: return the cas unique of the stored item.
        'c' return_cas: Switch;
        /// `I`: with `C`, accept a cas *older* than the item's and store the item as
        /// stale.
        'I' invalidate: Switch;
        /// `k`: return the key.
        'k' return_key: Switch;
        /// `q`: quiet; the server says nothing on success (`HD`).
        'q' quiet: Switch;
        /// `s`: return the stored size.
        ///
        /// Since 1.6.20: the 1.6.21 release notes fix a bug it added in 1.6.20.
        's' return_size: Switch, since (1, 6, 20);
        /// `C`: store only if the item's cas is this one.
        'C' compare_cas: Number<u64> as "cas";
        /// `E`: give the stored item this cas value.
        ///
        /// Since 1.6.27 (stated in the project's issue 3).
        'E' new_cas: Number<u64> as "cas", since (1, 6, 27);
        /// `F`: the client flags (0 if absent).
        'F' client_flags: Number<u32> as "flags";
        /// `T`: the TTL (none if absent).
        'T' ttl: Exptime as "ttl";
        /// `N`: in append or prepend mode, create the item on a miss with this TTL.
        ///
        /// Since 1.6.27, conservatively: absent from 1.6.18, in the current protocol.txt.
        'N' vivify: Ttl as "ttl", since (1, 6, 27);
        /// `M`: the mode (set, add, replace, append, prepend).
        'M' mode: Mode<SetMode> as "S|E|R|A|P";
        /// `O`: an opaque token to copy back.
        'O' opaque: Token as "token";
    }
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
    all_or_nothing(buf, |buf| {
        buf.reserve(key.len() + value.len() + 96);
        ms_head(buf, key, value.len(), f, limits, server)?;
        buf.put_slice(value);
        buf.put_slice(b"\r\n");
        Ok(())
    })
}

/// The command line of [`ms`] alone, for a data block of `len` bytes that the caller
/// sends after it (followed by `\r\n`) without copying it here.
pub fn ms_head(
    buf: &mut BytesMut,
    key: &[u8],
    len: usize,
    f: &MetaSet,
    limits: &Limits,
    server: &Features,
) -> Result<(), InputError> {
    check_command(key, f.base64_key, f.return_key, server)?;
    if len > limits.max_value {
        return Err(InputError::ValueTooLarge {
            len,
            max: limits.max_value,
        });
    }
    f.check_versions(server)?;
    if f.vivify.is_some() && !matches!(f.mode, SetMode::Append | SetMode::Prepend) {
        return Err(InputError::BadToken {
            what: "ms N (only in append or prepend mode)",
        });
    }
    all_or_nothing(buf, |buf| {
        buf.reserve(key.len() + 96);
        put_head(buf, b"ms ", key, f.base64_key);
        buf.put_u8(b' ');
        put_u64(buf, len as u64);
        f.put_flags(buf)?;
        buf.put_slice(b"\r\n");
        Ok(())
    })
}
