//! Key validation: the one gate every key passes before it is written to the wire.
//!
//! The text protocol separates tokens with spaces and ends commands with `\r\n`, so a key
//! containing either is not one token but several: `a\r\nflush_all` is a `get a`
//! followed by a `flush_all`. The server also refuses keys over 250 bytes, and a refused
//! storage command makes it read the data block that follows as a *new command*.
//! Checking here, before encoding, is what keeps all of that off the wire.

use crate::error::InputError;

/// The server's key length limit (`KEY_MAX_LENGTH` in memcached).
pub const MAX_KEY_LEN: usize = 250;

/// True for bytes that may appear in a text-protocol key.
///
/// Anything above the space character except DEL. Bytes of 0x80 and up are allowed:
/// the server treats keys as opaque bytes, so UTF-8 keys work as they are.
#[inline]
pub fn is_key_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f
}

/// Checks that `key` can be sent as a text-protocol key.
///
/// ```
/// use mcaside::proto::check_key;
/// assert!(check_key(b"user:123").is_ok());
/// assert!(check_key(b"a\r\nflush_all").is_err());
/// assert!(check_key(&[b'k'; 251]).is_err());
/// ```
#[inline]
pub fn check_key(key: &[u8]) -> Result<(), InputError> {
    if key.is_empty() {
        return Err(InputError::EmptyKey);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(InputError::KeyTooLong { len: key.len() });
    }
    match key.iter().position(|&b| !is_key_byte(b)) {
        None => Ok(()),
        Some(pos) => Err(InputError::KeyByte {
            pos,
            byte: key[pos],
        }),
    }
}

/// Checks a free-form token (a stats group name, a meta opaque) the same way as a key,
/// but with its own length limit and name for the error.
pub(crate) fn check_token(token: &[u8], max: usize, what: &'static str) -> Result<(), InputError> {
    if token.is_empty() || token.len() > max || !token.iter().all(|&b| is_key_byte(b)) {
        return Err(InputError::BadToken { what });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(check_key(b""), Err(InputError::EmptyKey));
        assert!(check_key(&[b'a'; 250]).is_ok());
        assert_eq!(
            check_key(&[b'a'; 251]),
            Err(InputError::KeyTooLong { len: 251 })
        );
    }

    #[test]
    fn every_byte() {
        for b in 0..=255u8 {
            let ok = check_key(&[b'k', b]).is_ok();
            assert_eq!(ok, b > 0x20 && b != 0x7f, "byte 0x{b:02x}");
        }
        assert_eq!(
            check_key(b"a\r\nflush_all"),
            Err(InputError::KeyByte {
                pos: 1,
                byte: b'\r'
            })
        );
        assert!(check_key("ключ".as_bytes()).is_ok());
    }
}
