use crate::harness::both;
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(dashboards_widgets_and_public_sharing, |app| {
    let ds = app.sqlite_source(4).await;
    let q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "name": "Counts", "query": "SELECT n FROM t ORDER BY n"}),
        )
        .await;
    let secret_q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "name": "Private", "query": "SELECT name FROM t"}),
        )
        .await;
    for query in [&q, &secret_q] {
        let run = app
            .post(
                &format!("/api/queries/{}/results", query["id"]),
                json!({"max_age": 0}),
            )
            .await;
        app.wait_job(&run).await;
    }
    let vis = app
        .post("/api/visualizations", json!({"query_id": q["id"], "type": "CHART", "name": "Bars", "options": {"globalSeriesType": "column"}}))
        .await;
    assert_eq!(vis["type"], "CHART");
    let vis = app
        .post(
            &format!("/api/visualizations/{}", vis["id"]),
            json!({"name": "Columns"}),
        )
        .await;
    assert_eq!(vis["name"], "Columns");

    let d = app
        .post("/api/dashboards", json!({"name": "Sales Overview"}))
        .await;
    assert_eq!(d["slug"], "sales-overview");
    let again = app
        .post("/api/dashboards", json!({"name": "Sales Overview"}))
        .await;
    assert_ne!(again["slug"], "sales-overview", "slugs stay unique");

    let w = app
        .post("/api/widgets", json!({"dashboard_id": d["id"], "visualization_id": vis["id"], "width": 1, "options": {"position": {"col": 0, "row": 0, "sizeX": 3, "sizeY": 8}}}))
        .await;
    let text = app.post("/api/widgets", json!({"dashboard_id": d["id"], "visualization_id": null, "text": "# Notes", "width": 1, "options": {}})).await;
    let moved = app
        .post(
            &format!("/api/widgets/{}", w["id"]),
            json!({"options": {"position": {"col": 3, "row": 0, "sizeX": 3, "sizeY": 8}}}),
        )
        .await;
    assert_eq!(moved["options"]["position"]["col"], 3);

    let by_slug = app.get("/api/dashboards/sales-overview").await;
    let by_id = app.get(&format!("/api/dashboards/{}", d["id"])).await;
    assert_eq!(by_slug["id"], by_id["id"]);
    let widgets = by_slug["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 2);
    let chart = widgets.iter().find(|x| x["id"] == w["id"]).unwrap();
    assert_eq!(chart["visualization"]["query"]["id"], q["id"], "{chart}");

    // Publish, then version conflicts.
    let published = app
        .post(
            &format!("/api/dashboards/{}", d["id"]),
            json!({"is_draft": false, "version": by_id["version"]}),
        )
        .await;
    assert_eq!(published["is_draft"], false);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/dashboards/{}", d["id"]),
            Some(json!({"name": "x", "version": by_id["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let list = app.get("/api/dashboards?page_size=10").await;
    assert_eq!(list["count"], 2);

    // Share: the public link works without a key and shows only this dashboard's data.
    let share = app
        .post(&format!("/api/dashboards/{}/share", d["id"]), json!({}))
        .await;
    let token = share["api_key"].as_str().unwrap().to_string();
    assert!(
        share["public_url"].as_str().unwrap().ends_with(&token),
        "{share}"
    );
    let (status, public) = app
        .call_as(
            None,
            Method::GET,
            &format!("/api/dashboards/public/{token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(public["widgets"].as_array().unwrap().len(), 2);
    let pq = public["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == w["id"])
        .unwrap()["visualization"]["query"]
        .clone();
    assert!(
        pq.get("query").is_none() && pq.get("api_key").is_none(),
        "no SQL or keys in public pages: {pq}"
    );
    let (status, r) = app
        .call_as(
            Some(&token),
            Method::GET,
            &format!("/api/queries/{}/results.json", q["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        r["query_result"]["data"]["rows"].as_array().unwrap().len(),
        4
    );
    let (status, _) = app
        .call_as(
            Some(&token),
            Method::GET,
            &format!("/api/queries/{}/results.json", secret_q["id"]),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a share token reads only its dashboard's queries"
    );
    let (status, _) = app
        .call_as(Some(&token), Method::GET, "/api/dashboards", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Unshare: the link stops working.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/dashboards/{}/share", d["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call_as(
            None,
            Method::GET,
            &format!("/api/dashboards/public/{token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Remove a widget, archive the dashboard.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/widgets/{}", text["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/dashboards/{}", d["id"])).await["widgets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, archived) = app
        .call(
            Method::DELETE,
            &format!("/api/dashboards/{}", d["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(archived["is_archived"], true);
});
