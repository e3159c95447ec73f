//! Error messages as a user of redis-cli or memccat expects them:
//! `could not connect to 127.0.0.1:28999: connection refused`.
//!
//! The library's messages are complete (each cause printed once, see `mcaside::error`);
//! here only the operating system's wording is trimmed to what a person reads: strerror
//! in lower case, without the `(os error 111)` that follows it.

use std::error::Error as StdError;
use std::io;

use mcaside::Error;
use mcaside::error::ConnectStep;

/// The whole message for `e`: its own, then each source's, joined by ": ".
pub fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut out = headline(e);
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&headline(cause));
        next = cause.source();
    }
    out
}

fn headline(e: &(dyn StdError + 'static)) -> String {
    if let Some(e) = e.downcast_ref::<Error>() {
        return library(e);
    }
    if let Some(e) = e.downcast_ref::<io::Error>() {
        return os(e);
    }
    e.to_string()
}

fn library(e: &Error) -> String {
    match e {
        Error::Connect(c) => {
            let cause = match c.cause() {
                Error::Io(io) => os(io),
                other => library(other),
            };
            match c.step() {
                ConnectStep::Connect => format!("could not connect to {}: {cause}", c.server()),
                ConnectStep::VersionProbe => format!(
                    "connected to {}, but it did not answer `version`: {cause}",
                    c.server()
                ),
                _ => c.to_string(),
            }
        }
        Error::Io(io) => format!("i/o error: {}", os(io)),
        other => other.to_string(),
    }
}

/// "Connection refused (os error 111)" as "connection refused"; other I/O errors (a
/// name that does not resolve, say) as they are.
pub fn os(e: &io::Error) -> String {
    let text = e.to_string();
    let Some(code) = e.raw_os_error() else {
        return text;
    };
    let text = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_strerror() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(os(&refused), "connection refused");
        let missing = io::Error::from_raw_os_error(2);
        assert_eq!(os(&missing), "no such file or directory");
        let custom = io::Error::other("failed to lookup address information");
        assert_eq!(os(&custom), "failed to lookup address information");
        let e: Box<dyn StdError> = Box::new(Error::from(refused));
        assert_eq!(describe(e.as_ref()), "i/o error: connection refused");
    }
}
