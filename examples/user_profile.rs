//! The seed walkthrough, in Rust: cache-aside for a user profile.
//!
//! Try the cache; on a miss, read the (simulated) database and store the profile for
//! one hour; on the next read, hit. Run it with `./scripts/demo`, which starts its own
//! memcached; set `MCASIDE_SERVER=host:port` to use a server of your own instead.

#[path = "../tests/support/server.rs"]
mod server;

use std::time::Duration;

use mcaside::Client;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Profile {
    user_id: u64,
    name: String,
    email: String,
}

async fn get_user_profile(cache: &Client, user_id: u64) -> mcaside::Result<Profile> {
    // 1. Try the cache.
    let cache_key = format!("user_profile:{user_id}");
    if let Some(hit) = cache.get(&cache_key).await? {
        println!("Cache hit for user {user_id}");
        return Ok(serde_json::from_slice(&hit.value).expect("we stored JSON"));
    }
    println!("Cache miss for user {user_id}. Fetching from database...");
    // 2. Not cached: read the source of truth.
    let profile = fetch_from_database(user_id);
    // 3. Store it for the next reader, for one hour.
    let json = serde_json::to_vec(&profile).expect("a profile serializes");
    cache
        .set(&cache_key, json, Duration::from_secs(3600))
        .await?;
    println!("Stored user {user_id} in cache.");
    Ok(profile)
}

fn fetch_from_database(user_id: u64) -> Profile {
    println!("Simulating database lookup for user {user_id}...");
    Profile {
        user_id,
        name: format!("User {user_id}"),
        email: format!("user{user_id}@example.com"),
    }
}

#[tokio::main]
async fn main() -> mcaside::Result<()> {
    let (_server, addr) = match std::env::var("MCASIDE_SERVER") {
        Ok(addr) => (None, addr),
        Err(_) => {
            let server = server::Memcached::start();
            let addr = server.addr.clone();
            println!("(started memcached on {addr}, pid {})", server.pid());
            (Some(server), addr)
        }
    };
    let cache = Client::connect(addr.as_str()).await?;

    // First request for user 123
    let profile = get_user_profile(&cache, 123).await?;
    println!("Retrieved profile: {profile:?}");
    // Second request for user 123
    let profile = get_user_profile(&cache, 123).await?;
    println!("Retrieved profile: {profile:?}");
    Ok(())
}
