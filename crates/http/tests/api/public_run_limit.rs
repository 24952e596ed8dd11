//! The public run limit: a shared dashboard's token starts at most
//! `public_runs_per_minute` runs (429 with `Retry-After` past it), per token, while its cached
//! results are still served and users are not limited. Runs on a second server over the test
//! app's store with the limit set low (in-memory limiter, no worker: runs stay queued).

use crate::harness::{TestApp, both};
use cairn_exec::queue::{MemoryQueue, Queue};
use cairn_http::{AppState, ServerSettings};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A server over `app`'s store allowing `runs` public runs a minute.
struct Limited {
    base: String,
    http: reqwest::Client,
    stop: CancellationToken,
}

impl Drop for Limited {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Limited {
    async fn start(app: &TestApp, runs: usize) -> Limited {
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(Duration::from_secs(3600)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = ServerSettings {
            public_runs_per_minute: Some(runs),
            ..ServerSettings::default()
        };
        let state = AppState::new(app.store.clone(), queue, settings);
        let stop = CancellationToken::new();
        let signal = stop.clone();
        tokio::spawn(cairn_http::serve(listener, state, async move {
            signal.cancelled().await
        }));
        Limited {
            base,
            http: reqwest::Client::new(),
            stop,
        }
    }

    /// Runs query `id` as `key` with `top` and `max_age`: the status, `Retry-After` and body.
    async fn run(
        &self,
        key: &str,
        id: &Value,
        top: i64,
        max_age: i64,
    ) -> (StatusCode, Option<String>, Value) {
        let resp = self
            .http
            .post(format!("{}/api/queries/{id}/results", self.base))
            .header("Authorization", format!("Key {key}"))
            .json(&json!({"max_age": max_age, "parameters": {"top": top}}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let retry = resp
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry, resp.json().await.unwrap())
    }
}

/// Shares a new dashboard showing visualization `vis`; returns its token.
async fn share(app: &TestApp, vis: &Value) -> String {
    let d = app.post("/api/dashboards", json!({"name": "Public"})).await;
    app.post(
        "/api/widgets",
        json!({"dashboard_id": d["id"], "visualization_id": vis["id"], "width": 1, "options": {}}),
    )
    .await;
    app.post(&format!("/api/dashboards/{}/share", d["id"]), json!({}))
        .await["api_key"]
        .as_str()
        .unwrap()
        .to_string()
}

both!(share_tokens_start_a_limited_number_of_runs, |app| {
    let ds = app.sqlite_source(20).await;
    let q = app
        .post("/api/queries", json!({"data_source_id": ds, "name": "Shown",
            "query": "SELECT n FROM t WHERE n <= {{ top }} ORDER BY n",
            "options": {"parameters": [{"name": "top", "title": "top", "type": "number", "value": 5}]}}))
        .await;
    let vis = app
        .post(
            "/api/visualizations",
            json!({"query_id": q["id"], "type": "TABLE", "name": "Table", "options": {}}),
        )
        .await;
    let (token, other_token) = (share(&app, &vis).await, share(&app, &vis).await);
    // A cached result for top = 2, made by a user on the test app's server (it has a worker).
    let cached = app
        .post(
            &format!("/api/queries/{}/results", q["id"]),
            json!({"max_age": 0, "parameters": {"top": 2}}),
        )
        .await;
    assert_eq!(app.wait_job(&cached).await["status"], 3);

    let limited = Limited::start(&app, 3).await;
    for top in 10..13 {
        let (status, _, body) = limited.run(&token, &q["id"], top, 0).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["job"]["id"].is_string(), "{body}");
    }
    let (status, retry, body) = limited.run(&token, &q["id"], 13, 0).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        body["message"].as_str().unwrap().contains("cached results"),
        "{body}"
    );
    // A cache miss is a run whatever max_age asks for.
    let (status, _, _) = limited.run(&token, &q["id"], 14, -1).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a cache miss is a run"
    );

    // Cached results are still served to the token.
    let (status, _, body) = limited.run(&token, &q["id"], 2, -1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["query_result"]["data"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let resp = limited
        .http
        .get(format!(
            "{}/api/queries/{}/results?p_top=2",
            limited.base, q["id"]
        ))
        .header("Authorization", format!("Key {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Another token has its own budget, and users are not limited.
    let (status, _, body) = limited.run(&other_token, &q["id"], 13, 0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for top in 20..25 {
        let (status, _, body) = limited.run(&app.key, &q["id"], top, 0).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
});
