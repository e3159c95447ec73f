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
    if all_key_bytes(key) {
        return Ok(());
    }
    let pos = key
        .iter()
        .position(|&b| !is_key_byte(b))
        .expect("a byte failed the check");
    Err(InputError::KeyByte {
        pos,
        byte: key[pos],
    })
}

/// [`is_key_byte`] for every byte of `key`, eight bytes at a time: every key of every
/// request passes here, and byte by byte it cost 7 instructions a byte.
///
/// In each 8-byte word, `x - 0x21…21 & !x & 0x80…80` is non-zero exactly when some
/// byte is below 0x21 (a byte of 0x80 or more has its top bit set, so `!x` clears it),
/// and the same test on `x ^ 0x7f…7f` against `0x01…01` finds a DEL: the classic
/// "has a byte less than n" and "has a zero byte" tricks, exact for whether any byte
/// matches (which byte is then found the slow way, only for the error). The last word
/// overlaps the one before it rather than leave a tail to check byte by byte.
fn all_key_bytes(key: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    if key.len() < 8 {
        return key.iter().all(|&b| is_key_byte(b));
    }
    let bad_in = |at: usize| {
        let x = u64::from_ne_bytes(key[at..at + 8].try_into().expect("8 bytes"));
        let del = x ^ (ONES * 0x7f);
        (x.wrapping_sub(ONES * 0x21) & !x) | (del.wrapping_sub(ONES) & !del)
    };
    let mut bad = bad_in(key.len() - 8);
    let mut at = 0;
    while at + 8 < key.len() {
        bad |= bad_in(at);
        at += 8;
    }
    bad & HIGHS == 0
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

    #[test]
    fn every_byte_at_every_place_of_a_word() {
        // The word-at-a-time check against the byte-at-a-time rule: each byte value at
        // each place of two words and a tail, among neighbours that pass (and among
        // neighbours at the edges of the range, which must not hide or fake a match).
        for fill in [b'k', 0x21, 0x7e, 0x80, 0xff] {
            for at in 0..19 {
                for b in 0..=255u8 {
                    let mut key = [fill; 19];
                    key[at] = b;
                    let want = if is_key_byte(b) {
                        Ok(())
                    } else {
                        Err(InputError::KeyByte { pos: at, byte: b })
                    };
                    assert_eq!(
                        check_key(&key),
                        want,
                        "0x{b:02x} at {at} among 0x{fill:02x}"
                    );
                }
            }
        }
    }

    #[test]
    fn random_keys_agree_with_the_byte_rule() {
        // Keys of 1 to 40 bytes drawn mostly from the bytes on either side of each
        // boundary, so that words hold several near-misses and several failures at once.
        let edges = [
            0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let len = 1 + (next() % 40) as usize;
            let key: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => next() as u8,
                    _ => edges[(next() % edges.len() as u64) as usize],
                })
                .collect();
            let first_bad = key.iter().position(|&b| !is_key_byte(b));
            let want = match first_bad {
                None => Ok(()),
                Some(pos) => Err(InputError::KeyByte {
                    pos,
                    byte: key[pos],
                }),
            };
            assert_eq!(check_key(&key), want, "{key:02x?}");
        }
    }
}
