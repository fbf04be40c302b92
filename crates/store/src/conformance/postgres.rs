//! A fresh PostgreSQL database per test, dropped afterwards (the conformance suite's on
//! PostgreSQL, and the test kit's for servers on PostgreSQL): on the server at
//! `EID_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`; the test
//! command makes sure one answers). Without a server the test fails, never skips.

use tokio_postgres::NoTls;

/// The server the tests use, as an administrator's connection URL.
pub fn server_url() -> String {
    std::env::var("EID_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let base = match base.rsplit_once('/') {
        Some((head, _)) if head.contains("://") && head.len() > "postgres://".len() => head,
        _ => base,
    };
    format!("{base}/{database}{query}")
}

async fn admin() -> tokio_postgres::Client {
    let url = server_url();
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("no PostgreSQL at EID_TEST_POSTGRES ({e}); scripts/test.sh starts one")
        });
    tokio::spawn(connection);
    client
}

/// A database of one test, dropped (its connections ended) when this is.
#[derive(Debug)]
pub struct PostgresDatabase {
    /// Its name.
    pub name: String,
    /// The URL to connect to it.
    pub url: String,
}

impl PostgresDatabase {
    /// A new, empty database.
    pub async fn fresh() -> Self {
        let mut bytes = [0u8; 6];
        aws_lc_rs::rand::fill(&mut bytes).unwrap();
        let name = format!("eid_test_{}_{}", std::process::id(), hex::encode(bytes));
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Self {
            url: with_database(&server_url(), &name),
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot wait for a future: a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ = admin()
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
