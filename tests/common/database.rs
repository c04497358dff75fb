//! Databases for tests: a fresh PostgreSQL database per test (dropped afterwards), or a SQLite
//! file in a directory of the test's own.

use std::{path::Path, time::Duration};

use tokio::time::timeout;

/// Which database a test runs on. Every suite that can runs each test on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use: `TEST_DATABASE_URL`, or this machine's.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

/// A database made for one test, dropped when this is (best effort; `./test.sh` also sweeps
/// what a killed run left behind, by the `gifchat_test_` prefix).
pub struct TestDatabase {
    pub url: String,
    /// The PostgreSQL database to drop, when it is one.
    postgres: Option<String>,
}

impl TestDatabase {
    /// A new PostgreSQL database. Fails loudly (never skips) when PostgreSQL cannot be
    /// reached: a suite that silently ran on SQLite alone would prove nothing.
    pub async fn postgres() -> Self {
        use sqlx::Connection;
        let admin = admin_url();
        let mut connection = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|err| panic!("PostgreSQL must be reachable at {admin} for the postgres tests: {err}"));
        let name = format!("gifchat_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("create a test database");
        let (base, _) = admin.rsplit_once('/').expect("the database URL ends with /dbname");
        Self { url: format!("{base}/{name}"), postgres: Some(name) }
    }

    /// A SQLite file in `dir` (which the test removes).
    pub fn sqlite_in(dir: &Path) -> Self {
        Self { url: format!("sqlite://{}", dir.join("chat.db").display()), postgres: None }
    }

    pub async fn new(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite_in(dir),
            Backend::Postgres => Self::postgres().await,
        }
    }
}

impl Drop for TestDatabase {
    /// On a thread of its own, as this may run inside the test's runtime.
    fn drop(&mut self) {
        let Some(name) = self.postgres.take() else { return };
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut connection =
                    timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin_url())).await.ok()?.ok()?;
                let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                timeout(Duration::from_secs(10), sqlx::query(&statement).execute(&mut connection)).await.ok()?.ok()
            })
        })
        .join();
    }
}
