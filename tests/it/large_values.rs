//! Large values (issue 14): read into buffers of their own and recycled, written as
//! chunks of their own, and with `set_bytes` straight from the caller's buffer. Many
//! sizes on both sides of each threshold, concurrent on one connection with small
//! requests in between, each value read back byte for byte.

use bytes::Bytes;
use mcaside::{Client, Error, Expiry, InputError};

use crate::Memcached;

/// A value that says which key and size it belongs to all along its length.
fn value(i: usize, size: usize) -> Bytes {
    (0..size)
        .map(|j| (j.wrapping_mul(31) ^ i.wrapping_mul(7919)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

const SIZES: [usize; 9] = [
    0,
    100,
    16 * 1024 - 3,
    16 * 1024 - 2,
    16 * 1024,
    16 * 1024 + 1,
    64 * 1024,
    300_000,
    1_000_000,
];

async fn one_connection(server: &Memcached, classic: bool) -> Client {
    let mut b = Client::builder().connections(1);
    if classic {
        b = b.features(mcaside::proto::Features::CLASSIC);
    }
    b.connect(server.addr.as_str()).await.unwrap()
}

#[tokio::test]
async fn every_size_round_trips_concurrently_on_one_connection() {
    let server = Memcached::start();
    for classic in [false, true] {
        let c = one_connection(&server, classic).await;
        // Sets, half through `set` (copied) and half through `set_bytes`, all at once.
        let sets = (0..SIZES.len() * 4).map(|i| {
            let c = c.clone();
            async move {
                let size = SIZES[i % SIZES.len()];
                let key = format!("large:{classic}:{i}");
                let v = value(i, size);
                if i % 2 == 0 {
                    c.set(&key, &v, Expiry::Never).await
                } else {
                    c.set_bytes(&key, v, Expiry::Never).await
                }
            }
        });
        for r in crate::join_all(sets).await {
            r.unwrap();
        }
        // Gets of every size at once, interleaved with small requests.
        let gets = (0..SIZES.len() * 4).map(|i| {
            let c = c.clone();
            async move {
                let key = format!("large:{classic}:{i}");
                let small = c.get("large:absent").await.unwrap();
                (i, c.get(&key).await.unwrap(), small)
            }
        });
        for (i, got, small) in crate::join_all(gets).await {
            let size = SIZES[i % SIZES.len()];
            let item =
                got.unwrap_or_else(|| panic!("{i} ({size} bytes) missing, classic {classic}"));
            assert!(
                item.value == value(i, size),
                "{i}: {size} bytes, classic {classic}"
            );
            assert!(small.is_none());
        }
    }
}

#[tokio::test]
async fn abandoned_large_sets_leave_the_stream_in_step() {
    let server = Memcached::start();
    let c = one_connection(&server, false).await;
    let size = 200_000;
    for round in 0..5 {
        // Start many large sets, give up on every other one after a first poll, and
        // check that what was sent is whole and nobody gets another's reply.
        let mut kept = Vec::new();
        for i in 0..16 {
            let (c, key, v) = (c.clone(), format!("abandon:{round}:{i}"), value(i, size));
            let mut f = Box::pin(async move { c.set_bytes(&key, v, Expiry::Never).await });
            if i % 2 == 0 {
                assert!(crate::poll_once(f.as_mut()).await);
                drop(f);
            } else {
                kept.push(f);
            }
        }
        for r in crate::join_all(kept).await {
            r.unwrap();
        }
        for i in (1..16).step_by(2) {
            let item = c
                .get(format!("abandon:{round}:{i}"))
                .await
                .unwrap()
                .unwrap();
            assert!(item.value == value(i, size));
        }
        c.set("abandon:small", "ok", Expiry::Never).await.unwrap();
        assert_eq!(
            &c.get("abandon:small").await.unwrap().unwrap().value[..],
            b"ok"
        );
    }
}

#[tokio::test]
async fn set_bytes_over_the_limit_is_refused_before_the_wire() {
    let server = Memcached::start();
    let c = one_connection(&server, false).await;
    let too_big = Bytes::from(vec![0u8; (1 << 20) + 1025]);
    let e = c
        .set_bytes("toolarge", too_big, Expiry::Never)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Input(InputError::ValueTooLarge { .. })),
        "{e:?}"
    );
    c.set_bytes("fine", value(1, 20_000), Expiry::Never)
        .await
        .unwrap();
    assert!(c.get("fine").await.unwrap().unwrap().value == value(1, 20_000));
}
