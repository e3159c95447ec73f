//! What a server supports, from its `version` reply.
//!
//! Meta commands arrived in the 1.6 series, and some meta flags later still. Sending a
//! flag the server does not know gets `CLIENT_ERROR invalid flag`; worse, a rejected
//! `ms` line makes the server read the data block as a command. So the client reads the
//! server's version when it connects, and the meta encoders refuse, before sending, a
//! flag the server lacks.
//!
//! | feature | first version | source |
//! |---|---|---|
//! | meta commands (`mg ms md ma mn me`) | 1.6.0 | the 1.6 protocol.txt |
//! | `k`/`me` echoing a binary key with a space or control byte | none known | 1.6.18 echoes a vivified item's key raw |
//!
//! A meta flag newer than the meta commands says which version it needs in its own row
//! of its command's table (see [`meta`](super::meta)), with the source of that version:
//! `ms s` 1.6.20; `E` 1.6.27; `mg C`, `ms N` and `md x` 1.6.27, conservatively (absent
//! from 1.6.18, in the current protocol.txt). Everything else the meta encoders write is
//! accepted by 1.6.18 (tested flag by flag).

use std::fmt;

/// A memcached version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u16, pub u16, pub u16);

impl Version {
    /// Parses the text of a `VERSION` reply (`1.6.18`, `1.6.21-rc1`, ...). Anything
    /// after the third number is ignored; a missing patch number is 0.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split(['.', '-', ' ']);
        let mut num = |required: bool| match parts.next() {
            Some(p) => p.parse().ok(),
            None if !required => Some(0),
            None => None,
        };
        Some(Version(num(true)?, num(true)?, num(false)?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A protocol feature that not every server has. (Meta flags that not every server has
/// are checked by the meta encoders, each against the version in its flag's row.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Feature {
    /// The meta commands.
    Meta,
    /// Echoing a binary key (`b` with `k`, or `me ... b`) whose raw bytes include a space
    /// or control byte. memcached 1.6.18 echoes the key of an item created by vivify
    /// (`N`) raw, without `b`, so such a key splits the reply line (`VA 0 ka\r\nb W`).
    /// No released version is known to be safe.
    SafeBinaryKeyEcho,
}

impl Feature {
    /// The first server version with this feature.
    pub fn since(self) -> Version {
        match self {
            Feature::Meta => Version(1, 6, 0),
            Feature::SafeBinaryKeyEcho => Version(u16::MAX, 0, 0),
        }
    }

    /// A short description, for errors.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::Meta => "meta commands (memcached 1.6+)",
            Feature::SafeBinaryKeyEcho => {
                "returning a binary key with a space or control byte (k with b, or me b): \
                 memcached echoes a vivified item's key raw, which breaks the reply line; \
                 match replies by opaque token instead"
            }
        }
    }
}

/// What one server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Features {
    /// The server's version, if it told us (a proxy may not).
    pub version: Option<Version>,
}

impl Features {
    /// Everything this client knows how to encode (for offline encoding and tests).
    pub const ALL: Features = Features {
        version: Some(Version(u16::MAX, 0, 0)),
    };

    /// Classic commands only: what is assumed when the version is unknown.
    pub const CLASSIC: Features = Features { version: None };

    /// What a server of this version supports (to state it with
    /// [`ClientBuilder::features`](crate::ClientBuilder::features), or to encode for it).
    ///
    /// ```
    /// use mcaside::proto::{Feature, Features, Version};
    /// assert!(Features::of(Version(1, 6, 18)).has(Feature::Meta));
    /// ```
    pub const fn of(version: Version) -> Features {
        Features {
            version: Some(version),
        }
    }

    /// True if the server has `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        self.version.is_some_and(|v| v >= feature.since())
    }

    /// `Ok` if the server has `feature`, else the error to return instead of sending.
    pub fn require(&self, feature: Feature) -> Result<(), crate::InputError> {
        if self.has(feature) {
            Ok(())
        } else {
            Err(crate::InputError::Unsupported {
                what: feature.describe(),
            })
        }
    }

    /// `Ok` if the server is at least `version`, else the error naming `what` (a meta
    /// flag's gate).
    pub(crate) fn require_version(
        &self,
        version: Version,
        what: &'static str,
    ) -> Result<(), crate::InputError> {
        if self.version.is_some_and(|v| v >= version) {
            Ok(())
        } else {
            Err(crate::InputError::Unsupported { what })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_gate() {
        assert_eq!(Version::parse("1.6.18"), Some(Version(1, 6, 18)));
        assert_eq!(Version::parse("1.6.21-rc1"), Some(Version(1, 6, 21)));
        assert_eq!(Version::parse("1.4"), Some(Version(1, 4, 0)));
        assert_eq!(Version::parse("twemproxy"), None);
        let f = Features {
            version: Version::parse("1.6.18"),
        };
        assert!(f.has(Feature::Meta));
        assert!(!f.has(Feature::SafeBinaryKeyEcho));
        assert!(f.require_version(Version(1, 6, 27), "E").is_err());
        assert!(f.require_version(Version(1, 6, 18), "x").is_ok());
        assert!(!Features::CLASSIC.has(Feature::Meta));
        assert!(
            Features::CLASSIC
                .require_version(Version(1, 6, 0), "x")
                .is_err()
        );
        assert!(
            Features::ALL
                .require_version(Version(1, 6, 27), "E")
                .is_ok()
        );
    }
}
