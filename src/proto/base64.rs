//! Standard base64 (RFC 4648, with padding), for binary keys in meta commands.
//!
//! memcached decodes a key sent with the `b` flag from base64, so any byte string, NUL
//! and `\r\n` included, can be a key. Only what that needs is here: no dependency for
//! forty lines.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The encoded length of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends the base64 form of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut impl bytes::BufMut) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let quad = [
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            if chunk.len() > 1 {
                ALPHABET[(n >> 6) as usize & 63]
            } else {
                b'='
            },
            if chunk.len() > 2 {
                ALPHABET[n as usize & 63]
            } else {
                b'='
            },
        ];
        out.put_slice(&quad);
    }
}

/// True if `encoded` is exactly the base64 form of `raw` (compared as it is encoded, a
/// few bytes at a time, with nothing allocated).
pub fn encodes_to(raw: &[u8], encoded: &[u8]) -> bool {
    if encoded.len() != encoded_len(raw.len()) {
        return false;
    }
    raw.chunks(3).zip(encoded.chunks(4)).all(|(chunk, quad)| {
        let mut mine = [0u8; 4];
        encode_into(chunk, &mut &mut mine[..]);
        mine == quad
    })
}

/// Decodes padded base64; `None` if `input` is not valid.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    for (i, quad) in input.chunks(4).enumerate() {
        let last = i == input.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            encode_into(plain.as_bytes(), &mut out);
            assert_eq!(out, enc.as_bytes());
            assert_eq!(decode(enc.as_bytes()).unwrap(), plain.as_bytes());
            assert_eq!(encoded_len(plain.len()), enc.len());
        }
        assert_eq!(decode(b"Zg="), None);
        assert_eq!(decode(b"Z=g="), None);
        assert_eq!(decode(b"Zg==Zg=="), None);
    }

    #[test]
    fn round_trip_all_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        for n in 0..all.len() {
            let mut enc = Vec::new();
            encode_into(&all[..n], &mut enc);
            assert_eq!(decode(&enc).unwrap(), &all[..n]);
        }
    }
}
