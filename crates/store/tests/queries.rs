use cairn_domain::model::Schedule;
use cairn_store::{NewQuery, QueryUpdate, StoreError};

use crate::harness::{TestDb, store_test};

pub fn new_query(name: &str, text: &str, ds: i64, user: i64) -> NewQuery {
    NewQuery {
        name: name.into(),
        description: None,
        query: text.into(),
        query_hash: format!("hash-of-{text}"),
        data_source_id: ds,
        schedule: None,
        options: serde_json::json!({"parameters": []}),
        tags: vec![],
        user_id: user,
    }
}

async fn queries_crud_and_version_conflict(db: TestDb) {
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let mut new = new_query("Sales", "SELECT 1", ds.id, user.id);
    new.tags = vec!["finance".into(), "finance".into(), "daily".into()];
    let q = s.create_query(&new).await.unwrap();
    assert!(q.is_draft && !q.is_archived);
    assert_eq!(q.version, 1);
    assert_eq!(q.tags, vec!["finance".to_string(), "daily".to_string()]);
    assert_eq!(q.api_key.len(), 40);
    assert_eq!(s.query(q.id).await.unwrap(), q);
    assert_eq!(s.query_by_api_key(&q.api_key).await.unwrap().id, q.id);

    let bad = s
        .create_query(&new_query("X", "SELECT 1", 999, user.id))
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");

    let schedule = Schedule {
        interval: Some(3600),
        ..Default::default()
    };
    let updated = s
        .update_query(
            q.id,
            &QueryUpdate {
                name: Some("Sales v2".into()),
                description: Some(Some("about sales".into())),
                query: Some(("SELECT 2".into(), "h2".into())),
                schedule: Some(Some(schedule.clone())),
                is_draft: Some(false),
                version: Some(1),
                ..Default::default()
            },
            user.id,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "Sales v2");
    assert_eq!(updated.query_hash, "h2");
    assert_eq!(updated.schedule, Some(schedule));
    assert!(!updated.is_draft);
    assert_eq!(updated.last_modified_by_id, Some(user.id));
    assert!(updated.updated_at >= q.updated_at);

    let stale = s
        .update_query(
            q.id,
            &QueryUpdate {
                name: Some("lost update".into()),
                version: Some(1),
                ..Default::default()
            },
            user.id,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(2))), "{stale:?}");
    assert_eq!(s.query(q.id).await.unwrap().name, "Sales v2");

    let cleared = s
        .update_query(
            q.id,
            &QueryUpdate {
                description: Some(None),
                schedule: Some(None),
                ..Default::default()
            },
            user.id,
        )
        .await
        .unwrap();
    assert_eq!(cleared.description, None);
    assert_eq!(cleared.schedule, None);
    assert_eq!(cleared.version, 3);

    assert!(matches!(
        s.update_query(9999, &QueryUpdate::default(), user.id).await,
        Err(StoreError::NotFound(_))
    ));

    let rekeyed = s.regenerate_query_api_key(q.id).await.unwrap();
    assert_ne!(rekeyed.api_key, q.api_key);
}
store_test!(queries_crud_and_version_conflict);
