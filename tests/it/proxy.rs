//! A TCP proxy in front of a real memcached, for tests that watch the traffic (what the
//! client wrote, how many round trips it took) or disturb it (a server that goes silent).
//! Each connection the client opens gets its own upstream connection; the hooks see
//! every chunk, in both directions, as it passes.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a proxy to `upstream` and returns its address. `up` sees each chunk the
/// client sends before it is forwarded; `down` sees each chunk the server sends and
/// says whether to forward it.
pub async fn proxy(
    upstream: &str,
    up: impl Fn(&[u8]) + Send + Sync + 'static,
    down: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let upstream = upstream.to_string();
    let (up, down) = (Arc::new(up), Arc::new(down));
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let up = up.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    up(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let down = down.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n @ 1..) = sr.read(&mut buf).await {
                    if down(&buf[..n]) && cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}
