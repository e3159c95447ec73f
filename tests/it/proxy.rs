//! TCP proxies in front of a real memcached, for tests that watch the traffic (what the
//! client wrote, how many round trips it took) or disturb it.
//!
//! - [`proxy`]: hooks that see every chunk, in both directions, as it passes.
//! - [`FaultProxy`]: faults injected on command, at any moment of a test: delay or
//!   stall the replies, cut them into 1-byte writes, duplicate or drop a reply line,
//!   push bytes the server never sent (now, or just as a given request goes out), close
//!   or reset the connections. It counts connections accepted and closed by the client.
//!
//! Each connection the client opens gets its own upstream connection.

#![allow(dead_code)] // the soak example uses other parts than the tests

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

/// The faults currently switched on.
#[derive(Default)]
struct Settings {
    /// Added before each chunk of replies is forwarded.
    delay: Duration,
    /// Replies are held (not forwarded) while set.
    stalled: bool,
    /// Replies are written one byte at a time.
    one_byte: bool,
    /// The next reply line starting with this is sent twice.
    dup_line: Option<Vec<u8>>,
    /// The next reply line starting with this is not sent.
    drop_line: Option<Vec<u8>>,
    /// When a request line starting with `.0` goes out, `.1` is pushed to the client
    /// first (once).
    inject_on: Option<(Vec<u8>, Vec<u8>)>,
}

enum Command {
    Inject(Vec<u8>),
    Close,
    Reset,
}

/// A proxy whose faults are switched on and off by the test (see the module doc).
#[derive(Clone)]
pub struct FaultProxy {
    /// Where the client should connect.
    pub addr: String,
    settings: Arc<Mutex<Settings>>,
    conns: Arc<Mutex<Vec<mpsc::UnboundedSender<Command>>>>,
    accepted: Arc<AtomicUsize>,
    client_closed: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// A proxy to `upstream`, forwarding faithfully until told otherwise.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = FaultProxy {
            addr: listener.local_addr().unwrap().to_string(),
            settings: Arc::default(),
            conns: Arc::default(),
            accepted: Arc::default(),
            client_closed: Arc::default(),
        };
        let upstream = upstream.to_string();
        let p = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    drop(client); // the server is down: so is the proxy, for this client
                    continue;
                };
                p.accepted.fetch_add(1, Ordering::SeqCst);
                let (tx, rx) = mpsc::unbounded_channel();
                p.conns.lock().unwrap().push(tx.clone());
                tokio::spawn(p.clone().pipe(client, server, tx, rx));
            }
        });
        proxy
    }

    /// Delays every chunk of replies by `d`.
    pub fn delay(&self, d: Duration) {
        self.settings.lock().unwrap().delay = d;
    }

    /// Holds every reply until [`resume`](Self::resume) (the server looks stuck, the
    /// connection stays open).
    pub fn stall(&self) {
        self.settings.lock().unwrap().stalled = true;
    }

    /// Ends a [`stall`](Self::stall).
    pub fn resume(&self) {
        self.settings.lock().unwrap().stalled = false;
    }

    /// Writes replies one byte at a time (or not).
    pub fn one_byte_writes(&self, on: bool) {
        self.settings.lock().unwrap().one_byte = on;
    }

    /// Sends the next reply line that starts with `prefix` twice.
    pub fn dup_line(&self, prefix: &[u8]) {
        self.settings.lock().unwrap().dup_line = Some(prefix.to_vec());
    }

    /// Leaves out the next reply line that starts with `prefix`.
    pub fn drop_line(&self, prefix: &[u8]) {
        self.settings.lock().unwrap().drop_line = Some(prefix.to_vec());
    }

    /// Pushes `bytes` to the client on every open connection, now.
    pub fn inject(&self, bytes: &[u8]) {
        self.command(|| Command::Inject(bytes.to_vec()));
    }

    /// When a request line starting with `prefix` next goes out, pushes `bytes` to the
    /// client just before forwarding it (a reply that crosses the request).
    pub fn inject_on(&self, prefix: &[u8], bytes: &[u8]) {
        self.settings.lock().unwrap().inject_on = Some((prefix.to_vec(), bytes.to_vec()));
    }

    /// Closes every open connection (a FIN to the client).
    pub fn drop_connections(&self) {
        self.command(|| Command::Close);
    }

    /// Resets every open connection (an RST to the client).
    pub fn reset_connections(&self) {
        self.command(|| Command::Reset);
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many connections the client has closed.
    pub fn closed_by_client(&self) -> usize {
        self.client_closed.load(Ordering::SeqCst)
    }

    fn command(&self, c: impl Fn() -> Command) {
        self.conns.lock().unwrap().retain(|tx| tx.send(c()).is_ok());
    }

    async fn pipe(
        self,
        client: TcpStream,
        server: TcpStream,
        to_client: mpsc::UnboundedSender<Command>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        // Requests: forwarded as they come, watched for `inject_on`.
        let settings = self.settings.clone();
        let closed = self.client_closed.clone();
        let upward = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(n) => n,
                };
                let inject = {
                    let mut s = settings.lock().unwrap();
                    match &s.inject_on {
                        Some((prefix, _))
                            if buf[..n]
                                .split(|&b| b == b'\n')
                                .any(|l| l.starts_with(prefix)) =>
                        {
                            s.inject_on.take().map(|(_, bytes)| bytes)
                        }
                        _ => None,
                    }
                };
                if let Some(bytes) = inject {
                    let _ = to_client.send(Command::Inject(bytes));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if sw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
        // Replies: cut into lines, so that a line can be duplicated or dropped.
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            tokio::select! {
                read = sr.read(&mut buf) => {
                    let n = match read { Ok(0) | Err(_) => break, Ok(n) => n };
                    pending.extend_from_slice(&buf[..n]);
                    let (delay, out) = self.take_lines(&mut pending);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    while self.settings.lock().unwrap().stalled {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    if self.write(&mut cw, &out).await.is_err() {
                        break;
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Inject(bytes)) => {
                        if self.write(&mut cw, &bytes).await.is_err() {
                            break;
                        }
                    }
                    Some(Command::Close) | None => break,
                    Some(Command::Reset) => {
                        // Linger 0: closing sends an RST instead of a FIN.
                        let _ = socket2::SockRef::from(cw.as_ref()).set_linger(Some(Duration::ZERO));
                        break;
                    }
                },
            }
        }
        upward.abort();
    }

    /// Takes the complete lines off `pending`, applying `dup_line` and `drop_line`;
    /// returns them with the delay to apply.
    fn take_lines(&self, pending: &mut Vec<u8>) -> (Duration, Vec<u8>) {
        let mut s = self.settings.lock().unwrap();
        if s.dup_line.is_none() && s.drop_line.is_none() {
            return (s.delay, std::mem::take(pending));
        }
        let mut out = Vec::new();
        let mut rest = &pending[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let line = &rest[..i + 2];
            rest = &rest[i + 2..];
            if s.dup_line.as_ref().is_some_and(|p| line.starts_with(p)) {
                s.dup_line = None;
                out.extend_from_slice(line);
            } else if s.drop_line.as_ref().is_some_and(|p| line.starts_with(p)) {
                s.drop_line = None;
                continue;
            }
            out.extend_from_slice(line);
        }
        let rest = rest.to_vec();
        *pending = rest;
        (s.delay, out)
    }

    async fn write(
        &self,
        w: &mut tokio::net::tcp::OwnedWriteHalf,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        if self.settings.lock().unwrap().one_byte {
            for b in bytes.chunks(1) {
                w.write_all(b).await?;
                w.flush().await?;
            }
            Ok(())
        } else {
            w.write_all(bytes).await
        }
    }
}

/// A proxy in front of memcached that counts the client's turns: sends that follow an
/// answer from the server. A caller that waits for each reply before its next request
/// makes a turn per request; a pipelined one makes a turn per round trip.
pub async fn turn_counting_proxy(upstream: &str) -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::{AtomicBool, AtomicU32};
    let turns = Arc::new(AtomicU32::new(0));
    let answered = Arc::new(AtomicBool::new(true));
    let (counted, answered_up) = (turns.clone(), answered.clone());
    let up = move |_: &[u8]| {
        if answered_up.swap(false, Ordering::SeqCst) {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    };
    let down = move |_: &[u8]| {
        answered.store(true, Ordering::SeqCst);
        true
    };
    (proxy(upstream, up, down).await, turns)
}
