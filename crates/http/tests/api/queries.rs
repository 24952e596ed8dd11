use crate::harness::both;
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(query_lifecycle, |app| {
    let ds = app.sqlite_source(10).await;
    let q = app
        .post("/api/queries", json!({"data_source_id": ds, "name": "Sales by day", "query": "SELECT n FROM t", "description": "d", "tags": ["sales", "daily"]}))
        .await;
    let id = q["id"].as_i64().unwrap();
    assert_eq!(q["is_draft"], true, "new queries are drafts: {q}");
    assert_eq!(q["version"], 1);
    assert_eq!(q["is_safe"], true);
    assert_eq!(q["user"]["email"], "admin@example.com");
    assert_eq!(q["options"]["parameters"], json!([]));
    assert_eq!(
        q["query_hash"],
        cairn_domain::query_hash::query_hash("SELECT n FROM t")
    );
    assert_eq!(
        q["visualizations"].as_array().unwrap().len(),
        1,
        "a table visualization comes with it: {q}"
    );

    // Optimistic locking.
    let updated = app
        .post(
            &format!("/api/queries/{id}"),
            json!({"name": "Sales per day", "version": 1, "is_draft": false}),
        )
        .await;
    assert_eq!(updated["version"], 2);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/queries/{id}"),
            Some(json!({"name": "stale", "version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].is_string());

    // Search, tags, paging.
    for i in 0..30 {
        app.post(
            "/api/queries",
            json!({"data_source_id": ds, "name": format!("filler {i}"), "query": "SELECT 1"}),
        )
        .await;
    }
    let found = app.get("/api/queries?q=per%20day").await;
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["results"][0]["id"], id);
    let tagged = app.get("/api/queries?tags=sales").await;
    assert_eq!(tagged["count"], 1);
    let page1 = app.get("/api/queries?page=1&page_size=20").await;
    let page2 = app.get("/api/queries?page=2&page_size=20").await;
    assert_eq!(page1["count"], 31);
    assert_eq!(page1["results"].as_array().unwrap().len(), 20);
    assert_eq!(page2["results"].as_array().unwrap().len(), 11);
    let past_end = app.get("/api/queries?page=9&page_size=20").await;
    assert_eq!(past_end["results"], json!([]));
    let tags = app.get("/api/queries/tags").await;
    assert!(
        tags["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "sales", "count": 1})),
        "{tags}"
    );

    // Favorites.
    app.post(&format!("/api/queries/{id}/favorite"), json!({}))
        .await;
    let favs = app.get("/api/queries/favorites").await;
    assert_eq!(favs["count"], 1);
    assert_eq!(favs["results"][0]["is_favorite"], true);
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/queries/{id}/favorite"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/api/queries/favorites").await["count"], 0);

    // Fork, archive.
    let fork = app
        .post(&format!("/api/queries/{id}/fork"), json!({}))
        .await;
    assert_ne!(fork["id"], id);
    assert_eq!(fork["query"], "SELECT n FROM t");
    let (status, archived) = app
        .call(Method::DELETE, &format!("/api/queries/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(archived["is_archived"], true);
    let listed = app.get("/api/queries?q=per%20day").await;
    assert!(
        listed["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != id),
        "archived queries leave lists: {listed}"
    );
    assert_eq!(app.get("/api/queries/archive").await["count"], 1);
});

both!(saved_hashes_apply_parameter_defaults, |app| {
    let ds = app.sqlite_source(3).await;
    let q = app
        .post("/api/queries", json!({"data_source_id": ds, "query": "SELECT n FROM t WHERE n <= {{ max }}",
            "options": {"parameters": [{"name": "max", "title": "Max", "type": "number", "value": 2}]}}))
        .await;
    assert_eq!(
        q["query_hash"],
        cairn_domain::query_hash::query_hash("SELECT n FROM t WHERE n <= 2"),
        "{q}"
    );
    let changed = app
        .post(&format!("/api/queries/{}", q["id"]), json!({"options": {"parameters": [{"name": "max", "title": "Max", "type": "number", "value": 3}]}}))
        .await;
    assert_eq!(
        changed["query_hash"],
        cairn_domain::query_hash::query_hash("SELECT n FROM t WHERE n <= 3")
    );
    // Running with the defaults reuses the saved query's hash, so the result fans out to it.
    let run = app
        .post(
            &format!("/api/queries/{}/results", q["id"]),
            json!({"max_age": 0}),
        )
        .await;
    let job = app.wait_job(&run).await;
    let r = app
        .get(&format!("/api/query_results/{}", job["query_result_id"]))
        .await;
    assert_eq!(r["query_result"]["query_hash"], changed["query_hash"]);
});

both!(schedules_are_validated, |app| {
    let ds = app.sqlite_source(1).await;
    let q = app
        .post("/api/queries", json!({"data_source_id": ds, "query": "SELECT 1", "schedule": {"interval": 3600, "time": null, "day_of_week": null, "until": null}}))
        .await;
    assert_eq!(q["schedule"]["interval"], 3600, "{q}");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/queries/{}", q["id"]),
            Some(json!({"schedule": {"interval": 86400, "time": "25:99"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let cleared = app
        .post(
            &format!("/api/queries/{}", q["id"]),
            json!({"schedule": null}),
        )
        .await;
    assert_eq!(cleared["schedule"], json!(null));
});

both!(query_keys_read_only_their_query, |app| {
    let ds = app.sqlite_source(3).await;
    let q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "query": "SELECT n FROM t ORDER BY n"}),
        )
        .await;
    let other = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "query": "SELECT name FROM t"}),
        )
        .await;
    let qkey = q["api_key"].as_str().unwrap().to_string();
    let run = app
        .post(
            &format!("/api/queries/{}/results", q["id"]),
            json!({"max_age": 0}),
        )
        .await;
    app.wait_job(&run).await;

    let (status, body) = app
        .call_as(
            Some(&qkey),
            Method::GET,
            &format!("/api/queries/{}/results.json", q["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["query_result"]["data"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (status, _) = app
        .call_as(
            Some(&qkey),
            Method::GET,
            &format!("/api/queries/{}", other["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(Some(&qkey), Method::GET, "/api/queries", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            Some(&qkey),
            Method::POST,
            "/api/query_results",
            Some(json!({"data_source_id": ds, "query": "SELECT 1"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "query keys cannot run ad-hoc SQL"
    );

    // After regeneration the old key stops working.
    app.post(
        &format!("/api/queries/{}/regenerate_api_key", q["id"]),
        json!({}),
    )
    .await;
    let (status, _) = app
        .call_as(
            Some(&qkey),
            Method::GET,
            &format!("/api/queries/{}/results.json", q["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});
