//! `mg`: meta get, its flags and its encoder.

use bytes::{BufMut, BytesMut};

use super::flags::meta_flags;
use super::{all_or_nothing, check_command, put_head};
use crate::error::InputError;
use crate::proto::Features;

meta_flags! {
    /// Flags for `mg` (meta get).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use mcaside::proto::{meta::{self, MetaGet}, Expiry, Features};
    /// let mut buf = BytesMut::new();
    /// let flags = MetaGet::new()
    ///     .return_value()
    ///     .return_client_flags()
    ///     .return_cas()
    ///     .vivify(Expiry::secs(30));
    /// meta::mg(&mut buf, b"user:1", &flags, &Features::ALL).unwrap();
    /// assert_eq!(&buf[..], b"mg user:1 c f v N30\r\n");
    /// // The same flags as the protocol spells them:
    /// assert_eq!(MetaGet::from_tokens(["v", "f", "c", "N30"]).unwrap(), flags);
    /// ```
    pub struct MetaGet("mg") {
        /// `b`: the key is binary; send it base64-encoded.
        'b' base64_key: Switch;
        /// `c`: return the cas unique.
        'c' return_cas: Switch;
        /// `f`: return the client flags.
        'f' return_client_flags: Switch;
        /// `h`: return whether the item was fetched before.
        'h' return_hit_before: Switch;
        /// `k`: return the key.
        'k' return_key: Switch;
        /// `l`: return seconds since last access.
        'l' return_last_access: Switch;
        /// `q`: quiet; the server says nothing on a miss (`EN`).
        'q' quiet: Switch;
        /// `s`: return the item size.
        's' return_size: Switch;
        /// `t`: return the remaining TTL (`-1`: none).
        't' return_ttl: Switch;
        /// `u`: do not bump the item in the LRU.
        'u' no_bump: Switch;
        /// `v`: return the value.
        'v' return_value: Switch;
        /// `C`: skip the value if the item's cas is this one.
        ///
        /// Since 1.6.27, conservatively: absent from 1.6.18, in the current protocol.txt.
        'C' compare_cas: Number<u64> as "cas", since (1, 6, 27);
        /// `E`: the cas value to give the item if this request modifies it.
        ///
        /// Since 1.6.27 (stated in the project's issue 3).
        'E' new_cas: Number<u64> as "cas", since (1, 6, 27);
        /// `N`: on a miss, create an empty item with this TTL and win the right to fill
        /// it (a lease: the first caller gets `W`, the rest `Z`).
        'N' vivify: Ttl as "ttl";
        /// `R`: win the right to recache if the remaining TTL is below this (whole
        /// seconds, rounded up).
        'R' recache: Recache as "secs";
        /// `T`: set a new TTL on a hit.
        'T' touch: Exptime as "ttl";
        /// `O`: an opaque token to copy back.
        'O' opaque: Token as "token";
    }
}

/// `mg <key> <flags>*`.
pub fn mg(
    buf: &mut BytesMut,
    key: &[u8],
    f: &MetaGet,
    server: &Features,
) -> Result<(), InputError> {
    check_command(key, f.base64_key, f.return_key, server)?;
    f.check_versions(server)?;
    all_or_nothing(buf, |buf| {
        put_head(buf, b"mg ", key, f.base64_key);
        f.put_flags(buf)?;
        buf.put_slice(b"\r\n");
        Ok(())
    })
}
