//! Opens a fresh store on each backend and runs one test body against it.

use cairn_store::{NewDataSource, NewUser, Store};
use cairn_testkit::postgres::PgServer;
use tempfile::TempDir;

/// The secret key the tests open their stores with.
pub const KEY: [u8; 32] = [42; 32];

/// A store on an empty database, plus what a test needs to reopen or inspect it.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
        let store = Store::open(&url, KEY).await.expect("open sqlite store");
        TestDb {
            store,
            url,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let url = PgServer::shared().fresh_database("store");
        let store = Store::open(&url, KEY).await.expect("open postgres store");
        TestDb {
            store,
            url,
            _dir: None,
        }
    }

    /// Raw bytes of one BLOB/BYTEA cell, read without the store.
    pub async fn raw_bytes(&self, sql: &'static str, id: i64) -> Vec<u8> {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let v = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let v = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    }

    /// One `COUNT(*)` with one id parameter, read without the store.
    pub async fn raw_count(&self, sql: &'static str, id: i64) -> i64 {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let v = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let v = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    }

    /// Runs one statement without the store (to fake states the API cannot produce).
    pub async fn raw_exec(&self, sql: &'static str) {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// A user named after `tag`.
    pub async fn user(&self, tag: &str) -> cairn_domain::model::User {
        self.store
            .create_user(&NewUser {
                name: format!("User {tag}"),
                email: format!("{tag}@example.com"),
                is_admin: false,
                password_hash: None,
            })
            .await
            .unwrap()
    }

    /// A SQLite data source named `name`.
    pub async fn data_source(&self, name: &str) -> cairn_domain::model::DataSource {
        self.store
            .create_data_source(&NewDataSource {
                name: name.into(),
                kind: "sqlite".into(),
                options: serde_json::json!({"dbpath": "/tmp/x.db"}),
                queue_name: None,
                scheduled_queue_name: None,
            })
            .await
            .unwrap()
    }
}

/// The URL of an empty database (no schema), kept alive with the value.
pub struct EmptyDb {
    pub url: String,
    _dir: Option<TempDir>,
}

impl EmptyDb {
    pub fn sqlite() -> EmptyDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
        EmptyDb {
            url,
            _dir: Some(dir),
        }
    }

    pub fn postgres() -> EmptyDb {
        EmptyDb {
            url: PgServer::shared().fresh_database("empty"),
            _dir: None,
        }
    }
}

/// Defines `mod $name` with a `sqlite` and a `postgres` test running `$name(EmptyDb)`.
macro_rules! empty_db_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::harness::EmptyDb::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::harness::EmptyDb::postgres()).await;
            }
        }
    };
}
pub(crate) use empty_db_test;

/// Defines `mod $name` with a `sqlite` and a `postgres` test running `$name(TestDb)`.
macro_rules! store_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::harness::TestDb::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::harness::TestDb::postgres().await).await;
            }
        }
    };
}
pub(crate) use store_test;
