//! Many keys in one round trip: `get_many` and its `gets`/`gat`/`gats` forms.
//!
//! The keys go out as classic `get` commands, written together, on every server, each
//! at most 256 keys and at most [`GetKind::max_line`] bytes long (`gat`/`gats` lines
//! longer than 2 KiB can get the connection closed by memcached; see
//! protocol-notes.md): misses cost nothing on the wire, and hits are matched to keys by
//! order (the server answers keys in the order asked, and leaves misses out; hits a
//! proxy reorders are put back in that order by the connection). On a
//! server with meta commands the alternative is a quiet `mg <key> v f q O<i>` per key
//! closed by `mn` (what [`MetaBatch`](super::MetaBatch) sends); measured on memcached
//! 1.6.18 with 100 keys of 100 bytes, the one multi-key `get` was 1.2 to 1.6 times
//! faster in every round, because the server parses and answers one command instead of
//! a hundred.
//!
//! Either way every key is validated before anything is written, and the result has one
//! entry per key asked, in order.

use super::gutter::Capped;
use super::join::join_all;
use super::{Client, ConnId, Item, Route, unexpected};
use crate::error::{Error, ProtocolError, Result};
use crate::proto::encode::{self, GetKind};
use crate::proto::{Expect, Expiry, Reply, Value, check_key};

/// The most keys in one classic retrieval line. memcached takes very long `get` lines,
/// but proxies are stricter, and shorter commands let the server start answering sooner.
const KEYS_PER_GET: usize = 256;

/// Cuts `keys` into lines of at most [`KEYS_PER_GET`] keys and `kind.max_line()` bytes;
/// returns the number of keys in each line. Keys are at most 250 bytes, so every line
/// takes at least one (a line of one key is well under every limit).
fn lines<K: AsRef<[u8]>>(kind: GetKind, keys: &[K]) -> impl Iterator<Item = usize> + '_ {
    let max = kind.max_line();
    let mut rest = keys;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut len = kind.head_len() + 2;
        let mut n = 0;
        while n < rest.len() && n < KEYS_PER_GET {
            let next = 1 + rest[n].as_ref().len();
            if n > 0 && len + next > max {
                break;
            }
            len += next;
            n += 1;
        }
        rest = &rest[n..];
        Some(n)
    })
}

impl Client {
    /// `get` for many keys in one round trip. The result has one entry per key, in the
    /// order given: `Some` for a hit, `None` for a miss.
    ///
    /// ```no_run
    /// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
    /// let ids = ["user:1", "user:2", "user:3"];
    /// let found = client.get_many(&ids).await?;
    /// for (id, item) in ids.iter().zip(&found) {
    ///     println!("{id}: {}", if item.is_some() { "hit" } else { "miss" });
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_many<I, K>(&self, keys: I) -> Result<Vec<Option<Item>>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        self.get_many_kind(GetKind::Get, keys).await
    }

    /// [`get_many`](Self::get_many) with cas uniques (`gets`).
    pub async fn gets_many<I, K>(&self, keys: I) -> Result<Vec<Option<Item>>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        self.get_many_kind(GetKind::Gets, keys).await
    }

    /// [`get_many`](Self::get_many) that also sets each hit's expiry (`gat`).
    pub async fn gat_many<I, K>(
        &self,
        keys: I,
        expiry: impl Into<Expiry>,
    ) -> Result<Vec<Option<Item>>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        self.get_many_kind(GetKind::Gat(expiry.into()), keys).await
    }

    /// [`gat_many`](Self::gat_many) with cas uniques (`gats`).
    pub async fn gats_many<I, K>(
        &self,
        keys: I,
        expiry: impl Into<Expiry>,
    ) -> Result<Vec<Option<Item>>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        self.get_many_kind(GetKind::Gats(expiry.into()), keys).await
    }

    async fn get_many_kind<I, K>(&self, kind: GetKind, keys: I) -> Result<Vec<Option<Item>>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let keys: Vec<K> = keys.into_iter().collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Validate every key before anything is queued on any connection.
        for k in &keys {
            check_key(k.as_ref())?;
        }
        // Each key goes on the connection a single-key request for it takes (its
        // server's, and there the one it hashes to), so this read comes after any
        // earlier write of the same key; the parts run concurrently, one request per
        // connection touched.
        let ids = keys
            .iter()
            .map(|k| self.conn_for_key(k.as_ref()))
            .collect::<Result<Vec<ConnId>>>()?;
        if ids.iter().all(|&id| id == ids[0]) {
            let kind = kind.capped(self.cluster().ttl_cap(ids[0].member));
            return self.get_many_classic(ids[0], kind, &keys).await;
        }
        // Group the keys by connection with one sort (no map, no vector per group):
        // each run of equal connections is one part, its keys contiguous in `sorted`.
        let mut order: Vec<(ConnId, usize)> = ids.into_iter().zip(0..).collect();
        order.sort_unstable();
        let sorted: Vec<&[u8]> = order.iter().map(|&(_, i)| keys[i].as_ref()).collect();
        let (order, sorted) = (&order[..], &sorted[..]);
        let parts = move || {
            let mut at = 0;
            order.chunk_by(|a, b| a.0 == b.0).map(move |run| {
                let part = (run, &sorted[at..at + run.len()]);
                at += run.len();
                part
            })
        };
        let results = join_all(parts().map(|(run, part)| {
            let id = run[0].0;
            let kind = kind.capped(self.cluster().ttl_cap(id.member));
            self.get_many_classic(id, kind, part)
        }))
        .await;
        let mut out: Vec<Option<Item>> = vec![None; keys.len()];
        for ((run, _), result) in parts().zip(results) {
            for (&(_, i), item) in run.iter().zip(result?) {
                out[i] = item;
            }
        }
        Ok(out)
    }

    async fn get_many_classic<K: AsRef<[u8]>>(
        &self,
        conn: ConnId,
        kind: GetKind,
        keys: &[K],
    ) -> Result<Vec<Option<Item>>> {
        let commands = lines(kind, keys).count();
        let reply = self
            .call_stamped(
                Route::Conn(conn),
                kind.verb(),
                keys.len(),
                Expect::Values {
                    commands: commands as u32,
                    keys: keys.len() as u32,
                },
                |b, stamp| {
                    // `get_many_kind` checked every key, and `encode::get` checks each
                    // again; were one bad all the same, the queue takes back the lines
                    // written before it (an encoder that fails leaves nothing behind).
                    let mut rest = keys;
                    for n in lines(kind, keys) {
                        let (line, after) = rest.split_at(n);
                        encode::get(b, kind, line.iter().map(AsRef::as_ref))?;
                        for k in line {
                            stamp.key(k.as_ref());
                        }
                        stamp.end_command();
                        rest = after;
                    }
                    Ok(())
                },
            )
            .await?;
        match reply {
            Reply::Values(values) => match_in_order(keys, values),
            other => Err(unexpected(kind.verb(), &other)),
        }
    }
}

/// Places the hits of a multi-key retrieval next to the keys they answer. The server
/// answers keys in the order asked and leaves misses out (the connection puts back in
/// that order any hits a proxy reordered), so one forward walk suffices. (The
/// connection has already checked each hit against the keys asked, and closed the
/// connection on a stray one; this check stays as a second line of defence.)
fn match_in_order<K: AsRef<[u8]>>(keys: &[K], values: Vec<Value>) -> Result<Vec<Option<Item>>> {
    let mut out: Vec<Option<Item>> = vec![None; keys.len()];
    let mut next = 0;
    for v in values {
        let Some(pos) = keys[next..].iter().position(|k| k.as_ref() == &v.key[..]) else {
            return Err(Error::Protocol(ProtocolError::Unexpected(format!(
                "VALUE for key \"{}\" that was not requested at this point",
                crate::proto::Escaped(&v.key)
            ))));
        };
        out[next + pos] = Some(v.into());
        next += pos + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_by_bytes_and_count() {
        let long = vec![vec![b'k'; 245]; 100];
        let gat = GetKind::Gat(Expiry::Never);
        let cuts: Vec<usize> = lines(gat, &long).collect();
        assert_eq!(cuts.iter().sum::<usize>(), 100);
        assert!(
            cuts.iter()
                .all(|&n| gat.head_len() + 2 + n * 246 <= gat.max_line())
        );
        assert_eq!(cuts[0], 8);
        let short: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let cuts: Vec<usize> = lines(GetKind::Get, &short).collect();
        assert_eq!(cuts, [256, 256, 256, 232]);
    }
}
