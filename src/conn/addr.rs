//! Where a server is: a TCP `host:port` or a Unix socket path.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::InputError;

/// The address of one memcached server.
///
/// Parsed from a string: a path (starting with `/` or `.`, or prefixed `unix:`) is a Unix
/// socket (memcached's `-s`), anything else is `host:port` over TCP.
///
/// ```
/// use mcaside::conn::ServerAddr;
/// assert!(matches!("127.0.0.1:11211".parse::<ServerAddr>(), Ok(ServerAddr::Tcp(_))));
/// assert!(matches!("/run/memcached.sock".parse::<ServerAddr>(), Ok(ServerAddr::Unix(_))));
/// assert!(matches!("unix:mc.sock".parse::<ServerAddr>(), Ok(ServerAddr::Unix(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerAddr {
    /// `host:port`, resolved at each connect.
    Tcp(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
}

/// A string that names no server is bad input ([`InputError::BadAddress`]), not an I/O
/// failure: nothing was tried.
///
/// ```
/// use mcaside::conn::ServerAddr;
/// use mcaside::InputError;
/// let err = "127.0.0.1".parse::<ServerAddr>().unwrap_err();
/// assert!(matches!(err, InputError::BadAddress { reason: "no port", .. }));
/// ```
impl FromStr for ServerAddr {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| InputError::BadAddress {
            addr: s.to_owned(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("empty socket path"));
            }
            return Ok(ServerAddr::Unix(path.into()));
        }
        if s.starts_with('/') || s.starts_with('.') {
            return Ok(ServerAddr::Unix(s.into()));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(bad("no port"));
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if port.parse::<u16>().is_err() {
            return Err(bad("the port is not a number from 0 to 65535"));
        }
        Ok(ServerAddr::Tcp(s.to_owned()))
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp(a) => f.write_str(a),
            ServerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl From<std::net::SocketAddr> for ServerAddr {
    fn from(a: std::net::SocketAddr) -> Self {
        ServerAddr::Tcp(a.to_string())
    }
}

impl From<&ServerAddr> for ServerAddr {
    fn from(a: &ServerAddr) -> Self {
        a.clone()
    }
}
