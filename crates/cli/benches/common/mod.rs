//! What the query server benchmarks share: a release `cairn up` on a fresh data directory (demo
//! SQLite data source, id 1), an API client, running a query through the API until its result
//! exists, and sampling the server's resident memory from `/proc/<pid>/status`.
//!
//! Client and server share the machine, so every number includes the client's own work; the
//! benchmarks keep that small (streamed downloads that only count bytes, no JSON parsing of
//! large bodies).

#![allow(dead_code)] // each benchmark uses a different part of this module

use cairn_testkit::cairn::CairnUp;
use serde_json::{Value, json};
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A running `cairn up` (release build when run through `cargo bench`).
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin's API key.
    pub api_key: String,
    up: CairnUp,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server with `extra` flags and waits until it listens.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_cairn"));
        let up = CairnUp::start(
            bin,
            &dir.path().join("data"),
            &dir.path().join("cairn.log"),
            extra,
        );
        let api_key = up
            .api_key
            .clone()
            .unwrap_or_else(|| panic!("no API key in cairn's output:\n{}", up.output()));
        Server {
            url: up.url.clone(),
            api_key,
            up,
            _dir: dir,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.up.process.pid()
    }

    /// A client that sends the admin's key.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Key {}", self.api_key)
                .parse()
                .expect("header value"),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client")
    }
}

/// The demo SQLite data source that `cairn up` creates on first start.
pub const DEMO_DATA_SOURCE: i64 = 1;

/// SQL yielding `rows` rows of `(x, y, label)` from a recursive CTE (no table needed).
pub fn rows_sql(rows: u64) -> String {
    format!(
        "WITH RECURSIVE t(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM t WHERE x < {rows}) \
         SELECT x, x * 2 AS y, 'row ' || x AS label FROM t"
    )
}

/// Sends `POST /api/query_results` with `max_age` 0 and polls the job (every `poll`, or back to
/// back when zero) until it finishes; returns the result id and how many polls it took.
///
/// # Panics
/// When the job fails or the API answers something unexpected: a benchmark has no numbers then.
pub async fn run_query(
    client: &reqwest::Client,
    url: &str,
    sql: &str,
    poll: Duration,
) -> (i64, u32) {
    let body = json!({"query": sql, "data_source_id": DEMO_DATA_SOURCE, "max_age": 0});
    let answer: Value = client
        .post(format!("{url}/api/query_results"))
        .json(&body)
        .send()
        .await
        .expect("POST /api/query_results")
        .json()
        .await
        .expect("JSON answer");
    if let Some(id) = answer["query_result"]["id"].as_i64() {
        return (id, 0);
    }
    let job_id = answer["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no job in {answer}"))
        .to_string();
    let mut polls = 0;
    loop {
        if !poll.is_zero() {
            tokio::time::sleep(poll).await;
        }
        polls += 1;
        let job: Value = client
            .get(format!("{url}/api/jobs/{job_id}"))
            .send()
            .await
            .expect("GET /api/jobs")
            .json()
            .await
            .expect("JSON job");
        match job["job"]["status"].as_i64() {
            Some(3) => {
                let id = job["job"]["query_result_id"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("finished job without result: {job}"));
                return (id, polls);
            }
            Some(1 | 2) => {}
            _ => panic!("query failed: {job}"),
        }
    }
}

/// Streams `GET <path>` and counts its bytes without keeping them.
pub async fn download(client: &reqwest::Client, url: &str, path: &str) -> u64 {
    download_counting(client, url, path, &AtomicU64::new(0)).await
}

/// Like [`download`], also adding each chunk's size to `progress` as it arrives.
pub async fn download_counting(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    progress: &AtomicU64,
) -> u64 {
    let mut res = client
        .get(format!("{url}{path}"))
        .send()
        .await
        .expect("GET download");
    assert!(res.status().is_success(), "GET {path}: {}", res.status());
    let mut bytes = 0u64;
    while let Some(chunk) = res.chunk().await.expect("download chunk") {
        bytes += chunk.len() as u64;
        progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    bytes
}

/// One line of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`...), 0 when unreadable.
pub fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Samples a process's `VmRSS` every few milliseconds on its own thread and keeps the peak.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(proc_status_bytes(pid, "VmRSS")));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(proc_status_bytes(pid, "VmRSS"), Ordering::Relaxed);
                std::thread::sleep(every);
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns the highest `VmRSS` seen.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// An environment variable parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} does not parse")),
        _ => default,
    }
}

/// Mebibytes, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Milliseconds of a histogram value recorded in microseconds.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The machine, for the report: CPU count and model.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}")
}

/// Whether this is the optimised build `cargo bench` makes (numbers of a debug build mislead).
pub fn profile_note() -> &'static str {
    if cfg!(debug_assertions) {
        "DEBUG build: run through `cargo bench` for real numbers"
    } else {
        "release build"
    }
}

/// The server binary under test, for the report.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cairn"))
}
