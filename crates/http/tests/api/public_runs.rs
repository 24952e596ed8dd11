//! A shared dashboard's token runs its own dashboard's queries and polls those jobs (bound job
//! ids), reads their results, pages through rows; it cannot poll, cancel or read anything else.
//! And `/rows` pages through a large result reading only what the page needs.

use crate::harness::{TestApp, both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// Polls a job as `key` until it is final.
async fn wait_job_as(app: &TestApp, key: &str, job_id: &str) -> Value {
    for _ in 0..600 {
        let (status, body) = app
            .call_as(Some(key), Method::GET, &format!("/api/jobs/{job_id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["job"]["id"], job_id, "the bound id is echoed");
        if matches!(body["job"]["status"].as_i64(), Some(3..=5)) {
            return body["job"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job_id} did not finish");
}

both!(share_token_runs_and_polls_only_its_dashboard, |app| {
    let ds = app.sqlite_source(30).await;
    let shown = app
        .post("/api/queries", json!({"data_source_id": ds, "name": "Shown",
            "query": "SELECT n FROM t WHERE n <= {{ top }} ORDER BY n",
            "options": {"parameters": [{"name": "top", "title": "top", "type": "number", "value": 5}]}}))
        .await;
    let other = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "name": "Other", "query": "SELECT name FROM t"}),
        )
        .await;
    let vis = app
        .post(
            "/api/visualizations",
            json!({"query_id": shown["id"], "type": "TABLE", "name": "Table", "options": {}}),
        )
        .await;
    let d = app.post("/api/dashboards", json!({"name": "Public"})).await;
    app.post(
        "/api/widgets",
        json!({"dashboard_id": d["id"], "visualization_id": vis["id"], "width": 1, "options": {}}),
    )
    .await;
    let token = app
        .post(&format!("/api/dashboards/{}/share", d["id"]), json!({}))
        .await["api_key"]
        .as_str()
        .unwrap()
        .to_string();

    // The shown query never ran: the token runs it (with a value other than the default, whose
    // result would count as the query's own text) and polls the job.
    let (status, run) = app
        .call_as(
            Some(&token),
            Method::POST,
            &format!("/api/queries/{}/results", shown["id"]),
            Some(json!({"max_age": -1, "parameters": {"top": 4}, "summary_only": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let bound = run["job"]["id"].as_str().unwrap().to_string();
    let (bare, _) = bound.rsplit_once('.').expect("a bound id: <job>.<mac>");
    let job = wait_job_as(&app, &token, &bound).await;
    assert_eq!(job["status"], 3, "{job}");
    let rid = job["query_result_id"].as_i64().unwrap();

    // A bare or tampered id is refused; a user polls the bare id as before.
    for id in [
        bare.to_string(),
        format!("{bare}.00ff"),
        format!("{bare}.zz"),
    ] {
        let (status, body) = app
            .call_as(Some(&token), Method::GET, &format!("/api/jobs/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{id}: {body}");
    }
    assert_eq!(
        app.get(&format!("/api/jobs/{bare}")).await["job"]["status"],
        3
    );
    // Keys never cancel.
    let (status, _) = app
        .call_as(
            Some(&token),
            Method::DELETE,
            &format!("/api/jobs/{bound}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A job of another query, started by a user, cannot be polled with the token, even when
    // bound by another dashboard's token.
    let user_run = app
        .post(
            &format!("/api/queries/{}/results", other["id"]),
            json!({"max_age": 0}),
        )
        .await;
    let user_job = user_run["job"]["id"].as_str().unwrap();
    let (status, _) = app
        .call_as(
            Some(&token),
            Method::GET,
            &format!("/api/jobs/{user_job}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            Some(&token),
            Method::POST,
            &format!("/api/queries/{}/results", other["id"]),
            Some(json!({"max_age": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "other queries do not run");
    let other_rid = app.wait_job(&user_run).await["query_result_id"]
        .as_i64()
        .unwrap();

    // A user runs the query with other values, so the token's result is no longer the latest.
    let other_values = app
        .post(
            &format!("/api/queries/{}/results", shown["id"]),
            json!({"max_age": 0, "parameters": {"top": 7}}),
        )
        .await;
    app.wait_job(&other_values).await;

    // The token's result: readable with the query and its values, not without.
    let path = format!(
        "/api/query_results/{rid}/rows?limit=3&query_id={}&p_top=4",
        shown["id"]
    );
    let (status, page) = app.call_as(Some(&token), Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["query_result"]["row_count"], 4);
    assert!(
        page["query_result"].get("query").is_none(),
        "no SQL for keys"
    );
    assert_eq!(page["rows"], json!([{"n": 1}, {"n": 2}, {"n": 3}]));
    for path in [
        format!("/api/query_results/{rid}"),
        format!("/api/query_results/{rid}/rows"),
    ] {
        let (status, body) = app.call_as(Some(&token), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let wrong_values = format!("/api/query_results/{rid}?query_id={}&p_top=6", shown["id"]);
    let (status, _) = app
        .call_as(Some(&token), Method::GET, &wrong_values, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, full) = app
        .call_as(
            Some(&token),
            Method::GET,
            &format!("/api/query_results/{rid}?query_id={}&p_top=4", shown["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_eq!(
        full["query_result"]["data"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    for path in [
        format!("/api/query_results/{other_rid}?query_id={}", shown["id"]),
        format!(
            "/api/query_results/{other_rid}/rows?query_id={}",
            other["id"]
        ),
        format!("/api/queries/{}/results/{other_rid}", shown["id"]),
    ] {
        let (status, body) = app.call_as(Some(&token), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    // Now cached: the same run answers with the summary, no job and no rows.
    let (status, cached) = app
        .call_as(
            Some(&token),
            Method::POST,
            &format!("/api/queries/{}/results", shown["id"]),
            Some(json!({"max_age": -1, "parameters": {"top": 4}, "summary_only": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cached["query_result"]["id"], rid, "{cached}");
    assert!(cached["query_result"].get("data").is_none(), "{cached}");

    // Once unshared, the token is refused everywhere.
    app.call(
        Method::DELETE,
        &format!("/api/dashboards/{}/share", d["id"]),
        None,
    )
    .await;
    let (status, _) = app
        .call_as(
            Some(&token),
            Method::GET,
            &format!("/api/jobs/{bound}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

both!(rows_page_through_a_large_result, |app| {
    let ds = app.sqlite_source(1).await;
    let sql = "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 120000) \
               SELECT x, 'row ' || x AS label FROM s";
    let result = app
        .post(
            "/api/query_results",
            json!({"data_source_id": ds, "query": sql, "max_age": 0}),
        )
        .await;
    let job = app.wait_job(&result).await;
    assert_eq!(job["status"], 3, "{job}");
    let rid = job["query_result_id"].as_i64().unwrap();

    let first = app.get(&format!("/api/query_results/{rid}/rows")).await;
    assert_eq!(first["offset"], 0);
    assert_eq!(first["limit"], 100);
    assert_eq!(first["query_result"]["row_count"], 120000);
    assert_eq!(first["query_result"]["columns"][1]["name"], "label");
    assert_eq!(first["rows"].as_array().unwrap().len(), 100);
    assert_eq!(first["rows"][0], json!({"x": 1, "label": "row 1"}));

    let last = app
        .get(&format!(
            "/api/query_results/{rid}/rows?offset=119950&limit=100"
        ))
        .await;
    let rows = last["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[49], json!({"x": 120000, "label": "row 120000"}));
    let past = app
        .get(&format!("/api/query_results/{rid}/rows?offset=500000"))
        .await;
    assert_eq!(past["rows"], json!([]));
    let capped = app
        .get(&format!(
            "/api/query_results/{rid}/rows?offset=60000&limit=999999"
        ))
        .await;
    assert_eq!(capped["limit"], 10000);
    assert_eq!(capped["rows"].as_array().unwrap().len(), 10000);
    assert_eq!(capped["rows"][0]["x"], 60001);

    let (status, err) = app
        .call(
            Method::GET,
            &format!("/api/query_results/{rid}/rows?offset=x"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["message"].as_str().unwrap().contains("offset"), "{err}");
    let (status, _) = app
        .call(Method::GET, "/api/query_results/987654/rows", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both!(query_key_runs_and_polls_its_own_query, |app| {
    let ds = app.sqlite_source(3).await;
    let q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "query": "SELECT n FROM t ORDER BY n"}),
        )
        .await;
    let qkey = q["api_key"].as_str().unwrap().to_string();
    // Redash clients refresh with the query's key and poll the job with it.
    let (status, run) = app
        .call_as(
            Some(&qkey),
            Method::POST,
            &format!("/api/queries/{}/results", q["id"]),
            Some(json!({"max_age": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let job = wait_job_as(&app, &qkey, run["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], 3, "{job}");
    let rid = job["query_result_id"].as_i64().unwrap();
    let (status, page) = app
        .call_as(
            Some(&qkey),
            Method::GET,
            &format!("/api/query_results/{rid}/rows?offset=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["rows"], json!([{"n": 2}, {"n": 3}]));
});
