//! The meta commands as `Client` methods: typed flags in, typed replies out.
//!
//! Each method checks the flags against what the server supports (read at connect
//! time) before sending anything. A request with the quiet flag `q` is followed by an
//! `mn` on the wire, so that the method can return even when the server, as asked, says
//! nothing; the reply is then the outcome `q` implies (a miss for `mg`, success for the
//! others), with no returned flags.
//!
//! For many requests in one round trip, see [`MetaBatch`](super::MetaBatch).

use bytes::{Bytes, BytesMut};

use super::gutter::Capped;
use super::{Client, Route, unexpected};
use crate::error::{Error, InputError, Result};
use crate::proto::meta::{self, MetaArith, MetaDelete, MetaGet, MetaSet, Opaque};
use crate::proto::{BatchEntry, Expect, MetaCode, MetaReply, Reply, ReturnedFlags};

/// What `me` says about an item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaDebugInfo {
    /// The key as the server printed it.
    pub key: Bytes,
    /// The `name=value` fields (`exp`, `la`, `cas`, `fetch`, `cls`, `size`, ...).
    pub fields: Vec<(String, String)>,
}

impl MetaDebugInfo {
    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    /// `mg`: meta get.
    ///
    /// ```no_run
    /// # async fn f(client: mcaside::Client) -> mcaside::Result<()> {
    /// use mcaside::proto::{meta::MetaGet, MetaCode, Expiry};
    /// // Get, or win the right to fill a missing item (a lease).
    /// let r = client.meta_get("user:1", &MetaGet::new().return_value().return_cas().vivify(Expiry::secs(30))).await?;
    /// if r.flags.won {
    ///     // we are the one to load it and `ms ... C<cas>` it
    /// } else if r.code == MetaCode::Value && !r.flags.win_taken {
    ///     // a hit
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn meta_get(&self, key: impl AsRef<[u8]>, flags: &MetaGet) -> Result<MetaReply> {
        let (key, features) = (key.as_ref(), self.features());
        let flags = &flags.capped(self.ttl_cap(key));
        let ident = Ident::of(key, flags.opaque, flags.return_key, flags.base64_key);
        self.meta_one(key, "mg", flags.quiet, MetaCode::Miss, ident, |b, o| {
            meta::mg(b, key, &flags.opaque(o), &features)
        })
        .await
    }

    /// `ms`: meta set.
    pub async fn meta_set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: &MetaSet,
    ) -> Result<MetaReply> {
        let (key, value, features, limits) = (
            key.as_ref(),
            value.as_ref(),
            self.features(),
            *self.limits(),
        );
        let flags = &flags.capped(self.ttl_cap(key));
        let ident = Ident::of(key, flags.opaque, flags.return_key, flags.base64_key);
        self.meta_one(key, "ms", flags.quiet, MetaCode::Header, ident, |b, o| {
            meta::ms(b, key, value, &flags.opaque(o), &limits, &features)
        })
        .await
    }

    /// `md`: meta delete (or, with `I`, invalidate: mark stale).
    pub async fn meta_delete(
        &self,
        key: impl AsRef<[u8]>,
        flags: &MetaDelete,
    ) -> Result<MetaReply> {
        let (key, features) = (key.as_ref(), self.features());
        let flags = &flags.capped(self.ttl_cap(key));
        let ident = Ident::of(key, flags.opaque, flags.return_key, flags.base64_key);
        self.meta_one(key, "md", flags.quiet, MetaCode::Header, ident, |b, o| {
            meta::md(b, key, &flags.opaque(o), &features)
        })
        .await
    }

    /// `ma`: meta arithmetic. With `v`, the new value is the reply's data block, in
    /// decimal; see [`MetaReply`]'s value.
    pub async fn meta_arith(&self, key: impl AsRef<[u8]>, flags: &MetaArith) -> Result<MetaReply> {
        let (key, features) = (key.as_ref(), self.features());
        let flags = &flags.capped(self.ttl_cap(key));
        let ident = Ident::of(key, flags.opaque, flags.return_key, flags.base64_key);
        self.meta_one(key, "ma", flags.quiet, MetaCode::Header, ident, |b, o| {
            meta::ma(b, key, &flags.opaque(o), &features)
        })
        .await
    }

    /// `mn`: a round trip that does nothing (`MN`).
    pub async fn meta_noop(&self) -> Result<()> {
        self.features().require(crate::proto::Feature::Meta)?;
        // An empty record: any meta reply before the `MN` is someone else's.
        match self
            .call_stamped(Route::Any, "mn", 0, Expect::MetaBatch, |b, _| {
                meta::mn(b);
                Ok(())
            })
            .await?
        {
            Reply::MetaBatch(entries) if entries.is_empty() => Ok(()),
            other => Err(unexpected("mn", &other)),
        }
    }

    /// `me`: the server's metadata for an item, or `None` if it does not exist.
    pub async fn meta_debug(
        &self,
        key: impl AsRef<[u8]>,
        base64_key: bool,
    ) -> Result<Option<MetaDebugInfo>> {
        let (key, features) = (key.as_ref(), self.features());
        match self
            .call_stamped(Route::Key(key), "me", 1, Expect::Meta, |b, stamp| {
                meta::me(b, key, base64_key, &features)?;
                // `ME` prints the key raw, even for a binary key.
                stamp.key(key);
                Ok(())
            })
            .await?
        {
            Reply::MetaDebug { key, fields } => Ok(Some(MetaDebugInfo {
                key,
                fields: String::from_utf8_lossy(&fields)
                    .split(' ')
                    .filter_map(|f| f.split_once('='))
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            })),
            Reply::Meta(m) if m.code == MetaCode::Miss => Ok(None),
            other => Err(unexpected("me", &other)),
        }
    }

    /// Sends one meta request with an opaque token (the caller's, or the connection's
    /// next one), which its reply must echo, and the key it must return when `k` was
    /// asked. A quiet request is fenced with `mn`; if the server stays silent, the
    /// reply is `silent` (the code `q` suppressed).
    async fn meta_one(
        &self,
        key: &[u8],
        cmd: &'static str,
        quiet: bool,
        silent: MetaCode,
        ident: Ident<'_>,
        encode: impl FnOnce(&mut BytesMut, Opaque) -> std::result::Result<(), InputError>,
    ) -> Result<MetaReply> {
        let expect = if quiet {
            Expect::MetaBatch
        } else {
            Expect::Meta
        };
        let reply = self
            .call_stamped(Route::Key(key), cmd, 1, expect, |b, stamp| {
                let token = match ident.opaque {
                    Some(theirs) => {
                        stamp.expect_opaque(theirs);
                        theirs
                    }
                    None => stamp.opaque(),
                };
                if let Some((key, base64)) = ident.echo {
                    stamp.echo_key(key, base64);
                }
                encode(b, token)?;
                if quiet {
                    meta::mn(b);
                }
                Ok(())
            })
            .await?;
        // The token the client added is its own business: the caller sees `O` only if it
        // asked for it, as with every other returned flag.
        let theirs = |mut m: MetaReply| {
            if ident.opaque.is_none() {
                m.flags.opaque = None;
            }
            m
        };
        if !quiet {
            return match reply {
                Reply::Meta(m) => Ok(theirs(m)),
                other => Err(unexpected(cmd, &other)),
            };
        }
        let Reply::MetaBatch(mut entries) = reply else {
            return Err(unexpected(cmd, &reply));
        };
        match entries.pop() {
            None => Ok(MetaReply {
                code: silent,
                flags: ReturnedFlags::default(),
                value: None,
            }),
            Some(BatchEntry::Meta(m)) if entries.is_empty() => Ok(theirs(m)),
            Some(BatchEntry::Error(e)) if entries.is_empty() => Err(Error::Server(e)),
            Some(_) => Err(unexpected(cmd, &Reply::MetaBatch(entries))),
        }
    }
}

/// What a meta request's reply must carry: the caller's own opaque token if it set one,
/// and the key when it asked for it back (`k`).
#[derive(Clone, Copy)]
struct Ident<'a> {
    opaque: Option<Opaque>,
    echo: Option<(&'a [u8], bool)>,
}

impl<'a> Ident<'a> {
    fn of(key: &'a [u8], opaque: Option<Opaque>, return_key: bool, base64: bool) -> Self {
        Ident {
            opaque,
            echo: return_key.then_some((key, base64)),
        }
    }
}
