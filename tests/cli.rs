//! The `mcaside` command-line tool, run as a program against a real memcached.
#![cfg(feature = "cli")]

#[path = "support/server.rs"]
mod server;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use server::Memcached;

fn mcaside(server: &Memcached, args: &[&str]) -> Output {
    mcaside_at(&server.addr, args)
}

fn mcaside_at(addr: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcaside"))
        .args(["--server", addr])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mcaside")
}

/// Runs mcaside with `input` on its standard input.
fn mcaside_with_stdin(server: &Memcached, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcaside"))
        .args(["--server", &server.addr])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mcaside");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    // Written from another thread: a large value fills the pipe before mcaside reads.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for mcaside");
    // mcaside stops reading a value that is over its limit: a broken pipe then.
    match writer.join().unwrap() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => {}
    }
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bytes that look random, every byte value included (splitmix64).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A loopback port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
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
fn set_get_incr_delete_and_what_they_print() {
    let server = Memcached::start();
    let o = mcaside(
        &server,
        &["set", "greeting", "hello", "--ttl", "60", "--flags", "3"],
    );
    assert_eq!(stdout(&o), "STORED\n");
    // Piped, a value is its bytes: nothing added.
    assert_eq!(stdout(&mcaside(&server, &["get", "greeting"])), "hello");
    assert_eq!(
        stdout(&mcaside(&server, &["get", "--escape", "greeting"])),
        "hello\n"
    );
    mcaside(&server, &["set", "n", "41"]);
    assert_eq!(stdout(&mcaside(&server, &["incr", "n"])), "42\n");
    assert_eq!(stdout(&mcaside(&server, &["decr", "n", "40"])), "2\n");
    let o = mcaside(&server, &["delete", "n"]);
    assert_eq!(
        (stdout(&o).as_str(), o.status.code()),
        ("DELETED\n", Some(0))
    );
    assert_eq!(stdout(&mcaside(&server, &["version"])).trim(), "1.6.18");
    assert!(stdout(&mcaside(&server, &["stats", "settings"])).contains("item_size_max 1048576"));
}

#[test]
fn the_other_classic_commands() {
    let server = Memcached::start();
    let run = |args: &[&str]| {
        let o = mcaside(&server, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(run(&["add", "k", "b", "--flags", "7"]), "STORED\n");
    assert_eq!(run(&["replace", "k", "c"]), "STORED\n");
    assert_eq!(run(&["append", "k", "d"]), "STORED\n");
    assert_eq!(run(&["prepend", "k", "a"]), "STORED\n");
    assert_eq!(run(&["get", "k"]), "acd");
    // gets: the cas unique on a line, then the value; cas with it stores.
    let gets = run(&["gets", "k"]);
    let (cas, value) = gets.split_once('\n').expect("a cas line");
    assert_eq!(value, "acd");
    assert_eq!(run(&["cas", "k", "new", cas]), "STORED\n");
    assert_eq!(run(&["touch", "k", "100"]), "TOUCHED\n");
    assert_eq!(run(&["gat", "k", "200"]), "new");
    let gats = run(&["gats", "k", "0"]);
    assert!(gats.ends_with("\nnew"), "{gats}");
    let ttl = server.raw_until(b"mg k t\r\n", b"\r\n");
    assert_eq!(ttl, b"HD t-1\r\n", "gats 0: never expires");
    assert_eq!(run(&["flush_all"]), "OK\n");
    assert_eq!(mcaside(&server, &["get", "k"]).status.code(), Some(1));
    assert_eq!(run(&["flush-all", "--delay", "5"]), "OK\n");
}

/// Every command that can miss exits 1 on a miss (and an item not stored likewise),
/// with nothing on standard output and the server's word on standard error.
#[test]
fn a_miss_exits_1_for_every_command_that_can_miss() {
    let server = Memcached::start();
    assert!(mcaside(&server, &["set", "exists", "v"]).status.success());
    let cases: [(&[&str], &str); 17] = [
        (&["get", "nobody"], "NOT_FOUND"),
        (&["gets", "nobody"], "NOT_FOUND"),
        (&["gat", "nobody", "10"], "NOT_FOUND"),
        (&["gats", "nobody", "10"], "NOT_FOUND"),
        (&["delete", "nobody"], "NOT_FOUND"),
        (&["incr", "nobody"], "NOT_FOUND"),
        (&["decr", "nobody", "2"], "NOT_FOUND"),
        (&["touch", "nobody", "10"], "NOT_FOUND"),
        (&["add", "exists", "x"], "NOT_STORED"),
        (&["replace", "nobody", "x"], "NOT_STORED"),
        (&["append", "nobody", "x"], "NOT_STORED"),
        (&["prepend", "nobody", "x"], "NOT_STORED"),
        (&["cas", "nobody", "x", "1"], "NOT_FOUND"),
        (&["cas", "exists", "x", "999999"], "EXISTS"),
        (&["meta", "mg", "nobody", "v"], "EN\n"),
        (&["meta", "md", "nobody"], "NF\n"),
        (&["meta", "ma", "nobody"], "NF\n"),
    ];
    for (args, word) in cases {
        let o = mcaside(&server, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        if word.ends_with('\n') {
            // meta prints its reply code, whatever it is, on standard output.
            assert_eq!(stdout(&o), word, "{args:?}");
        } else {
            assert_eq!(stdout(&o), "", "{args:?}");
            assert_eq!(stderr(&o), format!("{word}\n"), "{args:?}");
        }
    }
    // ms in add mode on a key that exists: NS.
    let o = mcaside(&server, &["meta", "ms", "exists", "y", "ME"]);
    assert_eq!((stdout(&o).as_str(), o.status.code()), ("NS\n", Some(1)));
    // Nothing above changed the stored item.
    assert_eq!(stdout(&mcaside(&server, &["get", "exists"])), "v");

    let help = stdout(&mcaside(&server, &["--help"]));
    assert!(help.contains("Exit status:"), "{help}");
    assert!(
        help.contains("1  it did not apply: a miss (get, gets"),
        "{help}"
    );
    let help = stdout(&mcaside(&server, &["get", "--help"]));
    assert!(help.contains("Exit status 1 on a miss"), "{help}");
}

#[test]
fn an_unreachable_server_is_named_with_the_step_and_exit_status_2() {
    let port = closed_port();
    let o = mcaside_at(&format!("127.0.0.1:{port}"), &["get", "foo"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!("mcaside: could not connect to 127.0.0.1:{port}: connection refused\n")
    );
    assert_eq!(stdout(&o), "");
    // raw, which opens its own socket, says the same.
    let o = mcaside_at(&format!("127.0.0.1:{port}"), &["raw", "version"]);
    assert_eq!(
        (stderr(&o), o.status.code()),
        (
            format!("mcaside: could not connect to 127.0.0.1:{port}: connection refused\n"),
            Some(2)
        )
    );
    // A Unix socket that is not there.
    let o = mcaside_at("/nonexistent/memcached.sock", &["version"]);
    assert_eq!(
        stderr(&o),
        "mcaside: could not connect to unix:/nonexistent/memcached.sock: \
         no such file or directory\n"
    );

    // A stopped server accepts the connection (the kernel does) but never answers.
    let server = Memcached::start();
    server.pause();
    let o = mcaside(&server, &["get", "foo"]);
    server.resume();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "mcaside: connected to {}, but it did not answer `version`: timed out\n",
            server.addr
        )
    );
    // bench names the server the same way.
    let o = mcaside_at(&format!("127.0.0.1:{port}"), &["bench", "--keys", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!("mcaside: could not connect to 127.0.0.1:{port}: connection refused\n")
    );
}

#[test]
fn a_bad_or_repeated_server_address_is_refused_before_connecting() {
    let o = mcaside_at("127.0.0.1", &["get", "foo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("mcaside: --server: \"127.0.0.1\" is not a server address: no port"),
        "{}",
        stderr(&o)
    );
    let server = Memcached::start();
    for command in [&["get", "k"][..], &["bench", "--keys", "10"]] {
        let o = Command::new(env!("CARGO_BIN_EXE_mcaside"))
            .args(["--server", &server.addr, "--server", &server.addr])
            .args(command)
            .output()
            .expect("run mcaside");
        assert_eq!(o.status.code(), Some(2), "{command:?}");
        assert_eq!(
            stderr(&o),
            format!("mcaside: --server {} is given twice\n", server.addr),
            "{command:?}"
        );
    }
    assert_eq!(server.stat("cmd_set"), 0, "nothing was sent");
}

/// `set k -` reads any bytes from standard input; `get k` writes them back exactly.
#[test]
fn set_from_stdin_then_get_round_trips_random_bytes() {
    let server = Memcached::start();
    let mut value = random_bytes(64 * 1024, 7);
    value.extend_from_slice(b"\r\nEND\r\n\0\xff");
    let o = mcaside_with_stdin(&server, &["set", "bin", "-"], &value);
    assert_eq!(stdout(&o), "STORED\n", "{}", stderr(&o));
    let o = mcaside(&server, &["get", "bin"]);
    assert!(o.status.success());
    assert_eq!(o.stdout, value);
    // The same through the meta form, and append from stdin.
    let o = mcaside_with_stdin(&server, &["meta", "ms", "m", "-", "T60"], &value[..100]);
    assert_eq!(stdout(&o), "HD\n", "{}", stderr(&o));
    mcaside_with_stdin(&server, &["append", "m", "-"], b"\x00tail");
    let o = mcaside(&server, &["meta", "mg", "m", "v"]);
    let mut want = b"VA\n".to_vec();
    want.extend_from_slice(&value[..100]);
    want.extend_from_slice(b"\x00tail");
    assert_eq!(o.stdout, want);
    // An empty value, and a literal dash given through stdin.
    mcaside_with_stdin(&server, &["set", "empty", "-"], b"");
    assert_eq!(mcaside(&server, &["get", "empty"]).stdout, b"");
    mcaside_with_stdin(&server, &["set", "dash", "-"], b"-");
    assert_eq!(mcaside(&server, &["get", "dash"]).stdout, b"-");
}

/// A value larger than the argv limit allows, against a server with a larger item size.
#[test]
fn a_2_mb_value_round_trips_through_stdin_with_max_value() {
    let server = Memcached::start_with(&["-I", "4m", "-m", "64"]);
    let value = random_bytes(2 << 20, 11);
    // Over the default limit, refused before sending, and saying what to do.
    let o = mcaside_with_stdin(&server, &["set", "big", "-"], &value);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("larger than --max-value"),
        "{}",
        stderr(&o)
    );
    assert_eq!(server.stat("cmd_set"), 0);

    let o = mcaside_with_stdin(&server, &["--max-value", "4m", "set", "big", "-"], &value);
    assert_eq!(stdout(&o), "STORED\n", "{}", stderr(&o));
    let o = mcaside(&server, &["get", "big", "--max-value", "4m"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == value, "{} bytes back", o.stdout.len());
    // The default limit also bounds what is read back.
    let o = mcaside(&server, &["get", "big"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the limit is 1049600"),
        "{}",
        stderr(&o)
    );
}

/// On a terminal, a value is escaped and ends with a newline (under `script`, which
/// gives the program a pseudo-terminal).
#[test]
fn on_a_terminal_values_are_escaped() {
    let server = Memcached::start();
    mcaside_with_stdin(&server, &["set", "k", "-"], b"a\x01b\r\n\xff");
    let command = format!(
        "{} --server {} get k",
        env!("CARGO_BIN_EXE_mcaside"),
        server.addr
    );
    let o = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux's bsdutils) runs a command on a terminal");
    assert!(o.status.success(), "{}", stderr(&o));
    // The terminal turns the newline into \r\n.
    assert_eq!(stdout(&o), "a\\x01b\\r\\n\\xff\r\n");
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
        stdout(&o).contains("flags=5") && stdout(&o).ends_with("\nhi"),
        "{}",
        stdout(&o)
    );
    let o = mcaside(&server, &["meta", "mg", "k", "v", "--escape"]);
    assert_eq!(stdout(&o), "VA\nhi\n");
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

/// `mcaside route`: one line per key, the server exactly as given; no connection made.
#[test]
fn route_prints_each_keys_server_as_given() {
    use mcaside::cluster::{self, Ketama, Rendezvous, Server};
    // Nothing listens on these: route does not connect.
    let given = [
        "10.255.0.1:11211",
        "cache-b.internal:11212:2",
        "[::1]:11213",
    ];
    let keys: Vec<String> = (0..200).map(|i| format!("user:{i}")).collect();
    let parsed: Vec<Server> = given.iter().map(|s| s.parse().unwrap()).collect();
    for (name, dist) in [
        ("ketama", &Ketama as &dyn cluster::Distribution),
        ("rendezvous", &Rendezvous),
    ] {
        let mut args: Vec<&str> = Vec::new();
        for g in &given {
            args.extend(["--server", g]);
        }
        args.extend(["--distribution", name, "route"]);
        args.extend(keys.iter().map(String::as_str));
        let o = Command::new(env!("CARGO_BIN_EXE_mcaside"))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), keys.len());
        for (k, line) in keys.iter().zip(lines) {
            let want = given[cluster::locate(dist, &parsed, k.as_bytes())];
            assert_eq!(line, format!("{k}\t{want}"), "{name}");
        }
    }
}

/// Every other subcommand takes several servers: the key goes to its server.
#[test]
fn several_servers_place_each_key() {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let mut common: Vec<&str> = Vec::new();
    for s in &servers {
        common.extend(["--server", s.addr.as_str()]);
    }
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mcaside"))
            .args(&common)
            .args(extra)
            .output()
            .unwrap()
    };
    for i in 0..30 {
        let key = format!("k{i}");
        assert!(run(&["set", &key, "v"]).status.success());
        let route = stdout(&run(&["route", &key]));
        let holder = route.trim().split('\t').nth(1).unwrap().to_owned();
        for s in &servers {
            let here = mcaside(s, &["get", &key]);
            assert_eq!(
                here.status.success(),
                s.addr == holder,
                "{key} on {}",
                s.addr
            );
        }
        assert_eq!(stdout(&run(&["get", &key])), "v");
    }
    let stats = stdout(&run(&["stats"]));
    assert_eq!(stats.matches("--- 127.0.0.1:").count(), 3, "{stats}");
}
