use cairn_store::{NewDashboard, NewResult, ResultSummary};

use crate::harness::{TestDb, store_test};
use crate::queries::new_query;

/// Many tasks writing at once: SQLite must queue writers (busy timeout, `BEGIN IMMEDIATE`)
/// rather than fail with "database is locked", and concurrent dashboards with one name must
/// still get distinct slugs.
async fn concurrent_writers_do_not_fail(db: TestDb) {
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let mut tasks = Vec::new();
    for t in 0..8_i64 {
        let s = db.store.clone();
        let (user_id, ds_id) = (user.id, ds.id);
        tasks.push(tokio::spawn(async move {
            let q = s
                .create_query(&new_query(&format!("Q{t}"), "SELECT 1", ds_id, user_id))
                .await
                .unwrap();
            let id = s
                .begin_result(&NewResult {
                    data_source_id: ds_id,
                    query_hash: q.query_hash.clone(),
                    query: q.query.clone(),
                })
                .await
                .unwrap();
            for seq in 0..20 {
                s.append_chunk(id, seq, &[t as u8; 1000]).await.unwrap();
            }
            s.finish_result(
                id,
                &ResultSummary {
                    runtime: 0.0,
                    row_count: 20,
                    columns: vec![],
                },
            )
            .await
            .unwrap();
            s.create_dashboard(&NewDashboard {
                name: "Same Name".into(),
                user_id,
            })
            .await
            .unwrap()
            .slug
        }));
    }
    let mut slugs = Vec::new();
    for task in tasks {
        slugs.push(task.await.unwrap());
    }
    slugs.sort();
    slugs.dedup();
    assert_eq!(slugs.len(), 8, "{slugs:?}");
    assert_eq!(db.store.status_counts(0).await.unwrap().query_results, 8);
}
store_test!(concurrent_writers_do_not_fail);
