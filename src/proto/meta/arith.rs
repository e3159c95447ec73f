//! `ma`: meta arithmetic (incr and decr), its flags and its encoder.

use bytes::{BufMut, BytesMut};

use super::flags::{ModeLetter, meta_flags};
use super::{all_or_nothing, check_command, put_head};
use crate::error::InputError;
use crate::proto::Features;

/// The direction of an `ma`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArithMode {
    /// `MI`: add, wrapping at 2^64 (the default).
    #[default]
    Incr,
    /// `MD`: subtract, stopping at 0.
    Decr,
}

impl ModeLetter for ArithMode {
    fn letter(self) -> u8 {
        match self {
            ArithMode::Incr => b'I',
            ArithMode::Decr => b'D',
        }
    }

    fn from_letter(arg: &str) -> Option<Self> {
        Some(match arg {
            "I" | "i" | "+" => ArithMode::Incr,
            "D" | "d" | "-" => ArithMode::Decr,
            _ => return None,
        })
    }

    const CHOICES: &'static str = "needs a mode: I (or +) or D (or -)";
}

meta_flags! {
    /// Flags for `ma` (meta arithmetic).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use mcaside::proto::{meta::{self, MetaArith}, Expiry, Features};
    /// let mut buf = BytesMut::new();
    /// let flags = MetaArith::new()
    ///     .return_value()
    ///     .auto_create(Expiry::secs(60))
    ///     .initial(10)
    ///     .delta(5);
    /// meta::ma(&mut buf, b"hits", &flags, &Features::ALL).unwrap();
    /// assert_eq!(&buf[..], b"ma hits v N60 J10 D5\r\n");
    /// ```
    pub struct MetaArith("ma") {
        /// `b`: the key is binary; send it base64-encoded.
        'b' base64_key: Switch;
        /// `c`: return the new cas unique.
        'c' return_cas: Switch;
        /// `k`: return the key.
        'k' return_key: Switch;
        /// `q`: quiet; the server says nothing on success (`HD`).
        'q' quiet: Switch;
        /// `t`: return the remaining TTL (`-1`: none).
        't' return_ttl: Switch;
        /// `v`: return the new value.
        'v' return_value: Switch;
        /// `C`: only if the item's cas is this one.
        'C' compare_cas: Number<u64> as "cas";
        /// `E`: the cas value to give the item.
        ///
        /// Since 1.6.27 (stated in the project's issue 3).
        'E' new_cas: Number<u64> as "cas", since (1, 6, 27);
        /// `N`: on a miss, create the item with this TTL.
        'N' auto_create: Ttl as "ttl";
        /// `J`: the value an auto-created item starts from (needs `N`; default 0).
        'J' initial: Number<u64> as "initial";
        /// `D`: the delta (default 1).
        'D' delta: Number<u64> as "delta";
        /// `T`: set this TTL on success.
        'T' touch: Exptime as "ttl";
        /// `M`: incr or decr.
        'M' mode: Mode<ArithMode> as "I|D";
        /// `O`: an opaque token to copy back.
        'O' opaque: Token as "token";
    }
}

impl MetaArith {
    /// `MD`: decrement; the same as `mode(ArithMode::Decr)`.
    pub fn decr(self) -> Self {
        self.mode(ArithMode::Decr)
    }
}

/// `ma <key> <flags>*`.
pub fn ma(
    buf: &mut BytesMut,
    key: &[u8],
    f: &MetaArith,
    server: &Features,
) -> Result<(), InputError> {
    check_command(key, f.base64_key, f.return_key, server)?;
    f.check_versions(server)?;
    if f.initial.is_some() && f.auto_create.is_none() {
        return Err(InputError::BadToken {
            what: "ma J (only with N)",
        });
    }
    all_or_nothing(buf, |buf| {
        put_head(buf, b"ma ", key, f.base64_key);
        f.put_flags(buf)?;
        buf.put_slice(b"\r\n");
        Ok(())
    })
}
