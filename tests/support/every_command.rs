//! Every classic and meta command once, with its outcome checked: for tests that must
//! show a transport (TLS, a login) carries all of them.

use mcaside::proto::meta::{MetaArith, MetaDelete, MetaGet, MetaSet};
use mcaside::{Client, Expiry};

/// Runs every command on `c` (a client of an empty server) and checks each reply.
pub async fn exercise(c: &Client) {
    assert_eq!(c.version().await.unwrap(), "1.6.18");
    c.set("k", "v1", Expiry::secs(60)).await.unwrap();
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"v1");
    let cas = c.gets("k").await.unwrap().unwrap().cas.unwrap();
    assert_eq!(
        c.cas("k", "v2", cas, Expiry::Never).await.unwrap(),
        mcaside::CasOutcome::Stored
    );
    assert!(!c.add("k", "x", Expiry::Never).await.unwrap());
    assert!(c.replace("k", "v3", Expiry::Never).await.unwrap());
    assert!(c.append("k", "+").await.unwrap());
    assert!(c.prepend("k", "-").await.unwrap());
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"-v3+");
    assert!(c.touch("k", Expiry::secs(100)).await.unwrap());
    assert!(c.gat("k", Expiry::secs(100)).await.unwrap().is_some());
    assert!(
        c.gats("k", Expiry::secs(100))
            .await
            .unwrap()
            .unwrap()
            .cas
            .is_some()
    );
    c.set("n", "10", Expiry::Never).await.unwrap();
    assert_eq!(c.incr("n", 5).await.unwrap(), Some(15));
    assert_eq!(c.decr("n", 20).await.unwrap(), Some(0));
    let many = c.get_many(["k", "n", "missing"]).await.unwrap();
    assert!(many[0].is_some() && many[1].is_some() && many[2].is_none());
    assert!(c.delete("n").await.unwrap());
    c.noreply().set("q", "1", Expiry::Never).unwrap();
    assert!(c.get("q").await.unwrap().is_some());
    assert!(c.stats().await.unwrap().get("pid").is_some());
    c.verbosity(0).await.unwrap();
    // Meta.
    let r = c
        .meta_set("m", "mv", &MetaSet::new().ttl(Expiry::secs(60)))
        .await
        .unwrap();
    assert_eq!(r.code, mcaside::proto::MetaCode::Header);
    let r = c
        .meta_get("m", &MetaGet::new().return_value().return_cas())
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some(&b"mv"[..]));
    c.meta_set("cnt", "1", &MetaSet::new()).await.unwrap();
    let r = c
        .meta_arith("cnt", &MetaArith::new().return_value())
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some(&b"2"[..]));
    assert!(c.meta_debug("m", false).await.unwrap().is_some());
    c.meta_noop().await.unwrap();
    let r = c.meta_delete("m", &MetaDelete::new()).await.unwrap();
    assert_eq!(r.code, mcaside::proto::MetaCode::Header);
    let mut batch = c.meta_batch();
    let a = batch.get("k", &MetaGet::new().return_value()).unwrap();
    let b = batch
        .get("absent", &MetaGet::new().return_value().quiet())
        .unwrap();
    let out = batch.send().await.unwrap();
    assert!(out[a].reply().is_some() && out[b].reply().is_none());
    c.flush_all(None).await.unwrap();
    assert!(c.get("k").await.unwrap().is_none());
}
