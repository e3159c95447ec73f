//! The scenarios, by name and group, and the clients each one runs.

use crate::job::{ClientSpec, Op};
use crate::opts::{Opts, size_label};

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    /// `table`, `concurrency` or `sizes`.
    pub group: &'static str,
    pub op: Op,
    pub tasks: usize,
    pub value_size: usize,
    pub keys: usize,
    pub clients: Vec<ClientSpec>,
}

impl Scenario {
    pub fn title(&self) -> String {
        format!(
            "{}, {} task{}, {} values, {} keys",
            self.op.label(),
            self.tasks,
            if self.tasks == 1 { "" } else { "s" },
            size_label(self.value_size),
            self.keys
        )
    }
    /// Whether throughput is counted in keys (multi-gets) rather than requests.
    pub fn unit(&self) -> &'static str {
        match self.op {
            Op::MultiGet(_) => "keys/s",
            _ => "ops/s",
        }
    }
}

/// Every scenario the options describe, in run order.
pub fn all(o: &Opts) -> Vec<Scenario> {
    let mut v = Vec::new();
    let mut add = |name: String, group, op, tasks, value_size| {
        v.push(make(o, name, group, op, tasks, value_size));
    };
    for (name, op, tasks) in [
        ("get-64", Op::Get, 64),
        ("set-64", Op::Set, 64),
        ("get-1000", Op::Get, 1000),
        ("get-1", Op::Get, 1),
        ("mget100-1", Op::MultiGet(100), 1),
    ] {
        add(name.into(), "table", op, tasks, 100);
    }
    for &t in &o.conc_tasks {
        add(format!("conc-get-{t}"), "concurrency", Op::Get, t, 100);
    }
    for op in &o.size_ops {
        let op = if op == "set" { Op::Set } else { Op::Get };
        for &t in &o.size_tasks {
            for &size in &o.sizes {
                let name = format!("size-{}-{t}t-{}", op.label(), size_label(size));
                add(name, "sizes", op, t, size);
            }
        }
    }
    v
}

/// The scenarios the command line selects: groups, exact names, or name prefixes.
pub fn select(o: &Opts) -> Result<Vec<Scenario>, String> {
    let all = all(o);
    let wanted: Vec<&str> = if o.select.is_empty() {
        vec!["table"]
    } else {
        o.select.iter().map(String::as_str).collect()
    };
    let mut out: Vec<Scenario> = Vec::new();
    for w in wanted {
        // A group or an exact name; failing those, every name that starts with it.
        let mut picked: Vec<&Scenario> = all
            .iter()
            .filter(|s| w == "all" || s.group == w || s.name == w)
            .collect();
        if picked.is_empty() {
            picked = all.iter().filter(|s| s.name.starts_with(w)).collect();
        }
        if picked.is_empty() {
            return Err(format!("no scenario or group named {w} (try --list)"));
        }
        for s in picked {
            if !out.iter().any(|x| x.name == s.name) {
                out.push(s.clone());
            }
        }
    }
    Ok(out)
}

fn make(
    o: &Opts,
    name: String,
    group: &'static str,
    op: Op,
    tasks: usize,
    value_size: usize,
) -> Scenario {
    // A key space larger than any batch, within the memory budget.
    let batch = match op {
        Op::MultiGet(n) => n * tasks.max(1),
        _ => tasks,
    };
    let by_budget = (o.keyspace_bytes / value_size).max(o.min_keys);
    let keys = o.keys.min(by_budget).max(2 * batch).max(o.min_keys);
    let mut clients = Vec::new();
    if o.wants("mcaside") {
        for &c in &o.connections {
            clients.push(ClientSpec::Mcaside { connections: c });
        }
    }
    if o.wants("async-memcached") {
        clients.push(ClientSpec::AsyncMemcached);
    }
    if o.wants("memcache") {
        clients.push(ClientSpec::Memcache);
    }
    if o.wants("raw") {
        for (conns, depth) in raw_configs(o, tasks) {
            clients.push(ClientSpec::Raw { conns, depth });
        }
    }
    // The floor of one task per caller, on the reference's connection counts (those
    // that serve at least one task each); get and set only.
    if o.wants("raw-tasks") && matches!(op, Op::Get | Op::Set) {
        for &conns in &o.raw_conns {
            if conns > 0 && conns <= tasks {
                clients.push(ClientSpec::RawTasks { conns });
            }
        }
    }
    // memcslap has its own keys and values (and a thread per connection): only the
    // small-value get and set scenarios of the table and the concurrency curve are
    // comparable, and only up to 1,000 threads.
    if o.wants("memcslap") && group != "sizes" && tasks <= 1000 && matches!(op, Op::Get | Op::Set) {
        clients.push(ClientSpec::Memcslap);
    }
    Scenario {
        name,
        group,
        op,
        tasks,
        value_size,
        keys,
        clients,
    }
}

/// The raw reference's configurations for `tasks` concurrent requests: each connection
/// count up to `tasks`, each with at most `tasks / conns` requests in flight, so that
/// the reference never has more requests outstanding than the clients it is the limit
/// for.
pub fn raw_configs(o: &Opts, tasks: usize) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = Vec::new();
    for &n in &o.raw_conns {
        if n == 0 || n > tasks {
            continue;
        }
        for &d in &o.raw_depth {
            let c = (n, d.min(tasks / n).max(1));
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    if v.is_empty() {
        v.push((1, 1));
    }
    v
}
