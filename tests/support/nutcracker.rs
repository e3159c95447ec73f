//! Starts a real twemproxy (`nutcracker`) in front of a test's memcached servers, and
//! stops it on drop.
//!
//! twemproxy speaks only the classic text commands: it passes `version` through (so a
//! client that trusts the version string takes it for a meta server), and closes the
//! client's connection on any command it cannot parse (`mn`, `mg`, a negative expiry).
//! Tests of how the client copes with that need the real proxy, not an imitation.
//!
//! Each [`Nutcracker`] is its own process, with its own configuration file in a fresh
//! temporary directory, listening on a free loopback port (and its stats on another).
//! If `nutcracker` is not installed this panics with the command that installs it.

#![allow(dead_code)] // each including crate uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str = "nutcracker (twemproxy) is not installed. Install it with \
     `apt-get update && apt-get install -y nutcracker` (or run ./scripts/test, which does).";

/// A running nutcracker, killed on drop.
pub struct Nutcracker {
    child: Child,
    /// `127.0.0.1:<port>`: where clients connect.
    pub addr: String,
    dir: PathBuf,
}

impl Nutcracker {
    /// A proxy to the memcached at `upstream` (`127.0.0.1:<port>`).
    pub fn start(upstream: &str) -> Nutcracker {
        Self::start_pool(&[format!("{upstream}:1")], "ketama", "fnv1a_64", &[])
    }

    /// A pool of `servers` (`host:port:weight` lines) with the given `distribution` and
    /// `hash`, and extra pool settings (`"auto_eject_hosts: true"`). Without them,
    /// servers are never ejected.
    pub fn start_pool(
        servers: &[String],
        distribution: &str,
        hash: &str,
        extra: &[&str],
    ) -> Nutcracker {
        for _ in 0..10 {
            if let Some(proxy) = Self::try_start(servers, distribution, hash, extra) {
                return proxy;
            }
        }
        panic!("nutcracker did not start on a free port after 10 attempts");
    }

    fn try_start(
        servers: &[String],
        distribution: &str,
        hash: &str,
        extra: &[&str],
    ) -> Option<Nutcracker> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcaside-nutcracker-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create nutcracker's directory");
        let (port, stats) = (free_port(), free_port());
        let conf = dir.join("nutcracker.yml");
        // Fail a request the server does not answer within 5 s instead of hanging.
        let mut yaml = format!(
            "mcaside:\n  listen: 127.0.0.1:{port}\n  hash: {hash}\n  distribution: {distribution}\n  \
             timeout: 5000\n  redis: false\n"
        );
        if !extra.iter().any(|e| e.starts_with("auto_eject_hosts")) {
            yaml += "  auto_eject_hosts: false\n";
        }
        for line in extra {
            yaml += &format!("  {line}\n");
        }
        yaml += "  servers:\n";
        for s in servers {
            yaml += &format!("   - {s}\n");
        }
        std::fs::write(&conf, yaml).expect("write nutcracker's configuration");
        let mut cmd = Command::new(binary());
        cmd.arg("-c")
            .arg(&conf)
            .args(["-s", &stats.to_string(), "-a", "127.0.0.1"])
            .arg("-o")
            .arg(dir.join("nutcracker.log"))
            .arg("-p")
            .arg(dir.join("nutcracker.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(e) => panic!("could not start nutcracker: {e}"),
        };
        let mut proxy = Nutcracker {
            child,
            addr: format!("127.0.0.1:{port}"),
            dir,
        };
        proxy.wait_ready().then_some(proxy)
    }

    /// Waits until a `version` sent through the proxy comes back from memcached.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: most likely a port was taken
            }
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"version\r\n").is_ok()
                    && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"VERSION "))
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Nutcracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `nutcracker` from `$NUTCRACKER`, else from PATH, /usr/sbin or /usr/bin (Debian puts
/// it in /usr/sbin, which is not on every user's PATH).
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NUTCRACKER") {
        return p.into();
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nutcracker"))
            .find(|p| p.is_file())
    });
    in_path
        .or_else(|| {
            ["/usr/sbin/nutcracker", "/usr/bin/nutcracker"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}
