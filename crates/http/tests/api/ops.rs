//! Operating the server: `/metrics`, `/ready`, download controls (size cap, concurrency cap,
//! byte-rate limit) and graceful shutdown.
//!
//! Each test makes its data through the harness's server, then starts a second server over
//! the same store with the settings under test ([`OpsServer`]), so it can also signal that
//! server's shutdown and watch it drain. The metrics recorder is global to the test process:
//! assertions on counters compare before and after, never exact totals.

use crate::harness::{Backend, TestApp, both};
use cairn_exec::queue::{MemoryQueue, Queue};
use cairn_http::{AppState, ServerSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const KIB: u64 = 1024;

/// A server with chosen settings over a test app's store, with its own (worker-less) queue.
struct OpsServer {
    base: String,
    key: String,
    http: reqwest::Client,
    /// `/ready`'s draining flag, as the server sees it.
    draining: CancellationToken,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl OpsServer {
    async fn start(app: &TestApp, settings: ServerSettings) -> OpsServer {
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(Duration::from_secs(3600)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(app.store.clone(), queue, settings);
        let draining = state.draining.clone();
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let task = tokio::spawn(cairn_http::serve(listener, state, async move {
            signal.cancelled().await
        }));
        OpsServer {
            base,
            key: app.key.clone(),
            http: reqwest::Client::new(),
            draining,
            stop,
            task,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Key {}", self.key))
            .send()
            .await
            .expect("request")
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let resp = self.get(path).await;
        let status = resp.status();
        (status, resp.json().await.expect("JSON body"))
    }

    async fn metrics(&self) -> String {
        let resp = self.get("/metrics").await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }
}

/// The value of the sample `series` (name and labels, exactly as rendered) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

/// A finished result of `rows` rows of `t(n, name)`, about 20 bytes a row as CSV.
async fn result_of(app: &TestApp, rows: u32) -> i64 {
    let ds = app.sqlite_source(rows).await;
    let r = app.run_sql(ds, "SELECT n, name FROM t ORDER BY n").await;
    r["id"].as_i64().unwrap()
}

both!(
    metrics_name_routes_by_template_and_read_queue_depth,
    |app| {
        let ops = OpsServer::start(&app, ServerSettings::default()).await;
        let ds = app.sqlite_source(3).await;
        let q = app
            .post(
                "/api/queries",
                json!({"data_source_id": ds, "query": "SELECT 1"}),
            )
            .await;
        let id = q["id"].as_i64().unwrap();
        let (status, _) = ops.json(&format!("/api/queries/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = ops.json("/api/queries/999999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Three runs wait in the queue: this server has no worker.
        for n in 1..=3 {
            let (status, body) = {
                let resp = ops
                .http
                .post(format!("{}/api/query_results", ops.base))
                .header("Authorization", format!("Key {}", ops.key))
                .json(&json!({"data_source_id": ds, "query": format!("SELECT {n}"), "max_age": 0}))
                .send()
                .await
                .unwrap();
                (resp.status(), resp.json::<Value>().await.unwrap())
            };
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body["job"].is_object(), "{body}");
        }

        let text = ops.metrics().await;
        let ok = r#"method="GET",route="/api/queries/{id}",status="200""#;
        let missing = r#"method="GET",route="/api/queries/{id}",status="404""#;
        assert!(
            sample(&text, &format!("cairn_http_requests_total{{{ok}}}")).unwrap() >= 1.0,
            "{text}"
        );
        assert!(sample(&text, &format!("cairn_http_requests_total{{{missing}}}")).unwrap() >= 1.0);
        assert!(
            sample(
                &text,
                &format!("cairn_http_request_duration_seconds_bucket{{{ok},le=\"10\"}}")
            )
            .unwrap()
                >= 1.0,
            "{text}"
        );
        assert!(
            sample(
                &text,
                &format!("cairn_http_request_duration_seconds_count{{{ok}}}")
            )
            .is_some()
        );
        assert!(
            !text.contains(&format!("/api/queries/{id}\"")),
            "raw paths never become labels"
        );
        assert!(text.contains("# TYPE cairn_http_request_duration_seconds histogram"));
        for state in ["idle", "in_use"] {
            let series = format!("cairn_db_pool_connections{{state=\"{state}\"}}");
            assert!(sample(&text, &series).is_some(), "{series} in {text}");
        }
        assert!(sample(&text, "cairn_db_pool_max").unwrap() >= 1.0);
        assert!(sample(&text, "cairn_download_throttled_seconds_total").is_some());
        assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 0.0);
        assert!(sample(&text, "process_cpu_seconds_total").unwrap() >= 0.0);
        // Every queue has a depth; the three runs are in one of them. The gauges are process-wide
        // and other tests' servers scrape too, so read until this server's values are the ones
        // rendered.
        let mut depths = Vec::new();
        for _ in 0..50 {
            let text = ops.metrics().await;
            depths = ["adhoc", "scheduled", "schemas", "default"]
                .iter()
                .map(|q| sample(&text, &format!("cairn_queue_depth{{queue=\"{q}\"}}")).unwrap())
                .collect();
            if depths.iter().sum::<f64>() == 3.0 {
                break;
            }
        }
        assert_eq!(depths.iter().sum::<f64>(), 3.0, "{depths:?}");
    }
);

both!(metrics_need_the_token_when_one_is_set, |app| {
    let ops = OpsServer::start(
        &app,
        ServerSettings {
            metrics_token: Some("scrape-secret".into()),
            ..ServerSettings::default()
        },
    )
    .await;
    let url = format!("{}/metrics", ops.base);
    let resp = ops.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    let wrong = ops
        .http
        .get(&url)
        .bearer_auth("scrape-secreT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = ops
        .http
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("cairn_db_pool_max"));
});

both!(ready_until_the_database_goes_away, |app| {
    let ops = OpsServer::start(&app, ServerSettings::default()).await;
    let (status, body) = ops.json("/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], true);
    for check in ["database", "schema", "queue"] {
        assert_eq!(body["checks"][check]["ok"], true, "{body}");
    }
    assert!(body["checks"]["schema"]["version"].as_i64().unwrap() > 0);

    app.store.close().await;
    let (status, body) = ops.json("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["queue"]["ok"], true, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("database"),
        "{body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(ops.get("/ping").await.text().await.unwrap(), "PONG.");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_migrations_are_pending() {
    let app = TestApp::start(Backend::Sqlite).await;
    let ops = OpsServer::start(&app, ServerSettings::default()).await;
    assert_eq!(ops.json("/ready").await.0, StatusCode::OK);
    // As if this binary were newer than the database: its newest migration is not applied.
    use sqlx::Connection;
    let url = format!("sqlite://{}", app.dir.path().join("meta.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let (status, body) = ops.json("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["schema"]["ok"], false, "{body}");
    let error = body["checks"]["schema"]["error"].as_str().unwrap();
    assert!(error.contains("cairn migrate"), "{error}");
    assert_eq!(body["message"], "Not ready: schema.");
}

both!(
    a_result_over_the_size_cap_is_refused_before_streaming,
    |app| {
        let rid = result_of(&app, 5000).await;
        let ops = OpsServer::start(
            &app,
            ServerSettings {
                max_download_bytes: Some(1024),
                ..ServerSettings::default()
            },
        )
        .await;
        let before = sample(
            &ops.metrics().await,
            r#"cairn_downloads_rejected_total{reason="size"}"#,
        )
        .unwrap_or(0.0);
        for path in [
            format!("/api/query_results/{rid}.csv"),
            format!("/api/query_results/{rid}"),
        ] {
            let (status, body) = ops.json(&path).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains("max_download_bytes") && message.contains("1.0 KiB"),
                "{message}"
            );
        }
        let after = sample(
            &ops.metrics().await,
            r#"cairn_downloads_rejected_total{reason="size"}"#,
        )
        .unwrap();
        assert!(after >= before + 2.0, "{before} -> {after}");
    }
);

both!(downloads_over_the_concurrency_cap_are_refused, |app| {
    let rid = result_of(&app, 20_000).await;
    // One slot, and a download paced so slowly that it holds the slot for the whole test.
    let ops = OpsServer::start(
        &app,
        ServerSettings {
            max_concurrent_downloads: Some(1),
            download_rate_after: 0,
            download_rate_limit: NonZeroU64::new(KIB),
            ..ServerSettings::default()
        },
    )
    .await;
    let path = format!("/api/query_results/{rid}.csv");
    let mut held = ops.get(&path).await;
    assert_eq!(held.status(), StatusCode::OK);
    let first = held.chunk().await.unwrap().expect("the first block");
    assert!(first.starts_with(b"n,name"));
    let active = sample(&ops.metrics().await, "cairn_downloads_active").unwrap();
    assert!(active >= 1.0, "{active}");

    let refused = ops.get(&path).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("max_concurrent_downloads"),
        "{body}"
    );
    let text = ops.metrics().await;
    assert!(
        sample(
            &text,
            r#"cairn_downloads_rejected_total{reason="concurrency"}"#
        )
        .unwrap()
            >= 1.0
    );
    // Other requests are not capped.
    assert_eq!(ops.json("/api/queries").await.0, StatusCode::OK);
});

both!(
    a_throttled_download_sends_the_allowance_then_is_paced,
    |app| {
        let rid = result_of(&app, 60_000).await;
        let ops = OpsServer::start(
            &app,
            ServerSettings {
                download_rate_after: 256 * KIB,
                download_rate_limit: NonZeroU64::new(512 * KIB),
                ..ServerSettings::default()
            },
        )
        .await;
        let before = ops.metrics().await;
        let throttled_before = sample(&before, "cairn_download_throttled_seconds_total").unwrap();
        let bytes_before = sample(&before, "cairn_download_bytes_total").unwrap_or(0.0);

        let body = ops
            .get(&format!("/api/query_results/{rid}.csv"))
            .await
            .bytes()
            .await
            .expect("the whole body");
        let text = std::str::from_utf8(&body).unwrap();
        assert_eq!(
            text.lines().count(),
            60_001,
            "a throttled download is whole"
        );
        assert!(text.ends_with("60000,name 60000\r\n"));
        assert!(
            body.len() as u64 > 2 * 256 * KIB,
            "the test needs a paced part"
        );

        let after = ops.metrics().await;
        let throttled = sample(&after, "cairn_download_throttled_seconds_total").unwrap();
        assert!(
            throttled > throttled_before,
            "{throttled_before} -> {throttled}"
        );
        let bytes = sample(&after, "cairn_download_bytes_total").unwrap();
        assert!(bytes - bytes_before >= body.len() as f64);
    }
);

both!(
    shutdown_finishes_requests_in_flight_and_refuses_new_ones,
    |app| {
        let rid = result_of(&app, 30_000).await;
        // About 600 KB paced at 256 KiB/s: a request still running when shutdown begins.
        let ops = OpsServer::start(
            &app,
            ServerSettings {
                download_rate_after: 0,
                download_rate_limit: NonZeroU64::new(256 * KIB),
                shutdown_grace: Duration::from_secs(60),
                ..ServerSettings::default()
            },
        )
        .await;
        let mut slow = ops.get(&format!("/api/query_results/{rid}.csv")).await;
        assert_eq!(slow.status(), StatusCode::OK);
        let mut received = slow.chunk().await.unwrap().expect("first block").len();

        ops.stop.cancel();
        ops.draining.cancelled().await;
        // The listener is closed: a new connection is refused.
        let fresh = reqwest::Client::new();
        let refused = fresh.get(format!("{}/ping", ops.base)).send().await;
        assert!(
            refused.as_ref().is_err_and(|e| e.is_connect()),
            "{refused:?}"
        );
        // The download in flight runs to its end.
        while let Some(chunk) = slow.chunk().await.expect("the body is not cut") {
            received += chunk.len();
        }
        let whole = app
            .http
            .get(format!("{}/api/query_results/{rid}.csv", app.base))
            .header("Authorization", format!("Key {}", app.key))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(received, whole.len());
        ops.task.await.unwrap().unwrap();
    }
);

both!(shutdown_cuts_what_outlives_the_grace_period, |app| {
    let rid = result_of(&app, 30_000).await;
    // About 600 KB at 16 KiB/s would take half a minute; the grace period is one second.
    let ops = OpsServer::start(
        &app,
        ServerSettings {
            download_rate_after: 0,
            download_rate_limit: NonZeroU64::new(16 * KIB),
            shutdown_grace: Duration::from_secs(1),
            ..ServerSettings::default()
        },
    )
    .await;
    let mut slow = ops.get(&format!("/api/query_results/{rid}.csv")).await;
    assert_eq!(slow.status(), StatusCode::OK);
    ops.stop.cancel();
    ops.task.await.unwrap().unwrap();
    // The client sees an error, not a body that ends as if it were whole.
    let mut outcome = Ok(0usize);
    loop {
        match slow.chunk().await {
            Ok(Some(chunk)) => outcome = outcome.map(|n| n + chunk.len()),
            Ok(None) => break,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    assert!(outcome.is_err(), "the cut body must fail: {outcome:?}");
});

both!(a_draining_server_is_not_ready, |app| {
    let ops = OpsServer::start(&app, ServerSettings::default()).await;
    // What a request still reaching the server sees once shutdown has begun (serve_app sets
    // the flag: see the shutdown tests).
    assert_eq!(ops.json("/ready").await.0, StatusCode::OK);
    ops.draining.cancel();
    let resp = ops.get("/ready").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["checks"]["draining"]["ok"], false, "{body}");
    assert!(body["message"].as_str().unwrap().contains("draining"));
});
