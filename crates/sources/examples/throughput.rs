//! Measures how fast rows stream out of a data source, and how long the demo database takes
//! to build. Starts its own throw-away PostgreSQL and MariaDB (cairn-testkit).
//!
//! Run with `cargo run --release -p cairn-sources --example throughput [-- <rows>]`.

use std::time::Instant;

use cairn_sources::demo::create_demo_database;
use cairn_sources::{Runner, connect};
use cairn_testkit::mariadb::MariaDbServer;
use cairn_testkit::postgres::PgServer;
use serde_json::json;

async fn measure(label: &str, runner: &Runner, sql: &str) {
    let start = Instant::now();
    let mut stream = runner
        .run(sql, Default::default(), Default::default())
        .await
        .expect("run");
    let mut rows = 0u64;
    while stream.next_row().await.expect("row").is_some() {
        rows += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<8} {rows} rows in {:>6.2} s: {:>9.0} rows/s",
        secs,
        rows as f64 / secs
    );
}

/// The median time of a whole `SELECT 1` run (session, query, row, close) over 200 runs.
async fn select_one(label: &str, runner: &Runner) {
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        let mut stream = runner
            .run("SELECT 1", Default::default(), Default::default())
            .await
            .expect("run");
        while stream.next_row().await.expect("row").is_some() {}
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "{label:<8} SELECT 1: p50 {:?}, p99 {:?}",
        times[100], times[198]
    );
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("demo.db");
    let start = Instant::now();
    let summary = create_demo_database(&path).await.expect("demo");
    println!(
        "demo database: {summary:?} in {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let sqlite = connect(
        "sqlite",
        &json!({"dbpath": path.to_str().expect("utf-8 path")}),
    )
    .expect("sqlite");
    let sql = format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) \
         SELECT x, 'customer ' || x, x * 1.5, date('2024-01-01', '+' || (x % 700) || ' days') FROM c"
    );
    measure("sqlite", &sqlite, &sql).await;
    select_one("sqlite", &sqlite).await;

    let pg = PgServer::start();
    let pg_runner = connect(
        "pg",
        &json!({"port": pg.port(), "user": "postgres", "dbname": "postgres"}),
    )
    .expect("pg");
    let sql = format!(
        "SELECT i, 'customer ' || i, i * 1.5::numeric, DATE '2024-01-01' + (i % 700), now() \
         FROM generate_series(1, {rows}) AS i"
    );
    measure("postgres", &pg_runner, &sql).await;
    select_one("postgres", &pg_runner).await;

    let maria = MariaDbServer::start();
    let db = maria.fresh_database("bench");
    let db = db.rsplit('/').next().expect("db name");
    let my_runner = connect(
        "mysql",
        &json!({"port": maria.port(), "user": "root", "db": db}),
    )
    .expect("mysql");
    let sql = format!(
        "SELECT seq, CONCAT('customer ', seq), seq * 1.5, DATE '2024-01-01' + INTERVAL (seq % 700) DAY, NOW() \
         FROM seq_1_to_{rows}"
    );
    measure("mariadb", &my_runner, &sql).await;
    select_one("mariadb", &my_runner).await;
}
