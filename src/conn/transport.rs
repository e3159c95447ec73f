//! The byte stream under a connection: TCP, TLS over TCP, or a Unix socket, behind one
//! type.
//!
//! The connection's I/O task only needs `AsyncRead + AsyncWrite`; this enum is the one
//! place that knows which socket kinds exist, so the request routing is the same over
//! all of them. Over TLS the session still writes each batch of requests with one
//! `poll_write`, which rustls seals into as few records as the bytes need (one per
//! 16 KiB), and flushes once: a batch costs TLS no more records than its size.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::ServerAddr;

/// A connected socket.
///
/// Non-exhaustive: which kinds exist depends on the crate's features (`Tls` needs
/// `tls`), and more may come.
#[derive(Debug)]
#[non_exhaustive]
pub enum Transport {
    /// TCP, with `TCP_NODELAY` set (requests are small and latency-bound, and the
    /// connection already batches writes itself) and, when configured, TCP keepalive
    /// (so a server host that vanished without closing is found even on an idle
    /// connection).
    Tcp(TcpStream),
    /// A Unix domain socket.
    Unix(UnixStream),
    /// TLS over TCP (with `TCP_NODELAY`), with the `tls` feature.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Transport {
    /// Opens a socket to `addr`, with the system's keepalive settings. (The caller
    /// applies the connect timeout.)
    pub async fn connect(addr: &ServerAddr) -> io::Result<Transport> {
        Self::connect_with(addr, None).await
    }

    /// Opens a socket to `addr`, with TCP keepalive probes after `keepalive` of silence
    /// (`None`: the system default, usually off). The caller applies the connect
    /// timeout.
    pub async fn connect_with(
        addr: &ServerAddr,
        keepalive: Option<Duration>,
    ) -> io::Result<Transport> {
        match addr {
            ServerAddr::Tcp(a) => {
                let s = TcpStream::connect(a.as_str()).await?;
                s.set_nodelay(true)?;
                if let Some(idle) = keepalive {
                    // Probe after `idle` of silence, then every `idle / 3`; the kernel
                    // gives up after its default number of probes (9 on Linux).
                    let interval = (idle / 3).max(Duration::from_secs(1));
                    let ka = socket2::TcpKeepalive::new()
                        .with_time(idle)
                        .with_interval(interval);
                    socket2::SockRef::from(&s).set_tcp_keepalive(&ka)?;
                }
                Ok(Transport::Tcp(s))
            }
            ServerAddr::Unix(p) => Ok(Transport::Unix(UnixStream::connect(p).await?)),
        }
    }

    /// Runs the TLS handshake on a TCP connection to `addr`, verifying the server under
    /// the host of `addr` unless the TLS settings name another. (The caller applies the
    /// connect timeout.)
    #[cfg(feature = "tls")]
    pub(crate) async fn into_tls(
        self,
        tls: &super::tls::Tls,
        addr: &ServerAddr,
    ) -> Result<Transport, crate::Error> {
        match (self, addr) {
            (Transport::Tcp(s), ServerAddr::Tcp(a)) => {
                let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                Ok(Transport::Tls(Box::new(tls.handshake(host, s).await?)))
            }
            (other, _) => Ok(other),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            Transport::Unix(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Unix(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Unix(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
