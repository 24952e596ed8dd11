//! A highly available Cairn deployment of real processes: `cairn migrate`, servers, workers and
//! schedulers on a fresh PostgreSQL database and a given Redis, plus an API client.

use cairn_testkit::cairn::{CairnRole, command, printed_api_key};
use cairn_testkit::postgres::PgServer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Lease time to live of the schedulers under test, in seconds.
pub const LEASE_TTL: u64 = 2;
/// Heartbeat timeout of the workers under test, in seconds.
pub const HEARTBEAT_TIMEOUT: u64 = 3;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cairn"))
}

/// The processes of one deployment, stopped when dropped.
pub struct Deployment {
    /// The metadata database.
    pub database_url: String,
    /// The shared Redis.
    pub redis_url: String,
    /// The admin's API key.
    pub api_key: String,
    /// `cairn server` replicas.
    pub servers: Vec<CairnRole>,
    /// `cairn worker` replicas.
    pub workers: Vec<CairnRole>,
    /// `cairn scheduler` replicas.
    pub schedulers: Vec<CairnRole>,
    /// The id of a PostgreSQL data source on the test server.
    pub data_source_id: i64,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    started: usize,
}

impl Deployment {
    /// Migrates a fresh database, creates the admin, starts `servers` servers, `workers`
    /// workers (each serving every queue) and `schedulers` schedulers, and adds a data source.
    pub async fn start(
        redis_url: &str,
        servers: usize,
        workers: usize,
        schedulers: usize,
    ) -> Deployment {
        let pg = PgServer::shared();
        let database_url = pg.fresh_database("ha");
        let mut d = Deployment {
            database_url,
            redis_url: redis_url.to_string(),
            api_key: String::new(),
            servers: Vec::new(),
            workers: Vec::new(),
            schedulers: Vec::new(),
            data_source_id: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            dir: tempfile::tempdir().unwrap(),
            started: 0,
        };
        let out = d.run(&["migrate"]);
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = d.run(&[
            "users",
            "create",
            "--admin",
            "--email",
            "admin@example.com",
            "--password",
            "long enough",
        ]);
        assert!(
            out.status.success(),
            "users: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d.api_key = printed_api_key(&String::from_utf8_lossy(&out.stdout)).expect("API key");
        for _ in 0..servers {
            d.add_server();
        }
        for _ in 0..workers {
            d.add_worker(&[]);
        }
        for _ in 0..schedulers {
            d.add_scheduler();
        }
        let (status, ds) = d
            .call(
                reqwest::Method::POST,
                "/api/data_sources",
                Some(json!({
                    "name": "pg",
                    "type": "pg",
                    "options": {"host": "127.0.0.1", "port": pg.port(), "user": "postgres",
                                "dbname": "postgres"},
                })),
            )
            .await;
        assert_eq!(status, 200, "{ds}");
        d.data_source_id = ds["id"].as_i64().unwrap();
        d
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("REDASH_DATABASE_URL", self.database_url.clone()),
            ("REDASH_REDIS_URL", self.redis_url.clone()),
            ("REDASH_SECRET_KEY", "ha-test-secret".into()),
            (
                "CAIRN_WORKER_HEARTBEAT_TIMEOUT",
                HEARTBEAT_TIMEOUT.to_string(),
            ),
            ("CAIRN_SCHEDULER_LEASE_TTL", LEASE_TTL.to_string()),
            ("CAIRN_SCHEDULER_REFRESH_INTERVAL", "1".into()),
            ("RUST_LOG", "info".into()),
        ]
    }

    /// Runs a one-off `cairn` command with this deployment's environment.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = command(bin());
        cmd.args(args).envs(self.env());
        if matches!(args.first(), Some(&"users" | &"migrate")) {
            cmd.arg("--data-dir").arg(self.dir.path().join("data"));
        }
        cmd.output().unwrap()
    }

    fn log(&mut self, role: &str) -> PathBuf {
        self.started += 1;
        self.dir.path().join(format!("{role}-{}.log", self.started))
    }

    fn start_role(&mut self, role: &str, extra: &[&str]) -> CairnRole {
        let log = self.log(role);
        let env = self.env();
        CairnRole::start(bin(), role, extra, &env, &log)
    }

    /// Starts one more server.
    pub fn add_server(&mut self) {
        let s = self.start_role("server", &[]);
        self.servers.push(s);
    }

    /// Starts one more worker with `extra` flags.
    pub fn add_worker(&mut self, extra: &[&str]) {
        let w = self.start_role("worker", extra);
        self.workers.push(w);
    }

    /// Starts one more scheduler.
    pub fn add_scheduler(&mut self) {
        let s = self.start_role("scheduler", &[]);
        self.schedulers.push(s);
    }

    /// The first live server's URL.
    pub fn api(&mut self) -> String {
        self.servers
            .iter_mut()
            .find_map(|s| s.process.is_running().then(|| s.url.clone()))
            .expect("a running server")
    }

    /// Calls the API of the first live server as the admin.
    pub async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.api());
        self.call_at(&url, method, body).await
    }

    /// Calls `url` as the admin; see [`Api::call`].
    pub async fn call_at(
        &self,
        url: &str,
        method: reqwest::Method,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.client().call(url, method, body).await
    }

    /// An API client of this deployment, usable from other tasks.
    pub fn client(&self) -> Api {
        Api {
            http: self.http.clone(),
            key: self.api_key.clone(),
            data_source_id: self.data_source_id,
        }
    }

    /// Submits `sql` as an ad-hoc query (never from cache) and returns the job id.
    pub async fn submit(&mut self, sql: &str) -> String {
        let base = self.api();
        self.client().submit(&base, sql).await
    }

    /// Polls job `id` until it ends (status 3, 4 or 5) or `timeout` passes; returns its JSON.
    pub async fn wait_job(&mut self, id: &str, timeout: Duration) -> Value {
        let base = self.api();
        self.client().wait_job(&base, id, timeout).await
    }

    /// Polls job `id` until it reaches `status` (within 60 s).
    pub async fn wait_status(&mut self, id: &str, status: i64) {
        let started = Instant::now();
        loop {
            let (_, v) = self
                .call(reqwest::Method::GET, &format!("/api/jobs/{id}"), None)
                .await;
            if v["job"]["status"] == status {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "job {id} never reached status {status}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The indexes of the schedulers whose `/metrics` say they lead.
    pub async fn leaders(&mut self) -> Vec<usize> {
        let mut found = Vec::new();
        for (i, s) in self.schedulers.iter_mut().enumerate() {
            if !s.process.is_running() {
                continue;
            }
            let text = match self.http.get(format!("{}/metrics", s.url)).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => continue,
            };
            if text.lines().any(|l| l.trim() == "cairn_scheduler_leader 1") {
                found.push(i);
            }
        }
        found
    }

    /// Waits until exactly one scheduler leads and returns it with the time that took.
    pub async fn wait_leader(&mut self, timeout: Duration) -> (usize, Duration) {
        let started = Instant::now();
        loop {
            let leaders = self.leaders().await;
            if leaders.len() == 1 {
                return (leaders[0], started.elapsed());
            }
            assert!(
                started.elapsed() < timeout,
                "no single leader after {timeout:?}: {leaders:?}\n{}",
                self.schedulers
                    .iter()
                    .map(|s| s.output())
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The admin's API client for one deployment, on any of its servers.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    key: String,
    data_source_id: i64,
}

impl Api {
    /// Calls `url` as the admin; a request that gets no answer within 20 s fails the test.
    pub async fn call(
        &self,
        url: &str,
        method: reqwest::Method,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, url)
            .header("Authorization", format!("Key {}", self.key));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: no answer: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Submits `sql` through the server at `base` as an ad-hoc query (never from cache) and
    /// returns the job id.
    pub async fn submit(&self, base: &str, sql: &str) -> String {
        let body = json!({"query": sql, "data_source_id": self.data_source_id, "max_age": 0});
        let url = format!("{base}/api/query_results");
        let (status, v) = self.call(&url, reqwest::Method::POST, Some(body)).await;
        assert_eq!(status, 200, "{v}");
        v["job"]["id"].as_str().expect("a job").to_string()
    }

    /// Polls job `id` at `base` until it ends (status 3, 4 or 5) or `timeout` passes; returns
    /// its JSON.
    pub async fn wait_job(&self, base: &str, id: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        let url = format!("{base}/api/jobs/{id}");
        loop {
            let (status, v) = self.call(&url, reqwest::Method::GET, None).await;
            assert_eq!(status, 200, "{v}");
            let s = v["job"]["status"].as_i64().unwrap_or(0);
            if s >= 3 || started.elapsed() > timeout {
                return v["job"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
