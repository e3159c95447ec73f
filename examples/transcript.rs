//! Prints a wire transcript of every classic command against a running memcached: the
//! exact bytes each way, escaped, from the client's TRACE-level wire log. Then the same
//! few calls from a default client, which on a server with meta commands sends their
//! meta forms. The transcripts in protocol-notes.md come from it.
//!
//! It needs a memcached to talk to, and it **writes keys and runs `flush_all` there**:
//! use a scratch server, never one that holds data you want.
//!
//! ```sh
//! memcached -p 22122 &
//! cargo run --example transcript -- 127.0.0.1:22122      # or MCASIDE_SERVER=127.0.0.1:22122
//! ```

use std::time::Duration;

use mcaside::{Client, Expiry, StoreOptions};

const USAGE: &str = "usage: cargo run --example transcript -- HOST:PORT (or set \
     MCASIDE_SERVER): a scratch memcached, which this fills and flushes";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No default address: the transcript flushes the server it is pointed at.
    let Some(addr) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MCASIDE_SERVER").ok())
    else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    // (The cache-aside section's errors are CacheError; they `expect` instead.)
    tracing_subscriber::fmt()
        .with_env_filter("mcaside::wire=trace")
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .init();
    // Classic commands only, one connection: what the protocol notes describe first.
    let c = Client::builder()
        .features(mcaside::proto::Features::CLASSIC)
        .connections(1)
        .connect(addr.as_str())
        .await?;
    let step = |title: &str| println!("\n## {title}");

    step("set, get, gets");
    c.set(
        "greeting",
        "hello",
        StoreOptions::new()
            .flags(42)
            .expiry(Duration::from_secs(60)),
    )
    .await?;
    c.get("greeting").await?;
    let cas = c.gets("greeting").await?.and_then(|i| i.cas).unwrap_or(0);
    step("get of several keys, one missing");
    c.get_many(["greeting", "nobody"]).await?;
    step("add, replace, append, prepend");
    c.add("greeting", "again", Expiry::Never).await?;
    c.replace("nobody", "x", Expiry::Never).await?;
    c.append("greeting", " world").await?;
    c.prepend("greeting", ">").await?;
    step("cas: stored, then exists, then not found");
    c.cas("greeting", "v2", cas + 2, Expiry::Never).await?;
    c.cas("greeting", "v3", cas, Expiry::Never).await?;
    c.cas("nobody", "v", cas, Expiry::Never).await?;
    step("touch, gat, gats");
    c.touch("greeting", Duration::from_secs(120)).await?;
    c.gat("greeting", Duration::from_secs(300)).await?;
    c.gats("greeting", Expiry::Never).await?;
    step("incr and decr");
    c.set("counter", "18446744073709551615", Expiry::Never)
        .await?;
    c.incr("counter", 1).await?;
    c.decr("counter", 5).await?;
    let _ = c.incr("greeting", 1).await;
    step("delete");
    c.delete("counter").await?;
    c.delete("counter").await?;
    step("noreply");
    c.noreply().set("quiet", "1", Expiry::Never)?;
    c.get("quiet").await?;
    step("expiry: 31 days is sent as an absolute time");
    c.set("month", "v", Duration::from_secs(31 * 86_400))
        .await?;
    step("errors");
    let _ = c.set("big", vec![b'x'; 1 << 20], Expiry::Never).await;
    let _ = c.stats_group("bogus").await;
    step("flush_all, version, verbosity, stats settings (cut)");
    c.flush_all(None).await?;
    c.version().await?;
    c.verbosity(1).await?;

    step("a default client: the same calls in meta form");
    let m = Client::builder()
        .connections(1)
        .connect(addr.as_str())
        .await?;
    m.set(
        "greeting",
        "hello",
        StoreOptions::new()
            .flags(42)
            .expiry(Duration::from_secs(60)),
    )
    .await?;
    m.get("greeting").await?;
    m.gets("greeting").await?;
    m.add("greeting", "again", Expiry::Never).await?;
    m.delete("greeting").await?;
    m.get_many(["greeting", "nobody"]).await?;

    step(
        "cache-aside: a miss (lease won, loaded, filled with the lease's cas), a hit, an invalidation",
    );
    let cache = mcaside::cache::Cache::builder(m.clone(), "user", mcaside::cache::StringCodec)
        .ttl(Duration::from_secs(3600))
        .ttl_jitter(0.0)
        .build()
        .expect("a valid namespace");
    let load = || async { Ok::<_, std::io::Error>(Some("Ada".to_string())) };
    cache.get_or_load("123", load).await.expect("loaded");
    cache.get_or_load("123", load).await.expect("cached");
    cache.invalidate("123").await.expect("invalidated");
    Ok(())
}
