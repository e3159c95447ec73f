//! Values in and out: from an argument or standard input, to standard output as raw
//! bytes or escaped.
//!
//! A value written to a pipe or a file is its bytes exactly, nothing added, like
//! memccat: `mcaside get k > file` round-trips any value. On a terminal, where raw bytes
//! could garble the screen, it is escaped (`\r`, `\n`, `\xNN`, ...) and ends with a
//! newline; `--escape` asks for that anywhere.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::OsStringExt;

use clap::Args;
use mcaside::proto::Escaped;

/// The help text of every VALUE argument.
pub const VALUE_HELP: &str = "The value, as bytes; - reads it from standard input \
     (any bytes, up to --max-value; to store a lone dash, pipe it: printf - | ...)";

/// How a value is printed.
#[derive(Args, Debug, Clone, Copy)]
pub struct Shown {
    /// Print the value escaped (\r, \n, \t, \0, \\, \xNN) and followed by a newline, as
    /// on a terminal; piped or redirected, it is written as raw bytes otherwise.
    #[arg(long)]
    pub escape: bool,
}

impl Shown {
    fn escaped(self) -> bool {
        self.escape || std::io::stdout().is_terminal()
    }
}

/// The bytes of a VALUE argument: as given, or standard input for `-`.
pub fn read(arg: OsString, max_value: usize) -> Result<Vec<u8>, String> {
    if arg != "-" {
        return Ok(arg.into_vec());
    }
    // One byte past the limit tells "too large" from "exactly the limit" without
    // reading an unbounded stream into memory.
    let mut value = Vec::new();
    std::io::stdin()
        .lock()
        .take(max_value as u64 + 1)
        .read_to_end(&mut value)
        .map_err(|e| format!("reading the value from standard input: {e}"))?;
    if value.len() > max_value {
        return Err(format!(
            "the value on standard input is larger than --max-value ({max_value} bytes)"
        ));
    }
    Ok(value)
}

/// Writes a value to standard output, raw or escaped (see the module doc).
pub fn write(value: &[u8], shown: Shown) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if shown.escaped() {
        writeln!(out, "{}", Escaped(value))?;
    } else {
        out.write_all(value)?;
    }
    out.flush()
}

/// Writes a line of text to standard output, returning the error (a closed pipe, say)
/// instead of panicking as `println!` does.
pub fn line(text: impl std::fmt::Display) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")
}
