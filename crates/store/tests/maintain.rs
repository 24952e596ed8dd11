//! Database care runs on both backends and leaves fresh planner statistics behind.

use crate::harness::{TestDb, store_test};
use crate::queries::new_query;

async fn maintenance_analyzes_the_database(db: TestDb) {
    let user = db.user("m").await;
    let ds = db.data_source("Demo").await;
    for i in 0..20 {
        db.store
            .create_query(&new_query(&format!("Q{i}"), "SELECT 1", ds.id, user.id))
            .await
            .unwrap();
    }
    let report = db.store.maintain().await.unwrap();
    let analyzed = if db.url.starts_with("sqlite:") {
        assert_eq!(
            report.statements,
            [
                "PRAGMA optimize",
                "ANALYZE",
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ]
        );
        // ANALYZE wrote row estimates for the queries table's indexes.
        db.raw_count(
            "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'queries' AND $1 > 0",
            1,
        )
        .await
    } else {
        assert_eq!(report.statements, ["VACUUM (ANALYZE)"]);
        // A table never vacuumed nor analysed has reltuples -1.
        db.raw_count(
            "SELECT COUNT(*) FROM pg_class WHERE relname = 'queries' AND reltuples = 20 \
             AND $1 > 0",
            1,
        )
        .await
    };
    assert!(analyzed >= 1);
    // The store works on afterwards, and a second run is fine.
    assert_eq!(db.store.status_counts(0).await.unwrap().queries, 20);
    db.store.maintain().await.unwrap();
}
store_test!(maintenance_analyzes_the_database);
