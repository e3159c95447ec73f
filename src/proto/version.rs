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
//! | `ms s` (return size) | 1.6.20 | 1.6.21 release notes (fixes a bug it added in 1.6.20) |
//! | `E` (set the cas value) | 1.6.27 | stated by the project's issue 3 |
//! | `mg C`, `ms N`, `md x` | 1.6.27, conservatively | absent from 1.6.18; in the current protocol.txt |
//! | `k`/`me` echoing a binary key with a space or control byte | none known | 1.6.18 echoes a vivified item's key raw |
//!
//! Everything else this client encodes is accepted by 1.6.18 (tested flag by flag).

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

/// A protocol feature that not every server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The meta commands.
    Meta,
    /// `ms ... s`: return the stored size.
    MetaSetSize,
    /// `E<cas>`: set the item's cas to a given value.
    ExplicitCas,
    /// `mg ... C<cas>`: skip the value if the cas matches.
    MetaGetCompareCas,
    /// `ms ... N<ttl>` in append mode: create the item on a miss.
    MetaSetVivify,
    /// `md ... x`: remove the value but keep the item.
    MetaDeleteValue,
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
            Feature::MetaSetSize => Version(1, 6, 20),
            Feature::ExplicitCas
            | Feature::MetaGetCompareCas
            | Feature::MetaSetVivify
            | Feature::MetaDeleteValue => Version(1, 6, 27),
            Feature::SafeBinaryKeyEcho => Version(u16::MAX, 0, 0),
        }
    }

    /// A short description, for errors.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::Meta => "meta commands (memcached 1.6+)",
            Feature::MetaSetSize => "meta flag ms s (memcached 1.6.20+)",
            Feature::ExplicitCas => "meta flag E (memcached 1.6.27+)",
            Feature::MetaGetCompareCas => "meta flag mg C (memcached 1.6.27+)",
            Feature::MetaSetVivify => "meta flag ms N (memcached 1.6.27+)",
            Feature::MetaDeleteValue => "meta flag md x (memcached 1.6.27+)",
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
        assert!(!f.has(Feature::ExplicitCas));
        assert!(!f.has(Feature::MetaSetSize));
        assert!(!Features::CLASSIC.has(Feature::Meta));
        assert!(Features::ALL.has(Feature::ExplicitCas));
    }
}
