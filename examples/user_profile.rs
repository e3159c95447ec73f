//! The seed walkthrough, made safe: cache-aside for user profiles stored in SQLite.
//!
//! 1. Read user 123 twice: a miss that loads the row from the database and caches it for
//!    an hour, then a hit.
//! 2. Change user 123's email in the database, then invalidate its cache entry (after
//!    the commit: see `Cache::write`); the next read shows the new email.
//! 3. A thousand concurrent requests for a user nobody has read yet: the database
//!    answers one query, counted by the database layer itself.
//!
//! Run it with `./scripts/demo`, which starts its own memcached; set
//! `MCASIDE_SERVER=host:port` to use a server of your own instead.

#[path = "../tests/support/server.rs"]
mod server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcaside::Client;
use mcaside::cache::{Cache, JsonCodec};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Profile {
    user_id: i64,
    name: String,
    email: String,
}

/// The database layer: a SQLite file of users, and a count of the queries it answered.
struct Database {
    conn: Mutex<Connection>,
    queries: AtomicU64,
}

impl Database {
    fn create(path: &std::path::Path, users: i64) -> rusqlite::Result<Database> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "DROP TABLE IF EXISTS users;
             CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);",
        )?;
        let tx = conn.unchecked_transaction()?;
        for id in 1..=users {
            tx.execute(
                "INSERT INTO users VALUES (?1, ?2, ?3)",
                params![id, format!("User {id}"), format!("user{id}@example.com")],
            )?;
        }
        tx.commit()?;
        Ok(Database {
            conn: Mutex::new(conn),
            queries: AtomicU64::new(0),
        })
    }

    /// One query; slow on purpose (50 ms), as a real one under load would be.
    async fn fetch_user(&self, user_id: i64) -> rusqlite::Result<Option<Profile>> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let conn = self.conn.lock().unwrap();
        conn.query_row(
            "SELECT user_id, name, email FROM users WHERE user_id = ?1",
            params![user_id],
            |r| {
                Ok(Profile {
                    user_id: r.get(0)?,
                    name: r.get(1)?,
                    email: r.get(2)?,
                })
            },
        )
        .optional()
    }

    fn set_email(&self, user_id: i64, email: &str) -> rusqlite::Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "UPDATE users SET email = ?1 WHERE user_id = ?2",
            params![email, user_id],
        )?;
        Ok(())
    }
}

/// The seed's `get_user_profile`, with its lines, on the cache-aside layer.
async fn get_user_profile(
    cache: &Cache<JsonCodec<Profile>>,
    db: &Database,
    user_id: i64,
) -> Result<Option<Profile>, Box<dyn std::error::Error>> {
    let mut loaded = false;
    let profile = cache
        .get_or_load(user_id.to_string(), || {
            loaded = true;
            println!("Cache miss for user {user_id}. Fetching from database...");
            println!("Database lookup for user {user_id}...");
            db.fetch_user(user_id)
        })
        .await?;
    if loaded {
        println!("Stored user {user_id} in cache.");
    } else {
        println!("Cache hit for user {user_id}");
    }
    Ok(profile)
}

fn print_profile(profile: Option<Profile>) {
    match profile {
        Some(p) => println!("Retrieved profile: {p:?}"),
        None => println!("No such user"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_server, addr) = match std::env::var("MCASIDE_SERVER") {
        Ok(addr) => (None, addr),
        Err(_) => {
            let server = server::Memcached::start();
            let addr = server.addr.clone();
            (Some(server), addr)
        }
    };
    let path = std::env::temp_dir().join(format!("mcaside-demo-{}.sqlite", std::process::id()));
    let db = Arc::new(Database::create(&path, 1000)?);
    println!(
        "(memcached on {addr}; SQLite database {} with 1,000 users)\n",
        path.display()
    );

    let client = Client::connect(addr.as_str()).await?;
    let users = Cache::builder(client, "user_profile", JsonCodec::<Profile>::new())
        .ttl(Duration::from_secs(3600))
        .build()?;

    // First request for user 123
    let profile = get_user_profile(&users, &db, 123).await?;
    print_profile(profile);
    // Second request for user 123
    let profile = get_user_profile(&users, &db, 123).await?;
    print_profile(profile);

    println!("\nUpdating user 123's email in the database, then invalidating its cache entry...");
    users
        .write("123", || async { db.set_email(123, "ada@example.com") })
        .await?;
    let profile = get_user_profile(&users, &db, 123).await?;
    print_profile(profile);

    println!("\n1,000 concurrent requests for user 456, whom nobody has read yet...");
    let before = db.queries.load(Ordering::SeqCst);
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let (users, db) = (users.clone(), db.clone());
            tokio::spawn(async move { users.get_or_load("456", || db.fetch_user(456)).await })
        })
        .collect();
    let mut answered = 0;
    for r in requests {
        if r.await?.map_err(|e| e.to_string())?.is_some() {
            answered += 1;
        }
    }
    let queries = db.queries.load(Ordering::SeqCst) - before;
    println!("{answered} requests answered; database queries for user 456: {queries}");
    let m = users.metrics();
    println!(
        "(cache: {} loads, {} callers joined a load already running, {} hits, {} lease wins)",
        m.loads, m.coalesced, m.hits, m.lease_wins
    );

    std::fs::remove_file(&path)?;
    Ok(())
}
