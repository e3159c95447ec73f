//! The command line: every knob of the harness, with its default. `--help` prints
//! [`USAGE`]; the harness's top-level doc (compare.rs) explains each choice.

use std::path::PathBuf;

use crate::job::Runtime;

pub const USAGE: &str = "\
usage: cargo bench --bench compare -- [SCENARIO|GROUP ...] [OPTIONS]

Scenarios and groups (default: table); --list prints every scenario name:
  table        issue 13's table: get-64, set-64, get-1000, get-1, mget100-1
  concurrency  get of 100 B values at 1, 8, 64, 512, 4096 tasks (conc-get-<T>)
  sizes        value-size curves: size-<get|set>-<T>t-<size> for each size, tasks, op
  all          all of the above
  a name or a prefix of names (e.g. size-get-16t) selects those scenarios

Running:
  --secs S               measured seconds per run                         [2]
  --warmup S             warm-up seconds before each measured run         [0.5]
  --rounds N             interleaved rounds (each client once per round)  [5]
  --clients LIST         mcaside,async-memcached,memcache,raw,raw-tasks,   [all]
                         memcslap (raw-tasks: get and set scenarios only)
  --connections LIST     mcaside pool sizes; `default` = the builder's    [default,1,4]
  --raw-conns LIST       raw reference connections                        [1,2,4]
  --raw-depth LIST       raw reference requests in flight per connection  [16,64]
                         (capped at tasks / connections; 1 task = request/response)
  --raw-read-buf BYTES   raw reference read buffer per connection         [256KiB]
  --runtime R            workers' tokio runtime: current | multi:N        [current]
  --mcaside-timeout-ms M mcaside request timeout; 0 = none                [10000]
  --full-check-max BYTES values up to this are compared byte for byte,
                         larger ones by length and stamps                 [4KiB]
  --seed N               key choice seed                                  [1]

Key space and scenarios:
  --keys N               keys preloaded (at most)                         [10000]
  --keyspace-bytes BYTES cap on keys x value size (large values get fewer
                         keys, never fewer than --min-keys)               [128MiB]
  --min-keys N                                                            [64]
  --conc-tasks LIST      concurrency curve                                [1,8,64,512,4096]
  --sizes LIST           value sizes (B, KB=1000, KiB=1024, MB, MiB)
                         [100B,1KiB,4KiB,16KiB,64KiB,100KiB,128KiB,512KiB,1MiB]
  --size-tasks LIST      tasks for the value-size curves                  [1,16]
  --size-ops LIST        get,set                                          [get,set]

Processes:
  --client-cpu N         CPU the workers are pinned to                    [0]
  --server-cpu N         CPU memcached is pinned to                       [1]
  --no-pin               do not pin (the report says so)
  --server-threads N     memcached -t                                     [1]
  --server-mem MB        memcached -m                                     [1024]
  (memcached comes from $MEMCACHED or PATH; -I is raised for values near 1 MiB)

Output:
  --json FILE            JSON lines: the run, every round, every summary
                                                      [target/compare/results.jsonl]
  --markdown FILE        also write the markdown report here
  --plots DIR            write PNG plots of the curves here (e.g. docs/bench)
  --list                 print the scenario names and exit
";

#[derive(Clone, Debug)]
pub struct Opts {
    pub select: Vec<String>,
    pub secs: f64,
    pub warmup: f64,
    pub rounds: usize,
    pub clients: Vec<String>,
    pub connections: Vec<Option<usize>>,
    pub raw_conns: Vec<usize>,
    pub raw_depth: Vec<usize>,
    pub raw_read_buf: usize,
    pub runtime: Runtime,
    pub mcaside_timeout_ms: u64,
    pub full_check_max: usize,
    pub seed: u64,
    pub keys: usize,
    pub keyspace_bytes: usize,
    pub min_keys: usize,
    pub conc_tasks: Vec<usize>,
    pub sizes: Vec<usize>,
    pub size_tasks: Vec<usize>,
    pub size_ops: Vec<String>,
    pub client_cpu: usize,
    pub server_cpu: usize,
    pub no_pin: bool,
    pub server_threads: usize,
    pub server_mem_mb: usize,
    pub json: PathBuf,
    pub markdown: Option<PathBuf>,
    pub plots: Option<PathBuf>,
    pub list: bool,
}

/// Every client `--clients` knows, in report order.
const CLIENTS: [&str; 6] = [
    "mcaside",
    "async-memcached",
    "memcache",
    "raw",
    "raw-tasks",
    "memcslap",
];

impl Default for Opts {
    fn default() -> Self {
        Opts {
            select: Vec::new(),
            secs: 2.0,
            warmup: 0.5,
            rounds: 5,
            clients: CLIENTS.map(String::from).to_vec(),
            connections: vec![None, Some(1), Some(4)],
            raw_conns: vec![1, 2, 4],
            raw_depth: vec![16, 64],
            raw_read_buf: 256 * 1024,
            runtime: Runtime::Current,
            mcaside_timeout_ms: 10_000,
            full_check_max: 4096,
            seed: 1,
            keys: 10_000,
            keyspace_bytes: 128 << 20,
            min_keys: 64,
            conc_tasks: vec![1, 8, 64, 512, 4096],
            sizes: [
                100,
                1 << 10,
                4 << 10,
                16 << 10,
                64 << 10,
                100 << 10,
                128 << 10,
                512 << 10,
                1 << 20,
            ]
            .to_vec(),
            size_tasks: vec![1, 16],
            size_ops: vec!["get".into(), "set".into()],
            client_cpu: 0,
            server_cpu: 1,
            no_pin: false,
            server_threads: 1,
            server_mem_mb: 1024,
            json: PathBuf::from("target/compare/results.jsonl"),
            markdown: None,
            plots: None,
            list: false,
        }
    }
}

/// A size: `100`, `100B`, `4KiB` (or `4k`), `16KB` (decimal), `1MiB` (or `1m`), `1MB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("not a size: {s}"))?;
    let mult = match unit {
        "" | "B" | "b" => 1,
        "KiB" | "k" | "K" | "kib" => 1 << 10,
        "KB" | "kB" | "kb" => 1000,
        "MiB" | "m" | "M" | "mib" => 1 << 20,
        "MB" | "mb" => 1_000_000,
        _ => return Err(format!("unknown unit in {s}")),
    };
    Ok(n * mult)
}

/// A size as the scenario names and tables show it.
pub fn size_label(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}MB", n / 1_000_000),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n if n >= 1000 && n % 1000 == 0 => format!("{}KB", n / 1000),
        n => format!("{n}B"),
    }
}

fn list<T>(v: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.split(',').filter(|s| !s.is_empty()).map(f).collect()
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| format!("not a number: {s}"))
}

impl Opts {
    /// Parses the arguments after the program name. `--bench`, which `cargo bench`
    /// passes to every bench binary, is ignored.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Opts, String> {
        let mut o = Opts::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--bench" => {}
                "-h" | "--help" => return Err(String::new()),
                "--list" => o.list = true,
                "--no-pin" => o.no_pin = true,
                "--secs" => o.secs = num(&value()?)?,
                "--warmup" => o.warmup = num(&value()?)?,
                "--rounds" => o.rounds = num::<usize>(&value()?)?.max(1),
                "--clients" => o.clients = list(&value()?, |s| Ok(s.to_string()))?,
                "--connections" => {
                    o.connections = list(&value()?, |s| match s {
                        "default" => Ok(None),
                        n => num(n).map(Some),
                    })?
                }
                "--raw-conns" => o.raw_conns = list(&value()?, num)?,
                "--raw-depth" => o.raw_depth = list(&value()?, num)?,
                "--raw-read-buf" => o.raw_read_buf = parse_size(&value()?)?,
                "--runtime" => {
                    o.runtime = match value()?.as_str() {
                        "current" => Runtime::Current,
                        m => match m.strip_prefix("multi:") {
                            Some(n) => Runtime::Multi(num(n)?),
                            None => return Err(format!("--runtime current|multi:N, not {m}")),
                        },
                    }
                }
                "--mcaside-timeout-ms" => o.mcaside_timeout_ms = num(&value()?)?,
                "--full-check-max" => o.full_check_max = parse_size(&value()?)?,
                "--seed" => o.seed = num(&value()?)?,
                "--keys" => o.keys = num(&value()?)?,
                "--keyspace-bytes" => o.keyspace_bytes = parse_size(&value()?)?,
                "--min-keys" => o.min_keys = num(&value()?)?,
                "--conc-tasks" => o.conc_tasks = list(&value()?, num)?,
                "--sizes" => o.sizes = list(&value()?, parse_size)?,
                "--size-tasks" => o.size_tasks = list(&value()?, num)?,
                "--size-ops" => o.size_ops = list(&value()?, |s| Ok(s.to_string()))?,
                "--client-cpu" => o.client_cpu = num(&value()?)?,
                "--server-cpu" => o.server_cpu = num(&value()?)?,
                "--server-threads" => o.server_threads = num(&value()?)?,
                "--server-mem" => o.server_mem_mb = num(&value()?)?,
                "--json" => o.json = value()?.into(),
                "--markdown" => o.markdown = Some(value()?.into()),
                "--plots" => o.plots = Some(value()?.into()),
                f if f.starts_with('-') => return Err(format!("unknown option {f}")),
                name => o.select.push(name.to_string()),
            }
        }
        for c in &o.clients {
            if !CLIENTS.contains(&c.as_str()) {
                return Err(format!("unknown client {c}"));
            }
        }
        for op in &o.size_ops {
            if op != "get" && op != "set" {
                return Err(format!("--size-ops takes get and set, not {op}"));
            }
        }
        if o.sizes.iter().any(|&s| s < crate::values::MIN_SIZE) {
            return Err(format!(
                "values are at least {} bytes",
                crate::values::MIN_SIZE
            ));
        }
        if o.connections.is_empty() || o.raw_conns.is_empty() || o.raw_depth.is_empty() {
            return Err(
                "--connections, --raw-conns and --raw-depth need at least one value".into(),
            );
        }
        if !(o.secs > 0.0 && o.warmup >= 0.0) {
            return Err("--secs must be positive and --warmup not negative".into());
        }
        Ok(o)
    }

    pub fn wants(&self, client: &str) -> bool {
        self.clients.iter().any(|c| c == client)
    }
}
