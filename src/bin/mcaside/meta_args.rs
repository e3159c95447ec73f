//! `mcaside meta`: meta commands with flags written as the protocol spells them
//! (`v c t N30 O7 MS`), parsed into the library's typed flags, so the same checks apply
//! as in code: an unknown flag or a bad argument is an error before anything is sent.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use mcaside::proto::meta::{ArithMode, MetaArith, MetaDelete, MetaGet, MetaSet, Opaque, SetMode};
use mcaside::proto::{Escaped, MetaCode, MetaReply};
use mcaside::{Client, Expiry};

use crate::status;
use crate::value_io::{self, Shown, VALUE_HELP};

#[derive(Subcommand)]
pub enum MetaCommand {
    /// mg KEY [FLAG...]: b c f h k l q s t u v, C<cas> E<cas> N<ttl> R<secs> T<ttl> O<token>.
    /// Exit status 1 on EN (a miss).
    Mg {
        /// The key.
        key: String,
        /// Flags as the protocol spells them, such as v c t N30.
        flags: Vec<String>,
        #[command(flatten)]
        shown: Shown,
    },
    /// ms KEY VALUE [FLAG...]: b c I k q s, C<cas> E<cas> F<flags> T<ttl> N<ttl> O<token> M<E|A|P|R|S>.
    /// Exit status 1 on NS or EX (not stored).
    Ms {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
        /// Flags as the protocol spells them, such as T30 F5 c.
        flags: Vec<String>,
    },
    /// md KEY [FLAG...]: b I k q x, C<cas> E<cas> T<ttl> O<token>.
    /// Exit status 1 on NF or EX.
    Md {
        /// The key.
        key: String,
        /// Flags as the protocol spells them, such as I T30.
        flags: Vec<String>,
    },
    /// ma KEY [FLAG...]: b c k q t v, C<cas> E<cas> N<ttl> J<initial> D<delta> T<ttl> O<token> M<I|D|+|->.
    /// Exit status 1 on NF, NS or EX.
    Ma {
        /// The key.
        key: String,
        /// Flags as the protocol spells them, such as N0 J7 v.
        flags: Vec<String>,
    },
}

type Error = Box<dyn std::error::Error>;

pub async fn run(
    client: &Client,
    command: MetaCommand,
    max_value: usize,
) -> Result<ExitCode, Error> {
    let (reply, shown) = match command {
        MetaCommand::Mg { key, flags, shown } => {
            (client.meta_get(&key, &mg(&flags)?).await?, shown)
        }
        MetaCommand::Ms { key, value, flags } => {
            let value = value_io::read(value, max_value)?;
            let reply = client.meta_set(&key, &value, &ms(&flags)?).await?;
            (reply, Shown { escape: false })
        }
        MetaCommand::Md { key, flags } => (
            client.meta_delete(&key, &md(&flags)?).await?,
            Shown { escape: false },
        ),
        MetaCommand::Ma { key, flags } => (
            client.meta_arith(&key, &ma(&flags)?).await?,
            // The value of `ma ... v` is a number: always a line of text.
            Shown { escape: true },
        ),
    };
    print(&reply, shown)?;
    Ok(status::applied(matches!(
        reply.code,
        MetaCode::Value | MetaCode::Header
    )))
}

/// Prints a meta reply as its code and the returned flags by name on one line, then
/// the value, if any, as `get` prints one.
fn print(r: &MetaReply, shown: Shown) -> std::io::Result<()> {
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
    value_io::line(line)?;
    if let Some(v) = &r.value {
        value_io::write(v, shown)?;
    }
    Ok(())
}

fn split(token: &str) -> Result<(char, &str), Error> {
    let mut chars = token.chars();
    let flag = chars.next().ok_or("empty flag")?;
    Ok((flag, chars.as_str()))
}

fn num<T: std::str::FromStr>(flag: char, arg: &str) -> Result<T, Error> {
    arg.parse()
        .map_err(|_| format!("flag {flag} needs a number, got {arg:?}").into())
}

fn ttl(flag: char, arg: &str) -> Result<Expiry, Error> {
    let n: i64 = num(flag, arg)?;
    Ok(match n {
        0 => Expiry::Never,
        n if n < 0 => Expiry::Expired,
        n => Expiry::secs(n as u64),
    })
}

fn none(flag: char, arg: &str) -> Result<(), Error> {
    if arg.is_empty() {
        Ok(())
    } else {
        Err(format!("flag {flag} takes no argument").into())
    }
}

fn unknown(cmd: &str, flag: char) -> Error {
    format!("{cmd} has no flag {flag:?}").into()
}

fn mg(tokens: &[String]) -> Result<MetaGet, Error> {
    let mut f = MetaGet::new();
    for t in tokens {
        let (flag, arg) = split(t)?;
        match flag {
            'C' => f.compare_cas = Some(num(flag, arg)?),
            'E' => f.new_cas = Some(num(flag, arg)?),
            'N' => f.vivify = Some(ttl(flag, arg)?),
            'R' => f.recache = Some(Duration::from_secs(num(flag, arg)?)),
            'T' => f.touch = Some(ttl(flag, arg)?),
            'O' => f.opaque = Some(Opaque::new(arg.as_bytes())?),
            _ => {
                none(flag, arg)?;
                match flag {
                    'b' => f.base64_key = true,
                    'c' => f.return_cas = true,
                    'f' => f.return_flags = true,
                    'h' => f.return_hit = true,
                    'k' => f.return_key = true,
                    'l' => f.return_last_access = true,
                    'q' => f.quiet = true,
                    's' => f.return_size = true,
                    't' => f.return_ttl = true,
                    'u' => f.no_bump = true,
                    'v' => f.return_value = true,
                    _ => return Err(unknown("mg", flag)),
                }
            }
        }
    }
    Ok(f)
}

fn ms(tokens: &[String]) -> Result<MetaSet, Error> {
    let mut f = MetaSet::new();
    for t in tokens {
        let (flag, arg) = split(t)?;
        match flag {
            'C' => f.compare_cas = Some(num(flag, arg)?),
            'E' => f.new_cas = Some(num(flag, arg)?),
            'F' => f.client_flags = Some(num(flag, arg)?),
            'T' => f.ttl = Some(ttl(flag, arg)?),
            'N' => f.vivify = Some(ttl(flag, arg)?),
            'O' => f.opaque = Some(Opaque::new(arg.as_bytes())?),
            'M' => {
                f.mode = match arg {
                    "S" | "s" => SetMode::Set,
                    "E" | "e" => SetMode::Add,
                    "R" | "r" => SetMode::Replace,
                    "A" | "a" => SetMode::Append,
                    "P" | "p" => SetMode::Prepend,
                    _ => {
                        return Err(format!("ms mode must be one of S E R A P, got {arg:?}").into());
                    }
                }
            }
            _ => {
                none(flag, arg)?;
                match flag {
                    'b' => f.base64_key = true,
                    'c' => f.return_cas = true,
                    'I' => f.invalidate = true,
                    'k' => f.return_key = true,
                    'q' => f.quiet = true,
                    's' => f.return_size = true,
                    _ => return Err(unknown("ms", flag)),
                }
            }
        }
    }
    Ok(f)
}

fn md(tokens: &[String]) -> Result<MetaDelete, Error> {
    let mut f = MetaDelete::new();
    for t in tokens {
        let (flag, arg) = split(t)?;
        match flag {
            'C' => f.compare_cas = Some(num(flag, arg)?),
            'E' => f.new_cas = Some(num(flag, arg)?),
            'T' => f.ttl = Some(ttl(flag, arg)?),
            'O' => f.opaque = Some(Opaque::new(arg.as_bytes())?),
            _ => {
                none(flag, arg)?;
                match flag {
                    'b' => f.base64_key = true,
                    'I' => f.invalidate = true,
                    'k' => f.return_key = true,
                    'q' => f.quiet = true,
                    'x' => f.remove_value = true,
                    _ => return Err(unknown("md", flag)),
                }
            }
        }
    }
    Ok(f)
}

fn ma(tokens: &[String]) -> Result<MetaArith, Error> {
    let mut f = MetaArith::new();
    for t in tokens {
        let (flag, arg) = split(t)?;
        match flag {
            'C' => f.compare_cas = Some(num(flag, arg)?),
            'E' => f.new_cas = Some(num(flag, arg)?),
            'N' => f.auto_create = Some(ttl(flag, arg)?),
            'J' => f.initial = Some(num(flag, arg)?),
            'D' => f.delta = Some(num(flag, arg)?),
            'T' => f.touch = Some(ttl(flag, arg)?),
            'O' => f.opaque = Some(Opaque::new(arg.as_bytes())?),
            'M' => {
                f.mode = match arg {
                    "I" | "i" | "+" => ArithMode::Incr,
                    "D" | "d" | "-" => ArithMode::Decr,
                    _ => return Err(format!("ma mode must be one of I + D -, got {arg:?}").into()),
                }
            }
            _ => {
                none(flag, arg)?;
                match flag {
                    'b' => f.base64_key = true,
                    'c' => f.return_cas = true,
                    'k' => f.return_key = true,
                    'q' => f.quiet = true,
                    't' => f.return_ttl = true,
                    'v' => f.return_value = true,
                    _ => return Err(unknown("ma", flag)),
                }
            }
        }
    }
    Ok(f)
}
