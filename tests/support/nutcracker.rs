//! Starts a real twemproxy (`nutcracker`) in front of servers, for a test, and stops it
//! on drop. Like the memcached harness, a missing nutcracker fails the test with the
//! command that installs it.

#![allow(dead_code)] // each including crate uses a different part

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "nutcracker (twemproxy) is not installed. Install it with \
     `apt-get update && apt-get install -y nutcracker` (or run ./scripts/test, which does).";

/// A running nutcracker, killed on drop.
pub struct Nutcracker {
    child: Child,
    /// `127.0.0.1:<port>`, where clients connect.
    pub addr: String,
    dir: PathBuf,
}

impl Nutcracker {
    /// A pool of `servers` (`host:port:weight` lines) with the given `distribution` and
    /// `hash`, listening on a free loopback port. Servers are never ejected.
    pub fn start(servers: &[String], distribution: &str, hash: &str) -> Nutcracker {
        Self::start_with(servers, distribution, hash, &[])
    }

    /// Like [`start`](Self::start), with extra pool settings (`"auto_eject_hosts: true"`).
    pub fn start_with(
        servers: &[String],
        distribution: &str,
        hash: &str,
        extra: &[&str],
    ) -> Nutcracker {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcaside-nutcracker-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..10 {
            let (port, stats) = (free_port(), free_port());
            let mut conf = format!(
                "pool:\n  listen: 127.0.0.1:{port}\n  hash: {hash}\n  distribution: {distribution}\n  \
                 timeout: 2000\n  preconnect: false\n"
            );
            for line in extra {
                conf += &format!("  {line}\n");
            }
            conf += "  servers:\n";
            for s in servers {
                conf += &format!("   - {s}\n");
            }
            let path = dir.join("nutcracker.yml");
            std::fs::write(&path, conf).unwrap();
            let child = match Command::new(binary())
                .args([
                    "-c",
                    path.to_str().unwrap(),
                    "-s",
                    &stats.to_string(),
                    "-a",
                    "127.0.0.1",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
                Err(e) => panic!("could not start nutcracker: {e}"),
            };
            let mut proxy = Nutcracker {
                child,
                addr: format!("127.0.0.1:{port}"),
                dir: dir.clone(),
            };
            if proxy.wait_ready() {
                return proxy;
            }
        }
        panic!("nutcracker did not start after 10 attempts");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: most likely a port was taken
            }
            if TcpStream::connect(&self.addr).is_ok() {
                return true;
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

fn binary() -> PathBuf {
    for p in ["/usr/sbin/nutcracker", "/usr/bin/nutcracker"] {
        if std::path::Path::new(p).is_file() {
            return p.into();
        }
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("nutcracker"))
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
