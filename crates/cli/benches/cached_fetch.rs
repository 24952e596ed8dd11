//! Benchmark (d): cached result fetch by id, `GET /api/query_results/<id>` (JSON), requests per
//! second with 1, 4 and 16 concurrent clients side by side.
//!
//! The result is the demo query's (`CAIRN_BENCH_SQL` overrides it), run once; each client then
//! fetches it back to back for `CAIRN_BENCH_SECS` (default 5) per concurrency level, reading
//! whole bodies. `CAIRN_BENCH_CONCURRENCY=1,4,16` sets the levels.
//!
//! `cargo bench -p cairn --bench cached_fetch`

#[path = "common/mod.rs"]
mod common;

use common::*;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

const DEFAULT_SQL: &str = "SELECT strftime('%Y-%m', o.ordered_at) AS month, p.category, \
    COUNT(*) AS orders, ROUND(SUM(o.amount), 2) AS revenue FROM orders AS o \
    JOIN products AS p ON p.id = o.product_id GROUP BY month, p.category ORDER BY month, p.category";

fn main() {
    let secs: f64 = env_or("CAIRN_BENCH_SECS", 5.0);
    let sql = std::env::var("CAIRN_BENCH_SQL").unwrap_or_else(|_| DEFAULT_SQL.into());
    let levels: Vec<usize> = std::env::var("CAIRN_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,4,16".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("CAIRN_BENCH_CONCURRENCY: comma-separated numbers")
        })
        .collect();
    let server = Server::start(&[]);
    println!("cached_fetch: {} ({})", machine(), profile_note());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = server.client();
    let url = server.url.clone();
    let (result_id, size) = rt.block_on(async {
        let (id, _) = run_query(&client, &url, &sql, Duration::from_millis(10)).await;
        let size = download(&client, &url, &format!("/api/query_results/{id}")).await;
        (id, size)
    });
    println!("result {result_id}: {size} bytes of JSON per fetch");

    println!();
    println!("| clients | requests | req/s | MiB/s | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &clients in &levels {
        let path = format!("/api/query_results/{result_id}");
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let hists = rt.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let (client, url, path) = (server.client(), url.clone(), path.clone());
                    tokio::spawn(async move {
                        let mut h = Histogram::<u64>::new(3).expect("histogram");
                        while Instant::now() < end {
                            let t = Instant::now();
                            let n = download(&client, &url, &path).await;
                            assert_eq!(n, size, "a fetch returned a different body size");
                            h.record(t.elapsed().as_micros() as u64).expect("record");
                        }
                        h
                    })
                })
                .collect();
            let mut all = Histogram::<u64>::new(3).expect("histogram");
            for t in tasks {
                all.add(t.await.expect("client task")).expect("merge");
            }
            all
        });
        let elapsed = start.elapsed().as_secs_f64();
        let n = hists.len();
        println!(
            "| {clients} | {n} | {:.0} | {:.1} | {:.2} | {:.2} |",
            n as f64 / elapsed,
            mib(n * size) / elapsed,
            ms(hists.value_at_quantile(0.5)),
            ms(hists.value_at_quantile(0.99))
        );
    }
}
