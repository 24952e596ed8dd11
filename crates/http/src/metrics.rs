//! Prometheus metrics: the process's recorder, the per-request layer and `GET /metrics`.
//!
//! The metric names below are a contract (alert rules and dashboards use them): change none.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `cairn_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `cairn_http_requests_total` | counter | `method`, `route`, `status` |
//! | `cairn_queue_depth` | gauge | `queue` |
//! | `cairn_db_pool_connections` | gauge | `state` (`idle`, `in_use`) |
//! | `cairn_db_pool_max` | gauge | |
//! | `cairn_download_bytes_total` | counter | |
//! | `cairn_download_throttled_seconds_total` | counter | |
//! | `cairn_downloads_active` | gauge | |
//! | `cairn_downloads_rejected_total` | counter | `reason` (`concurrency`, `size`) |
//! | `process_cpu_seconds_total` | counter | |
//! | `process_resident_memory_bytes` | gauge | |
//!
//! `route` is the route template (`/api/queries/{id}`), never the raw path, so the number of
//! series stays bounded; requests no route matched are `route="unmatched"`. A request's
//! duration runs until its response headers are ready: a streamed download's body time is in
//! the download metrics. The queue and pool gauges are read when `/metrics` is scraped.
//!
//! `cairn_download_throttled_seconds_total` counts fractions of a second, which the `metrics`
//! crate's integer counters cannot: it is kept here and appended to the rendered text, with
//! the two process metrics read from `/proc` at scrape time (Linux; absent elsewhere).
//!
//! The recorder is global to the process (the `metrics` crate has one), installed by the first
//! [`crate::AppState`]; further states, as in tests with several servers, share it.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Histogram of request durations in seconds, by `method`, `route` and `status`.
pub const HTTP_REQUEST_DURATION: &str = "cairn_http_request_duration_seconds";
/// Counter of requests, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "cairn_http_requests_total";
/// Gauge of jobs waiting, by `queue`.
pub const QUEUE_DEPTH: &str = "cairn_queue_depth";
/// Gauge of the metadata database pool's connections, by `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "cairn_db_pool_connections";
/// Gauge of the metadata database pool's maximum size.
pub const DB_POOL_MAX: &str = "cairn_db_pool_max";
/// Counter of result body bytes handed to clients.
pub const DOWNLOAD_BYTES: &str = "cairn_download_bytes_total";
/// Counter of seconds downloads waited for the byte-rate limit.
pub const DOWNLOAD_THROTTLED_SECONDS: &str = "cairn_download_throttled_seconds_total";
/// Gauge of result bodies being streamed.
pub const DOWNLOADS_ACTIVE: &str = "cairn_downloads_active";
/// Counter of refused downloads, by `reason` (`concurrency`, `size`).
pub const DOWNLOADS_REJECTED: &str = "cairn_downloads_rejected_total";

/// Latency buckets in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How long `/metrics` waits for the queue backend before rendering without fresh depths.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Nanoseconds downloads of this process waited for the byte-rate limit.
static THROTTLED_NANOS: AtomicU64 = AtomicU64::new(0);

/// Adds time a download waited for the byte-rate limit to
/// `cairn_download_throttled_seconds_total`.
pub fn add_throttled(waited: Duration) {
    if !waited.is_zero() {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        THROTTLED_NANOS.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The series the `metrics` crate cannot hold (fractional counters) or that are read from the
/// process itself, in the text format.
fn render_extra() -> String {
    let mut out = String::new();
    let throttled = THROTTLED_NANOS.load(Ordering::Relaxed) as f64 / 1e9;
    write_series(
        &mut out,
        DOWNLOAD_THROTTLED_SECONDS,
        "counter",
        "Time downloads waited for the byte-rate limit.",
        throttled,
    );
    if let Some(cpu) = process_cpu_seconds() {
        write_series(
            &mut out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time of this process in seconds.",
            cpu,
        );
    }
    if let Some(rss) = process_resident_bytes() {
        write_series(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of this process in bytes.",
            rss,
        );
    }
    out
}

fn write_series(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// `utime + stime` of `/proc/self/stat` (Linux), in ticks of `USER_HZ`, which the kernel fixes
/// at 100 for user space.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// `VmRSS` of `/proc/self/status` (Linux), in bytes.
fn process_resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kib * 1024) as f64)
}

/// Installs the Prometheus recorder for this process, once; later calls do nothing. When
/// another recorder was installed first, metrics go there and `/metrics` stays empty (logged).
pub fn install() {
    handle();
}

fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION.to_string()),
                    LATENCY_BUCKETS,
                )
                .map_err(|e| e.to_string())?;
            let handle = builder.install_recorder().map_err(|e| e.to_string())?;
            describe();
            let upkeep = handle.clone();
            // Histogram samples pile up until upkeep folds them into buckets; without the
            // exporter's own listener, nothing else runs it.
            std::thread::Builder::new()
                .name("cairn-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(handle)
        })
        .as_ref()
        .inspect_err(|e| tracing::warn!(error = %e, "no Prometheus recorder: /metrics is empty"))
        .ok()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (until the response headers)."
    );
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered.");
    describe_gauge!(QUEUE_DEPTH, "Jobs waiting in each queue.");
    describe_gauge!(DB_POOL_CONNECTIONS, "Metadata database connections.");
    describe_gauge!(DB_POOL_MAX, "Largest size of the metadata database pool.");
    describe_counter!(DOWNLOAD_BYTES, Unit::Bytes, "Result bytes sent to clients.");
    describe_gauge!(DOWNLOADS_ACTIVE, "Result bodies being streamed.");
    describe_counter!(DOWNLOADS_REJECTED, "Downloads refused, by reason.");
}

/// Middleware recording each request's duration and count by method, route template and status.
pub async fn track(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::histogram!(HTTP_REQUEST_DURATION, &labels).record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    response
}

/// `GET /metrics`: every metric in the Prometheus text format, with the queue and pool gauges
/// read now. Needs `Authorization: Bearer <metrics_token>` when that setting is set.
pub async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    if let Some(token) = &app.settings.metrics_token {
        check_bearer(&headers, token)?;
    }
    refresh_gauges(&app).await;
    let mut body = handle().map(PrometheusHandle::render).unwrap_or_default();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&render_extra());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// Checks `Authorization: Bearer <token>`, comparing digests so the time taken does not tell
/// how much of a guess was right.
fn check_bearer(headers: &HeaderMap, token: &str) -> AppResult<()> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "Metrics need the scrape token: send Authorization: Bearer <metrics token>.",
        ))
    }
}

/// Reads the queue depths and the pool's state into their gauges.
async fn refresh_gauges(app: &AppState) {
    match tokio::time::timeout(PROBE_TIMEOUT, app.queue.sizes()).await {
        Ok(Ok(sizes)) => {
            for (queue, size) in sizes {
                metrics::gauge!(QUEUE_DEPTH, "queue" => queue.as_str().to_string())
                    .set(size as f64);
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot read queue sizes"),
        Err(_) => tracing::warn!("metrics: the queue did not answer within 2 s"),
    }
    let pool = app.store.pool_status();
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(pool.in_use));
    metrics::gauge!(DB_POOL_MAX).set(f64::from(pool.max));
}
