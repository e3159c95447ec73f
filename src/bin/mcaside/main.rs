//! `mcaside`: talk to a memcached from the command line, and watch the bytes.
//!
//! ```text
//! mcaside [--server HOST:PORT[:WEIGHT]|PATH]... [--distribution ketama|rendezvous]
//!         [--wire] [--classic] [--max-value SIZE] <command>
//!   get|gets KEY, gat|gats KEY TTL         the value's bytes as they are (escaped on a terminal)
//!   set|add|replace KEY VALUE|-, append|prepend KEY VALUE|-, cas KEY VALUE|- CAS
//!   delete KEY, incr|decr KEY [DELTA], touch KEY TTL, flush_all [--delay S]
//!   stats [GROUP], version
//!   meta mg|ms|md|ma KEY [VALUE] [FLAG...]  e.g. meta mg user:1 v c t N30
//!   raw LINE...                             each LINE sent as is, plus \r\n
//!   route KEY...                            which server holds each KEY (no connection)
//!   bench [--workload get|set|mget|mixed] ...   a load generator; see `bench --help`
//! ```
//!
//! The exit status says what happened, for scripts: 0 done, 1 the command did not apply
//! (a miss, an item not stored), 2 an error. `--wire` prints every byte sent (`>`) and
//! received (`<`), escaped, one line per write or read. `--classic` keeps to the classic
//! commands, which a default client replaces with their meta forms on a server that has
//! them. Built with `--features cli`, so that the library itself does not depend on clap.
//!
//! The modules: [`classic`] (the classic subcommands), [`meta_args`] (`meta`), [`raw`],
//! [`bench`]; [`value_io`] (values in from argv or stdin, out raw or escaped),
//! [`report_error`] (error messages), [`wire`] (`--wire`).

mod bench;
mod classic;
mod meta_args;
mod raw;
mod report_error;
mod security;
mod value_io;
mod wire;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use mcaside::Client;
use mcaside::cluster::{self, Ketama, Rendezvous, Server};
use mcaside::proto::Limits;

/// The placements `--distribution` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Placement {
    Ketama,
    Rendezvous,
}

/// The exit statuses, as `--help` documents them.
pub mod status {
    use std::process::ExitCode;

    /// The command did what it was asked.
    pub const DONE: u8 = 0;
    /// The command did not apply: a miss, or an item not stored.
    pub const MISS: u8 = 1;
    /// An error: bad arguments, a server that cannot be reached, a server error.
    pub const ERROR: u8 = 2;

    /// [`DONE`] if `applied`, else [`MISS`].
    pub fn applied(applied: bool) -> ExitCode {
        ExitCode::from(if applied { DONE } else { MISS })
    }
}

#[derive(Parser)]
#[command(
    name = "mcaside",
    version,
    about = "Talk to memcached, and watch the wire",
    after_help = "\
Exit status:
  0  the command did what it was asked
  1  it did not apply: a miss (get, gets, gat, gats, delete, incr, decr, touch, meta mg,
     meta md, meta ma) or an item not stored (add of a key that exists; replace, append,
     prepend or cas of a missing key; a cas conflict; meta ms answered NS or EX)
  2  an error: bad arguments, a server that cannot be reached, a server error line
`bench` has its own: see `mcaside bench --help`."
)]
struct Cli {
    /// A server: HOST:PORT, HOST:PORT:WEIGHT, or a Unix socket path (/path, ./path or
    /// unix:path). Repeat the option for a cluster: each key goes to one server, placed
    /// by --distribution as the fleet's other clients place it. None twice.
    #[arg(
        long,
        short,
        global = true,
        env = "MCASIDE_SERVER",
        default_value = "127.0.0.1:11211",
        action = ArgAction::Append,
        value_name = "ADDR"
    )]
    server: Vec<String>,
    /// Print the exact bytes sent (>) and received (<), escaped, on standard error.
    #[arg(long, global = true)]
    wire: bool,
    /// Use only the classic commands, as against an older server or a proxy (by
    /// default, single-key commands go out in their meta forms on a 1.6+ server).
    #[arg(long, global = true)]
    classic: bool,
    /// The largest value sent or accepted, in bytes; k, m and g suffixes are powers of
    /// 1024. Raise it for a server started with a larger -I (memcached -I 4m: --max-value
    /// 4m) [default: 1m + 1k, for memcached's default -I 1m]
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    max_value: Option<usize>,
    /// How keys are placed on several servers: ketama (libmemcached's ketama_weighted,
    /// php-memcached's OPT_LIBKETAMA_COMPATIBLE, pylibmc, twemproxy with hash: md5) or
    /// rendezvous (pymemcache's HashClient).
    #[arg(long, global = true, value_enum, default_value_t = Placement::Ketama)]
    distribution: Placement,
    #[command(flatten)]
    security: security::SecurityArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Classic(classic::ClassicCommand),
    /// A meta command with flags as the protocol spells them: `mg KEY v c t N30`.
    /// Prints the reply code and the flags returned, by name, then the value.
    /// Exit status 1 for EN, NF, NS and EX.
    Meta {
        #[command(subcommand)]
        command: meta_args::MetaCommand,
    },
    /// Send LINEs verbatim (each followed by \r\n) and print whatever comes back.
    /// `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN` in a LINE are unescaped.
    Raw {
        /// A protocol line, such as 'get k' or 'set k 0 0 3\r\nabc'.
        #[arg(required = true)]
        lines: Vec<String>,
        /// How long to wait for more reply bytes after the last ones, in milliseconds.
        #[arg(long, default_value_t = 300)]
        wait_ms: u64,
    },
    /// Print which server holds each KEY: the key, a tab, the server exactly as given
    /// to --server. Nothing is sent; the placement is --distribution's.
    Route {
        /// A key, as the application names it.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Generate load: preload a key space, then run a workload and report throughput,
    /// latency percentiles per command and the server's own counters.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.wire {
        wire::install();
    }
    let runtime = match cli.command {
        // A load generator needs every core; a one-shot command is better off on one.
        Command::Bench(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // `mcaside stats | head`: the reader went away; that is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mcaside: {}", report_error::describe(e.as_ref()));
            ExitCode::from(status::ERROR)
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

async fn run(cli: Cli) -> Result<ExitCode, BoxError> {
    let servers = servers(&cli.server)?;
    if let Command::Route { keys } = &cli.command {
        return route(&servers, cli.distribution, keys);
    }
    let mut limits = Limits::default();
    if let Some(max) = cli.max_value {
        limits.max_value = max;
    }
    let mut builder = cli.security.apply(Client::builder().limits(limits))?;
    builder = match cli.distribution {
        Placement::Ketama => builder.distribution(Ketama),
        Placement::Rendezvous => builder.distribution(Rendezvous),
    };
    if cli.classic {
        builder = builder.features(mcaside::proto::Features::CLASSIC);
    }
    if let Command::Bench(args) = &cli.command {
        return bench::run(&servers, args, builder, limits).await;
    }
    if let Command::Raw { lines, wait_ms } = &cli.command {
        let wait = std::time::Duration::from_millis(*wait_ms);
        // Raw lines have no key to place: they go to every server, in turn.
        let mut code = ExitCode::SUCCESS;
        for server in &servers {
            if servers.len() > 1 {
                value_io::line(format_args!("--- {server}"))?;
            }
            code = raw::run(builder.clone(), server.addr(), lines, wait, cli.wire).await?;
        }
        return Ok(code);
    }
    let client = builder.connections(1).connect_cluster(&servers).await?;
    match cli.command {
        Command::Classic(command) => classic::run(&client, command, limits.max_value).await,
        Command::Meta { command } => meta_args::run(&client, command, limits.max_value).await,
        Command::Raw { .. } | Command::Bench(_) | Command::Route { .. } => {
            unreachable!("handled above")
        }
    }
}

/// `mcaside route`: each key, a tab, the server that holds it, as given.
fn route(servers: &[Server], placement: Placement, keys: &[String]) -> Result<ExitCode, BoxError> {
    let distribution: &dyn cluster::Distribution = match placement {
        Placement::Ketama => &Ketama,
        Placement::Rendezvous => &Rendezvous,
    };
    let refs: Vec<&Server> = servers.iter().collect();
    let placed = (servers.len() > 1).then(|| distribution.build(&refs));
    for key in keys {
        let at = placed.as_ref().map_or(0, |p| p.locate(key.as_bytes()));
        value_io::line(format_args!("{key}\t{}", servers[at]))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--server`s, parsed, refusing one given twice (it would be counted twice: two
/// clients, twice the connections, half the keys each).
fn servers(given: &[String]) -> Result<Vec<Server>, BoxError> {
    let mut servers: Vec<Server> = Vec::with_capacity(given.len());
    for s in given {
        let server: Server = s.parse().map_err(|e| match e {
            // "rejected before sending" would say nothing here: nothing was to be sent.
            mcaside::Error::Input(e) => format!("--server: {e}"),
            e => format!("--server: {e}"),
        })?;
        if servers.iter().any(|other| other.addr() == server.addr()) {
            return Err(format!("--server {} is given twice", server.addr()).into());
        }
        servers.push(server);
    }
    Ok(servers)
}

/// A size in bytes: a number, optionally followed by k, m or g (powers of 1024), as
/// memcached's own -I takes it.
pub fn parse_size(s: &str) -> Result<usize, String> {
    const MAX: u64 = 1 << 30;
    let bad = || format!("expected a size such as 1048576, 512k or 4m, not {s:?}");
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_lowercase()),
        _ => (t, 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match n.checked_shl(shift).filter(|&b| b >> shift == n) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(b) if b <= MAX => Ok(b as usize),
        _ => Err(format!("{s:?} is above 1g, memcached's own ceiling")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand says what it does and every argument what it is for, in --help.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                check(sub, &path, missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        check(&cmd, "mcaside", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("4m"), Ok(4 << 20));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        for bad in [
            "",
            "m",
            "4x",
            "-1",
            "0",
            "2g",
            "1.5m",
            "99999999999999999999g",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn servers_are_parsed_and_never_twice() {
        assert_eq!(servers(&["127.0.0.1:1".into()]).unwrap().len(), 1);
        let twice = servers(&["/tmp/mc.sock".into(), "unix:/tmp/mc.sock".into()]);
        assert_eq!(
            twice.unwrap_err().to_string(),
            "--server unix:/tmp/mc.sock is given twice"
        );
        let bad = servers(&["127.0.0.1".into()]).unwrap_err().to_string();
        assert!(bad.starts_with("--server: \"127.0.0.1\" is not a server address: no port"));
    }
}
