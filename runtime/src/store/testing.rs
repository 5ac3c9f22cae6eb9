//! Test support: a PostgreSQL database of its own for each test, so tests run in parallel.
//!
//! The server is `JUNCTION_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! the development and CI machines' trust-auth server). Each [`TestDatabase`] creates a fresh
//! database there and drops it when dropped, unless the test failed: then it is kept, and its
//! URL printed, to look at.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("JUNCTION_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A PostgreSQL database created for one test and dropped after it.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    server: String,
}

impl TestDatabase {
    /// Creates an empty database. Panics, saying how to fix it, when the server does not
    /// answer: a test that needs PostgreSQL must not pass without it.
    pub async fn create() -> TestDatabase {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let server = server_url();
        let name = format!(
            "junction_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            hex::encode(rand::random::<[u8; 3]>())
        );
        let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL does not answer at {server} ({e}). Start it \
                 (`pg_ctlcluster --skip-systemctl-redirect 15 main start`), or point \
                 JUNCTION_TEST_POSTGRES at a server where this user may create databases."
            )
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(&server).expect("JUNCTION_TEST_POSTGRES is a URL");
        url.set_path(&name);
        TestDatabase {
            name,
            url: url.to_string(),
            server,
        }
    }

    /// The database's URL, for `Store::open` or `junction run --store`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the failed test's database is kept: {}", self.url);
            return;
        }
        // Drop may run inside a runtime, which cannot block: do it on a thread of its own.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: test database {} was not dropped", self.name);
        }
    }
}
