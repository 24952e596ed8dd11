//! The demo database.

use cairn_domain::result::{ColumnType, Value};
use cairn_sources::connect;
use cairn_sources::demo::{DEMO_QUERY, create_demo_database};
use serde_json::json;

use crate::common::query;

#[tokio::test]
async fn demo_database_is_deterministic_and_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    let summary = create_demo_database(&a).await.unwrap();
    create_demo_database(&b).await.unwrap();
    assert!(
        create_demo_database(&a).await.is_err(),
        "an existing file is not overwritten"
    );

    let runner_a = connect("sqlite", &json!({"dbpath": a.to_str().unwrap()})).unwrap();
    let runner_b = connect("sqlite", &json!({"dbpath": b.to_str().unwrap()})).unwrap();
    for (table, count) in [
        ("customers", summary.customers),
        ("products", summary.products),
        ("orders", summary.orders),
        ("events", summary.events),
    ] {
        let (_, rows) = query(&runner_a, &format!("SELECT count(*) FROM {table}"))
            .await
            .unwrap();
        assert_eq!(rows[0][0], Value::Int(i64::from(count)), "{table}");
        assert!(count >= 100);
    }
    let fingerprint = "SELECT count(DISTINCT customer_id), round(sum(amount), 2), min(ordered_at), max(ordered_at) FROM orders";
    let (_, fa) = query(&runner_a, fingerprint).await.unwrap();
    let (_, fb) = query(&runner_b, fingerprint).await.unwrap();
    assert_eq!(fa, fb, "same seed, same data");
    assert!(matches!(&fa[0][2], Value::Text(t) if t.starts_with("2024-01")));
    assert!(matches!(&fa[0][3], Value::Text(t) if t.starts_with("2025-12")));

    let (columns, rows) = query(&runner_a, DEMO_QUERY).await.unwrap();
    assert_eq!(columns.len(), 4);
    assert_eq!(
        columns[2].kind, None,
        "an aggregate: typed later from its values"
    );
    assert!(
        rows.len() >= 24 * 6 - 2,
        "months x categories, got {}",
        rows.len()
    );
    assert!(matches!(rows[0][3], Value::Float(f) if f > 0.0));

    let schema = runner_a.schema().await.unwrap();
    let tables: Vec<&str> = schema.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["customers", "events", "orders", "products"]);
    let (columns, _) = query(&runner_a, "SELECT ordered_at, is_gift FROM orders LIMIT 1")
        .await
        .unwrap();
    assert_eq!(columns[0].kind, Some(ColumnType::Datetime));
    assert_eq!(columns[1].kind, Some(ColumnType::Boolean));
}
