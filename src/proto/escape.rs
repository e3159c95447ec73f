//! Printing wire bytes so a person can read them.
//!
//! Used by the TRACE-level wire log and by the CLI's `--wire`: printable ASCII as is,
//! `\r` `\n` `\t` `\0` `\\` as escapes, everything else as `\xNN`. One line per chunk,
//! so a transcript shows exactly where the protocol's line endings are.

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
                    c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
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
