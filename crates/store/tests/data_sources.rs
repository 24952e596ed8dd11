use cairn_store::{DataSourceUpdate, NewDataSource, Store, StoreError};

use crate::harness::{TestDb, store_test};

async fn data_sources_crud(db: TestDb) {
    let s = &db.store;
    let ds = db.data_source("Demo").await;
    assert_eq!(ds.queue_name, "adhoc");
    assert_eq!(ds.scheduled_queue_name, "scheduled");
    assert_eq!(s.data_source(ds.id).await.unwrap(), ds);
    assert_eq!(s.list_data_sources().await.unwrap(), vec![ds.clone()]);

    let dup = s
        .create_data_source(&NewDataSource {
            name: "Demo".into(),
            kind: "pg".into(),
            options: serde_json::json!({}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Duplicate(_))));
    let not_object = s
        .create_data_source(&NewDataSource {
            name: "X".into(),
            kind: "pg".into(),
            options: serde_json::json!([1]),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await;
    assert!(matches!(not_object, Err(StoreError::Invalid(_))));

    let updated = s
        .update_data_source(
            ds.id,
            &DataSourceUpdate {
                name: Some("Renamed".into()),
                options: Some(serde_json::json!({"dbpath": "/other.db"})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.options["dbpath"], "/other.db");

    let paused = s
        .set_data_source_paused(ds.id, Some("maintenance"))
        .await
        .unwrap();
    assert!(paused.paused);
    assert_eq!(paused.pause_reason.as_deref(), Some("maintenance"));
    let resumed = s.set_data_source_paused(ds.id, None).await.unwrap();
    assert!(!resumed.paused && resumed.pause_reason.is_none());

    s.delete_data_source(ds.id).await.unwrap();
    assert!(matches!(
        s.data_source(ds.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete_data_source(ds.id).await,
        Err(StoreError::NotFound(_))
    ));
}
store_test!(data_sources_crud);

async fn options_are_encrypted_at_rest(db: TestDb) {
    let ds = db
        .store
        .create_data_source(&NewDataSource {
            name: "Warehouse".into(),
            kind: "pg".into(),
            options: serde_json::json!({"host": "db", "password": "correct-horse-battery"}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await
        .unwrap();
    let raw = db
        .raw_bytes(
            "SELECT encrypted_options FROM data_sources WHERE id = $1",
            ds.id,
        )
        .await;
    assert!(!raw.is_empty());
    assert!(
        !raw.windows(b"correct-horse".len())
            .any(|w| w == b"correct-horse"),
        "the password is stored in clear"
    );
    assert!(!raw.windows(b"password".len()).any(|w| w == b"password"));
    assert_eq!(
        db.store.data_source(ds.id).await.unwrap().options["password"],
        "correct-horse-battery"
    );

    let wrong_key = Store::open(&db.url, [9; 32]).await.unwrap();
    let err = wrong_key.data_source(ds.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Decrypt(_)), "{err}");
    assert!(err.to_string().contains("secret key"), "{err}");
}
store_test!(options_are_encrypted_at_rest);

async fn schema_cache(db: TestDb) {
    let s = &db.store;
    let ds = db.data_source("Demo").await;
    assert_eq!(s.data_source_schema(ds.id).await.unwrap(), None);
    let v1 = serde_json::json!([{"name": "orders", "columns": ["id"]}]);
    s.set_data_source_schema(ds.id, &v1).await.unwrap();
    assert_eq!(s.data_source_schema(ds.id).await.unwrap(), Some(v1));
    let v2 = serde_json::json!([{"name": "orders", "columns": ["id", "amount"]}]);
    s.set_data_source_schema(ds.id, &v2).await.unwrap();
    let cached = s.cached_schema(ds.id).await.unwrap().unwrap();
    assert_eq!(cached.schema, v2);
    assert!(matches!(
        s.set_data_source_schema(9999, &v2).await,
        Err(StoreError::Invalid(_))
    ));
    s.delete_data_source(ds.id).await.unwrap();
    assert_eq!(s.data_source_schema(ds.id).await.unwrap(), None);
}
store_test!(schema_cache);
