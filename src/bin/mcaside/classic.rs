//! The classic commands, one subcommand each, and what they print.
//!
//! What a script needs goes to standard output: a value (see [`value_io`]), a number,
//! or the server's word for success (`STORED`, `DELETED`, `TOUCHED`, `OK`). When a
//! command does not apply, the server's word for that (`NOT_FOUND`, `NOT_STORED`,
//! `EXISTS`) goes to standard error instead, so that `$(mcaside incr n)` holds a number
//! or nothing, and the exit status is 1.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use mcaside::{CasOutcome, Client, Expiry, Item, StoreOptions};

use crate::status;
use crate::value_io::{self, Shown, VALUE_HELP};

type Error = Box<dyn std::error::Error>;

#[derive(Subcommand)]
pub enum ClassicCommand {
    /// Print the value stored under KEY. Exit status 1 on a miss.
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        shown: Shown,
    },
    /// Print KEY's cas unique (for `cas`) on a line, then its value as `get` does.
    /// Exit status 1 on a miss.
    Gets {
        /// The key.
        key: String,
        #[command(flatten)]
        shown: Shown,
    },
    /// Print the value under KEY and give it a new time to live. Exit status 1 on a miss.
    Gat {
        /// The key.
        key: String,
        /// The new time to live in seconds (0: never expires).
        ttl: u64,
        #[command(flatten)]
        shown: Shown,
    },
    /// Like `gat`, with the cas unique on a line before the value, as `gets` prints it.
    /// Exit status 1 on a miss.
    Gats {
        /// The key.
        key: String,
        /// The new time to live in seconds (0: never expires).
        ttl: u64,
        #[command(flatten)]
        shown: Shown,
    },
    /// Store VALUE under KEY.
    Set {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
        #[command(flatten)]
        options: Store,
    },
    /// Store VALUE under KEY only if KEY holds nothing. Exit status 1 if it does.
    Add {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
        #[command(flatten)]
        options: Store,
    },
    /// Store VALUE under KEY only if KEY holds something. Exit status 1 if it does not.
    Replace {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
        #[command(flatten)]
        options: Store,
    },
    /// Add VALUE at the end of the value under KEY. Exit status 1 if KEY holds nothing.
    Append {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
    },
    /// Add VALUE at the start of the value under KEY. Exit status 1 if KEY holds nothing.
    Prepend {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
    },
    /// Store VALUE under KEY only if the item is unchanged since `gets` returned CAS.
    /// Prints STORED; else EXISTS (changed meanwhile) or NOT_FOUND, with exit status 1.
    Cas {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
        /// The cas unique, as `gets` printed it.
        cas: u64,
        #[command(flatten)]
        options: Store,
    },
    /// Delete KEY. Exit status 1 if it did not exist.
    Delete {
        /// The key.
        key: String,
    },
    /// Add DELTA to the decimal number under KEY and print the result (wrapping at
    /// 2^64). Exit status 1 if KEY holds nothing.
    Incr {
        /// The key.
        key: String,
        /// How much to add.
        #[arg(default_value_t = 1)]
        delta: u64,
    },
    /// Subtract DELTA from the decimal number under KEY (stopping at 0) and print the
    /// result. Exit status 1 if KEY holds nothing.
    Decr {
        /// The key.
        key: String,
        /// How much to subtract.
        #[arg(default_value_t = 1)]
        delta: u64,
    },
    /// Give KEY a new time to live without fetching it. Exit status 1 if it does not exist.
    Touch {
        /// The key.
        key: String,
        /// The new time to live in seconds (0: never expires).
        ttl: u64,
    },
    /// Invalidate every item on the server, now or after --delay.
    #[command(name = "flush_all", visible_alias = "flush-all")]
    FlushAll {
        /// Seconds to wait before invalidating (the server keeps serving until then).
        #[arg(long, value_name = "SECS")]
        delay: Option<u64>,
    },
    /// The server's statistics, or a group of them.
    Stats {
        /// A statistics group: settings, items, slabs, sizes, conns, ...
        group: Option<String>,
    },
    /// The server's version.
    Version,
}

/// The options of the storage commands.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Store {
    /// Time to live in seconds (0: never expires).
    #[arg(long, default_value_t = 0)]
    ttl: u64,
    /// The 32-bit client flags stored with the item.
    #[arg(long, default_value_t = 0)]
    flags: u32,
}

impl Store {
    fn options(self) -> StoreOptions {
        StoreOptions::new()
            .flags(self.flags)
            .expiry(expiry(self.ttl))
    }
}

fn expiry(ttl: u64) -> Expiry {
    match ttl {
        0 => Expiry::Never,
        s => Expiry::secs(s),
    }
}

pub async fn run(
    client: &Client,
    command: ClassicCommand,
    max_value: usize,
) -> Result<ExitCode, Error> {
    use ClassicCommand as C;
    let value = |v: OsString| value_io::read(v, max_value);
    Ok(match command {
        C::Get { key, shown } => print_item(client.get(&key).await?, shown, false)?,
        C::Gets { key, shown } => print_item(client.gets(&key).await?, shown, true)?,
        C::Gat { key, ttl, shown } => {
            print_item(client.gat(&key, expiry(ttl)).await?, shown, false)?
        }
        C::Gats { key, ttl, shown } => {
            print_item(client.gats(&key, expiry(ttl)).await?, shown, true)?
        }
        C::Set {
            key,
            value: v,
            options,
        } => {
            client.set(&key, value(v)?, options.options()).await?;
            stored(true)?
        }
        C::Add {
            key,
            value: v,
            options,
        } => stored(client.add(&key, value(v)?, options.options()).await?)?,
        C::Replace {
            key,
            value: v,
            options,
        } => stored(client.replace(&key, value(v)?, options.options()).await?)?,
        C::Append { key, value: v } => stored(client.append(&key, value(v)?).await?)?,
        C::Prepend { key, value: v } => stored(client.prepend(&key, value(v)?).await?)?,
        C::Cas {
            key,
            value: v,
            cas,
            options,
        } => match client.cas(&key, value(v)?, cas, options.options()).await? {
            CasOutcome::Stored => said("STORED")?,
            CasOutcome::Exists => not_applied("EXISTS"),
            CasOutcome::NotFound => not_applied("NOT_FOUND"),
        },
        C::Delete { key } => match client.delete(&key).await? {
            true => said("DELETED")?,
            false => not_applied("NOT_FOUND"),
        },
        C::Incr { key, delta } => number(client.incr(&key, delta).await?)?,
        C::Decr { key, delta } => number(client.decr(&key, delta).await?)?,
        C::Touch { key, ttl } => match client.touch(&key, expiry(ttl)).await? {
            true => said("TOUCHED")?,
            false => not_applied("NOT_FOUND"),
        },
        C::FlushAll { delay } => {
            client.flush_all(delay.map(Duration::from_secs)).await?;
            said("OK")?
        }
        C::Stats { group } => {
            // Several servers: each one's own figures, under its name (a group is asked
            // of the first server).
            if group.is_none() && client.servers().len() > 1 {
                for (server, stats) in client.stats_each().await {
                    value_io::line(format_args!("--- {server}"))?;
                    for (name, value) in stats?.0 {
                        value_io::line(format_args!("{name} {value}"))?;
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let stats = match group {
                Some(g) => client.stats_group(&g).await?,
                None => client.stats().await?,
            };
            for (name, value) in stats.0 {
                value_io::line(format_args!("{name} {value}"))?;
            }
            ExitCode::SUCCESS
        }
        C::Version => said(client.version().await?)?,
    })
}

/// A retrieval's result: the value (after the cas unique, for `gets`), or a miss.
fn print_item(item: Option<Item>, shown: Shown, with_cas: bool) -> std::io::Result<ExitCode> {
    let Some(item) = item else {
        return Ok(not_applied("NOT_FOUND"));
    };
    if with_cas {
        value_io::line(item.cas.unwrap_or(0))?;
    }
    value_io::write(&item.value, shown)?;
    Ok(ExitCode::SUCCESS)
}

fn stored(yes: bool) -> std::io::Result<ExitCode> {
    if yes {
        said("STORED")
    } else {
        Ok(not_applied("NOT_STORED"))
    }
}

fn number(n: Option<u64>) -> std::io::Result<ExitCode> {
    match n {
        Some(n) => said(n),
        None => Ok(not_applied("NOT_FOUND")),
    }
}

fn said(word: impl std::fmt::Display) -> std::io::Result<ExitCode> {
    value_io::line(word)?;
    Ok(ExitCode::SUCCESS)
}

/// The command did not apply: the server's word for it on standard error, status 1.
fn not_applied(word: &str) -> ExitCode {
    eprintln!("{word}");
    status::applied(false)
}
