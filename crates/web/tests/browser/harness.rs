//! One running Cairn per test, with the web UI merged in: a SQLite store, the in-process queue,
//! a worker and the HTTP server on an ephemeral port; an admin who logs in with a password.

use cairn_exec::job::QueueName;
use cairn_exec::queue::{MemoryQueue, Queue};
use cairn_exec::settings::ExecSettings;
use cairn_exec::worker::Worker;
use cairn_http::{AppState, ServerSettings};
use cairn_store::{NewUser, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery";

/// Where a test saves screenshot `name` (`docs/screenshots/<name>.png`, shown in the README).
pub fn shot(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/screenshots")
        .join(format!("{name}.png"))
}

pub struct TestApp {
    pub base: String,
    /// The admin's API key, for setting up through the API.
    pub key: String,
    pub store: Store,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub async fn start(settings: ServerSettings) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
        let store = Store::open(&url, [9u8; 32]).await.expect("open store");
        let hash = cairn_http::password::hash_async(PASSWORD.to_string())
            .await
            .unwrap();
        let admin = store
            .create_user(&NewUser {
                name: "Admin".into(),
                email: EMAIL.into(),
                is_admin: true,
                password_hash: Some(hash),
            })
            .await
            .unwrap();
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(Duration::from_secs(3600)));
        let shutdown = CancellationToken::new();
        let worker = Worker::new(store.clone(), queue.clone(), ExecSettings::default());
        tokio::spawn(worker.run(QueueName::ALL.to_vec(), 4, shutdown.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = ServerSettings {
            base_url: base.clone(),
            ..settings
        };
        let state = AppState::new(store.clone(), queue, settings);
        let app = cairn_http::app_with(state, cairn_web::router());
        let stop = shutdown.clone();
        tokio::spawn(cairn_http::serve_app(listener, app, async move {
            stop.cancelled().await
        }));
        TestApp {
            base,
            key: admin.api_key,
            store,
            dir,
            shutdown,
        }
    }

    /// Calls the API as the admin; panics unless it answers 200. Returns the JSON body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let resp = reqwest::Client::new()
            .request(method.clone(), format!("{}{}", self.base, path))
            .header("Authorization", format!("Key {}", self.key))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let out: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, reqwest::StatusCode::OK, "{method} {path}: {out}");
        out
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.api(reqwest::Method::POST, path, body).await
    }

    /// A SQLite data source named "Sales" over [`TestApp::sales_db`]; returns its id.
    pub async fn sales_source(&self) -> i64 {
        let db = self.sales_db().await;
        let ds = self
            .post(
                "/api/data_sources",
                serde_json::json!({"name": "Sales", "type": "sqlite", "options": {"dbpath": db}}),
            )
            .await;
        ds["id"].as_i64().unwrap()
    }

    /// Logs `b` in through the login form.
    pub async fn log_in(&self, b: &crate::webdriver::Browser) {
        b.goto(&format!("{}/", self.base)).await;
        b.fill("#email", EMAIL).await;
        b.fill("#password", PASSWORD).await;
        b.click("#login").await;
        b.find("#top #logout").await;
    }

    /// A SQLite database file with `sales(region, month, amount)`: 2 regions x 6 months.
    pub async fn sales_db(&self) -> String {
        use sqlx::Connection;
        let path = self.dir.path().join("sales.db");
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE sales (region TEXT, month TEXT, amount INTEGER);
             INSERT INTO sales VALUES
               ('north','2026-01',120),('north','2026-02',135),('north','2026-03',160),
               ('north','2026-04',150),('north','2026-05',171),('north','2026-06',190),
               ('south','2026-01',80),('south','2026-02',95),('south','2026-03',90),
               ('south','2026-04',110),('south','2026-05',130),('south','2026-06',125);",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        path.display().to_string()
    }
}
