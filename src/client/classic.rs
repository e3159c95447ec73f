//! The classic text commands as `Client` methods.
//!
//! Each method validates its input (through the encoders in [`crate::proto`]), sends
//! one request and maps the reply to a natural Rust type: a miss is `None`,
//! `NOT_STORED`/`NOT_FOUND`/`EXISTS` are `false` or an enum, and only failures are
//! errors.
//!
//! The hot ones choose their form on the wire. On a server with meta commands, `get`,
//! `gets`, `gat`, `gats`, the storage commands and `delete` go out as `mg`, `ms` and
//! `md`: memcached answers a pipeline of meta commands in a few large writes, where it
//! answers pipelined classic `get`s one send each. On a classic-only server (an older
//! memcached, a proxy), single-key retrievals queued together are merged into one
//! multi-key `get` (see [`crate::conn`]). Either way the outcome is the same.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::gutter::Capped;
use super::{CasOutcome, Client, Item, Route, Stats, StoreOptions, unexpected};
use crate::conn::LARGE_REQUEST;
use crate::error::Result;
use crate::proto::encode::{self, ArithOp, GetKind, Store, StoreVerb};
use crate::proto::identity::Stamp;
use crate::proto::meta::{self, MetaDelete, MetaGet, MetaSet, SetMode};
use crate::proto::{Expect, Expiry, Feature, MetaCode, Reply, Status};

impl Client {
    /// `get`: the item stored under `key`, or `None`.
    ///
    /// ```no_run
    /// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
    /// if let Some(item) = client.get("user:123").await? {
    ///     println!("{} bytes, flags {}", item.value.len(), item.flags);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.get_one(GetKind::Get, key.as_ref()).await
    }

    /// `gets`: like [`get`](Self::get), with the item's cas unique for [`cas`](Self::cas).
    pub async fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.get_one(GetKind::Gets, key.as_ref()).await
    }

    /// `gat`: get the item and set its expiry to `expiry` (a "touch" on every hit).
    pub async fn gat(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> Result<Option<Item>> {
        self.get_one(GetKind::Gat(expiry.into()), key.as_ref())
            .await
    }

    /// `gats`: like [`gat`](Self::gat), with the cas unique.
    pub async fn gats(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> Result<Option<Item>> {
        self.get_one(GetKind::Gats(expiry.into()), key.as_ref())
            .await
    }

    async fn get_one(&self, kind: GetKind, key: &[u8]) -> Result<Option<Item>> {
        let route = Route::Key(key);
        let kind = kind.capped(self.ttl_cap(key));
        if !self.features().has(Feature::Meta) {
            return match self
                .call_with(route, kind.verb(), 1, |conn, terms| {
                    conn.start_get(kind, key, terms)
                })
                .await?
            {
                Reply::Value(v) => Ok(v.map(Item::from)),
                other => Err(unexpected(kind.verb(), &other)),
            };
        }
        let features = self.features();
        // The opaque token proves the reply is this request's: `EN` carries nothing else.
        // The flags are made in the encoder, not captured by it: they are large, and
        // the encoder is moved into the request's future.
        let encode = move |b: &mut BytesMut, stamp: &mut Stamp<'_>| {
            let flags = meta_get_flags(kind).opaque(stamp.opaque());
            meta::mg(b, key, &flags, &features)
        };
        match self
            .call_stamped(route, kind.verb(), 1, Expect::Meta, encode)
            .await?
        {
            Reply::Meta(m) => Item::from_meta(m).map_err(|()| unexpected_code(kind.verb())),
            other => Err(unexpected(kind.verb(), &other)),
        }
    }

    /// `set`: store unconditionally.
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        options: impl Into<StoreOptions>,
    ) -> Result<()> {
        match self
            .store(
                StoreVerb::Set,
                key.as_ref(),
                value.as_ref(),
                None,
                options.into(),
            )
            .await?
        {
            Status::Stored => Ok(()),
            s => Err(unexpected("set", &Reply::Status(s))),
        }
    }

    /// [`set`](Self::set) with a value the client may send without copying it: from
    /// 16 KiB on, `value` goes to the socket from its own buffer (a vectored write),
    /// instead of being copied into the connection's write buffer first. For large
    /// values already held as `Bytes` (a rendered page, a serialized object), this
    /// saves a copy of every byte; smaller ones are copied, which is cheaper there.
    ///
    /// ```no_run
    /// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
    /// let page = bytes::Bytes::from(vec![b'x'; 512 * 1024]);
    /// client.set_bytes("page:/", page, std::time::Duration::from_secs(60)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_bytes(
        &self,
        key: impl AsRef<[u8]>,
        value: Bytes,
        options: impl Into<StoreOptions>,
    ) -> Result<()> {
        let (key, o) = (key.as_ref(), options.into());
        let status = if value.len() < LARGE_REQUEST {
            self.store(StoreVerb::Set, key, &value, None, o).await?
        } else {
            self.store(StoreVerb::Set, key, &[], Some(value), o).await?
        };
        match status {
            Status::Stored => Ok(()),
            s => Err(unexpected("set", &Reply::Status(s))),
        }
    }

    /// `add`: store only if `key` is absent. `false` if it was present (`NOT_STORED`).
    pub async fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        options: impl Into<StoreOptions>,
    ) -> Result<bool> {
        self.store_bool(StoreVerb::Add, key.as_ref(), value.as_ref(), options.into())
            .await
    }

    /// `replace`: store only if `key` is present. `false` if it was absent.
    pub async fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        options: impl Into<StoreOptions>,
    ) -> Result<bool> {
        self.store_bool(
            StoreVerb::Replace,
            key.as_ref(),
            value.as_ref(),
            options.into(),
        )
        .await
    }

    /// `append`: add `value` after the existing value. `false` if `key` is absent.
    /// The item keeps its flags and expiry.
    pub async fn append(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        self.store_bool(
            StoreVerb::Append,
            key.as_ref(),
            value.as_ref(),
            StoreOptions::default(),
        )
        .await
    }

    /// `prepend`: add `value` before the existing value. `false` if `key` is absent.
    pub async fn prepend(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        self.store_bool(
            StoreVerb::Prepend,
            key.as_ref(),
            value.as_ref(),
            StoreOptions::default(),
        )
        .await
    }

    /// `cas`: store only if the item's cas unique is still `cas` (from [`gets`](Self::gets)).
    ///
    /// ```no_run
    /// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
    /// use mcaside::client::CasOutcome;
    /// let item = client.gets("counter").await?.expect("exists");
    /// let next = (std::str::from_utf8(&item.value).unwrap().parse::<u64>().unwrap() + 1).to_string();
    /// match client.cas("counter", next, item.cas.unwrap(), mcaside::Expiry::Never).await? {
    ///     CasOutcome::Stored => {}
    ///     CasOutcome::Exists => { /* someone else won; re-read and retry */ }
    ///     CasOutcome::NotFound => { /* deleted meanwhile */ }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        cas: u64,
        options: impl Into<StoreOptions>,
    ) -> Result<CasOutcome> {
        match self
            .store(
                StoreVerb::Cas(cas),
                key.as_ref(),
                value.as_ref(),
                None,
                options.into(),
            )
            .await?
        {
            Status::Stored => Ok(CasOutcome::Stored),
            Status::Exists => Ok(CasOutcome::Exists),
            Status::NotFound => Ok(CasOutcome::NotFound),
            s => Err(unexpected("cas", &Reply::Status(s))),
        }
    }

    async fn store_bool(
        &self,
        verb: StoreVerb,
        key: &[u8],
        value: &[u8],
        o: StoreOptions,
    ) -> Result<bool> {
        match self.store(verb, key, value, None, o).await? {
            Status::Stored => Ok(true),
            Status::NotStored => Ok(false),
            s => Err(unexpected(verb.verb(), &Reply::Status(s))),
        }
    }

    /// A storage command. With `shared`, that is the data block, sent as it is after
    /// the command line (and `value` is empty); without, `value` is copied in.
    async fn store(
        &self,
        verb: StoreVerb,
        key: &[u8],
        value: &[u8],
        shared: Option<Bytes>,
        mut o: StoreOptions,
    ) -> Result<Status> {
        let (route, limits, features) = (Route::Key(key), *self.limits(), self.features());
        // Append and prepend keep the item's expiry, which was capped when it was set.
        if !matches!(verb, StoreVerb::Append | StoreVerb::Prepend) {
            o.expiry = o.expiry.capped(self.ttl_cap(key));
        }
        let len = shared.as_ref().map_or(value.len(), Bytes::len);
        let copied = shared.is_none();
        if features.has(Feature::Meta) {
            // Made in the encoder, not captured (see `get_one`).
            let encode = move |b: &mut BytesMut, stamp: &mut Stamp<'_>| {
                let flags = meta_set_flags(verb, o).opaque(stamp.opaque());
                match copied {
                    true => meta::ms(b, key, value, &flags, &limits, &features),
                    false => meta::ms_head(b, key, len, &flags, &limits, &features),
                }
            };
            let reply = self
                .call_with(route, verb.verb(), 1, |conn, terms| {
                    conn.start(Expect::Meta, terms, encode, shared)
                })
                .await?;
            return meta_status(reply, verb.verb());
        }
        let cmd = Store {
            verb,
            key,
            flags: o.flags,
            expiry: o.expiry,
            value,
            noreply: false,
        };
        let encode = move |b: &mut BytesMut, _: &mut Stamp<'_>| match copied {
            true => encode::store(b, &cmd, &limits),
            false => encode::store_head(b, &cmd, len, &limits),
        };
        let reply = self
            .call_with(route, verb.verb(), 1, |conn, terms| {
                conn.start(Expect::Status, terms, encode, shared)
            })
            .await?;
        status(reply, verb.verb())
    }

    /// `delete`: `true` if the item existed.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let (key, features) = (key.as_ref(), self.features());
        let outcome = if features.has(Feature::Meta) {
            let reply = self
                .call_stamped(Route::Key(key), "delete", 1, Expect::Meta, |b, stamp| {
                    meta::md(b, key, &MetaDelete::new().opaque(stamp.opaque()), &features)
                })
                .await?;
            meta_status(reply, "delete")?
        } else {
            let reply = self
                .call(Route::Key(key), "delete", 1, Expect::Status, |b| {
                    encode::delete(b, key, false)
                })
                .await?;
            status(reply, "delete")?
        };
        match outcome {
            Status::Deleted => Ok(true),
            Status::NotFound => Ok(false),
            s => Err(unexpected("delete", &Reply::Status(s))),
        }
    }

    /// `incr`: add `delta` to the decimal number stored under `key` (wrapping at 2^64)
    /// and return the result; `None` if `key` is absent. A value that is not a number is
    /// a [`ServerError`](crate::ServerError) (`CLIENT_ERROR`).
    pub async fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.arith(ArithOp::Incr, key.as_ref(), delta).await
    }

    /// `decr`: subtract `delta`, stopping at 0; `None` if `key` is absent.
    pub async fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.arith(ArithOp::Decr, key.as_ref(), delta).await
    }

    async fn arith(&self, op: ArithOp, key: &[u8], delta: u64) -> Result<Option<u64>> {
        let cmd = if op == ArithOp::Incr { "incr" } else { "decr" };
        match self
            .call(Route::Key(key), cmd, 1, Expect::Number, |b| {
                encode::arith(b, op, key, delta, false)
            })
            .await?
        {
            Reply::Number(n) => Ok(Some(n)),
            Reply::Status(Status::NotFound) => Ok(None),
            other => Err(unexpected(cmd, &other)),
        }
    }

    /// `touch`: set a new expiry without fetching. `true` if the item existed.
    pub async fn touch(&self, key: impl AsRef<[u8]>, expiry: impl Into<Expiry>) -> Result<bool> {
        let key = key.as_ref();
        let expiry = expiry.into().capped(self.ttl_cap(key));
        match status(
            self.call(Route::Key(key), "touch", 1, Expect::Status, |b| {
                encode::touch(b, key, expiry, false)
            })
            .await?,
            "touch",
        )? {
            Status::Touched => Ok(true),
            Status::NotFound => Ok(false),
            s => Err(unexpected("touch", &Reply::Status(s))),
        }
    }

    /// `flush_all [delay]`: invalidate every item on every server, now or after `delay`.
    pub async fn flush_all(&self, delay: Option<Duration>) -> Result<()> {
        self.ok("flush_all", |b| encode::flush_all(b, delay, false))
            .await
    }

    /// `verbosity <level>`: the servers' logging level.
    pub async fn verbosity(&self, level: u32) -> Result<()> {
        self.ok("verbosity", |b| {
            encode::verbosity(b, level, false);
            Ok(())
        })
        .await
    }

    /// Sends a command that answers `OK` to every server (the gutter's included), all
    /// at once; the first failure is the result.
    async fn ok(
        &self,
        cmd: &'static str,
        encode: impl Fn(&mut bytes::BytesMut) -> std::result::Result<(), crate::InputError>,
    ) -> Result<()> {
        let encode = &encode;
        let each = self.each_server().map(|id| async move {
            match status(
                self.call(Route::Conn(id), cmd, 0, Expect::Status, encode)
                    .await?,
                cmd,
            )? {
                Status::Ok => Ok(()),
                s => Err(unexpected(cmd, &Reply::Status(s))),
            }
        });
        super::join_all(each).await.into_iter().collect()
    }

    /// `version`: the server's version string, such as `1.6.18`.
    pub async fn version(&self) -> Result<String> {
        self.version_of(Route::Any).await
    }

    pub(crate) async fn version_of(&self, route: Route<'_>) -> Result<String> {
        match self
            .call(route, "version", 0, Expect::Version, |b| {
                encode::version(b);
                Ok(())
            })
            .await?
        {
            Reply::Version(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
            other => Err(unexpected("version", &other)),
        }
    }

    /// `stats`: the server's general statistics.
    pub async fn stats(&self) -> Result<Stats> {
        self.stats_inner(None).await
    }

    /// `stats` of every server of the cluster (not the gutter's), in the order given:
    /// each server's own figures, or why it could not tell. ([`stats`](Self::stats)
    /// asks the first server that is not marked dead.)
    pub async fn stats_each(&self) -> Vec<(crate::cluster::Server, Result<Stats>)> {
        let regular = self.cluster().regular().len();
        let each = (0..regular).map(|member| async move {
            let id = super::ConnId { member, conn: 0 };
            self.stats_on(Route::Conn(id), None).await
        });
        let found = super::join_all(each).await;
        self.servers().cloned().zip(found).collect()
    }

    /// `stats <group>`: a group of statistics (`settings`, `items`, `slabs`, `sizes`,
    /// `conns`). Groups that answer with something other than `STAT` lines (such as
    /// `reset`, `detail`) are not supported here.
    pub async fn stats_group(&self, group: &str) -> Result<Stats> {
        self.stats_inner(Some(group)).await
    }

    async fn stats_inner(&self, group: Option<&str>) -> Result<Stats> {
        self.stats_on(Route::Any, group).await
    }

    async fn stats_on(&self, route: Route<'_>, group: Option<&str>) -> Result<Stats> {
        match self
            .call(route, "stats", 0, Expect::Stats, |b| {
                encode::stats(b, group)
            })
            .await?
        {
            Reply::Stats(pairs) => Ok(Stats(
                pairs
                    .into_iter()
                    .map(|(n, v)| (lossy(n), lossy(v)))
                    .collect(),
            )),
            other => Err(unexpected("stats", &other)),
        }
    }

    /// `quit`: ask the server to close the client's connections. The client reconnects
    /// for the next request.
    pub fn quit(&self) -> Result<()> {
        for id in self.connections() {
            self.send(Route::Conn(id), "quit", |b| {
                encode::quit(b);
                Ok(())
            })?;
        }
        Ok(())
    }
}

fn status(reply: Reply, cmd: &str) -> Result<Status> {
    match reply {
        Reply::Status(s) => Ok(s),
        other => Err(unexpected(cmd, &other)),
    }
}

fn lossy(b: Bytes) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

/// The `mg` flags that make it answer like the classic retrieval `kind`.
fn meta_get_flags(kind: GetKind) -> MetaGet {
    let flags = MetaGet::new().return_value().return_client_flags();
    match kind {
        GetKind::Get => flags,
        GetKind::Gets => flags.return_cas(),
        GetKind::Gat(e) => flags.touch(e),
        GetKind::Gats(e) => flags.return_cas().touch(e),
    }
}

/// The `ms` flags that make it act like the classic storage command `verb`.
fn meta_set_flags(verb: StoreVerb, o: StoreOptions) -> MetaSet {
    let mode = match verb {
        StoreVerb::Set | StoreVerb::Cas(_) => SetMode::Set,
        StoreVerb::Add => SetMode::Add,
        StoreVerb::Replace => SetMode::Replace,
        StoreVerb::Append => SetMode::Append,
        StoreVerb::Prepend => SetMode::Prepend,
    };
    let mut flags = MetaSet::new().mode(mode);
    // Like the classic commands, append and prepend keep the item's flags and expiry.
    if !matches!(verb, StoreVerb::Append | StoreVerb::Prepend) {
        if o.flags != 0 {
            flags = flags.client_flags(o.flags);
        }
        if o.expiry != Expiry::Never {
            flags = flags.ttl(o.expiry);
        }
    }
    if let StoreVerb::Cas(cas) = verb {
        flags = flags.compare_cas(cas);
    }
    flags
}

/// A meta reply to `ms`/`md` as the classic status it stands for.
fn meta_status(reply: Reply, cmd: &str) -> Result<Status> {
    match reply {
        Reply::Meta(m) => Ok(match m.code {
            MetaCode::Header if cmd == "delete" => Status::Deleted,
            MetaCode::Header => Status::Stored,
            MetaCode::NotStored => Status::NotStored,
            MetaCode::Exists => Status::Exists,
            MetaCode::NotFound => Status::NotFound,
            MetaCode::Value | MetaCode::Miss => return Err(unexpected_code(cmd)),
        }),
        other => Err(unexpected(cmd, &other)),
    }
}

fn unexpected_code(cmd: &str) -> crate::Error {
    crate::Error::Protocol(crate::ProtocolError::Unexpected(format!(
        "a meta return code that does not answer {cmd}"
    )))
}
