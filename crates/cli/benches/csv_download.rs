//! Benchmark (a): a 1M-row and a 10M-row result downloaded as CSV.
//!
//! For each size: runs the rows through the API (`POST /api/query_results`, max_age 0, polling
//! the job), which is the write path (SQLite -> worker -> chunked result store), then streams
//! `GET /api/query_results/<id>.csv`, counting bytes without keeping them. The server's `VmRSS`
//! is sampled every 5 ms during each phase; the growth over the resident size just before the
//! phase is what a large result costs in memory. Target: under 64 MiB growth at 10M rows.
//!
//! `cargo bench -p cairn --bench csv_download`; `CAIRN_BENCH_ROWS=1000000,10000000` (comma list)
//! sets the sizes.

#[path = "common/mod.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};

const TARGET_GROWTH_MIB: f64 = 64.0;

struct Row {
    rows: u64,
    write_secs: f64,
    write_growth: u64,
    bytes: u64,
    download_secs: f64,
    download_growth: u64,
    hwm: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sizes: Vec<u64> = std::env::var("CAIRN_BENCH_ROWS")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("CAIRN_BENCH_ROWS: comma-separated row counts")
        })
        .collect();
    let max_rows = sizes.iter().max().copied().unwrap_or(0) + 1;
    let server = Server::start(&["--max-result-rows", &max_rows.to_string()]);
    let client = server.client();
    let pid = server.pid();
    println!(
        "csv_download: {} ({}), server {}",
        machine(),
        profile_note(),
        binary().display()
    );

    let mut table = Vec::new();
    for &rows in &sizes {
        let before = proc_status_bytes(pid, "VmRSS");
        let sampler = RssSampler::start(pid, Duration::from_millis(5));
        let start = Instant::now();
        let (result_id, _) = run_query(
            &client,
            &server.url,
            &rows_sql(rows),
            Duration::from_millis(20),
        )
        .await;
        let write_secs = start.elapsed().as_secs_f64();
        let write_peak = sampler.stop();

        let before_download = proc_status_bytes(pid, "VmRSS");
        let sampler = RssSampler::start(pid, Duration::from_millis(5));
        let start = Instant::now();
        let bytes = download(
            &client,
            &server.url,
            &format!("/api/query_results/{result_id}.csv"),
        )
        .await;
        let download_secs = start.elapsed().as_secs_f64();
        let download_peak = sampler.stop();
        let row = Row {
            rows,
            write_secs,
            write_growth: write_peak.saturating_sub(before),
            bytes,
            download_secs,
            download_growth: download_peak.saturating_sub(before_download),
            hwm: proc_status_bytes(pid, "VmHWM"),
        };
        println!(
            "  {:>10} rows: query run {:.2} s (RSS +{:.1} MiB); CSV {:.1} MiB in {:.2} s = {:.1} MiB/s, {:.2} M rows/s (RSS +{:.1} MiB); VmHWM {:.1} MiB",
            row.rows,
            row.write_secs,
            mib(row.write_growth),
            mib(row.bytes),
            row.download_secs,
            mib(row.bytes) / row.download_secs,
            row.rows as f64 / row.download_secs / 1e6,
            mib(row.download_growth),
            mib(row.hwm),
        );
        table.push(row);
    }

    println!();
    println!(
        "| rows | query run (write) | RSS growth, write | CSV size | download | MiB/s | RSS growth, download |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in &table {
        println!(
            "| {} | {:.2} s | {:.1} MiB | {:.1} MiB | {:.2} s | {:.1} | {:.1} MiB |",
            r.rows,
            r.write_secs,
            mib(r.write_growth),
            mib(r.bytes),
            r.download_secs,
            mib(r.bytes) / r.download_secs,
            mib(r.download_growth)
        );
    }
    if let Some(big) = table.iter().max_by_key(|r| r.rows) {
        let verdict = |b: u64| {
            if mib(b) < TARGET_GROWTH_MIB {
                "met"
            } else {
                "MISSED"
            }
        };
        println!(
            "target: download RSS growth under {TARGET_GROWTH_MIB} MiB at {} rows: {:.1} MiB -> {}",
            big.rows,
            mib(big.download_growth),
            verdict(big.download_growth)
        );
        println!(
            "(same bound on the write path at {} rows: {:.1} MiB -> {})",
            big.rows,
            mib(big.write_growth),
            verdict(big.write_growth)
        );
    }
}
