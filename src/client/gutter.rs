//! The gutter's TTL cap, applied to every expiry a request sets.
//!
//! Under [`DeadServerPolicy::Gutter`](crate::cluster::DeadServerPolicy::Gutter), the
//! keys of a dead server go to the gutter pool, where nothing may live longer than the
//! cap: once the server is back its keys are read there again, and a copy left in the
//! gutter must be gone soon. So each request bound for the gutter has its expiries
//! capped before it is encoded: `set`'s exptime, `touch`, `gat`, and the meta `T`, `N`
//! (vivify, auto-create) settings. Other requests pay one check of an atomic per server
//! (`Cluster::gutter_in_use`).

use std::time::{Duration, SystemTime};

use super::Client;
use crate::proto::Expiry;
use crate::proto::encode::GetKind;
use crate::proto::meta::{MetaArith, MetaDelete, MetaGet, MetaSet};

impl Client {
    /// The TTL cap for a request for `key`: `Some` only while the key goes to the
    /// gutter.
    pub(crate) fn ttl_cap(&self, key: &[u8]) -> Option<Duration> {
        let cluster = self.cluster();
        if !cluster.gutter_in_use() {
            return None;
        }
        cluster.ttl_cap(cluster.for_key(key).ok()?)
    }
}

/// Something that sets expiries, which can be capped.
pub(crate) trait Capped: Sized {
    /// `self` with every expiry it sets at most `cap` from now.
    fn capped_at(self, cap: Duration) -> Self;

    /// `self`, capped when `cap` is set.
    fn capped(self, cap: Option<Duration>) -> Self {
        match cap {
            Some(c) => self.capped_at(c),
            None => self,
        }
    }
}

impl Capped for Expiry {
    fn capped_at(self, cap: Duration) -> Expiry {
        match self {
            Expiry::Never => Expiry::After(cap),
            Expiry::After(d) => Expiry::After(d.min(cap)),
            Expiry::At(t) if t > SystemTime::now() + cap => Expiry::After(cap),
            other => other,
        }
    }
}

impl Capped for Option<Expiry> {
    fn capped_at(self, cap: Duration) -> Self {
        self.map(|e| e.capped_at(cap))
    }
}

impl Capped for GetKind {
    fn capped_at(self, cap: Duration) -> GetKind {
        match self {
            GetKind::Gat(e) => GetKind::Gat(e.capped_at(cap)),
            GetKind::Gats(e) => GetKind::Gats(e.capped_at(cap)),
            other => other,
        }
    }
}

impl Capped for MetaGet {
    fn capped_at(mut self, cap: Duration) -> MetaGet {
        self.touch = self.touch.capped_at(cap);
        self.vivify = self.vivify.capped_at(cap);
        self
    }
}

impl Capped for MetaSet {
    fn capped_at(mut self, cap: Duration) -> MetaSet {
        // An `ms` without `T` stores with no expiry at all: the cap must be set.
        self.ttl = Some(self.ttl.unwrap_or(Expiry::Never).capped_at(cap));
        self.vivify = self.vivify.capped_at(cap);
        self
    }
}

impl Capped for MetaDelete {
    fn capped_at(mut self, cap: Duration) -> MetaDelete {
        self.ttl = self.ttl.capped_at(cap);
        self
    }
}

impl Capped for MetaArith {
    fn capped_at(mut self, cap: Duration) -> MetaArith {
        self.auto_create = self.auto_create.capped_at(cap);
        self.touch = self.touch.capped_at(cap);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_capped() {
        let cap = Duration::from_secs(10);
        assert_eq!(Expiry::Never.capped_at(cap), Expiry::After(cap));
        assert_eq!(Expiry::secs(5).capped_at(cap), Expiry::secs(5));
        assert_eq!(Expiry::secs(3600).capped_at(cap), Expiry::After(cap));
        assert_eq!(Expiry::Expired.capped_at(cap), Expiry::Expired);
        let far = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(Expiry::At(far).capped_at(cap), Expiry::After(cap));
        assert_eq!(MetaSet::new().capped_at(cap).ttl, Some(Expiry::After(cap)));
        assert_eq!(
            GetKind::Gat(Expiry::Never).capped_at(cap),
            GetKind::Gat(Expiry::After(cap))
        );
    }
}
