//! Benchmark (b): `/ping` latency while 32 clients download large results at once, beside the
//! same measurement with no downloads.
//!
//! One large result (`CAIRN_BENCH_ROWS`, default 1M rows) is made first. Then, for the same
//! duration each (`CAIRN_BENCH_SECS`, default 10): `/ping` alone, and `/ping` while
//! `CAIRN_BENCH_CLIENTS` (default 32) clients download that result as CSV over and over. The
//! pinger runs on its own thread and runtime with one kept-alive connection, sending a request
//! every 2 ms, so the downloaders' client work does not queue in front of it. Target: p99 under
//! 10 ms with the downloads running.
//!
//! `cargo bench -p cairn --bench ping_under_load`

#[path = "common/mod.rs"]
mod common;

use common::*;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TARGET_P99_MS: f64 = 10.0;

/// Pings for `secs` on a thread of its own; returns latencies in microseconds.
fn ping_for(url: String, secs: f64) -> Histogram<u64> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("pinger runtime");
        rt.block_on(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let end = Instant::now() + Duration::from_secs_f64(secs);
            while Instant::now() < end {
                let start = Instant::now();
                let body = client
                    .get(format!("{url}/ping"))
                    .send()
                    .await
                    .expect("GET /ping")
                    .text()
                    .await
                    .expect("ping body");
                assert_eq!(body.trim(), "PONG.", "/ping answered {body:?}");
                hist.record(start.elapsed().as_micros() as u64)
                    .expect("record");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            hist
        })
    })
    .join()
    .expect("pinger thread")
}

fn row(name: &str, h: &Histogram<u64>) -> String {
    format!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

fn main() {
    let rows: u64 = env_or("CAIRN_BENCH_ROWS", 1_000_000);
    let secs: f64 = env_or("CAIRN_BENCH_SECS", 10.0);
    let clients: usize = env_or("CAIRN_BENCH_CLIENTS", 32);
    let server = Server::start(&[]);
    println!("ping_under_load: {} ({})", machine(), profile_note());

    // Downloads run on a runtime of their own (two threads: the machine's cores are shared).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = server.client();
    let url = server.url.clone();
    let result_id = rt.block_on(async {
        run_query(&client, &url, &rows_sql(rows), Duration::from_millis(20))
            .await
            .0
    });
    let path = format!("/api/query_results/{result_id}.csv");

    let idle = ping_for(server.url.clone(), secs);

    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, path) = (server.client(), url.clone(), path.clone());
        let (stop, bytes, done) = (stop.clone(), bytes.clone(), done.clone());
        tasks.push(rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                download_counting(&client, &url, &path, &bytes).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Let every client get its download going before measuring.
    std::thread::sleep(Duration::from_millis(500));
    let bytes_at_start = bytes.load(Ordering::Relaxed);
    let start = Instant::now();
    let loaded = ping_for(server.url.clone(), secs);
    let elapsed = start.elapsed().as_secs_f64();
    let streamed = bytes.load(Ordering::Relaxed) - bytes_at_start;
    let finished = done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });

    println!();
    println!("| /ping | requests | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("{}", row("no downloads", &idle));
    println!(
        "{}",
        row(
            &format!("{clients} clients downloading {rows}-row CSVs"),
            &loaded
        )
    );
    println!(
        "downloads while pinging: {:.1} MiB/s in total, {} whole downloads finished by the end of the run",
        mib(streamed) / elapsed,
        finished
    );
    let p99 = ms(loaded.value_at_quantile(0.99));
    println!(
        "target: p99 under {TARGET_P99_MS} ms under load: {p99:.2} ms -> {}",
        if p99 < TARGET_P99_MS { "met" } else { "MISSED" }
    );
}
