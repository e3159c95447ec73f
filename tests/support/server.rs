//! Starts a real `memcached` for a test, an example or a benchmark, and stops it on drop.
//!
//! Each [`Memcached`] is its own server process on a free loopback port (or a Unix
//! socket in a fresh temporary directory), so tests run in parallel without sharing keys
//! or statistics. The server is killed by its PID when the value is dropped, also when
//! the test panics.
//!
//! If `memcached` is not installed this panics with the command that installs it:
//! a test suite that cannot reach its server must fail, not pass.

#![allow(dead_code)] // each including crate uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "memcached is not installed. Install it with \
     `apt-get update && apt-get install -y memcached` (or run ./scripts/test, which does).";

/// A running memcached, killed on drop.
pub struct Memcached {
    child: Child,
    /// `127.0.0.1:<port>` for TCP servers.
    pub addr: String,
    /// The socket path for Unix-socket servers.
    pub socket: Option<PathBuf>,
    dir: Option<PathBuf>,
    /// For a TLS server: a second, plain listener (`notls:`) on which the harness checks
    /// that the server is up and reads its stats.
    pub plain_addr: Option<String>,
    /// For a server with ASCII authentication: the login the harness makes first.
    pub login: Option<(String, String)>,
}

impl Memcached {
    /// A server on a free loopback port, with default settings.
    pub fn start() -> Memcached {
        Self::start_with(&[])
    }

    /// A server on a free loopback port, with extra command-line arguments
    /// (for example `["-I", "2m"]`).
    pub fn start_with(args: &[&str]) -> Memcached {
        // The port is free when we look; another process may take it before memcached
        // binds it, so retry with a new one if the server does not come up.
        for _ in 0..10 {
            if let Some(server) = Self::try_start_on(free_port(), args) {
                return server;
            }
        }
        panic!("memcached did not start on a free port after 10 attempts");
    }

    /// A server on the given loopback port (to bring a server back where it was).
    pub fn start_on(port: u16, args: &[&str]) -> Memcached {
        Self::try_start_on(port, args)
            .unwrap_or_else(|| panic!("memcached did not start on port {port}"))
    }

    fn try_start_on(port: u16, args: &[&str]) -> Option<Memcached> {
        let mut cmd = base_command();
        cmd.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
            .args(args);
        let mut server = Memcached {
            child: spawn(cmd),
            addr: format!("127.0.0.1:{port}"),
            socket: None,
            dir: None,
            plain_addr: None,
            login: None,
        };
        server.wait_ready().then_some(server)
    }

    /// A TLS server (`-Z`) on a free loopback port: `tls_options` are memcached's
    /// `ssl_*` settings (`ssl_chain_cert=...,ssl_key=...`). It also listens without TLS
    /// on a second port ([`plain_addr`](Self::plain_addr)), for the harness.
    pub fn start_tls(tls_options: &str, args: &[&str]) -> Memcached {
        Self::start_secure(Some(tls_options), None, None, args)
    }

    /// A server with ASCII authentication (`-Y`) for `user`/`password`, on a free
    /// loopback port.
    pub fn start_auth(user: &str, password: &str, args: &[&str]) -> Memcached {
        Self::start_secure(None, Some((user, password)), None, args)
    }

    /// A server with TLS (`tls_options`, as in [`start_tls`](Self::start_tls)) and/or
    /// ASCII authentication (`login`), on `ports` (the server's and, with TLS, the plain
    /// listener's) or free ones.
    pub fn start_secure(
        tls_options: Option<&str>,
        login: Option<(&str, &str)>,
        ports: Option<(u16, u16)>,
        args: &[&str],
    ) -> Memcached {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcaside-secure-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a server directory");
        let auth_file = dir.join("auth");
        if let Some((user, password)) = login {
            std::fs::write(&auth_file, format!("{user}:{password}\n"))
                .expect("write the auth file");
        }
        for _ in 0..10 {
            let (port, plain) = ports.unwrap_or_else(|| (free_port(), free_port()));
            let mut cmd = base_command();
            cmd.args(["-U", "0"]);
            match tls_options {
                Some(options) => cmd.args([
                    "-l",
                    &format!("127.0.0.1:{port},notls:127.0.0.1:{plain}"),
                    "-Z",
                    "-o",
                    options,
                ]),
                None => cmd.args(["-l", "127.0.0.1", "-p", &port.to_string()]),
            };
            if login.is_some() {
                cmd.arg("-Y").arg(&auth_file);
            }
            cmd.args(args);
            let mut server = Memcached {
                child: spawn(cmd),
                addr: format!("127.0.0.1:{port}"),
                socket: None,
                dir: Some(dir.clone()),
                plain_addr: tls_options.map(|_| format!("127.0.0.1:{plain}")),
                login: login.map(|(u, p)| (u.to_owned(), p.to_owned())),
            };
            if server.wait_ready() {
                return server;
            }
            if ports.is_some() {
                break;
            }
        }
        panic!(
            "memcached (TLS {tls_options:?}, auth {}) did not start",
            login.is_some()
        );
    }

    /// The port of a TLS server's plain listener.
    pub fn plain_port(&self) -> u16 {
        let a = self.plain_addr.as_deref().expect("a TLS server");
        a.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The TCP port (for TCP servers).
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .expect("a TCP server")
    }

    /// A server listening only on a Unix socket (memcached's `-s`).
    pub fn start_unix() -> Memcached {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcaside-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create socket directory");
        let socket = dir.join("memcached.sock");
        let mut cmd = base_command();
        cmd.args(["-s", socket.to_str().unwrap(), "-a", "0700"]);
        let child = spawn(cmd);
        let mut server = Memcached {
            child,
            addr: format!("unix:{}", socket.display()),
            socket: Some(socket),
            dir: Some(dir),
            plain_addr: None,
            login: None,
        };
        assert!(
            server.wait_ready(),
            "memcached did not start on a Unix socket"
        );
        server
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the server with SIGSTOP and returns once every one of its threads is
    /// stopped. `kill` only queues the signal: a worker thread that is already running
    /// can still answer a request sent right after it (seen once in CI), so we wait
    /// for the kernel to report each thread in state `T`.
    pub fn pause(&self) {
        self.signal("STOP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.all_threads_in_state(b'T') {
            assert!(Instant::now() < deadline, "memcached did not stop");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Lets a [`pause`](Self::pause)d server run again.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    fn all_threads_in_state(&self, want: u8) -> bool {
        let dir = format!("/proc/{}/task", self.pid());
        let Ok(tasks) = std::fs::read_dir(dir) else {
            return false;
        };
        tasks.flatten().all(|task| {
            // The state is the first field after the parenthesised command name.
            std::fs::read(task.path().join("stat")).is_ok_and(|stat| {
                let after = stat.iter().rposition(|&b| b == b')').map(|i| i + 2);
                after.and_then(|i| stat.get(i).copied()) == Some(want)
            })
        })
    }

    /// Sends raw protocol bytes on a fresh connection and returns what the server
    /// answered within `wait` (for checks that must not go through the client).
    pub fn raw(&self, bytes: &[u8], wait: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        if let Some(path) = &self.socket {
            let mut s = UnixStream::connect(path).expect("connect");
            s.write_all(bytes).unwrap();
            s.set_read_timeout(Some(wait)).unwrap();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        } else {
            let mut s = self.plain_tcp().expect("connect");
            s.write_all(bytes).unwrap();
            s.set_read_timeout(Some(wait)).unwrap();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
        out
    }

    /// One statistic from `stats`, read over a separate raw connection.
    pub fn stat(&self, name: &str) -> u64 {
        let reply = self.raw_until(b"stats\r\n", b"END\r\n");
        let text = String::from_utf8_lossy(&reply);
        text.lines()
            .find_map(|l| {
                let mut parts = l.split(' ');
                (parts.next() == Some("STAT") && parts.next() == Some(name))
                    .then(|| parts.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no stat {name}"))
    }

    /// Sends `bytes` and reads until the reply ends with `end`.
    pub fn raw_until(&self, bytes: &[u8], end: &[u8]) -> Vec<u8> {
        fn go(mut s: impl Read + Write, bytes: &[u8], end: &[u8]) -> Vec<u8> {
            s.write_all(bytes).unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            while !out.ends_with(end) {
                let n = s.read(&mut buf).expect("read");
                assert!(n > 0, "server closed the connection");
                out.extend_from_slice(&buf[..n]);
            }
            out
        }
        match &self.socket {
            Some(path) => go(UnixStream::connect(path).expect("connect"), bytes, end),
            None => go(self.plain_tcp().expect("connect"), bytes, end),
        }
    }

    /// A plain TCP connection to the server (its `notls:` listener for a TLS server),
    /// logged in if the server wants a login.
    fn plain_tcp(&self) -> std::io::Result<TcpStream> {
        let mut s = TcpStream::connect(self.plain_addr.as_deref().unwrap_or(&self.addr))?;
        if let Some((user, password)) = &self.login {
            let block = format!("{user} {password}");
            write!(s, "set auth 0 0 {}\r\n{block}\r\n", block.len())?;
            let mut reply = [0u8; 8];
            s.read_exact(&mut reply)?;
            if &reply != b"STORED\r\n" {
                return Err(std::io::Error::other("the harness's login was refused"));
            }
        }
        Ok(s)
    }

    /// Waits until the server answers `version`, or it exits.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: most likely the port was taken
            }
            let answered = match &self.socket {
                Some(p) => UnixStream::connect(p).ok().and_then(ask_pid),
                None => self.plain_tcp().ok().and_then(ask_pid),
            };
            match answered {
                Some(pid) if pid == self.child.id() => return true,
                // Another test's server already listens on this port (ours will fail
                // to bind and exit): not ours, so not ready.
                Some(_) => return false,
                None => {}
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The PID of the server answering on `s`, from `stats` (the first line, `STAT pid`).
fn ask_pid(mut s: impl Read + Write) -> Option<u32> {
    s.write_all(b"stats\r\n").ok()?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while !buf[..n].contains(&b'\n') && n < buf.len() {
        match s.read(&mut buf[n..]).ok()? {
            0 => return None,
            got => n += got,
        }
    }
    let line = buf[..n].split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line.strip_prefix(b"STAT pid ")?)
        .ok()?
        .parse()
        .ok()
}

fn base_command() -> Command {
    let mut cmd = Command::new(memcached_binary());
    // memcached refuses to run as root unless told which user to be.
    if is_root() {
        cmd.args(["-u", "root"]);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn spawn(mut cmd: Command) -> Child {
    match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
        Err(e) => panic!("could not start memcached: {e}"),
    }
}

/// `memcached` from `$MEMCACHED`, else from PATH or /usr/bin.
fn memcached_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MEMCACHED") {
        return p.into();
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("memcached"))
            .find(|p| p.is_file())
    });
    match in_path.or_else(|| Some(PathBuf::from("/usr/bin/memcached")).filter(|p| p.is_file())) {
        Some(p) => p,
        None => panic!("{INSTALL_HINT}"),
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}
