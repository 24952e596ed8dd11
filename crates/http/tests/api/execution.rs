use crate::harness::{Backend, TestApp, both};
use cairn_exec::settings::ExecSettings;
use cairn_results::ResultLimits;
use cairn_testkit::postgres::PgServer;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

both!(runs_cache_and_fan_out, |app| {
    let ds = app.sqlite_source(5).await;
    let r = app.run_sql(ds, "SELECT n, name FROM t ORDER BY n").await;
    assert_eq!(
        r["data"]["columns"][0],
        json!({"name": "n", "friendly_name": "n", "type": "integer"})
    );
    assert_eq!(r["data"]["rows"].as_array().unwrap().len(), 5);
    assert_eq!(r["data"]["rows"][4], json!({"n": 5, "name": "name 5"}));
    let first_id = r["id"].as_i64().unwrap();

    // max_age -1 answers from the cache with the result itself, no job.
    let cached = app.post("/api/query_results", json!({"data_source_id": ds, "query": "SELECT n, name FROM t ORDER BY n", "max_age": -1})).await;
    assert_eq!(cached["query_result"]["id"], first_id, "{cached}");
    // Whitespace and comments do not change the hash.
    let cached = app
        .post("/api/query_results", json!({"data_source_id": ds, "query": "SELECT n, name /* c */ FROM t\n ORDER BY n", "max_age": 3600}))
        .await;
    assert_eq!(cached["query_result"]["id"], first_id, "{cached}");
    // max_age 0 always runs.
    let fresh = app.post("/api/query_results", json!({"data_source_id": ds, "query": "SELECT n, name FROM t ORDER BY n", "max_age": 0})).await;
    assert!(fresh["job"].is_object(), "{fresh}");
    app.wait_job(&fresh).await;

    // Every saved query with the same text and data source points at the newest result.
    let a = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "query": "SELECT count(*) AS c FROM t"}),
        )
        .await;
    let b = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "query": "SELECT count(*) AS c FROM t"}),
        )
        .await;
    let run = app
        .post(
            &format!("/api/queries/{}/results", a["id"]),
            json!({"max_age": 0}),
        )
        .await;
    let job = app.wait_job(&run).await;
    let rid = job["query_result_id"].clone();
    assert_eq!(
        app.get(&format!("/api/queries/{}", a["id"])).await["latest_query_data_id"],
        rid
    );
    assert_eq!(
        app.get(&format!("/api/queries/{}", b["id"])).await["latest_query_data_id"],
        rid
    );
    let latest = app
        .get(&format!("/api/queries/{}/results.json", b["id"]))
        .await;
    assert_eq!(latest["query_result"]["data"]["rows"][0]["c"], 5);

    // A failing query reports the database's own error.
    let bad = app
        .post(
            "/api/query_results",
            json!({"data_source_id": ds, "query": "SELECT * FROM missing_table", "max_age": 0}),
        )
        .await;
    let job = app.wait_job(&bad).await;
    assert_eq!(job["status"], 4);
    assert!(
        job["error"].as_str().unwrap().contains("missing_table"),
        "{job}"
    );
});

both!(parameters_are_typed_and_cannot_inject, |app| {
    let ds = app.sqlite_source(10).await;
    let q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "query": "SELECT n, name FROM t WHERE n <= {{ max }} AND name <> '{{ skip }}' ORDER BY n",
                   "options": {"parameters": [
                       {"name": "max", "title": "Max", "type": "number", "value": 3},
                       {"name": "skip", "title": "Skip", "type": "text", "value": "none"}]}}),
        )
        .await;
    assert_eq!(q["is_safe"], false, "a text parameter makes it unsafe");
    let run = app
        .post(
            &format!("/api/queries/{}/results", q["id"]),
            json!({"max_age": 0, "parameters": {"max": 4, "skip": "name 2"}}),
        )
        .await;
    let job = app.wait_job(&run).await;
    assert_eq!(job["status"], 3, "{job}");
    let r = app
        .get(&format!("/api/query_results/{}", job["query_result_id"]))
        .await;
    let ns: Vec<i64> = r["query_result"]["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, vec![1, 3, 4]);

    // An injection attempt stays inside its literal: no rows are dropped, no statement added.
    let attack = "x' OR '1'='1";
    let run = app
        .post(
            &format!("/api/queries/{}/results", q["id"]),
            json!({"max_age": 0, "parameters": {"max": 10, "skip": attack}}),
        )
        .await;
    let job = app.wait_job(&run).await;
    assert_eq!(job["status"], 3, "{job}");
    let r = app
        .get(&format!("/api/query_results/{}", job["query_result_id"]))
        .await;
    assert_eq!(
        r["query_result"]["data"]["rows"].as_array().unwrap().len(),
        10
    );
    assert!(
        r["query_result"]["query"]
            .as_str()
            .unwrap()
            .contains("x'' OR ''1''=''1"),
        "{r}"
    );

    // A number parameter refuses text.
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/queries/{}/results", q["id"]),
            Some(json!({"parameters": {"max": "1; DROP TABLE t", "skip": "a"}})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("max"), "{body}");
});

/// A PostgreSQL data source for queries that must run for a while.
async fn slow_source(app: &TestApp) -> i64 {
    let pg = PgServer::shared();
    let db = pg.fresh_database("slow");
    let dbname = db.rsplit('/').next().unwrap().to_string();
    app.post("/api/data_sources", json!({"name": "slow pg", "type": "pg", "options": {"host": "127.0.0.1", "port": pg.port(), "user": "postgres", "dbname": dbname}}))
        .await["id"]
        .as_i64()
        .unwrap()
}

/// Whether a query containing `marker` is running on the shared PostgreSQL server.
async fn pg_running(marker: &str) -> bool {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&PgServer::shared().url())
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND query NOT LIKE '%pg_stat_activity%'")
        .bind(format!("%{marker}%"))
        .fetch_one(&mut c)
        .await
        .unwrap();
    n > 0
}

both!(
    identical_runs_share_a_job_and_cancel_stops_the_database,
    |app| {
        let ds = slow_source(&app).await;
        // The SQLite- and PostgreSQL-store variants run at once on one PostgreSQL server.
        let marker = format!(
            "cancel-marker-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let sql = format!("SELECT pg_sleep(30), '{marker}' AS m");
        let a = app
            .post(
                "/api/query_results",
                json!({"data_source_id": ds, "query": sql, "max_age": 0}),
            )
            .await;
        let b = app
            .post(
                "/api/query_results",
                json!({"data_source_id": ds, "query": sql, "max_age": 0}),
            )
            .await;
        assert_eq!(
            a["job"]["id"], b["job"]["id"],
            "identical running queries share one job"
        );
        let id = a["job"]["id"].as_str().unwrap().to_string();
        for _ in 0..100 {
            if pg_running(&marker).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(pg_running(&marker).await, "the query reached the database");
        let (status, _) = app
            .call(Method::DELETE, &format!("/api/jobs/{id}"), None)
            .await;
        assert_eq!(status, reqwest::StatusCode::OK);
        let job = app.wait_job(&a).await;
        assert_eq!(job["status"], 4, "{job}");
        assert_eq!(job["error"], "Query cancelled by user.");
        let mut gone = false;
        for _ in 0..100 {
            if !pg_running(&marker).await {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the cancelled query stopped on the database");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_limits_cancel_on_the_database_and_result_limits_fail_clearly() {
    let exec = ExecSettings {
        adhoc_time_limit: Some(Duration::from_secs(1)),
        result_limits: ResultLimits {
            max_rows: Some(100),
            max_bytes: None,
        },
        ..ExecSettings::default()
    };
    let app = TestApp::start_with(Backend::Sqlite, exec).await;
    let ds = slow_source(&app).await;
    let r = app.post("/api/query_results", json!({"data_source_id": ds, "query": "SELECT pg_sleep(20), 'limit-marker' AS m", "max_age": 0})).await;
    let started = std::time::Instant::now();
    let job = app.wait_job(&r).await;
    assert_eq!(job["status"], 4, "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("time limit"),
        "{job}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        !pg_running("limit-marker").await,
        "the timed-out query is gone from the database"
    );

    // A data source's own, stricter limit applies too.
    let tight = app
        .post("/api/data_sources", json!({"name": "tight pg", "type": "pg", "options": {
            "host": "127.0.0.1", "port": PgServer::shared().port(), "user": "postgres", "dbname": "postgres", "query_time_limit": 0.3}}))
        .await;
    let r = app
        .post(
            "/api/query_results",
            json!({"data_source_id": tight["id"], "query": "SELECT pg_sleep(5)", "max_age": 0}),
        )
        .await;
    let job = app.wait_job(&r).await;
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("time limit of 0.3 seconds"),
        "the stricter per-source limit applies: {job}"
    );

    let lite = app.sqlite_source(500).await;
    let r = app
        .post(
            "/api/query_results",
            json!({"data_source_id": lite, "query": "SELECT * FROM t", "max_age": 0}),
        )
        .await;
    let job = app.wait_job(&r).await;
    assert_eq!(job["status"], 4, "{job}");
    assert!(job["error"].as_str().unwrap().contains("100 rows"), "{job}");
}

both!(unknown_jobs_fail_instead_of_hanging, |app| {
    let job = app
        .get("/api/jobs/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(job["job"]["status"], 4, "{job}");
    assert!(job["job"]["error"].as_str().unwrap().contains("unknown"));
});
