//! Every hot statement (the store's `hot` module lists them from the code's own SQL) is served
//! by an index on both backends.

use crate::harness::{TestDb, store_test};
use crate::queries::new_query;

async fn hot_statements_use_indexes(db: TestDb) {
    // A few rows, so the planner has tables to plan against.
    let user = db.user("idx").await;
    let ds = db.data_source("Demo").await;
    for i in 0..5 {
        db.store
            .create_query(&new_query(&format!("Q{i}"), "SELECT 1", ds.id, user.id))
            .await
            .unwrap();
    }
    let plans = db.store.explain_hot_statements().await.unwrap();
    assert!(plans.len() >= 25, "{}", plans.len());
    let unindexed: Vec<String> = plans
        .iter()
        .filter(|p| !p.uses_index)
        .map(|p| format!("{}:\n{}", p.name, p.plan))
        .collect();
    assert!(unindexed.is_empty(), "{}", unindexed.join("\n\n"));
    // The indexes of migration 0003 are the ones doing the work.
    let plan_of = |name: &str| &plans.iter().find(|p| p.name == name).unwrap().plan;
    for (statement, index) in [
        ("scheduled queries", "queries_with_schedule"),
        ("query list by name", "queries_name_lower"),
        ("dashboard list by name", "dashboards_name_lower"),
        ("dashboard list by last change", "dashboards_updated_at"),
        ("latest result by query hash", "query_results_cache"),
        ("widgets of a dashboard", "widgets_dashboard"),
    ] {
        assert!(
            plan_of(statement).contains(index),
            "{statement} does not use {index}:\n{}",
            plan_of(statement)
        );
    }
}
store_test!(hot_statements_use_indexes);
