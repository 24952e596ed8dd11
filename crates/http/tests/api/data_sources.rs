use crate::harness::both;
use cairn_testkit::mariadb::MariaDbServer;
use cairn_testkit::postgres::PgServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(secrets_are_masked_and_kept_encrypted, |app| {
    let pg = PgServer::shared();
    let db = pg.fresh_database("ds");
    let dbname = db.rsplit('/').next().unwrap().to_string();
    let created = app
        .post(
            "/api/data_sources",
            json!({"name": "warehouse", "type": "pg", "options": {
                "host": "127.0.0.1", "port": pg.port(), "user": "postgres", "password": "hunter2-secret", "dbname": dbname}}),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["options"]["password"], "--------", "{created}");
    assert_eq!(created["options"]["host"], "127.0.0.1");
    let got = app.get(&format!("/api/data_sources/{id}")).await;
    assert_eq!(got["options"]["password"], "--------");

    // Sending the mask back keeps the stored password; the store holds it decrypted only in memory.
    let mut options = got["options"].clone();
    options["host"] = json!("127.0.0.1");
    app.post(
        &format!("/api/data_sources/{id}"),
        json!({"name": "warehouse 2", "options": options}),
    )
    .await;
    let stored = app.store.data_source(id).await.unwrap();
    assert_eq!(stored.options["password"], "hunter2-secret");
    assert_eq!(stored.name, "warehouse 2");

    let list = app.get("/api/data_sources").await;
    assert_eq!(list[0]["type"], "pg");
    assert!(
        list[0].get("options").is_none(),
        "lists do not carry options: {list}"
    );

    let types = app.get("/api/data_sources/types").await;
    let kinds: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"pg") && kinds.contains(&"mysql") && kinds.contains(&"sqlite"),
        "{types}"
    );

    let test = app
        .post(&format!("/api/data_sources/{id}/test"), json!({}))
        .await;
    assert_eq!(test["ok"], true, "{test}");

    // A schema refresh is a job whose result is the schema; afterwards the cache answers.
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db).await.unwrap();
        sqlx::raw_sql("CREATE TABLE sales (id int, amount numeric)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let (status, first) = app
        .call(
            Method::GET,
            &format!("/api/data_sources/{id}/schema?refresh=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let job = app.wait_job(&first).await;
    assert_eq!(job["status"], 3, "{job}");
    let cached = app.get(&format!("/api/data_sources/{id}/schema")).await;
    let tables = cached["schema"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .any(|t| t["name"].as_str().unwrap().ends_with("sales")),
        "{cached}"
    );

    // A failing connection test reports the database's reason, without blocking.
    let bad = app
        .post("/api/data_sources", json!({"name": "nowhere", "type": "pg", "options": {"host": "127.0.0.1", "port": 1, "user": "x", "dbname": "x"}}))
        .await;
    let test = app
        .post(&format!("/api/data_sources/{}/test", bad["id"]), json!({}))
        .await;
    assert_eq!(test["ok"], false, "{test}");
    assert!(!test["message"].as_str().unwrap().is_empty());

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/data_sources/{}", bad["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/data_sources/{}", bad["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both!(pg_and_mariadb_sources_run_queries, |app| {
    let pg = PgServer::shared();
    let db = pg.fresh_database("run");
    let dbname = db.rsplit('/').next().unwrap().to_string();
    let pg_id = app
        .post("/api/data_sources", json!({"name": "pg", "type": "pg", "options": {"host": "127.0.0.1", "port": pg.port(), "user": "postgres", "dbname": dbname}}))
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app.run_sql(pg_id, "SELECT 42::int AS answer, 'x'::text AS label, 1.5::numeric AS n, DATE '2024-02-29' AS d").await;
    assert_eq!(r["data"]["rows"][0]["answer"], 42, "{r}");
    assert_eq!(r["data"]["rows"][0]["label"], "x");
    assert_eq!(r["data"]["rows"][0]["d"], "2024-02-29");

    let maria = MariaDbServer::shared();
    let url = maria.fresh_database("run");
    let mdb = url.rsplit('/').next().unwrap().to_string();
    let my_id = app
        .post("/api/data_sources", json!({"name": "maria", "type": "mysql", "options": {"host": "127.0.0.1", "port": maria.port(), "user": "root", "db": mdb}}))
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app
        .run_sql(my_id, "SELECT 7 AS seven, 'hello' AS greeting")
        .await;
    assert_eq!(r["data"]["rows"][0]["seven"], 7, "{r}");
    assert_eq!(r["data"]["rows"][0]["greeting"], "hello");

    // The database's own error text reaches the client.
    let resp = app
        .post(
            "/api/query_results",
            json!({"data_source_id": my_id, "query": "SELECT * FROM no_such_table", "max_age": 0}),
        )
        .await;
    let job = app.wait_job(&resp).await;
    assert_eq!(job["status"], 4);
    assert!(
        job["error"].as_str().unwrap().contains("no_such_table"),
        "{job}"
    );
});
