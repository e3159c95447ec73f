//! `md`: meta delete (and invalidate), its flags and its encoder.

use bytes::{BufMut, BytesMut};

use super::flags::meta_flags;
use super::{all_or_nothing, check_command, put_head};
use crate::error::InputError;
use crate::proto::Features;

meta_flags! {
    /// Flags for `md` (meta delete).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use mcaside::proto::{meta::{self, MetaDelete}, Expiry, Features};
    /// let mut buf = BytesMut::new();
    /// // Mark stale for 30 s instead of removing (serve-stale).
    /// let flags = MetaDelete::new().invalidate().ttl(Expiry::secs(30));
    /// meta::md(&mut buf, b"user:1", &flags, &Features::ALL).unwrap();
    /// assert_eq!(&buf[..], b"md user:1 I T30\r\n");
    /// ```
    pub struct MetaDelete("md") {
        /// `b`: the key is binary; send it base64-encoded.
        'b' base64_key: Switch;
        /// `I`: invalidate: mark the item stale (and bump its cas) instead of removing
        /// it.
        'I' invalidate: Switch;
        /// `k`: return the key.
        'k' return_key: Switch;
        /// `q`: quiet; the server says nothing on success (`HD`).
        'q' quiet: Switch;
        /// `x`: remove the value but keep the item.
        ///
        /// Since 1.6.27, conservatively: absent from 1.6.18, in the current protocol.txt.
        'x' remove_value: Switch, since (1, 6, 27);
        /// `C`: delete only if the item's cas is this one.
        'C' compare_cas: Number<u64> as "cas";
        /// `E`: the cas value to give an invalidated item.
        ///
        /// Since 1.6.27 (stated in the project's issue 3).
        'E' new_cas: Number<u64> as "cas", since (1, 6, 27);
        /// `T`: with `I`, the TTL the stale item keeps.
        'T' ttl: Ttl as "ttl";
        /// `O`: an opaque token to copy back.
        'O' opaque: Token as "token";
    }
}

/// `md <key> <flags>*`.
pub fn md(
    buf: &mut BytesMut,
    key: &[u8],
    f: &MetaDelete,
    server: &Features,
) -> Result<(), InputError> {
    check_command(key, f.base64_key, f.return_key, server)?;
    f.check_versions(server)?;
    if f.ttl.is_some() && !f.invalidate {
        return Err(InputError::BadToken {
            what: "md T (only with I)",
        });
    }
    all_or_nothing(buf, |buf| {
        put_head(buf, b"md ", key, f.base64_key);
        f.put_flags(buf)?;
        buf.put_slice(b"\r\n");
        Ok(())
    })
}
