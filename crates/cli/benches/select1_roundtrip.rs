//! Benchmark (c): `POST /api/query_results` for `SELECT 1` with max_age 0, until the result is
//! read: the whole round trip a client sees (enqueue, worker, SQLite, result store, job poll,
//! result fetch).
//!
//! The client polls `/api/jobs/<id>` back to back (no sleep), so the number is the server's
//! latency, not a polling interval. `CAIRN_BENCH_ITERS` (default 300) round trips after 20
//! warm-up ones. Target: p50 under 5 ms.
//!
//! `cargo bench -p cairn --bench select1_roundtrip`

#[path = "common/mod.rs"]
mod common;

use common::*;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::time::{Duration, Instant};

const TARGET_P50_MS: f64 = 5.0;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iters: u64 = env_or("CAIRN_BENCH_ITERS", 300);
    let server = Server::start(&["--no-demo"]);
    let client = server.client();
    println!("select1_roundtrip: {} ({})", machine(), profile_note());
    // `--no-demo`: make the one data source this benchmark needs (id 1), on an empty file.
    let db = tempfile::NamedTempFile::new().expect("sqlite file");
    let ds: Value = client
        .post(format!("{}/api/data_sources", server.url))
        .json(&serde_json::json!({"name": "bench", "type": "sqlite",
            "options": {"dbpath": db.path().display().to_string()}}))
        .send()
        .await
        .expect("create data source")
        .json()
        .await
        .expect("data source JSON");
    assert_eq!(
        ds["id"].as_i64(),
        Some(DEMO_DATA_SOURCE),
        "data source: {ds}"
    );

    let mut total = Histogram::<u64>::new(3).expect("histogram");
    let mut polls = Histogram::<u64>::new(3).expect("histogram");
    // The two halves: until the job reads finished, and fetching the result.
    let mut to_finished = Histogram::<u64>::new(3).expect("histogram");
    let mut fetch = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..iters + 20 {
        let start = Instant::now();
        let (id, n) = run_query(&client, &server.url, "SELECT 1", Duration::ZERO).await;
        let finished = start.elapsed();
        let result: Value = client
            .get(format!("{}/api/query_results/{id}", server.url))
            .send()
            .await
            .expect("GET result")
            .json()
            .await
            .expect("result JSON");
        let elapsed = start.elapsed();
        assert_eq!(
            result["query_result"]["data"]["rows"][0]["1"], 1,
            "result: {result}"
        );
        if i >= 20 {
            total.record(elapsed.as_micros() as u64).expect("record");
            to_finished
                .record(finished.as_micros() as u64)
                .expect("record");
            fetch
                .record((elapsed - finished).as_micros() as u64)
                .expect("record");
            polls.record(u64::from(n)).expect("record");
        }
    }
    println!();
    println!(
        "| SELECT 1 (POST /api/query_results, poll /api/jobs, GET /api/query_results/<id>) | iterations | p50 ms | p90 ms | p99 ms | max ms | job polls (mean) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let line = |name: &str, h: &Histogram<u64>, polls: &str| {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {polls} |",
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        )
    };
    let mean_polls = format!("{:.1}", polls.mean());
    line("whole round trip", &total, &mean_polls);
    line("POST + job polls until finished", &to_finished, &mean_polls);
    line("GET /api/query_results/<id>", &fetch, "");
    let p50 = ms(total.value_at_quantile(0.5));
    println!(
        "target: p50 under {TARGET_P50_MS} ms: {p50:.2} ms -> {}",
        if p50 < TARGET_P50_MS { "met" } else { "MISSED" }
    );
}
