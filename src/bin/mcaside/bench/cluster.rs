//! The servers under load: one client each, and which server holds which key.

use mcaside::{Client, Item, join_all};

use super::keyspace::Key;
use super::rng::mix64;

pub struct Server {
    pub addr: String,
    pub client: Client,
}

/// One multiplexed [`Client`] per server, shared by every worker.
pub struct Cluster {
    pub servers: Vec<Server>,
}

impl Cluster {
    /// Connects to every server with `client`'s settings (limits, TLS, login). The
    /// library's error names the server that failed.
    pub async fn connect(
        addrs: &[String],
        connections: usize,
        client: mcaside::ClientBuilder,
    ) -> mcaside::Result<Cluster> {
        let mut servers = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let client = client
                .clone()
                .connections(connections)
                .connect(addr.as_str())
                .await?;
            servers.push(Server {
                addr: addr.clone(),
                client,
            });
        }
        Ok(Cluster { servers })
    }

    /// The index of the server that holds `key`: a hash of the key modulo the number of
    /// servers. This is a stand-in: adding a server moves almost every key, which
    /// consistent hashing (a later issue, with the library's server pool) will fix.
    ///
    /// The hash is FNV-1a, as the library uses to pick a connection, but remixed:
    /// taken modulo the same small numbers, the raw hash would send all of a server's
    /// keys to the same few of its connections.
    pub fn index_of(&self, key: &[u8]) -> usize {
        if self.servers.len() == 1 {
            return 0;
        }
        (mix64(fnv1a(key)) % self.servers.len() as u64) as usize
    }

    pub fn client_for(&self, key: &[u8]) -> &Client {
        &self.servers[self.index_of(key)].client
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Cluster {
    /// `get_many` across the servers: one request to each server that holds any of
    /// the keys, all in flight together; one entry per key, in the order given.
    pub async fn get_many(&self, keys: &[Key]) -> mcaside::Result<Vec<Option<Item>>> {
        if self.servers.len() == 1 {
            return self.servers[0].client.get_many(keys).await;
        }
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); self.servers.len()];
        for (p, key) in keys.iter().enumerate() {
            positions[self.index_of(key.as_ref())].push(p);
        }
        let asked: Vec<(usize, &Vec<usize>)> = positions
            .iter()
            .enumerate()
            .filter(|(_, ps)| !ps.is_empty())
            .collect();
        let replies = join_all(asked.iter().map(|&(server, ps)| {
            self.servers[server]
                .client
                .get_many(ps.iter().map(|&p| keys[p]))
        }))
        .await;
        let mut items = vec![None; keys.len()];
        for ((_, ps), reply) in asked.into_iter().zip(replies) {
            for (&p, item) in ps.iter().zip(reply?) {
                items[p] = item;
            }
        }
        Ok(items)
    }
}
