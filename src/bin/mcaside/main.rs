//! `mcaside`: talk to a memcached from the command line, and watch the bytes.
//!
//! ```text
//! mcaside [--server HOST:PORT|PATH]... [--wire] <command>
//!   get KEY | set KEY VALUE [--ttl S] [--flags N] | delete KEY | incr KEY [DELTA]
//!   stats [GROUP] | version
//!   meta mg|ms|md|ma KEY [VALUE] [FLAG...]     e.g. meta mg user:1 v c t N30
//!   raw LINE...                                 each LINE sent as is, plus \r\n
//!   bench [--workload get|set|mget|mixed] ...   a load generator; see `bench --help`
//! ```
//!
//! `--wire` prints every byte sent (`>`) and received (`<`), escaped, one line per
//! write or read. `--classic` keeps to the classic commands, which a default client
//! replaces with their meta forms on a server that has them. Built with `--features cli`, so that the library itself does not
//! depend on clap.

mod bench;
mod meta_args;
mod raw;
mod wire;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};
use mcaside::proto::{Escaped, MetaReply};
use mcaside::{Client, Expiry, StoreOptions};

#[derive(Parser)]
#[command(
    name = "mcaside",
    version,
    about = "Talk to memcached, and watch the wire"
)]
struct Cli {
    /// The server: HOST:PORT, or a Unix socket path. Only `bench` takes several.
    #[arg(
        long,
        short,
        global = true,
        env = "MCASIDE_SERVER",
        default_value = "127.0.0.1:11211",
        action = ArgAction::Append
    )]
    server: Vec<String>,
    /// Print the exact bytes sent (>) and received (<), escaped.
    #[arg(long, global = true)]
    wire: bool,
    /// Use only the classic commands, as against an older server or a proxy (by
    /// default, single-key commands go out in their meta forms on a 1.6+ server).
    #[arg(long, global = true)]
    classic: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the value stored under KEY (exit status 1 on a miss).
    Get { key: String },
    /// Store VALUE under KEY.
    Set {
        key: String,
        value: String,
        /// Time to live in seconds (0: never expires).
        #[arg(long, default_value_t = 0)]
        ttl: u64,
        /// Client flags.
        #[arg(long, default_value_t = 0)]
        flags: u32,
    },
    /// Delete KEY (exit status 1 if it did not exist).
    Delete { key: String },
    /// Add DELTA (default 1) to the number under KEY.
    Incr {
        key: String,
        #[arg(default_value_t = 1)]
        delta: u64,
    },
    /// The server's statistics, or a group of them (settings, items, slabs, ...).
    Stats { group: Option<String> },
    /// The server's version.
    Version,
    /// A meta command with flags as the protocol spells them: `mg KEY v c t N30`.
    Meta {
        #[command(subcommand)]
        command: meta_args::MetaCommand,
    },
    /// Send LINEs verbatim (each followed by \r\n) and print whatever comes back.
    /// `\r`, `\n`, `\0`, `\\` and `\xNN` in a LINE are unescaped.
    Raw {
        #[arg(required = true)]
        lines: Vec<String>,
        /// How long to wait for more reply bytes after the last ones, in milliseconds.
        #[arg(long, default_value_t = 300)]
        wait_ms: u64,
    },
    /// Generate load: preload a key space, then run a workload and report throughput,
    /// latency percentiles and the server's own counters.
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
            eprintln!("mcaside: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let Command::Bench(args) = &cli.command {
        return bench::run(&cli.server, args).await;
    }
    let server = match cli.server.as_slice() {
        [one] => one.as_str(),
        _ => return Err("--server is given more than once; only bench takes several".into()),
    };
    if let Command::Raw { lines, wait_ms } = &cli.command {
        return raw::run(server, lines, Duration::from_millis(*wait_ms), cli.wire).await;
    }
    let mut builder = Client::builder().connections(1);
    if cli.classic {
        builder = builder.features(mcaside::proto::Features::CLASSIC);
    }
    let client = builder.connect(server).await?;
    let found = |yes: bool| {
        if yes {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    };
    Ok(match cli.command {
        Command::Get { key } => match client.get(&key).await? {
            Some(item) => {
                out(format_args!("{}\n", Escaped(&item.value)))?;
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("not found");
                ExitCode::from(1)
            }
        },
        Command::Set {
            key,
            value,
            ttl,
            flags,
        } => {
            let expiry = if ttl == 0 {
                Expiry::Never
            } else {
                Expiry::secs(ttl)
            };
            client
                .set(
                    &key,
                    &value,
                    StoreOptions::new().flags(flags).expiry(expiry),
                )
                .await?;
            out(format_args!("STORED\n"))?;
            ExitCode::SUCCESS
        }
        Command::Delete { key } => found(client.delete(&key).await?),
        Command::Incr { key, delta } => match client.incr(&key, delta).await? {
            Some(n) => {
                out(format_args!("{n}\n"))?;
                ExitCode::SUCCESS
            }
            None => found(false),
        },
        Command::Stats { group } => {
            let stats = match group {
                Some(g) => client.stats_group(&g).await?,
                None => client.stats().await?,
            };
            for (name, value) in stats.0 {
                out(format_args!("{name} {value}\n"))?;
            }
            ExitCode::SUCCESS
        }
        Command::Version => {
            out(format_args!("{}\n", client.version().await?))?;
            ExitCode::SUCCESS
        }
        Command::Meta { command } => {
            let reply = meta_args::run(&client, command).await?;
            print_meta(&reply)?;
            ExitCode::SUCCESS
        }
        Command::Raw { .. } | Command::Bench(_) => unreachable!("handled above"),
    })
}

/// Writes to stdout, returning the error (a closed pipe, say) instead of panicking.
fn out(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    std::io::stdout().lock().write_fmt(args)
}

/// Prints a meta reply as its code, the returned flags by name, and the value.
fn print_meta(r: &MetaReply) -> std::io::Result<()> {
    let f = &r.flags;
    let mut line = r.code.as_str().to_owned();
    let mut add = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            line.push_str(&format!(" {name}={v}"));
        }
    };
    add("cas", f.cas.map(|v| v.to_string()));
    add("flags", f.client_flags.map(|v| v.to_string()));
    add("ttl", f.ttl.map(|v| v.to_string()));
    add("size", f.size.map(|v| v.to_string()));
    add("hit_before", f.hit_before.map(|v| v.to_string()));
    add("last_access", f.last_access.map(|v| v.to_string()));
    add("key", f.key.as_ref().map(|k| Escaped(k).to_string()));
    add("opaque", f.opaque.as_ref().map(|o| Escaped(o).to_string()));
    for (set, name) in [
        (f.won, " won(W)"),
        (f.stale, " stale(X)"),
        (f.win_taken, " win_taken(Z)"),
    ] {
        if set {
            line.push_str(name);
        }
    }
    out(format_args!("{line}\n"))?;
    if let Some(v) = &r.value {
        out(format_args!("{}\n", Escaped(v)))?;
    }
    Ok(())
}
