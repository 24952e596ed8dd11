//! PostgreSQL data sources, against a throw-away server.

use std::time::Duration;

use cairn_domain::result::{ColumnType, Value};
use cairn_sources::{Runner, SourceError, connect};
use cairn_testkit::postgres::PgServer;
use serde_json::json;

use crate::common::{eventually, eventually_within, names, query, run_and_cancel, run_with_limit};

/// A runner on a fresh database of the shared server.
fn runner() -> Runner {
    let pg = PgServer::shared();
    let url = pg.fresh_database("sources");
    let dbname = url.rsplit('/').next().unwrap();
    connect(
        "pg",
        &json!({"host": "127.0.0.1", "port": pg.port(), "user": "postgres", "dbname": dbname}),
    )
    .unwrap()
}

/// Whether a statement containing `marker` is still running on the server.
async fn running(runner: &Runner, marker: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() \
         AND query LIKE '%{marker}%' AND query NOT LIKE '%pg_stat_activity%'"
    );
    let (_, rows) = query(runner, &sql).await.unwrap();
    rows[0][0] != Value::Int(0)
}

#[tokio::test]
async fn types_map_to_values_and_redash_column_types() {
    let runner = runner();
    let sql = "SELECT 1::int2 AS small, 2::int4 AS int, 9007199254740993::int8 AS big, 1.5::float4 AS f4, \
               'NaN'::float8 AS nan, 123.45::numeric AS num, 12345678901234567890.5::numeric AS bignum, \
               true AS yes, DATE '2024-02-29' AS day, TIMESTAMP '2024-02-29 13:14:15.5' AS ts, \
               TIMESTAMPTZ '2024-02-29 13:14:15+02' AS tstz, TIME '01:02:03' AS t, INTERVAL '1 day' AS iv, \
               '{\"a\": [1, 2]}'::jsonb AS doc, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, \
               ARRAY[1, 2] AS arr, 'x'::text AS txt, NULL::int AS nothing, '\\x00ff'::bytea AS bin";
    let (columns, rows) = query(&runner, sql).await.unwrap();
    let kind = |name: &str| columns.iter().find(|c| c.name == name).unwrap().kind;
    assert_eq!(kind("small"), Some(ColumnType::Integer));
    assert_eq!(kind("big"), Some(ColumnType::Integer));
    assert_eq!(kind("f4"), Some(ColumnType::Float));
    assert_eq!(kind("num"), Some(ColumnType::Float));
    assert_eq!(kind("yes"), Some(ColumnType::Boolean));
    assert_eq!(kind("day"), Some(ColumnType::Date));
    assert_eq!(kind("ts"), Some(ColumnType::Datetime));
    assert_eq!(kind("tstz"), Some(ColumnType::Datetime));
    assert_eq!(kind("doc"), Some(ColumnType::String));
    let row = &rows[0];
    let value = |name: &str| &row[columns.iter().position(|c| c.name == name).unwrap()];
    assert_eq!(value("small"), &Value::Int(1));
    assert_eq!(value("big"), &Value::Int(9007199254740993));
    assert_eq!(value("f4"), &Value::Float(1.5));
    assert!(matches!(value("nan"), Value::Float(f) if f.is_nan()));
    assert_eq!(value("num"), &Value::Float(123.45));
    assert_eq!(
        value("bignum"),
        &Value::Text("12345678901234567890.5".into())
    );
    assert_eq!(value("yes"), &Value::Bool(true));
    assert_eq!(value("day"), &Value::Text("2024-02-29".into()));
    assert_eq!(value("ts"), &Value::Text("2024-02-29T13:14:15.5".into()));
    assert_eq!(
        value("tstz"),
        &Value::Text("2024-02-29T11:14:15+00:00".into())
    );
    assert_eq!(value("t"), &Value::Text("01:02:03".into()));
    assert_eq!(value("iv"), &Value::Text("1 day".into()));
    assert_eq!(value("doc"), &Value::Text("{\"a\": [1, 2]}".into()));
    assert_eq!(
        value("id"),
        &Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
    );
    assert_eq!(value("arr"), &Value::Text("{1,2}".into()));
    assert_eq!(value("txt"), &Value::Text("x".into()));
    assert_eq!(value("nothing"), &Value::Null);
    assert_eq!(value("bin"), &Value::Text("\\x00ff".into()));
}

#[tokio::test]
async fn many_rows_stream_in_order() {
    let runner = runner();
    let mut stream = runner
        .run(
            "SELECT i, md5(i::text) FROM generate_series(1, 300000) AS i",
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(names(stream.columns()), ["i", "md5"]);
    let mut expected = 1;
    while let Some(row) = stream.next_row().await.unwrap() {
        assert_eq!(row[0], Value::Int(expected));
        expected += 1;
    }
    assert_eq!(expected, 300_001);
}

#[tokio::test]
async fn time_limit_cancels_the_query_on_the_server() {
    let runner = runner();
    let err = run_with_limit(
        &runner,
        "SELECT pg_sleep(60) /* cairn-pg-limit */",
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SourceError::TimedOut(_)), "{err}");
    // Well before the 10 s statement_timeout safety net could have ended it.
    let gone = eventually_within(Duration::from_secs(4), || async {
        !running(&runner, "cairn-pg-limit").await
    });
    assert!(gone.await, "still running on the server");
}

#[tokio::test]
async fn explicit_cancel_stops_the_query_on_the_server() {
    let runner = runner();
    let watcher = runner.clone();
    let probe = tokio::spawn(async move {
        // Seen running before the cancel: the check below is not vacuous.
        eventually(|| async { running(&watcher, "cairn-pg-cancel").await }).await
    });
    let err = run_and_cancel(
        &runner,
        "SELECT pg_sleep(60) /* cairn-pg-cancel */",
        Duration::from_millis(1500),
    )
    .await
    .unwrap_err();
    assert!(probe.await.unwrap(), "the query was never seen running");
    assert!(matches!(err, SourceError::Cancelled), "{err}");
    assert_eq!(err.to_string(), "query cancelled by user");
    assert!(
        eventually(|| async { !running(&runner, "cairn-pg-cancel").await }).await,
        "still running on the server"
    );
}

#[tokio::test]
async fn dropping_the_stream_mid_result_cancels_the_query() {
    let runner = runner();
    let sql = "SELECT i, pg_sleep(0.01) /* cairn-pg-drop */ FROM generate_series(1, 100000) AS i";
    let mut stream = runner
        .run(sql, Default::default(), Default::default())
        .await
        .unwrap();
    for _ in 0..5 {
        stream.next_row().await.unwrap().unwrap();
    }
    assert!(running(&runner, "cairn-pg-drop").await);
    drop(stream);
    assert!(
        eventually(|| async { !running(&runner, "cairn-pg-drop").await }).await,
        "still running on the server"
    );
}

#[tokio::test]
async fn errors_carry_the_database_text() {
    let runner = runner();
    let err = query(&runner, "SELECT * FROM missing_table")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "relation \"missing_table\" does not exist");
    let err = query(&runner, "SELECT 1/0").await.unwrap_err();
    assert_eq!(err.to_string(), "division by zero");
}

#[tokio::test]
async fn statements_run_together_and_empty_results_keep_columns() {
    let runner = runner();
    query(&runner, "CREATE TABLE t (id serial PRIMARY KEY, name text, amount numeric(10, 2)); INSERT INTO t (name, amount) VALUES ('a', 5.00)")
        .await
        .unwrap();
    let (columns, rows) = query(&runner, "SELECT id, name, amount FROM t WHERE id > 10")
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(names(&columns), ["id", "name", "amount"]);
    assert_eq!(columns[2].kind, Some(ColumnType::Float));
    let (columns, rows) = query(&runner, "SELECT id, id, amount FROM t")
        .await
        .unwrap();
    assert_eq!(names(&columns), ["id", "id1", "amount"]);
    assert_eq!(
        rows,
        vec![vec![Value::Int(1), Value::Int(1), Value::Float(5.0)]]
    );
}

#[tokio::test]
async fn schema_and_test_connection() {
    let runner = runner();
    query(&runner, "CREATE TABLE orders (id int, total numeric); CREATE SCHEMA sales; CREATE TABLE sales.leads (email text)")
        .await
        .unwrap();
    runner.test_connection().await.unwrap();
    let schema = serde_json::to_value(runner.schema().await.unwrap()).unwrap();
    assert_eq!(
        schema,
        json!([
            {"name": "orders", "columns": [{"name": "id", "type": "integer"}, {"name": "total", "type": "numeric"}]},
            {"name": "sales.leads", "columns": [{"name": "email", "type": "text"}]}
        ])
    );

    let pg = PgServer::shared();
    let wrong_db = connect("pg", &json!({"host": "127.0.0.1", "port": pg.port(), "user": "postgres", "dbname": "no_such_db"})).unwrap();
    let err = wrong_db.test_connection().await.unwrap_err();
    assert_eq!(err.to_string(), "database \"no_such_db\" does not exist");
}

#[tokio::test]
async fn a_transaction_left_open_does_not_leak_into_the_next_run() {
    let runner = runner();
    query(&runner, "CREATE TABLE t (x int)").await.unwrap();
    query(&runner, "BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    query(&runner, "BEGIN; SELECT 1/0").await.unwrap_err();
    let (_, rows) = query(&runner, "SELECT count(*) FROM t").await.unwrap();
    assert_eq!(
        rows,
        vec![vec![Value::Int(0)]],
        "the uncommitted insert was rolled back"
    );
}

#[tokio::test]
async fn sessions_are_reused_only_after_a_reset() {
    let runner = runner();
    let (_, dirty) = query(
        &runner,
        "SET search_path TO nowhere; CREATE TEMP TABLE scratch (x int); SELECT pg_backend_pid()",
    )
    .await
    .unwrap();
    let (_, rows) = query(
        &runner,
        "SELECT pg_backend_pid(), current_setting('search_path'), to_regclass('scratch') IS NULL",
    )
    .await
    .unwrap();
    assert_eq!(rows[0][0], dirty[0][0], "the idle session was reused");
    assert_eq!(
        rows[0][1],
        Value::Text("\"$user\", public".into()),
        "settings were reset"
    );
    assert_eq!(
        rows[0][2],
        Value::Bool(true),
        "temporary tables were dropped"
    );
}
