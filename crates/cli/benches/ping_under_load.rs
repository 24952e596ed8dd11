//! Benchmark (b): `/ping` and API latency while 32 clients download large results at once,
//! beside the same measurement with no downloads, with downloads at full speed and with
//! downloads throttled.
//!
//! One large result (`CAIRN_BENCH_ROWS`, default 1M rows, about 25 MiB of CSV) is made first.
//! Then, for the same duration each (`CAIRN_BENCH_SECS`, default 10), three phases: no
//! downloads; `CAIRN_BENCH_CLIENTS` (default 32) clients downloading that result as CSV over
//! and over at full speed; and the same on a second server started with
//! `--download-rate-after 10MiB --download-rate-limit 1MiB` (nginx `limit_rate_after 10m;
//! limit_rate 1m`). The prober runs on its own thread and runtime with one kept-alive
//! connection, sending `GET /ping` then `GET /api/queries` every 2 ms, so the downloaders'
//! client work does not queue in front of it. Target: `/ping` p99 under 10 ms with the
//! downloads running.
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

/// Latencies in microseconds of one phase.
struct Probes {
    ping: Histogram<u64>,
    api: Histogram<u64>,
}

/// Sends `GET /ping` then `GET /api/queries` for `secs` on a thread of its own.
fn probe_for(server: &Server, secs: f64) -> Probes {
    let (client, url) = (server.client(), server.url.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("prober runtime");
        rt.block_on(async move {
            let mut probes = Probes {
                ping: Histogram::<u64>::new(3).expect("histogram"),
                api: Histogram::<u64>::new(3).expect("histogram"),
            };
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
                let elapsed = start.elapsed().as_micros() as u64;
                probes.ping.record(elapsed).expect("record");
                let start = Instant::now();
                let res = client
                    .get(format!("{url}/api/queries"))
                    .send()
                    .await
                    .expect("GET /api/queries");
                assert!(res.status().is_success(), "/api/queries: {}", res.status());
                res.bytes().await.expect("queries body");
                probes
                    .api
                    .record(start.elapsed().as_micros() as u64)
                    .expect("record");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            probes
        })
    })
    .join()
    .expect("prober thread")
}

/// What one phase measured.
struct Phase {
    name: String,
    probes: Probes,
    /// MiB/s streamed to the downloaders while probing.
    mib_per_sec: f64,
    /// Whole downloads finished while probing.
    finished: u64,
}

/// Probes `server` for `secs` while `clients` clients download `path` over and over.
fn phase(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    name: String,
    clients: usize,
    path: &str,
    secs: f64,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, path) = (server.client(), server.url.clone(), path.to_string());
        let (stop, bytes, done) = (stop.clone(), bytes.clone(), done.clone());
        tasks.push(rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                download_counting(&client, &url, &path, &bytes).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    if clients > 0 {
        // Let every client get its download going before measuring.
        std::thread::sleep(Duration::from_millis(500));
    }
    let (bytes_at_start, done_at_start) =
        (bytes.load(Ordering::Relaxed), done.load(Ordering::Relaxed));
    let start = Instant::now();
    let probes = probe_for(server, secs);
    let elapsed = start.elapsed().as_secs_f64();
    let streamed = bytes.load(Ordering::Relaxed) - bytes_at_start;
    let finished = done.load(Ordering::Relaxed) - done_at_start;
    stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    Phase {
        name,
        probes,
        mib_per_sec: mib(streamed) / elapsed,
        finished,
    }
}

/// Makes the benchmark's large result on `server`; returns its CSV download path.
fn large_result(rt: &tokio::runtime::Runtime, server: &Server, rows: u64) -> String {
    let id = rt.block_on(async {
        run_query(
            &server.client(),
            &server.url,
            &rows_sql(rows),
            Duration::from_millis(20),
        )
        .await
        .0
    });
    format!("/api/query_results/{id}.csv")
}

/// One counter or gauge of `server`'s `/metrics`, 0 when absent.
fn scrape(rt: &tokio::runtime::Runtime, server: &Server, series: &str) -> f64 {
    let text = rt.block_on(async {
        server
            .client()
            .get(format!("{}/metrics", server.url))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    });
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn row(p: &Phase) -> String {
    let (ping, api) = (&p.probes.ping, &p.probes.api);
    format!(
        "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
        p.name,
        ping.len(),
        ms(ping.value_at_quantile(0.5)),
        ms(ping.value_at_quantile(0.99)),
        ms(ping.max()),
        ms(api.value_at_quantile(0.5)),
        ms(api.value_at_quantile(0.99)),
        p.mib_per_sec,
        p.finished
    )
}

fn main() {
    let rows: u64 = env_or("CAIRN_BENCH_ROWS", 1_000_000);
    let secs: f64 = env_or("CAIRN_BENCH_SECS", 10.0);
    let clients: usize = env_or("CAIRN_BENCH_CLIENTS", 32);
    println!("ping_under_load: {} ({})", machine(), profile_note());

    // Downloads run on a runtime of their own (two threads: the machine's cores are shared).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut phases = Vec::new();
    {
        let server = Server::start(&[]);
        let path = large_result(&rt, &server, rows);
        let size = rt.block_on(download(&server.client(), &server.url, &path));
        println!("one download: {:.1} MiB", mib(size));
        phases.push(phase(&rt, &server, "no downloads".into(), 0, &path, secs));
        phases.push(phase(
            &rt,
            &server,
            format!("{clients} downloads, full speed"),
            clients,
            &path,
            secs,
        ));
    }
    let throttled = Server::start(&[
        "--download-rate-after",
        "10MiB",
        "--download-rate-limit",
        "1MiB",
    ]);
    let path = large_result(&rt, &throttled, rows);
    phases.push(phase(
        &rt,
        &throttled,
        format!("{clients} downloads, 1 MiB/s after 10 MiB"),
        clients,
        &path,
        secs,
    ));
    let waited = scrape(&rt, &throttled, "cairn_download_throttled_seconds_total");

    println!();
    println!("{rows}-row CSV downloads; latencies in ms");
    println!();
    println!(
        "| phase | probes | /ping p50 | /ping p99 | /ping max | /api/queries p50 | /api/queries p99 | downloads MiB/s | downloads finished |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in &phases {
        println!("{}", row(p));
    }
    println!(
        "throttled server: downloads waited {waited:.1} s in total for the rate limit \
         (cairn_download_throttled_seconds_total)"
    );
    for p in &phases[1..] {
        let p99 = ms(p.probes.ping.value_at_quantile(0.99));
        println!(
            "target: /ping p99 under {TARGET_P99_MS} ms with {}: {p99:.2} ms -> {}",
            p.name,
            if p99 < TARGET_P99_MS { "met" } else { "MISSED" }
        );
    }
}
