//! The `mcaside` command-line tool, run as a program against a real memcached.
#![cfg(feature = "cli")]

#[path = "support/server.rs"]
mod server;

use std::process::{Command, Output};

use server::Memcached;

fn mcaside(server: &Memcached, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcaside"))
        .args(["--server", &server.addr])
        .args(args)
        .output()
        .expect("run mcaside")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn raw_wire_shows_a_vivify_win_then_a_taken_win() {
    let server = Memcached::start();
    let o = mcaside(
        &server,
        &["raw", "--wire", "mg lease v c N30", "mg lease v c N30"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let wire = stderr(&o);
    let lines: Vec<&str> = wire.lines().collect();
    assert_eq!(lines[0], r"> mg lease v c N30\r\nmg lease v c N30\r\n");
    assert!(
        lines[1].starts_with("< VA 0 c") && lines[1].contains(r" W\r\n\r\nVA 0 c"),
        "{wire}"
    );
    assert!(lines[1].ends_with(r" Z\r\n\r\n"), "{wire}");
}

#[test]
fn set_get_incr_delete_and_exit_codes() {
    let server = Memcached::start();
    let o = mcaside(
        &server,
        &["set", "greeting", "hello", "--ttl", "60", "--flags", "3"],
    );
    assert_eq!(stdout(&o), "STORED\n");
    assert_eq!(stdout(&mcaside(&server, &["get", "greeting"])), "hello\n");
    let miss = mcaside(&server, &["get", "nobody"]);
    assert_eq!(miss.status.code(), Some(1));
    mcaside(&server, &["set", "n", "41"]);
    assert_eq!(stdout(&mcaside(&server, &["incr", "n"])), "42\n");
    assert!(mcaside(&server, &["delete", "n"]).status.success());
    assert_eq!(mcaside(&server, &["delete", "n"]).status.code(), Some(1));
    assert_eq!(stdout(&mcaside(&server, &["version"])).trim(), "1.6.18");
    assert!(stdout(&mcaside(&server, &["stats", "settings"])).contains("item_size_max 1048576"));
}

#[test]
fn wire_option_prints_both_directions() {
    let server = Memcached::start();
    // On a 1.6 server the client sends the meta form; --classic keeps the classic one.
    let o = mcaside(&server, &["--wire", "set", "k", "a b"]);
    let wire = stderr(&o);
    // With the opaque token every meta request carries (see protocol-notes.md).
    assert!(wire.contains(r"> ms k 3 O1\r\na b\r\n"), "{wire}");
    assert!(wire.contains(r"< HD O1\r\n"), "{wire}");
    let o = mcaside(&server, &["--wire", "--classic", "get", "k"]);
    let wire = stderr(&o);
    assert!(wire.contains(r"> get k\r\n"), "{wire}");
    assert!(wire.contains(r"< VALUE k 0 3\r\na b\r\nEND\r\n"), "{wire}");
}

#[test]
fn meta_form_with_typed_flags() {
    let server = Memcached::start();
    let o = mcaside(&server, &["meta", "ms", "k", "hi", "T30", "F5", "c"]);
    assert!(
        stdout(&o).starts_with("HD cas="),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = mcaside(&server, &["meta", "mg", "k", "v", "f", "t"]);
    assert_eq!(
        stdout(&o).lines().next().unwrap().split(' ').next(),
        Some("VA")
    );
    assert!(
        stdout(&o).contains("flags=5") && stdout(&o).ends_with("\nhi\n"),
        "{}",
        stdout(&o)
    );
    let o = mcaside(&server, &["meta", "md", "k", "I", "T30"]);
    assert_eq!(stdout(&o), "HD\n");
    let o = mcaside(&server, &["meta", "mg", "k", "v", "c"]);
    assert!(stdout(&o).contains("won(W) stale(X)"), "{}", stdout(&o));
    let o = mcaside(&server, &["meta", "ma", "cnt", "N0", "J7", "v"]);
    assert_eq!(stdout(&o), "VA\n7\n");
    // Refused before sending: a flag 1.6.18 lacks, an unknown flag, a bad key.
    for args in [
        &["meta", "mg", "k", "v", "E5"][..],
        &["meta", "mg", "k", "y"],
        &["get", "bad key"],
    ] {
        let o = mcaside(&server, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).starts_with("mcaside: "), "{}", stderr(&o));
    }
}

#[test]
fn raw_sends_escapes_verbatim() {
    let server = Memcached::start();
    let o = mcaside(&server, &["raw", r"set k 0 0 3\r\na\0b", "get k"]);
    assert_eq!(o.stdout, b"STORED\r\nVALUE k 0 3\r\na\0b\r\nEND\r\n");
}
