//! `mcaside meta`: meta commands with flags written as the protocol spells them
//! (`v c t N30 O7 MS`), parsed into the library's typed flags by the library's own parser
//! (`MetaGet::from_tokens`...), so the same checks apply as in code: an unknown flag or a
//! bad argument is an error before anything is sent. The help and the reply's printout
//! are written from the library's flag tables too, so a flag added there is here.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Subcommand;
use mcaside::Client;
use mcaside::proto::meta::{FlagInfo, MetaArith, MetaDelete, MetaGet, MetaSet};
use mcaside::proto::{MetaCode, MetaReply};

use crate::status;
use crate::value_io::{self, Shown, VALUE_HELP};

#[derive(Subcommand)]
pub enum MetaCommand {
    #[command(
        about = about("mg KEY", MetaGet::FLAGS, "Exit status 1 on EN (a miss)."),
        long_about = long_about("mg KEY", MetaGet::FLAGS, "Exit status 1 on EN (a miss).")
    )]
    Mg {
        /// The key.
        key: String,
        /// Flags as the protocol spells them, such as v c t N30.
        flags: Vec<String>,
        #[command(flatten)]
        shown: Shown,
    },
    #[command(
        about = about("ms KEY VALUE", MetaSet::FLAGS, ABOUT_MS),
        long_about = long_about("ms KEY VALUE", MetaSet::FLAGS, ABOUT_MS)
    )]
    Ms {
        /// The key.
        key: String,
        #[arg(help = VALUE_HELP)]
        value: OsString,
        /// Flags as the protocol spells them, such as T30 F5 c.
        flags: Vec<String>,
    },
    #[command(
        about = about("md KEY", MetaDelete::FLAGS, "Exit status 1 on NF or EX."),
        long_about = long_about("md KEY", MetaDelete::FLAGS, "Exit status 1 on NF or EX.")
    )]
    Md {
        /// The key.
        key: String,
        /// Flags as the protocol spells them, such as I T30.
        flags: Vec<String>,
    },
    #[command(
        about = about("ma KEY", MetaArith::FLAGS, ABOUT_MA),
        long_about = long_about("ma KEY", MetaArith::FLAGS, ABOUT_MA)
    )]
    Ma {
        /// The key.
        key: String,
        /// Flags as the protocol spells them, such as N0 J7 v.
        flags: Vec<String>,
    },
}

const ABOUT_MS: &str = "Exit status 1 on NS or EX (not stored).";
const ABOUT_MA: &str = "Exit status 1 on NF, NS or EX.";

/// `mg KEY [FLAG...]: b c f ..., C<cas> ... Exit status ...`: the flags of `table`,
/// those without an argument first.
fn about(usage: &str, table: &[FlagInfo], exit: &str) -> String {
    let plain: Vec<String> = table
        .iter()
        .filter(|f| f.argument.is_none())
        .map(|f| f.letter.to_string())
        .collect();
    let with_arg: Vec<String> = table
        .iter()
        .filter_map(|f| f.argument.map(|a| format!("{}<{a}>", f.letter)))
        .collect();
    format!(
        "{usage} [FLAG...]: {}, {}. {exit}",
        plain.join(" "),
        with_arg.join(" ")
    )
}

/// [`about`], then one line per flag with what it does.
fn long_about(usage: &str, table: &[FlagInfo], exit: &str) -> String {
    let mut text = format!("{usage} [FLAG...]. {exit}\n\nFlags:");
    for f in table {
        let spelt = match f.argument {
            Some(a) => format!("{}<{a}>", f.letter),
            None => f.letter.to_string(),
        };
        let since = f
            .since
            .map(|v| format!(" (memcached {v}+)"))
            .unwrap_or_default();
        text.push_str(&format!("\n  {spelt:<12} {}{since}", f.summary()));
    }
    text
}

type Error = Box<dyn std::error::Error>;

pub async fn run(
    client: &Client,
    command: MetaCommand,
    max_value: usize,
) -> Result<ExitCode, Error> {
    let (reply, shown) = match command {
        MetaCommand::Mg { key, flags, shown } => (
            client
                .meta_get(&key, &MetaGet::from_tokens(strs(&flags))?)
                .await?,
            shown,
        ),
        MetaCommand::Ms { key, value, flags } => {
            let value = value_io::read(value, max_value)?;
            let reply = client
                .meta_set(&key, &value, &MetaSet::from_tokens(strs(&flags))?)
                .await?;
            (reply, Shown { escape: false })
        }
        MetaCommand::Md { key, flags } => (
            client
                .meta_delete(&key, &MetaDelete::from_tokens(strs(&flags))?)
                .await?,
            Shown { escape: false },
        ),
        MetaCommand::Ma { key, flags } => (
            client
                .meta_arith(&key, &MetaArith::from_tokens(strs(&flags))?)
                .await?,
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

fn strs(tokens: &[String]) -> impl Iterator<Item = &str> {
    tokens.iter().map(String::as_str)
}

/// Prints a meta reply as its code and the returned flags by name on one line (`name=`
/// and the argument, or `name(L)` for a flag without one), then the value, if any, as
/// `get` prints one.
fn print(r: &MetaReply, shown: Shown) -> std::io::Result<()> {
    let mut line = r.code.as_str().to_owned();
    for field in r.flags.fields() {
        match field.value {
            Some(v) => line.push_str(&format!(" {}={v}", field.name)),
            None => line.push_str(&format!(" {}({})", field.name, field.letter)),
        }
    }
    value_io::line(line)?;
    if let Some(v) = &r.value {
        value_io::write(v, shown)?;
    }
    Ok(())
}
