//! The servers under load: one library [`Client`] over all of them, which places each
//! key as the fleet's other clients would (ketama by default; see `--distribution`).

use mcaside::{Client, Item};

use super::keyspace::Key;

/// The client every worker shares, and the servers as given on the command line.
pub struct Cluster {
    pub client: Client,
    pub addrs: Vec<String>,
}

impl Cluster {
    /// Connects to every server with `client`'s settings (limits, TLS, login,
    /// distribution). The library's error names the server that failed.
    pub async fn connect(
        addrs: &[String],
        connections: usize,
        client: mcaside::ClientBuilder,
    ) -> mcaside::Result<Cluster> {
        let client = client
            .connections(connections)
            .connect_cluster(addrs)
            .await?;
        Ok(Cluster {
            client,
            addrs: addrs.to_vec(),
        })
    }

    /// The server that holds `key`, as given (for error messages).
    pub fn server_of(&self, key: &[u8]) -> String {
        self.client
            .server_for(key)
            .map_or_else(|e| e.to_string(), ToString::to_string)
    }

    /// `get_many` across the servers: one request to each server connection that
    /// holds any of the keys, all in flight together; one entry per key, in order.
    pub async fn get_many(&self, keys: &[Key]) -> mcaside::Result<Vec<Option<Item>>> {
        self.client.get_many(keys).await
    }
}
