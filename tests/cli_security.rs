//! `mcaside` over TLS and with a login: the global --tls*, --user and --password-file
//! flags (and MCASIDE_PASSWORD), against real memcached servers started with -Z and -Y.
#![cfg(feature = "cli")]

#[path = "support/certs.rs"]
mod certs;
#[path = "support/server.rs"]
mod server;

use std::process::{Command, Output, Stdio};

use certs::Certs;
use server::Memcached;

fn mcaside(addr: &str, args: &[impl AsRef<std::ffi::OsStr>], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcaside"))
        .args(["--server", addr])
        .args(args)
        .env_remove("MCASIDE_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run mcaside")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn set_get_raw_and_bench_over_tls_with_a_login() {
    let certs = Certs::new();
    let options = Certs::server_options(&certs.server_cert, &certs.server_key);
    let server = Memcached::start_secure(Some(&options), Some(("app", "pw")), None, &[]);
    let dir = certs.dir.join("pw");
    std::fs::write(&dir, "pw\n").unwrap();
    let ca = certs.ca.to_str().unwrap();
    let pw = dir.to_str().unwrap();
    let secure = ["--tls-ca", ca, "--user", "app", "--password-file", pw];
    let with = |args: &[&'static str]| -> Vec<String> {
        secure.iter().chain(args).map(|s| s.to_string()).collect()
    };
    ok(&mcaside(&server.addr, &with(&["set", "k", "hello"]), &[]));
    assert_eq!(
        ok(&mcaside(&server.addr, &with(&["get", "k"]), &[])),
        "hello"
    );
    // The password from the environment instead of a file.
    let env_only = ["--tls", "--tls-ca", ca, "--user", "app", "get", "k"];
    assert_eq!(
        ok(&mcaside(
            &server.addr,
            &env_only,
            &[("MCASIDE_PASSWORD", "pw")]
        )),
        "hello"
    );
    // raw over the same TLS connection and login.
    let raw = ok(&mcaside(&server.addr, &with(&["raw", "get k"]), &[]));
    assert_eq!(raw, "VALUE k 0 5\r\nhello\r\nEND\r\n");
    // bench over TLS with auth, every value checked.
    let bench = mcaside(
        &server.addr,
        &with(&[
            "bench",
            "--keys",
            "100",
            "--concurrency",
            "8",
            "--requests",
            "50",
            "--json",
        ]),
        &[],
    );
    let out = ok(&bench);
    assert!(out.contains("\"errors\":0"), "{out}");
}

#[test]
fn errors_name_the_server_and_the_step() {
    let certs = Certs::new();
    let options = Certs::server_options(&certs.server_cert, &certs.server_key);
    let server = Memcached::start_secure(Some(&options), Some(("app", "pw")), None, &[]);
    let ca = certs.ca.to_str().unwrap();
    let other = certs.other_ca.to_str().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["--tls-ca", other, "--user", "app", "get", "k"],
            &[("MCASIDE_PASSWORD", "pw")],
            "could not connect to",
        ),
        (
            &["--tls-ca", ca, "--user", "app", "get", "k"],
            &[("MCASIDE_PASSWORD", "wrong")],
            "but the login failed",
        ),
        (
            &["--tls-ca", ca, "--user", "app", "get", "k"],
            &[],
            "MCASIDE_PASSWORD",
        ),
        (
            &["--tls-ca", "/nonexistent/ca.pem", "get", "k"],
            &[],
            "/nonexistent/ca.pem",
        ),
    ];
    for (args, env, want) in cases {
        let o = mcaside(&server.addr, args, env);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
        assert!(!err.contains("wrong"), "the password leaked: {err}");
    }
}

/// There is no --password flag: a password on the command line is visible in `ps`.
#[test]
fn no_password_argument() {
    let o = mcaside("127.0.0.1:1", &["--password", "x", "get", "k"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--password"));
}
