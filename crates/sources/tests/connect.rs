//! Options and connection failures, before any query runs.

use cairn_sources::{SourceError, connect};
use serde_json::json;

#[tokio::test]
async fn bad_options_are_rejected_before_connecting() {
    let err = connect("sqlite", &json!({})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid data source options: dbpath is required"
    );
    let err = connect("oracle", &json!({})).unwrap_err();
    assert!(matches!(err, SourceError::UnknownType(_)));
}

#[tokio::test]
async fn an_unreachable_server_reports_why() {
    // Port 1 on loopback refuses connections.
    let pg = connect(
        "pg",
        &json!({"host": "127.0.0.1", "port": 1, "dbname": "x"}),
    )
    .unwrap();
    let err = pg.test_connection().await.unwrap_err();
    assert!(matches!(err, SourceError::Connection(_)), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    let my = connect("mysql", &json!({"host": "127.0.0.1", "port": 1, "db": "x"})).unwrap();
    let err = my
        .run("SELECT 1", Default::default(), Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}
