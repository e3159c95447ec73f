//! The meta commands against a real memcached 1.6.18.

use std::time::Duration;

use mcaside::client::BatchOutcome;
use mcaside::proto::meta::{MetaArith, MetaDelete, MetaGet, MetaSet, SetMode};
use mcaside::proto::{Features, MetaCode, Version};
use mcaside::{Client, Error, Expiry, InputError, ServerErrorKind};

use crate::{Memcached, client};

#[tokio::test]
async fn the_version_decides_the_features() {
    let server = Memcached::start();
    let c = client(&server).await;
    let features = c.features();
    assert_eq!(features.version, Some(Version(1, 6, 18)));
    assert!(features.has(mcaside::proto::Feature::Meta));
    // A flag newer than the server (`E`, 1.6.27) is refused before anything is sent.
    assert!(matches!(
        c.meta_get("k", &MetaGet::new().new_cas(1)).await,
        Err(mcaside::Error::Input(mcaside::InputError::Unsupported {
            what: "meta flag mg E (memcached 1.6.27+)"
        }))
    ));
}

#[tokio::test]
async fn get_set_delete_with_returned_flags() {
    let server = Memcached::start();
    let c = client(&server).await;
    let r = c
        .meta_get("k", &MetaGet::new().return_value())
        .await
        .unwrap();
    assert_eq!(r.code, MetaCode::Miss);
    let r = c
        .meta_set(
            "k",
            "hi",
            &MetaSet::new()
                .client_flags(7)
                .ttl(Expiry::secs(100))
                .return_cas()
                .return_key()
                .opaque(42u32),
        )
        .await
        .unwrap();
    assert_eq!(r.code, MetaCode::Header);
    let stored_cas = r.flags.cas.expect("c returns the cas");
    assert_eq!(r.flags.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(r.flags.opaque.as_deref(), Some(&b"42"[..]));
    let r = c
        .meta_get(
            "k",
            &MetaGet::new()
                .return_value()
                .return_cas()
                .return_client_flags()
                .return_ttl()
                .return_size()
                .return_hit_before()
                .return_last_access()
                .return_key(),
        )
        .await
        .unwrap();
    assert_eq!(r.code, MetaCode::Value);
    assert_eq!(r.value.as_deref(), Some(&b"hi"[..]));
    assert_eq!(r.flags.cas, Some(stored_cas));
    assert_eq!(r.flags.client_flags, Some(7));
    assert!(matches!(r.flags.ttl, Some(95..=100)));
    assert_eq!(r.flags.size, Some(2));
    assert_eq!(r.flags.hit_before, Some(false));
    assert_eq!(r.flags.last_access, Some(0));
    let r = c
        .meta_get(
            "k",
            &MetaGet::new()
                .return_hit_before()
                .touch(Expiry::Never)
                .return_ttl(),
        )
        .await
        .unwrap();
    assert_eq!((r.code, r.flags.hit_before), (MetaCode::Header, Some(true)));
    assert_eq!(
        crate::classic::remaining_ttl(&server, "k"),
        -1,
        "T updated the TTL"
    );
    let r = c
        .meta_delete("k", &MetaDelete::new().compare_cas(stored_cas + 100))
        .await
        .unwrap();
    assert_eq!(r.code, MetaCode::Exists);
    let r = c.meta_delete("k", &MetaDelete::new()).await.unwrap();
    assert_eq!(r.code, MetaCode::Header);
    let r = c.meta_delete("k", &MetaDelete::new()).await.unwrap();
    assert_eq!(r.code, MetaCode::NotFound);
    c.meta_noop().await.unwrap();
    assert!(c.meta_debug("k", false).await.unwrap().is_none());
    c.set("dbg", "x", Expiry::Never).await.unwrap();
    let info = c.meta_debug("dbg", false).await.unwrap().unwrap();
    assert_eq!(info.get("fetch"), Some("no"));
}

#[tokio::test]
async fn vivify_gives_one_winner_and_the_cas_fill_is_refused_the_second_time() {
    let server = Memcached::start();
    let (a, b) = (client(&server).await, client(&server).await);
    let lease = MetaGet::new()
        .return_value()
        .return_cas()
        .vivify(Expiry::secs(30));
    let first = a.meta_get("cold", &lease).await.unwrap();
    let second = b.meta_get("cold", &lease).await.unwrap();
    assert!(first.flags.won && !first.flags.win_taken, "{first:?}");
    assert!(!second.flags.won && second.flags.win_taken, "{second:?}");
    assert_eq!(first.value.as_deref(), Some(&b""[..]), "the stub is empty");
    let cas = first.flags.cas.unwrap();
    let fill = MetaSet::new().compare_cas(cas).ttl(Expiry::secs(60));
    assert_eq!(
        a.meta_set("cold", "loaded", &fill).await.unwrap().code,
        MetaCode::Header
    );
    assert_eq!(
        b.meta_set("cold", "late", &fill).await.unwrap().code,
        MetaCode::Exists
    );
    let hit = b.meta_get("cold", &lease).await.unwrap();
    assert_eq!(hit.value.as_deref(), Some(&b"loaded"[..]));
    assert!(
        !hit.flags.won && !hit.flags.win_taken,
        "a filled item carries no lease flags"
    );
}

#[tokio::test]
async fn invalidate_marks_stale_and_recache_elects_one() {
    let server = Memcached::start();
    let (a, b) = (client(&server).await, client(&server).await);
    a.meta_set("row", "v1", &MetaSet::new().ttl(Expiry::secs(100)))
        .await
        .unwrap();
    let before = a
        .meta_get("row", &MetaGet::new().return_cas())
        .await
        .unwrap()
        .flags
        .cas
        .unwrap();
    let r = a
        .meta_delete("row", &MetaDelete::new().invalidate().ttl(Expiry::secs(30)))
        .await
        .unwrap();
    assert_eq!(r.code, MetaCode::Header);
    let get = MetaGet::new().return_value().return_cas().return_ttl();
    let x1 = a.meta_get("row", &get).await.unwrap();
    let x2 = b.meta_get("row", &get).await.unwrap();
    assert!(
        x1.flags.stale && x1.flags.won && !x1.flags.win_taken,
        "{x1:?}"
    );
    assert!(
        x2.flags.stale && !x2.flags.won && x2.flags.win_taken,
        "{x2:?}"
    );
    assert_eq!(
        x1.value.as_deref(),
        Some(&b"v1"[..]),
        "the stale value is still served"
    );
    assert!(x1.flags.cas.unwrap() > before, "invalidation bumps the cas");
    assert!(matches!(x1.flags.ttl, Some(25..=30)), "T set the stale TTL");
    // A fill with the pre-invalidation cas is refused; with the new one it lands.
    let stale_fill = MetaSet::new().compare_cas(before);
    assert_eq!(
        a.meta_set("row", "old", &stale_fill).await.unwrap().code,
        MetaCode::Exists
    );
    let fill = MetaSet::new()
        .compare_cas(x1.flags.cas.unwrap())
        .ttl(Expiry::secs(100));
    assert_eq!(
        a.meta_set("row", "v2", &fill).await.unwrap().code,
        MetaCode::Header
    );
    let fresh = b.meta_get("row", &get).await.unwrap();
    assert!(!fresh.flags.stale && !fresh.flags.won, "{fresh:?}");

    // Recache: with 10 s left and a 30 s threshold, one client wins, the next does not.
    a.meta_set("hot", "v", &MetaSet::new().ttl(Expiry::secs(10)))
        .await
        .unwrap();
    let recache = MetaGet::new()
        .return_value()
        .recache(Duration::from_secs(30));
    let w = a.meta_get("hot", &recache).await.unwrap();
    let z = b.meta_get("hot", &recache).await.unwrap();
    assert!(
        w.flags.won && !z.flags.won && z.flags.win_taken,
        "{w:?} {z:?}"
    );
    // Above the threshold nobody wins.
    a.meta_set("cool", "v", &MetaSet::new().ttl(Expiry::secs(100)))
        .await
        .unwrap();
    let r = a.meta_get("cool", &recache).await.unwrap();
    assert!(!r.flags.won && !r.flags.win_taken);
}

#[tokio::test]
async fn set_modes_and_not_stored() {
    let server = Memcached::start();
    let c = client(&server).await;
    let ms = |mode| MetaSet::new().mode(mode);
    let code = |r: mcaside::proto::MetaReply| r.code;
    assert_eq!(
        code(c.meta_set("k", "b", &ms(SetMode::Replace)).await.unwrap()),
        MetaCode::NotStored
    );
    assert_eq!(
        code(c.meta_set("k", "b", &ms(SetMode::Append)).await.unwrap()),
        MetaCode::NotStored
    );
    assert_eq!(
        code(c.meta_set("k", "b", &ms(SetMode::Prepend)).await.unwrap()),
        MetaCode::NotStored
    );
    assert_eq!(
        code(c.meta_set("k", "b", &ms(SetMode::Add)).await.unwrap()),
        MetaCode::Header
    );
    assert_eq!(
        code(c.meta_set("k", "x", &ms(SetMode::Add)).await.unwrap()),
        MetaCode::NotStored
    );
    assert_eq!(
        code(c.meta_set("k", "c", &ms(SetMode::Append)).await.unwrap()),
        MetaCode::Header
    );
    assert_eq!(
        code(c.meta_set("k", "a", &ms(SetMode::Prepend)).await.unwrap()),
        MetaCode::Header
    );
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"abc");
    assert_eq!(
        code(c.meta_set("k", "r", &ms(SetMode::Replace)).await.unwrap()),
        MetaCode::Header
    );
    assert_eq!(
        code(c.meta_set("k", "s", &ms(SetMode::Set)).await.unwrap()),
        MetaCode::Header
    );
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"s");
    // C with a wrong cas: EX; on a missing key: NF.
    assert_eq!(
        code(
            c.meta_set("k", "z", &MetaSet::new().compare_cas(1))
                .await
                .unwrap()
        ),
        MetaCode::Exists
    );
    assert_eq!(
        code(
            c.meta_set("nope", "z", &MetaSet::new().compare_cas(1))
                .await
                .unwrap()
        ),
        MetaCode::NotFound
    );
}

#[tokio::test]
async fn arithmetic_with_auto_create() {
    let server = Memcached::start();
    let c = client(&server).await;
    let value =
        |r: mcaside::proto::MetaReply| String::from_utf8(r.value.unwrap().to_vec()).unwrap();
    assert_eq!(
        c.meta_arith("n", &MetaArith::new()).await.unwrap().code,
        MetaCode::NotFound
    );
    let create = MetaArith::new()
        .auto_create(Expiry::secs(60))
        .initial(10)
        .return_value();
    assert_eq!(
        value(c.meta_arith("n", &create).await.unwrap()),
        "10",
        "created at J, not incremented"
    );
    assert_eq!(
        value(
            c.meta_arith("n", &MetaArith::new().delta(5).return_value())
                .await
                .unwrap()
        ),
        "15"
    );
    assert_eq!(
        value(
            c.meta_arith("n", &MetaArith::new().decr().delta(100).return_value())
                .await
                .unwrap()
        ),
        "0"
    );
    let r = c
        .meta_arith(
            "n",
            &MetaArith::new().return_value().return_ttl().return_cas(),
        )
        .await
        .unwrap();
    assert_eq!(value(r.clone()), "1");
    assert!(matches!(r.flags.ttl, Some(55..=60)) && r.flags.cas.is_some());
    c.set("max", u64::MAX.to_string(), Expiry::Never)
        .await
        .unwrap();
    assert_eq!(
        value(
            c.meta_arith("max", &MetaArith::new().return_value())
                .await
                .unwrap()
        ),
        "0",
        "wraps"
    );
    c.set("word", "abc", Expiry::Never).await.unwrap();
    let err = c.meta_arith("word", &MetaArith::new()).await.unwrap_err();
    assert!(
        matches!(err, Error::Server(ref e) if e.kind == ServerErrorKind::Client),
        "{err:?}"
    );
    assert_eq!(
        c.meta_arith("n", &MetaArith::new()).await.unwrap().code,
        MetaCode::Header,
        "still in step"
    );
}

#[tokio::test]
async fn binary_keys_with_nul_and_crlf() {
    let server = Memcached::start();
    let c = client(&server).await;
    let key = b"bin\0ary\r\nkey \xff";
    c.meta_set(key, "value", &MetaSet::new().base64_key())
        .await
        .unwrap();
    let r = c
        .meta_get(key, &MetaGet::new().base64_key().return_value())
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some(&b"value"[..]));
    // A binary key that is safe to echo comes back base64-encoded, marked `b`.
    let safe = b"\x80\x81\xfe\xff";
    c.meta_set(safe, "v", &MetaSet::new().base64_key())
        .await
        .unwrap();
    let r = c
        .meta_get(safe, &MetaGet::new().base64_key().return_key())
        .await
        .unwrap();
    assert!(r.flags.base64_key, "the returned key is marked base64");
    let returned = mcaside::proto::base64::decode(r.flags.key.as_deref().unwrap()).unwrap();
    assert_eq!(returned, safe);
    // The key limit applies to the encoded form: 186 raw bytes fit, 187 do not.
    let fits = vec![0xAB; 186];
    c.meta_set(&fits, "v", &MetaSet::new().base64_key())
        .await
        .unwrap();
    assert_eq!(
        c.meta_get(&fits, &MetaGet::new().base64_key())
            .await
            .unwrap()
            .code,
        MetaCode::Header
    );
    let before = server.stat("cmd_set");
    let err = c
        .meta_set(vec![0xAB; 187], "v", &MetaSet::new().base64_key())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Input(InputError::BinaryKeyTooLong { len: 187 })),
        "{err:?}"
    );
    assert_eq!(server.stat("cmd_set"), before, "nothing was sent");
    // What the server does with it: refuses the line, then runs the data as a command.
    let raw = server.raw_until(
        format!("ms {} 1 b\r\nv\r\nmn\r\n", "q6urq6urq6ur".repeat(21)).as_bytes(),
        b"MN\r\n",
    );
    assert_eq!(
        raw,
        b"CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n"
    );
    // Without `b`, such a key is refused like any classic key.
    assert!(matches!(
        c.meta_get(key, &MetaGet::new()).await,
        Err(Error::Input(_))
    ));
}

#[tokio::test]
async fn a_vivified_base64_key_comes_back_raw() {
    // The 1.6.18 quirk that makes keys unsafe for matching pipelined replies.
    let server = Memcached::start();
    let c = client(&server).await;
    // With a CR LF in the key, the raw echo splits the reply line...
    let raw = server.raw_until(b"mg YQ0KYg== b k v N30\r\nmn\r\n", b"MN\r\n");
    assert_eq!(raw, b"VA 0 ka\r\nb W\r\n\r\nMN\r\n");
    // ...so the client refuses to ask for such a key back, before sending anything.
    let err = c
        .meta_get(
            b"a\r\nb",
            &MetaGet::new()
                .base64_key()
                .return_key()
                .vivify(Expiry::secs(30)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Input(InputError::Unsupported { .. })),
        "{err:?}"
    );
    // A text-safe binary key comes back raw too, but unmarked, so it reads correctly.
    let key = b"\x80\x90\xa0";
    let r = c
        .meta_get(
            key,
            &MetaGet::new()
                .base64_key()
                .return_key()
                .vivify(Expiry::secs(30)),
        )
        .await
        .unwrap();
    assert!(r.flags.won);
    assert!(!r.flags.base64_key, "returned without the b flag");
    assert_eq!(
        r.flags.key.as_deref(),
        Some(&key[..]),
        "returned raw, not base64"
    );
}

#[tokio::test]
async fn a_quiet_pipeline_of_a_thousand_gets_matched_by_opaque() {
    let server = Memcached::start();
    let c = client(&server).await;
    for i in (0..1000).filter(|i| i % 3 == 0) {
        c.noreply()
            .set(format!("k{i}"), format!("v{i}"), Expiry::Never)
            .unwrap();
    }
    let mut batch = c.meta_batch();
    for i in 0..1000 {
        // Keys requested in a shuffled order, so position alone would not match them.
        let k = (i * 7919) % 1000;
        assert_eq!(
            batch
                .get(format!("k{k}"), &MetaGet::new().return_value().quiet())
                .unwrap(),
            i
        );
    }
    let sent_before = server.stat("get_misses");
    let out = batch.send().await.unwrap();
    assert_eq!(out.len(), 1000);
    for (i, o) in out.iter().enumerate() {
        let k = (i * 7919) % 1000;
        match o {
            BatchOutcome::Reply(r) => {
                assert_eq!(k % 3, 0);
                assert_eq!(r.value.as_deref(), Some(format!("v{k}").as_bytes()));
            }
            BatchOutcome::Silent(MetaCode::Miss) => assert_ne!(k % 3, 0),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        server.stat("get_misses") - sent_before,
        666,
        "the misses happened, silently"
    );
    // The same through get_many.
    let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    let got = c.get_many(&keys).await.unwrap();
    assert_eq!(got.iter().flatten().count(), 334);
}

#[tokio::test]
async fn batches_place_errors_and_quiet_outcomes() {
    let server = Memcached::start();
    let c = client(&server).await;
    c.set("word", "abc", Expiry::Never).await.unwrap();
    c.set("num", "1", Expiry::Never).await.unwrap();
    let mut b = c.meta_batch();
    let set = b.set("a", "1", &MetaSet::new().quiet()).unwrap();
    let add = b
        .set("a", "2", &MetaSet::new().quiet().mode(SetMode::Add))
        .unwrap();
    let bad = b.arith("word", &MetaArith::new()).unwrap(); // not quiet: must answer
    let inc = b.arith("num", &MetaArith::new().return_value()).unwrap();
    let miss = b
        .get("none", &MetaGet::new().return_value().quiet())
        .unwrap();
    let del = b.delete("none", &MetaDelete::new().quiet()).unwrap();
    let out = b.send().await.unwrap();
    assert_eq!(out[set], BatchOutcome::Silent(MetaCode::Header));
    assert_eq!(
        out[add].code(),
        Some(MetaCode::NotStored),
        "q does not hide NS"
    );
    assert!(
        matches!(&out[bad], BatchOutcome::Failed(e) if e.message.contains("non-numeric")),
        "{:?}",
        out[bad]
    );
    assert_eq!(out[inc].reply().unwrap().value.as_deref(), Some(&b"2"[..]));
    assert_eq!(out[miss], BatchOutcome::Silent(MetaCode::Miss));
    assert_eq!(
        out[del].code(),
        Some(MetaCode::NotFound),
        "q does not hide NF"
    );
    // A caller's own opaque token would break the matching.
    assert!(
        c.meta_batch()
            .get("k", &MetaGet::new().opaque(5u32))
            .is_err()
    );
}

#[tokio::test]
async fn quiet_single_requests_report_the_implied_outcome() {
    let server = Memcached::start();
    let c = client(&server).await;
    let r = c
        .meta_get("none", &MetaGet::new().return_value().quiet())
        .await
        .unwrap();
    assert_eq!((r.code, r.value), (MetaCode::Miss, None));
    let r = c.meta_set("k", "v", &MetaSet::new().quiet()).await.unwrap();
    assert_eq!(r.code, MetaCode::Header);
    let r = c
        .meta_set("k", "v", &MetaSet::new().quiet().mode(SetMode::Add))
        .await
        .unwrap();
    assert_eq!(r.code, MetaCode::NotStored);
    let r = c
        .meta_get("k", &MetaGet::new().return_value().quiet())
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn flags_the_server_lacks_are_refused_before_sending() {
    let server = Memcached::start();
    let c = client(&server).await;
    let before = server.stat("cmd_get");
    for flags in [MetaGet::new().new_cas(5), MetaGet::new().compare_cas(5)] {
        let err = c.meta_get("k", &flags).await.unwrap_err();
        assert!(
            matches!(err, Error::Input(InputError::Unsupported { .. })),
            "{err:?}"
        );
    }
    assert!(
        c.meta_delete("k", &MetaDelete::new().remove_value())
            .await
            .is_err()
    );
    assert!(
        c.meta_set("k", "v", &MetaSet::new().return_size())
            .await
            .is_err()
    );
    assert_eq!(server.stat("cmd_get"), before);
}

#[tokio::test]
async fn an_invalid_flag_sent_anyway_leaves_the_connection_usable() {
    let server = Memcached::start();
    // A client told the server is newer than it is sends E, which 1.6.18 refuses.
    let c = Client::builder()
        .features(Features::ALL)
        .connect(server.addr.as_str())
        .await
        .unwrap();
    let err = c
        .meta_get("k", &MetaGet::new().return_value().new_cas(5))
        .await
        .unwrap_err();
    let Error::Server(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ServerErrorKind::Client, "invalid flag")
    );
    c.set("k", "fine", Expiry::Never).await.unwrap();
    assert_eq!(&c.get("k").await.unwrap().unwrap().value[..], b"fine");
    // And inside a batch, the error lands on the request that caused it.
    let mut b = c.meta_batch();
    let ok = b.get("k", &MetaGet::new().return_value()).unwrap();
    let bad = b
        .get("k", &MetaGet::new().return_value().new_cas(5))
        .unwrap();
    let after = b.get("k", &MetaGet::new().return_value()).unwrap();
    let out = b.send().await.unwrap();
    assert!(out[ok].reply().is_some() && out[after].reply().is_some());
    assert!(matches!(&out[bad], BatchOutcome::Failed(e) if e.message == "invalid flag"));
}
