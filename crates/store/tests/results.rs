use cairn_domain::result::{Column, ColumnType};
use cairn_store::{NewResult, ResultSummary, StoreError};
use futures::StreamExt;

use crate::harness::{TestDb, store_test};
use crate::queries::new_query;

fn summary(rows: i64) -> ResultSummary {
    ResultSummary {
        runtime: 0.25,
        row_count: rows,
        columns: vec![
            Column::new("id", Some(ColumnType::Integer)),
            Column::new("name", Some(ColumnType::String)),
        ],
    }
}

fn new_result(ds: i64, hash: &str) -> NewResult {
    NewResult {
        data_source_id: ds,
        query_hash: hash.into(),
        query: "SELECT 1".into(),
    }
}

/// A deterministic chunk of varying size.
fn chunk(seq: i64) -> Vec<u8> {
    let len = 1 + (seq as usize * 37) % 5000;
    (0..len)
        .map(|i| ((i as i64 * 31 + seq) % 251) as u8)
        .collect()
}

async fn chunked_results_round_trip(db: TestDb) {
    let s = &db.store;
    let ds = db.data_source("Demo").await;
    let id = s.begin_result(&new_result(ds.id, "h1")).await.unwrap();
    let n = 300;
    let mut total = 0;
    for seq in 0..n {
        let bytes = chunk(seq);
        total += bytes.len() as i64;
        s.append_chunk(id, seq, &bytes).await.unwrap();
    }
    assert!(matches!(
        s.append_chunk(id, 5, b"again").await,
        Err(StoreError::Duplicate(_))
    ));
    // Unfinished: invisible.
    assert!(matches!(
        s.result_meta(id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.result_chunks(id).await.is_err());
    assert!(s.cached_result(ds.id, "h1", -1).await.unwrap().is_none());

    let finished = s.finish_result(id, &summary(12345)).await.unwrap();
    assert_eq!(finished.meta.id, id);
    assert_eq!(finished.meta.row_count, 12345);
    assert_eq!(finished.meta.byte_size, total);
    assert_eq!(finished.meta.columns, summary(1).columns);
    assert_eq!(s.result_meta(id).await.unwrap(), finished.meta);
    assert!(matches!(
        s.append_chunk(id, n, b"late").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.finish_result(id, &summary(1)).await,
        Err(StoreError::NotFound(_))
    ));

    let mut stream = s.result_chunks(id).await.unwrap();
    let mut seq = 0;
    while let Some(bytes) = stream.next().await {
        assert_eq!(bytes.unwrap(), chunk(seq), "chunk {seq}");
        seq += 1;
    }
    assert_eq!(seq, n);

    // An empty result streams nothing.
    let empty = s.begin_result(&new_result(ds.id, "h2")).await.unwrap();
    s.finish_result(empty, &summary(0)).await.unwrap();
    assert_eq!(s.result_chunks(empty).await.unwrap().count().await, 0);
}
store_test!(chunked_results_round_trip);

async fn aborted_and_unfinished_results_leave_nothing(db: TestDb) {
    let s = &db.store;
    let ds = db.data_source("Demo").await;
    let id = s.begin_result(&new_result(ds.id, "h")).await.unwrap();
    for seq in 0..10 {
        s.append_chunk(id, seq, &chunk(seq)).await.unwrap();
    }
    s.abort_result(id).await.unwrap();
    assert!(matches!(
        s.result_meta(id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.append_chunk(id, 10, b"x").await,
        Err(StoreError::NotFound(_))
    ));
    let leftover = db
        .raw_count(
            "SELECT COUNT(*) FROM query_result_chunks WHERE result_id = $1",
            id,
        )
        .await;
    assert_eq!(leftover, 0);

    let crashed = s.begin_result(&new_result(ds.id, "h")).await.unwrap();
    s.append_chunk(crashed, 0, b"partial").await.unwrap();
    assert_eq!(
        s.delete_unfinished_results(3600).await.unwrap(),
        0,
        "too young"
    );
    db.raw_exec("UPDATE query_results SET retrieved_at = '2000-01-01T00:00:00+00:00'")
        .await;
    assert_eq!(s.delete_unfinished_results(3600).await.unwrap(), 1);
    assert_eq!(s.status_counts(0).await.unwrap().query_results, 0);
}
store_test!(aborted_and_unfinished_results_leave_nothing);

async fn finishing_fans_out_to_queries_with_the_same_hash(db: TestDb) {
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let other_ds = db.data_source("Other").await;
    let a = s
        .create_query(&new_query("A", "SELECT 1", ds.id, user.id))
        .await
        .unwrap();
    let b = s
        .create_query(&new_query("B", "SELECT 1", ds.id, user.id))
        .await
        .unwrap();
    let c = s
        .create_query(&new_query("C", "SELECT 1", other_ds.id, user.id))
        .await
        .unwrap();
    let d = s
        .create_query(&new_query("D", "SELECT 2", ds.id, user.id))
        .await
        .unwrap();

    let id = s
        .begin_result(&new_result(ds.id, &a.query_hash))
        .await
        .unwrap();
    s.append_chunk(id, 0, b"rows").await.unwrap();
    let finished = s.finish_result(id, &summary(1)).await.unwrap();
    let mut updated = finished.updated_query_ids.clone();
    updated.sort();
    assert_eq!(updated, vec![a.id, b.id]);
    assert_eq!(s.query(a.id).await.unwrap().latest_query_data_id, Some(id));
    assert_eq!(s.query(b.id).await.unwrap().latest_query_data_id, Some(id));
    assert_eq!(s.query(c.id).await.unwrap().latest_query_data_id, None);
    assert_eq!(s.query(d.id).await.unwrap().latest_query_data_id, None);

    let id2 = s
        .begin_result(&new_result(ds.id, &d.query_hash))
        .await
        .unwrap();
    s.finish_result(id2, &summary(0)).await.unwrap();
    assert_eq!(
        s.set_latest_result(ds.id, &d.query_hash, id2)
            .await
            .unwrap(),
        vec![d.id]
    );

    // A run with parameters has another hash: it is pointed at its query directly.
    s.set_query_latest_result(c.id, id2).await.unwrap();
    assert_eq!(s.query(c.id).await.unwrap().latest_query_data_id, Some(id2));
    assert!(matches!(
        s.set_query_latest_result(9999, id2).await,
        Err(StoreError::NotFound(_))
    ));

    // Deleting the data source deletes its results and detaches its queries.
    s.delete_data_source(ds.id).await.unwrap();
    let a = s.query(a.id).await.unwrap();
    assert_eq!(a.data_source_id, None);
    assert_eq!(a.latest_query_data_id, None);
    assert!(matches!(
        s.result_meta(id).await,
        Err(StoreError::NotFound(_))
    ));
}
store_test!(finishing_fans_out_to_queries_with_the_same_hash);

async fn cached_result_follows_redash_max_age(db: TestDb) {
    let s = &db.store;
    let ds = db.data_source("Demo").await;
    let old = s.begin_result(&new_result(ds.id, "h")).await.unwrap();
    s.finish_result(old, &summary(1)).await.unwrap();
    db.raw_exec("UPDATE query_results SET retrieved_at = '2020-01-01T00:00:00+00:00'")
        .await;
    assert_eq!(
        s.cached_result(ds.id, "h", -1).await.unwrap().unwrap().id,
        old
    );
    assert!(s.cached_result(ds.id, "h", 0).await.unwrap().is_none());
    assert!(s.cached_result(ds.id, "h", 3600).await.unwrap().is_none());
    assert!(s.cached_result(ds.id, "other", -1).await.unwrap().is_none());
    assert!(s.cached_result(ds.id + 1, "h", -1).await.unwrap().is_none());
    assert!(matches!(
        s.cached_result(ds.id, "h", -2).await,
        Err(StoreError::Invalid(_))
    ));

    let fresh = s.begin_result(&new_result(ds.id, "h")).await.unwrap();
    s.finish_result(fresh, &summary(1)).await.unwrap();
    assert_eq!(
        s.cached_result(ds.id, "h", 3600).await.unwrap().unwrap().id,
        fresh
    );
    assert_eq!(
        s.cached_result(ds.id, "h", -1).await.unwrap().unwrap().id,
        fresh
    );
    assert!(s.cached_result(ds.id, "h", 0).await.unwrap().is_none());
}
store_test!(cached_result_follows_redash_max_age);

async fn cleanup_removes_only_old_unreferenced_results(db: TestDb) {
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let q = s
        .create_query(&new_query("A", "SELECT 1", ds.id, user.id))
        .await
        .unwrap();
    let mut old = Vec::new();
    for _ in 0..5 {
        let id = s.begin_result(&new_result(ds.id, "unused")).await.unwrap();
        s.append_chunk(id, 0, b"x").await.unwrap();
        s.finish_result(id, &summary(1)).await.unwrap();
        old.push(id);
    }
    let referenced = s
        .begin_result(&new_result(ds.id, &q.query_hash))
        .await
        .unwrap();
    s.finish_result(referenced, &summary(1)).await.unwrap();
    db.raw_exec("UPDATE query_results SET retrieved_at = '2020-01-01T00:00:00+00:00'")
        .await;
    let young = s.begin_result(&new_result(ds.id, "unused")).await.unwrap();
    s.finish_result(young, &summary(1)).await.unwrap();

    let counts = s.status_counts(86400).await.unwrap();
    assert_eq!(counts.query_results, 7);
    assert_eq!(counts.unused_query_results, 5);
    assert_eq!(counts.queries, 1);

    assert_eq!(s.cleanup_results(86400, 3).await.unwrap(), 3);
    assert_eq!(s.cleanup_results(86400, 100).await.unwrap(), 2);
    assert_eq!(s.cleanup_results(86400, 100).await.unwrap(), 0);
    for id in old {
        assert!(s.result_meta(id).await.is_err());
    }
    assert!(s.result_meta(referenced).await.is_ok());
    assert!(s.result_meta(young).await.is_ok());
    let counts = s.status_counts(0).await.unwrap();
    assert_eq!(counts.query_results, 2);
    assert_eq!(
        counts.unused_query_results, 1,
        "the young one, at max age 0"
    );
}
store_test!(cleanup_removes_only_old_unreferenced_results);

/// The stream reads chunks lazily, one per poll: a result deleted after the first chunk was read
/// yields an error for the rest instead of data that was fetched up front.
async fn chunks_are_fetched_lazily(db: TestDb) {
    let s = &db.store;
    let ds = db.data_source("Demo").await;
    let id = s.begin_result(&new_result(ds.id, "h")).await.unwrap();
    for seq in 0..5 {
        s.append_chunk(id, seq, &chunk(seq)).await.unwrap();
    }
    s.finish_result(id, &summary(5)).await.unwrap();
    let mut stream = s.result_chunks(id).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), chunk(0));
    s.delete_data_source(ds.id).await.unwrap();
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("deleted while read"), "{err}");
}
store_test!(chunks_are_fetched_lazily);
