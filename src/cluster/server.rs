//! One server of a cluster as configured: its address, its weight, and the spelling it
//! was given in, which placement hashes and `mcaside route` prints back.

use std::fmt;
use std::str::FromStr;

use crate::conn::ServerAddr;

/// A server of a cluster: where it is and its weight (default 1).
///
/// Parsed from `host:port`, `host:port:weight`, `[v6addr]:port[:weight]`, or a Unix
/// socket path (starting with `/` or `.`, or prefixed `unix:`). The host is kept as
/// written: placement hashes the name, not what it resolves to, as every client of a
/// fleet must.
///
/// ```
/// use mcaside::cluster::Server;
/// let s: Server = "cache-1.internal:11212:3".parse().unwrap();
/// assert_eq!((s.host(), s.port(), s.weight()), ("cache-1.internal", 11212, 3));
/// assert_eq!(s.to_string(), "cache-1.internal:11212:3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    spec: String,
    addr: ServerAddr,
    host: String,
    port: u16,
    weight: u32,
}

/// Why a server specification was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSpecError {
    /// Not `host:port[:weight]` or a socket path.
    Unparsable(String),
    /// A weight of 0 (a server that takes no keys is not a server of the cluster).
    ZeroWeight(String),
}

impl fmt::Display for ServerSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerSpecError::Unparsable(s) => write!(
                f,
                "not a server (want host:port, host:port:weight or a socket path): {s:?}"
            ),
            ServerSpecError::ZeroWeight(s) => write!(f, "server {s:?} has weight 0"),
        }
    }
}

impl std::error::Error for ServerSpecError {}

impl Server {
    /// A server at `addr` with `weight`.
    pub fn new(addr: ServerAddr, weight: u32) -> Result<Server, ServerSpecError> {
        let spec = match &addr {
            ServerAddr::Tcp(a) if weight == 1 => a.clone(),
            ServerAddr::Tcp(a) => format!("{a}:{weight}"),
            ServerAddr::Unix(p) => p.display().to_string(),
        };
        Self::from_parts(spec, addr, weight)
    }

    fn from_parts(spec: String, addr: ServerAddr, weight: u32) -> Result<Server, ServerSpecError> {
        if weight == 0 {
            return Err(ServerSpecError::ZeroWeight(spec));
        }
        let (host, port) = match &addr {
            ServerAddr::Tcp(a) => {
                let (host, port) =
                    split_host_port(a).ok_or_else(|| ServerSpecError::Unparsable(spec.clone()))?;
                (host.to_owned(), port)
            }
            ServerAddr::Unix(p) => (p.display().to_string(), 0),
        };
        Ok(Server {
            spec,
            addr,
            host,
            port,
            weight,
        })
    }

    /// Where to connect.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The host as written (brackets of an IPv6 address removed), or a socket's path.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port; 0 for a Unix socket.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The weight: a server of weight 2 takes about twice the keys of one of weight 1
    /// (with ketama; rendezvous ignores weights, as pymemcache does).
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// The specification exactly as it was given.
impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

impl FromStr for Server {
    type Err = ServerSpecError;

    fn from_str(s: &str) -> Result<Server, ServerSpecError> {
        let bad = || ServerSpecError::Unparsable(s.to_owned());
        if s.starts_with('/') || s.starts_with('.') || s.starts_with("unix:") {
            let addr = s.parse().map_err(|_| bad())?;
            return Self::from_parts(s.to_owned(), addr, 1);
        }
        // `host:port` or `host:port:weight`; an IPv6 host must be in brackets so that
        // its colons are not read as separators.
        let (addr, weight) = match split_host_port(s) {
            Some(_) => (s.to_owned(), 1),
            None => {
                let (rest, weight) = s.rsplit_once(':').ok_or_else(bad)?;
                let weight: u32 = weight.parse().map_err(|_| bad())?;
                split_host_port(rest).ok_or_else(bad)?;
                (rest.to_owned(), weight)
            }
        };
        Self::from_parts(s.to_owned(), ServerAddr::Tcp(addr), weight)
    }
}

/// `host:port` or `[v6]:port` into its host (unbracketed) and port. A bare IPv6 address
/// or a host with a colon is refused: it cannot be told apart from `host:port:weight`.
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = s.split_once(':')?;
        if host.contains(':') || port.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s: Server = "10.0.0.1:11211".parse().unwrap();
        assert_eq!((s.host(), s.port(), s.weight()), ("10.0.0.1", 11211, 1));
        assert_eq!(s.addr(), &ServerAddr::Tcp("10.0.0.1:11211".into()));
        let s: Server = "[::1]:11212:4".parse().unwrap();
        assert_eq!((s.host(), s.port(), s.weight()), ("::1", 11212, 4));
        assert_eq!(s.addr(), &ServerAddr::Tcp("[::1]:11212".into()));
        assert_eq!(s.to_string(), "[::1]:11212:4");
        let s: Server = "/run/mc.sock".parse().unwrap();
        assert_eq!((s.host(), s.port()), ("/run/mc.sock", 0));
        for bad in [
            "",
            "host",
            "host:",
            ":11211",
            "host:x",
            "host:1:2:3",
            "::1:11211",
            "h:1:x",
            "h:99999",
        ] {
            assert!(
                matches!(bad.parse::<Server>(), Err(ServerSpecError::Unparsable(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            "h:1:0".parse::<Server>(),
            Err(ServerSpecError::ZeroWeight(_))
        ));
        assert_eq!(
            Server::new(ServerAddr::Tcp("h:1".into()), 2)
                .unwrap()
                .to_string(),
            "h:1:2"
        );
    }
}
