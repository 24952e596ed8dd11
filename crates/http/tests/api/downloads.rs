use crate::harness::both;
use serde_json::json;

both!(results_download_in_every_format, |app| {
    let ds = app.sqlite_source(2500).await;
    let q = app
        .post("/api/queries", json!({"data_source_id": ds, "name": "All rows: t", "query": "SELECT n, name, n * 0.5 AS half, n % 2 = 0 AS even FROM t ORDER BY n"}))
        .await;
    let run = app
        .post(
            &format!("/api/queries/{}/results", q["id"]),
            json!({"max_age": 0}),
        )
        .await;
    let job = app.wait_job(&run).await;
    assert_eq!(job["status"], 3, "{job}");
    let rid = job["query_result_id"].as_i64().unwrap();
    let day = chrono::Utc::now().format("%Y_%m_%d").to_string();

    let get = |path: String| {
        let app = &app;
        async move {
            let resp = app
                .http
                .get(format!("{}{}", app.base, path))
                .header("Authorization", format!("Key {}", app.key))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let headers = resp.headers().clone();
            (headers, resp.bytes().await.unwrap())
        }
    };

    let (h, body) = get(format!("/api/queries/{}/results.csv", q["id"])).await;
    assert_eq!(h["content-type"], "text/csv; charset=UTF-8");
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(
        cd.starts_with("attachment;") && cd.contains(&format!("_{day}.csv")),
        "{cd}"
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "n,name,half,even");
    assert_eq!(lines.len(), 2501);
    assert_eq!(
        lines[2], "2,name 2,1.0,1",
        "SQLite has no boolean type: comparisons are 0/1"
    );

    let (h, body) = get(format!("/api/queries/{}/results/{rid}.tsv", q["id"])).await;
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/tab-separated-values")
    );
    let tsv = String::from_utf8(body.to_vec()).unwrap();
    let tsv_lines: Vec<&str> = tsv.lines().take(2).collect();
    assert_eq!(tsv_lines, ["n\tname\thalf\teven", "1\tname 1\t0.5\t0"]);
    assert!(
        tsv.contains("\r\n"),
        "rows end with CRLF, as Redash's Python csv writer does"
    );

    let (h, body) = get(format!("/api/query_results/{rid}.xlsx")).await;
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    assert_eq!(&body[..2], b"PK", "an XLSX file is a ZIP archive");
    assert!(body.len() > 1000);

    let (h, body) = get(format!("/api/query_results/{rid}.json")).await;
    assert_eq!(h["content-type"], "application/json");
    assert!(h.get("content-disposition").is_none());
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["query_result"]["id"], rid);
    assert_eq!(
        v["query_result"]["data"]["rows"].as_array().unwrap().len(),
        2500
    );
    assert_eq!(
        v["query_result"]["data"]["rows"][1],
        json!({"n": 2, "name": "name 2", "half": 1.0, "even": 1})
    );

    let resp = app
        .http
        .get(format!("{}/api/query_results/{rid}.pdf", app.base))
        .header("Authorization", format!("Key {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
});
