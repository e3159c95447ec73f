//! One server of a cluster as configured: its address, its weight, and the spelling it
//! was given in, which placement hashes and `mcaside route` prints back.

use std::fmt;
use std::str::FromStr;

use crate::conn::ServerAddr;
use crate::error::{ConfigError, Error, InputError};

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

impl Server {
    /// A server at `addr` with `weight` (at least 1: weight 0 is
    /// [`ConfigError::ZeroWeight`]).
    pub fn new(addr: ServerAddr, weight: u32) -> Result<Server, Error> {
        let spec = match &addr {
            ServerAddr::Tcp(a) if weight == 1 => a.clone(),
            ServerAddr::Tcp(a) => format!("{a}:{weight}"),
            ServerAddr::Unix(p) => p.display().to_string(),
        };
        Self::from_parts(spec, addr, weight)
    }

    fn from_parts(spec: String, addr: ServerAddr, weight: u32) -> Result<Server, Error> {
        if weight == 0 {
            return Err(ConfigError::ZeroWeight { server: spec }.into());
        }
        let (host, port) = match &addr {
            ServerAddr::Tcp(a) => {
                let (host, port) = split_host_port(a).ok_or_else(|| bad(&spec, HOST_PORT))?;
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

/// Why a `host:port[:weight]` was refused.
const HOST_PORT: &str = "want HOST:PORT or HOST:PORT:WEIGHT (an IPv6 host in brackets)";

fn bad(spec: &str, reason: &'static str) -> Error {
    InputError::BadAddress {
        addr: spec.to_owned(),
        reason,
    }
    .into()
}

/// A spelling that is not a server is [`InputError::BadAddress`]; a weight of 0 is
/// [`ConfigError::ZeroWeight`].
impl FromStr for Server {
    type Err = Error;

    fn from_str(s: &str) -> Result<Server, Error> {
        if s.starts_with('/') || s.starts_with('.') || s.starts_with("unix:") {
            let addr: ServerAddr = s.parse()?;
            return Self::from_parts(s.to_owned(), addr, 1);
        }
        // `host:port` or `host:port:weight`; an IPv6 host must be in brackets so that
        // its colons are not read as separators.
        // What is wrong with a spelling that is neither: the address parser's reason
        // ("no port", ...) when it has one.
        let refused = || match s.parse::<ServerAddr>() {
            Err(e) => Error::from(e),
            Ok(_) => bad(s, HOST_PORT),
        };
        let (addr, weight) = match split_host_port(s) {
            Some(_) => (s.to_owned(), 1),
            None => {
                let (rest, weight) = s.rsplit_once(':').ok_or_else(refused)?;
                let weight: u32 = weight.parse().map_err(|_| refused())?;
                split_host_port(rest).ok_or_else(refused)?;
                (rest.to_owned(), weight)
            }
        };
        Self::from_parts(s.to_owned(), ServerAddr::Tcp(addr), weight)
    }
}

/// Things that name a server of a cluster: `"host:port[:weight]"` or a socket path
/// (see [`Server`]), a [`Server`], a [`ServerAddr`] (weight 1).
pub trait ToServer {
    /// The server.
    fn to_server(self) -> Result<Server, Error>;
}

impl ToServer for Server {
    fn to_server(self) -> Result<Server, Error> {
        Ok(self)
    }
}
impl ToServer for &Server {
    fn to_server(self) -> Result<Server, Error> {
        Ok(self.clone())
    }
}
impl ToServer for &str {
    fn to_server(self) -> Result<Server, Error> {
        self.parse()
    }
}
impl ToServer for &&str {
    fn to_server(self) -> Result<Server, Error> {
        self.parse()
    }
}
impl ToServer for String {
    fn to_server(self) -> Result<Server, Error> {
        self.parse()
    }
}
impl ToServer for &String {
    fn to_server(self) -> Result<Server, Error> {
        self.parse()
    }
}
impl ToServer for ServerAddr {
    fn to_server(self) -> Result<Server, Error> {
        Server::new(self, 1)
    }
}
impl ToServer for &ServerAddr {
    fn to_server(self) -> Result<Server, Error> {
        Server::new(self.clone(), 1)
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
                matches!(
                    bad.parse::<Server>(),
                    Err(Error::Input(InputError::BadAddress { .. }))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            "h:1:0".parse::<Server>(),
            Err(Error::Config(ConfigError::ZeroWeight { .. }))
        ));
        assert_eq!(
            Server::new(ServerAddr::Tcp("h:1".into()), 2)
                .unwrap()
                .to_string(),
            "h:1:2"
        );
    }
}
