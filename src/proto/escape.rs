//! Printing wire bytes so a person can read them.
//!
//! Used by the TRACE-level wire log, the CLI's `--wire` and values the CLI prints escaped:
//! valid UTF-8 text as it is (non-ASCII included: a key `ключ` reads as itself), `\r`
//! `\n` `\t` `\0` `\\` as escapes, and every other byte of a control character
//! (C0, DEL, C1) or of invalid UTF-8 as `\xNN`, so each `\xNN` is one byte on the wire.
//! One line per chunk, so a transcript shows exactly where the protocol's line endings
//! are.

use std::fmt;

/// Displays bytes escaped: `VALUE k 0 1\r\nx\r\nEND\r\n`.
///
/// ```
/// use mcaside::proto::Escaped;
/// assert_eq!(Escaped(b"END\r\n\x01").to_string(), "END\\r\\n\\x01");
/// ```
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\r' => f.write_str("\\r")?,
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    '\0' => f.write_str("\\0")?,
                    '\\' => f.write_str("\\\\")?,
                    c if c.is_control() => {
                        // Byte by byte: a C1 control (U+0080 to U+009F) is two bytes.
                        for b in c.encode_utf8(&mut [0; 4]).bytes() {
                            write!(f, "\\x{b:02x}")?;
                        }
                    }
                    c => write!(f, "{c}")?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Escapes and cuts `bytes` to at most `max` input bytes, for error messages.
pub(crate) fn escape_short(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s = Escaped(cut).to_string();
    if bytes.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_text() {
        let shown = |b: &[u8]| Escaped(b).to_string();
        assert_eq!(shown(b"VALUE k 0 1\r\n"), "VALUE k 0 1\\r\\n");
        assert_eq!(shown("ключ é".as_bytes()), "ключ é");
        assert_eq!(shown(b"\x01\x7f\t\0\\"), "\\x01\\x7f\\t\\0\\\\");
        // A C1 control is shown as its two bytes; invalid UTF-8 byte by byte.
        assert_eq!(shown("\u{85}".as_bytes()), "\\xc2\\x85");
        assert_eq!(shown(b"a\xff\xc3"), "a\\xff\\xc3");
        assert_eq!(escape_short(b"abcdef", 3), "abc…");
    }
}
