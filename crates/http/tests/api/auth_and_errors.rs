use crate::harness::both;
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(keys_are_required_and_checked, |app| {
    let (status, body) = app.call_as(None, Method::GET, "/ping", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("PONG.")));

    let (status, body) = app.call_as(None, Method::GET, "/api/queries", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("API key"),
        "{body}"
    );

    let (status, _) = app
        .call_as(Some("wrong"), Method::GET, "/api/queries", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // ?api_key= works like the header.
    let resp = app
        .http
        .get(format!("{}/api/session?api_key={}", app.base, app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let session: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(session["user"]["email"], "admin@example.com");
    assert!(
        session["user"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("admin"))
    );

    // A bare key in the Authorization header is accepted too.
    let resp = app
        .http
        .get(format!("{}/api/queries", app.base))
        .header("Authorization", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let status = app.get("/status.json").await;
    assert!(status["queries_count"].is_i64(), "{status}");
    assert!(
        status["manager"]["queues"]["adhoc"]["size"].is_u64(),
        "{status}"
    );
});

both!(non_admins_cannot_manage_data_sources, |app| {
    let user = app
        .store
        .create_user(&cairn_store::NewUser {
            name: "U".into(),
            email: "u@example.com".into(),
            is_admin: false,
            password_hash: None,
        })
        .await
        .unwrap();
    let (status, body) = app
        .call_as(
            Some(&user.api_key),
            Method::POST,
            "/api/data_sources",
            Some(json!({"name": "x", "type": "sqlite", "options": {"dbpath": "/tmp/x.db"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call_as(Some(&user.api_key), Method::GET, "/status.json", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Disabled users are refused.
    app.store.set_user_disabled(user.id, true).await.unwrap();
    let (status, _) = app
        .call_as(Some(&user.api_key), Method::GET, "/api/queries", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

both!(bad_input_gets_json_errors, |app| {
    let resp = app
        .http
        .post(format!("{}/api/queries", app.base))
        .header("Authorization", format!("Key {}", app.key))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Invalid JSON"),
        "{body}"
    );

    let (status, body) = app.call(Method::GET, "/api/queries/12345", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string(), "{body}");

    let (status, body) = app.call(Method::GET, "/api/queries/abc", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].is_string());

    let (status, body) = app.call(Method::GET, "/api/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string());

    let (status, body) = app.call(Method::PUT, "/api/queries", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["message"].is_string(), "{body}");

    let (status, body) = app
        .call(Method::GET, "/api/queries?page_size=1000", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = app
        .call(
            Method::POST,
            "/api/queries",
            Some(json!({"query": "select 1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("data_source_id"),
        "{body}"
    );

    let (status, body) = app
        .call(
            Method::POST,
            "/api/data_sources",
            Some(json!({"name": "x", "type": "oracle", "options": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("oracle"),
        "{body}"
    );
});
