//! MySQL data sources, against a throw-away MariaDB server.

use std::time::Duration;

use cairn_domain::result::{ColumnType, Value};
use cairn_sources::{Runner, SourceError, connect};
use cairn_testkit::mariadb::MariaDbServer;
use serde_json::json;

use crate::common::{eventually, names, query, run_and_cancel, run_with_limit};

/// A runner on a fresh database of the shared server, and the database's name.
fn runner() -> (Runner, String) {
    let server = MariaDbServer::shared();
    let url = server.fresh_database("sources");
    let db = url.rsplit('/').next().unwrap().to_owned();
    let runner = connect(
        "mysql",
        &json!({"host": "127.0.0.1", "port": server.port(), "user": "root", "db": db}),
    )
    .unwrap();
    (runner, db)
}

/// Whether a statement containing `marker` is still running on the server.
async fn running(runner: &Runner, marker: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM information_schema.processlist WHERE command = 'Query' \
         AND id <> CONNECTION_ID() AND info LIKE '%{marker}%'"
    );
    let (_, rows) = query(runner, &sql).await.unwrap();
    rows[0][0] != Value::Int(0)
}

#[tokio::test]
async fn types_map_to_values_and_redash_column_types() {
    let (runner, _) = runner();
    query(
        &runner,
        "CREATE TABLE t (i INT, b BIGINT UNSIGNED, flag TINYINT(1), d DECIMAL(30, 2), f DOUBLE, day DATE, \
         at DATETIME(3), ts TIMESTAMP NULL, tm TIME, s VARCHAR(20), txt TEXT, bin VARBINARY(4), bits BIT(8), \
         doc JSON, e ENUM('x', 'y')); \
         INSERT INTO t VALUES (-5, 18446744073709551615, 1, 12.34, 0.5, '2024-02-29', '2024-02-29 13:14:15.250', \
         NULL, '01:02:03', 'héllo', 'long text', x'00ff', b'101', '{\"a\": 1}', 'y')",
    )
    .await
    .unwrap();
    let (columns, rows) = query(
        &runner,
        "SELECT t.*, 1.5 AS lit, NULL AS nothing, 12345678901234567890.12 AS big FROM t",
    )
    .await
    .unwrap();
    let kind = |name: &str| columns.iter().find(|c| c.name == name).unwrap().kind;
    assert_eq!(kind("i"), Some(ColumnType::Integer));
    assert_eq!(
        kind("flag"),
        Some(ColumnType::Integer),
        "as Redash reports TINYINT(1)"
    );
    assert_eq!(kind("d"), Some(ColumnType::Float));
    assert_eq!(kind("f"), Some(ColumnType::Float));
    assert_eq!(kind("day"), Some(ColumnType::Date));
    assert_eq!(kind("at"), Some(ColumnType::Datetime));
    assert_eq!(kind("ts"), Some(ColumnType::Datetime));
    assert_eq!(kind("s"), Some(ColumnType::String));
    assert_eq!(kind("nothing"), None);
    let row = &rows[0];
    let value = |name: &str| &row[columns.iter().position(|c| c.name == name).unwrap()];
    assert_eq!(value("i"), &Value::Int(-5));
    assert_eq!(value("b"), &Value::Text("18446744073709551615".into()));
    assert_eq!(value("flag"), &Value::Int(1));
    assert_eq!(value("d"), &Value::Float(12.34));
    assert_eq!(value("f"), &Value::Float(0.5));
    assert_eq!(value("day"), &Value::Text("2024-02-29".into()));
    assert_eq!(value("at"), &Value::Text("2024-02-29T13:14:15.250".into()));
    assert_eq!(value("ts"), &Value::Null);
    assert_eq!(value("tm"), &Value::Text("01:02:03".into()));
    assert_eq!(value("s"), &Value::Text("héllo".into()));
    assert_eq!(value("txt"), &Value::Text("long text".into()));
    assert_eq!(value("bin"), &Value::Text("00ff".into()));
    assert_eq!(value("bits"), &Value::Int(5));
    assert_eq!(value("doc"), &Value::Text("{\"a\": 1}".into()));
    assert_eq!(value("e"), &Value::Text("y".into()));
    assert_eq!(value("lit"), &Value::Float(1.5));
    assert_eq!(value("nothing"), &Value::Null);
    assert_eq!(value("big"), &Value::Text("12345678901234567890.12".into()));
}

#[tokio::test]
async fn many_rows_stream_in_order() {
    let (runner, _) = runner();
    let mut stream = runner
        .run(
            "SELECT seq, md5(seq) FROM seq_1_to_300000",
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(names(stream.columns()), ["seq", "md5(seq)"]);
    let mut expected = 1;
    while let Some(row) = stream.next_row().await.unwrap() {
        assert_eq!(row[0], Value::Int(expected));
        expected += 1;
    }
    assert_eq!(expected, 300_001);
}

#[tokio::test]
async fn time_limit_kills_the_query_on_the_server() {
    let (runner, _) = runner();
    let err = run_with_limit(
        &runner,
        "SELECT SLEEP(60) /* cairn-my-limit */",
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SourceError::TimedOut(_)), "{err}");
    assert!(
        eventually(|| async { !running(&runner, "cairn-my-limit").await }).await,
        "still running on the server"
    );
}

#[tokio::test]
async fn explicit_cancel_kills_the_query_on_the_server() {
    let (runner, _) = runner();
    let watcher = runner.clone();
    let probe = tokio::spawn(async move {
        eventually(|| async { running(&watcher, "cairn-my-cancel").await }).await
    });
    let err = run_and_cancel(
        &runner,
        "SELECT SLEEP(60) /* cairn-my-cancel */",
        Duration::from_millis(1500),
    )
    .await
    .unwrap_err();
    assert!(probe.await.unwrap(), "the query was never seen running");
    assert!(matches!(err, SourceError::Cancelled), "{err}");
    assert!(
        eventually(|| async { !running(&runner, "cairn-my-cancel").await }).await,
        "still running on the server"
    );
}

#[tokio::test]
async fn dropping_the_stream_mid_result_kills_the_query() {
    let (runner, _) = runner();
    // Wide rows fill the server's network buffer quickly, so rows arrive while it still runs.
    let sql = "SELECT seq, REPEAT('x', 2000), SLEEP(0.01) /* cairn-my-drop */ FROM seq_1_to_100000";
    let mut stream = runner
        .run(sql, Default::default(), Default::default())
        .await
        .unwrap();
    for _ in 0..5 {
        stream.next_row().await.unwrap().unwrap();
    }
    assert!(running(&runner, "cairn-my-drop").await);
    drop(stream);
    assert!(
        eventually(|| async { !running(&runner, "cairn-my-drop").await }).await,
        "still running on the server"
    );
}

#[tokio::test]
async fn errors_carry_the_database_text() {
    let (runner, db) = runner();
    let err = query(&runner, "SELECT * FROM missing_table")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Table '{db}.missing_table' doesn't exist")
    );
    let err = query(&runner, "SELEC 1").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("You have an error in your SQL syntax"),
        "{err}"
    );
}

#[tokio::test]
async fn empty_results_keep_columns_and_duplicates_are_renamed() {
    let (runner, _) = runner();
    query(&runner, "CREATE TABLE t (id INT, name VARCHAR(10))")
        .await
        .unwrap();
    let (columns, rows) = query(&runner, "SELECT id, name FROM t").await.unwrap();
    assert!(rows.is_empty());
    assert_eq!(names(&columns), ["id", "name"]);
    assert_eq!(columns[0].kind, Some(ColumnType::Integer));
    let (columns, _) = query(&runner, "SELECT 1 AS a, 2 AS a").await.unwrap();
    assert_eq!(names(&columns), ["a", "a1"]);
}

#[tokio::test]
async fn schema_and_test_connection() {
    let (runner, _) = runner();
    query(&runner, "CREATE TABLE orders (id INT, total DECIMAL(10, 2)); CREATE VIEW big AS SELECT id FROM orders WHERE total > 100")
        .await
        .unwrap();
    runner.test_connection().await.unwrap();
    let schema = runner.schema().await.unwrap();
    let mine: Vec<_> = schema.iter().filter(|t| !t.name.contains('.')).collect();
    let json = serde_json::to_value(&mine).unwrap();
    assert_eq!(
        json,
        json!([
            {"name": "big", "columns": [{"name": "id", "type": "int"}]},
            {"name": "orders", "columns": [{"name": "id", "type": "int"}, {"name": "total", "type": "decimal"}]}
        ])
    );

    let server = MariaDbServer::shared();
    let wrong = connect("mysql", &json!({"host": "127.0.0.1", "port": server.port(), "user": "nobody", "passwd": "x", "db": "x"})).unwrap();
    let err = wrong.test_connection().await.unwrap_err();
    assert!(
        err.to_string().contains("Access denied for user 'nobody'"),
        "{err}"
    );
}
