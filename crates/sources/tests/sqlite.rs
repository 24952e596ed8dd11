//! SQLite data sources.

use std::time::Duration;

use cairn_domain::result::{ColumnType, Value};
use cairn_sources::{SourceError, connect};
use serde_json::json;

use crate::common::{names, query, run_and_cancel, run_with_limit};

fn runner_for(dir: &tempfile::TempDir) -> cairn_sources::Runner {
    let path = dir.path().join("db.sqlite");
    if !path.exists() {
        std::fs::File::create(&path).unwrap();
    }
    connect("sqlite", &json!({"dbpath": path.to_str().unwrap()})).unwrap()
}

const SETUP: &str = "
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, active BOOLEAN, added DATE, seen DATETIME, data BLOB);
INSERT INTO items VALUES (1, 'tea', 2.5, 1, '2024-01-31', '2024-01-31 10:00:00', x'00ff');
INSERT INTO items VALUES (2, NULL, NULL, 0, NULL, NULL, NULL);
";

#[tokio::test]
async fn values_are_read_by_their_own_type() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, SETUP).await.unwrap();
    let (columns, rows) = query(&runner, "SELECT id, name, price, active, added, seen, data, id * 2 AS twice, 'x' || name AS expr, 1.5 AS lit FROM items ORDER BY id").await.unwrap();
    assert_eq!(
        names(&columns),
        [
            "id", "name", "price", "active", "added", "seen", "data", "twice", "expr", "lit"
        ]
    );
    let kinds: Vec<_> = columns.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(ColumnType::Integer),
            Some(ColumnType::String),
            Some(ColumnType::Float),
            Some(ColumnType::Boolean),
            Some(ColumnType::Date),
            Some(ColumnType::Datetime),
            Some(ColumnType::String),
            None,
            None,
            None
        ]
    );
    assert_eq!(
        rows[0],
        vec![
            Value::Int(1),
            Value::Text("tea".into()),
            Value::Float(2.5),
            Value::Bool(true),
            Value::Text("2024-01-31".into()),
            Value::Text("2024-01-31 10:00:00".into()),
            Value::Text("00ff".into()),
            Value::Int(2),
            Value::Text("xtea".into()),
            Value::Float(1.5),
        ]
    );
    assert_eq!(rows[1][1], Value::Null);
    assert_eq!(rows[1][3], Value::Bool(false));
    assert_eq!(rows[1][8], Value::Null);
}

#[tokio::test]
async fn many_rows_stream_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT x, 'row ' || x FROM c";
    let mut stream = runner
        .run(sql, Default::default(), Default::default())
        .await
        .unwrap();
    let mut expected = 1;
    while let Some(row) = stream.next_row().await.unwrap() {
        assert_eq!(row[0], Value::Int(expected));
        expected += 1;
    }
    assert_eq!(expected, 200_001);
    assert_eq!(stream.rows_read(), 200_000);
}

/// A statement that runs for minutes, holding the write lock.
const SLOW_INSERT: &str = "INSERT INTO t SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000000) SELECT x FROM c)";

/// The slow insert was interrupted if its rows were rolled back and the write lock is free: a
/// write from another connection goes through.
async fn assert_interrupted(dir: &tempfile::TempDir) {
    let other = runner_for(dir);
    query(&other, "INSERT INTO t VALUES (-1)")
        .await
        .expect("the write lock is free");
    let (_, rows) = query(&other, "SELECT count(*) FROM t").await.unwrap();
    assert_eq!(
        rows,
        vec![vec![Value::Int(1)]],
        "the interrupted insert left nothing"
    );
}

#[tokio::test]
async fn time_limit_interrupts_the_statement() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, "CREATE TABLE t (x INTEGER)").await.unwrap();
    let err = run_with_limit(&runner, SLOW_INSERT, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::TimedOut(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "query exceeded the time limit of 0.3 seconds and was cancelled"
    );
    assert_interrupted(&dir).await;
}

#[tokio::test]
async fn explicit_cancel_interrupts_the_statement() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, "CREATE TABLE t (x INTEGER)").await.unwrap();
    let err = run_and_cancel(&runner, SLOW_INSERT, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Cancelled), "{err}");
    assert_interrupted(&dir).await;
}

#[tokio::test]
async fn errors_carry_the_database_text() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    let err = query(&runner, "SELECT * FROM missing_table")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no such table: missing_table");
    let err = query(&runner, "SELEC 1").await.unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
}

#[tokio::test]
async fn empty_results_keep_their_columns_and_duplicates_are_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, SETUP).await.unwrap();
    let (columns, rows) = query(&runner, "SELECT id, name FROM items WHERE id > 100")
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(names(&columns), ["id", "name"]);
    let (columns, _) = query(&runner, "SELECT 1 AS a, 2 AS a, 3 AS a")
        .await
        .unwrap();
    assert_eq!(names(&columns), ["a", "a1", "a2"]);
}

#[tokio::test]
async fn schema_and_test_connection() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, SETUP).await.unwrap();
    query(
        &runner,
        "CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 3",
    )
    .await
    .unwrap();
    runner.test_connection().await.unwrap();
    let schema = runner.schema().await.unwrap();
    let json = serde_json::to_value(&schema).unwrap();
    assert_eq!(
        json[0],
        json!({"name": "cheap", "columns": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "TEXT"}]})
    );
    assert_eq!(schema[1].name, "items");
    assert_eq!(schema[1].columns.len(), 7);

    let missing = connect(
        "sqlite",
        &json!({"dbpath": dir.path().join("nope/x.db").to_str().unwrap()}),
    )
    .unwrap();
    let err = missing.test_connection().await.unwrap_err();
    assert!(
        err.to_string().contains("unable to open database file"),
        "{err}"
    );
}

#[tokio::test]
async fn dropping_the_stream_early_stops_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, "CREATE TABLE t (x INTEGER)").await.unwrap();
    // Reads `t` on every row, so the statement holds a read lock for as long as it runs.
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000000) \
               SELECT x, (SELECT count(*) FROM t) FROM c";
    let mut stream = runner
        .run(sql, Default::default(), Default::default())
        .await
        .unwrap();
    for _ in 0..10 {
        stream.next_row().await.unwrap().unwrap();
    }
    drop(stream);
    // A writer needs the read lock gone (rollback journal): only an interrupted statement lets
    // it commit within its 5 s busy timeout.
    let other = runner_for(&dir);
    query(&other, "INSERT INTO t VALUES (1)")
        .await
        .expect("the read lock is gone");
}

#[tokio::test]
async fn a_transaction_left_open_does_not_leak_into_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&dir);
    query(&runner, "CREATE TABLE t (x INTEGER)").await.unwrap();
    query(&runner, "BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    // Another connection can write at once: the first one holds no write lock any more.
    let other = runner_for(&dir);
    query(&other, "INSERT INTO t VALUES (2)").await.unwrap();
    let (_, rows) = query(&other, "SELECT x FROM t").await.unwrap();
    assert_eq!(rows, vec![vec![Value::Int(2)]]);
}
