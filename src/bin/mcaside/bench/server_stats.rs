//! The servers' own counters, read before and after the measured run: the server's
//! view of the same load, to check the client's numbers against (a client that thinks
//! it made a million gets while `cmd_get` moved by half that is measuring itself).

use mcaside::Stats;

use super::cluster::Cluster;

/// Counters reported as their change over the run.
const COUNTERS: [&str; 7] = [
    "cmd_get",
    "cmd_set",
    "get_hits",
    "get_misses",
    "evictions",
    "bytes_read",
    "bytes_written",
];
/// Gauges reported as their value at the end.
const GAUGES: [&str; 1] = ["curr_connections"];

pub type Snapshot = Vec<Result<Stats, String>>;

/// `stats` from every server; a server that does not answer gets an error in its place
/// (the load numbers are still worth reporting).
pub async fn snapshot(cluster: &Cluster) -> Snapshot {
    let each = cluster.client.stats_each().await;
    each.into_iter()
        .map(|(_, stats)| stats.map_err(|e| e.to_string()))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The change over the run.
    Delta,
    /// The value at the end.
    Now,
}

#[derive(Debug)]
pub struct Row {
    pub name: &'static str,
    pub value: u64,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct ServerStats {
    pub addr: String,
    pub rows: Result<Vec<Row>, String>,
}

pub fn compare(cluster: &Cluster, before: Snapshot, after: Snapshot) -> Vec<ServerStats> {
    cluster
        .addrs
        .iter()
        .zip(before.into_iter().zip(after))
        .map(|(addr, (before, after))| ServerStats {
            addr: addr.clone(),
            rows: before.and_then(|b| after.map(|a| rows(&b, &a))),
        })
        .collect()
}

/// The statistics both snapshots have (a proxy or an old server may lack some).
fn rows(before: &Stats, after: &Stats) -> Vec<Row> {
    let deltas = COUNTERS.iter().filter_map(|&name| {
        let value = after.get_u64(name)?.saturating_sub(before.get_u64(name)?);
        Some(Row {
            name,
            value,
            kind: Kind::Delta,
        })
    });
    let gauges = GAUGES.iter().filter_map(|&name| {
        Some(Row {
            name,
            value: after.get_u64(name)?,
            kind: Kind::Now,
        })
    });
    deltas.chain(gauges).collect()
}
