//! `mcaside raw`: send protocol lines verbatim, print what comes back.
//!
//! No client, no parser: a plain socket, so that anything can be tried, including what
//! the client would refuse to send. The reply is read until the server has been quiet
//! for `wait` (there is no way to know a reply to arbitrary input is complete).

use std::process::ExitCode;
use std::time::Duration;

use mcaside::ClientBuilder;
use mcaside::conn::ServerAddr;
use mcaside::proto::Escaped;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// As long as the client's own connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn run(
    builder: ClientBuilder,
    addr: &ServerAddr,
    lines: &[String],
    wait: Duration,
    wire: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(&unescape(line)?);
        out.extend_from_slice(b"\r\n");
    }
    // The same connect as the client's (TLS and login included), then raw bytes.
    let mut io = builder
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_raw(addr)
        .await?;
    io.write_all(&out).await?;
    if wire {
        eprintln!("> {}", Escaped(&out));
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(wait, io.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return Err(e.into()),
        }
    }
    if wire {
        eprintln!("< {}", Escaped(&reply));
    } else {
        use std::io::Write;
        std::io::stdout().lock().write_all(&reply)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Turns `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN` into the bytes they name.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).map_err(|e| e.to_string())?;
                out.push(
                    u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x escape in {s:?}"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown escape \\{} in {s:?}",
                    other.map_or('?', char::from)
                ));
            }
        }
    }
    Ok(out)
}
