//! One running Cairn per test: store, in-process queue, worker and scheduler, and the HTTP
//! server on an ephemeral port. `both!` runs a test on a SQLite and on a PostgreSQL store.

use cairn_exec::job::QueueName;
use cairn_exec::queue::{MemoryQueue, Queue};
use cairn_exec::settings::ExecSettings;
use cairn_exec::worker::Worker;
use cairn_http::{AppState, ServerSettings};
use cairn_store::{NewUser, Store};
use cairn_testkit::postgres::PgServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which metadata store a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per metadata store backend.
macro_rules! both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: crate::harness::TestApp) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(crate::harness::TestApp::start(crate::harness::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(crate::harness::TestApp::start(crate::harness::Backend::Postgres).await).await
            }
        }
    };
}
pub(crate) use both;

/// A running server and an admin's API key.
pub struct TestApp {
    pub base: String,
    pub key: String,
    pub store: Store,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, ExecSettings::default()).await
    }

    pub async fn start_with(backend: Backend, exec: ExecSettings) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => {
                format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display())
            }
            Backend::Postgres => PgServer::shared().fresh_database("http"),
        };
        let store = Store::open(&url, [7u8; 32]).await.expect("open store");
        let admin = store
            .create_user(&NewUser {
                name: "Admin".into(),
                email: "admin@example.com".into(),
                is_admin: true,
                password_hash: None,
            })
            .await
            .unwrap();
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(Duration::from_secs(3600)));
        let shutdown = CancellationToken::new();
        let worker = Worker::new(store.clone(), queue.clone(), exec);
        tokio::spawn(worker.run(QueueName::ALL.to_vec(), 4, shutdown.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = ServerSettings {
            base_url: base.clone(),
            ..ServerSettings::default()
        };
        let state = AppState::new(store.clone(), queue, settings);
        let stop = shutdown.clone();
        tokio::spawn(cairn_http::serve(listener, state, async move {
            stop.cancelled().await
        }));
        TestApp {
            base,
            key: admin.api_key,
            store,
            http: reqwest::Client::new(),
            dir,
            shutdown,
        }
    }

    /// Sends a request with the admin's key; returns the status and the body (JSON, or the text
    /// as a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(Some(&self.key), method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.header("Authorization", format!("Key {k}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, out) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {out}");
        out
    }

    /// A SQLite data source over a fresh file with a small table `t(n, name)`.
    pub async fn sqlite_source(&self, rows: u32) -> i64 {
        let path = self.dir.path().join(format!("src-{rows}.db"));
        let conn = format!("sqlite://{}?mode=rwc", path.display());
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&conn).await.unwrap();
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS t (n INTEGER, name TEXT); DELETE FROM t;")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < $1) INSERT INTO t SELECT x, 'name ' || x FROM s")
            .bind(rows)
            .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        let ds = self
            .post("/api/data_sources", json!({"name": format!("lite {rows}"), "type": "sqlite", "options": {"dbpath": path.display().to_string()}}))
            .await;
        ds["id"].as_i64().unwrap()
    }

    /// Polls a job until it is final; returns the job object.
    pub async fn wait_job(&self, response: &Value) -> Value {
        let id = response["job"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("not a job: {response}"))
            .to_string();
        for _ in 0..600 {
            let job = self.get(&format!("/api/jobs/{id}")).await["job"].clone();
            if matches!(job["status"].as_i64(), Some(3..=5)) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish in 30 s");
    }

    /// Runs SQL ad hoc (max_age 0) and returns the finished result's `query_result`.
    pub async fn run_sql(&self, data_source_id: i64, sql: &str) -> Value {
        let r = self
            .post(
                "/api/query_results",
                json!({"data_source_id": data_source_id, "query": sql, "max_age": 0}),
            )
            .await;
        let job = self.wait_job(&r).await;
        assert_eq!(job["status"], 3, "job failed: {job}");
        let id = job["query_result_id"].as_i64().unwrap();
        self.get(&format!("/api/query_results/{id}")).await["query_result"].clone()
    }
}
