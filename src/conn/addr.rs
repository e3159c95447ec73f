//! Where a server is: a TCP `host:port` or a Unix socket path.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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
pub enum ServerAddr {
    /// `host:port`, resolved at each connect.
    Tcp(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
}

impl FromStr for ServerAddr {
    type Err = std::io::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(ServerAddr::Unix(path.into()));
        }
        if s.starts_with('/') || s.starts_with('.') {
            return Ok(ServerAddr::Unix(s.into()));
        }
        if s.rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            return Ok(ServerAddr::Tcp(s.to_owned()));
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a server address (want host:port or a socket path): {s:?}"),
        ))
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
