//! Jobs per second through the Redis queue, and enqueue-to-start latency, with 1, 2 and 4
//! workers on a standalone Redis started by the testkit.
//!
//! Each worker is a task with its own backend (its own connections), looping
//! `dequeue` -> `update(Finished)` on trivial jobs, as `cairn worker` processes would.
//! - drain: `JOBS` jobs are queued first, then the workers start; jobs/s is `JOBS` over the time
//!   until the last one is recorded finished.
//! - latency: the workers wait idle while a producer queues `PACED` jobs at `RATE`/s; the
//!   latency is from `enqueued_at` to the moment a worker holds the started job.
//!
//! Run: `cargo bench -p cairn-queue-redis --bench queue_throughput`.

use cairn_exec::job::{Job, JobKind, JobState, JobStatus, QueueName};
use cairn_exec::queue::Queue;
use cairn_queue_redis::{Options, connect};
use cairn_testkit::redis::{Flavor, RedisServer};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const JOBS: usize = 4000;
const PACED: usize = 1000;
const RATE: u64 = 500;

fn job() -> Job {
    Job::new(
        QueueName::Adhoc,
        JobKind::TestConnection { data_source_id: 1 },
    )
}

fn opts(tag: &str) -> Options {
    Options {
        key_tag: tag.to_string(),
        ..Options::default()
    }
}

/// Runs `workers` worker tasks until `total` jobs are done; returns the merged latency
/// histogram (microseconds).
async fn run_workers(url: &str, tag: &str, workers: usize, total: usize) -> Histogram<u64> {
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let b = connect(url, opts(tag)).await.expect("connect");
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let q = b.queue();
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            while done.load(Ordering::Relaxed) < total {
                let Some(job) = q
                    .dequeue(&[QueueName::Adhoc], Duration::from_millis(100))
                    .await
                    .expect("dequeue")
                else {
                    continue;
                };
                let waited = (chrono::Utc::now() - job.enqueued_at)
                    .num_microseconds()
                    .unwrap_or(0)
                    .max(0) as u64;
                h.record(waited).ok();
                let state = JobState::queued(job.id).with_status(JobStatus::Finished);
                q.update(state).await.expect("update");
                done.fetch_add(1, Ordering::Relaxed);
            }
            h
        }));
    }
    let mut all = Histogram::<u64>::new(3).expect("histogram");
    for t in tasks {
        all.add(t.await.expect("worker")).ok();
    }
    all
}

async fn drain(url: &str, workers: usize) -> f64 {
    let tag = format!("drain{workers}");
    let producer = connect(url, opts(&tag)).await.expect("connect").queue();
    for _ in 0..JOBS {
        producer.enqueue(job(), None).await.expect("enqueue");
    }
    let start = Instant::now();
    run_workers(url, &tag, workers, JOBS).await;
    JOBS as f64 / start.elapsed().as_secs_f64()
}

async fn latency(url: &str, workers: usize) -> Histogram<u64> {
    let tag = format!("latency{workers}");
    let producer: Arc<dyn Queue> = connect(url, opts(&tag)).await.expect("connect").queue();
    let (url2, tag2) = (url.to_string(), tag.clone());
    let consumers = tokio::spawn(async move { run_workers(&url2, &tag2, workers, PACED).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    for _ in 0..PACED {
        tick.tick().await;
        producer.enqueue(job(), None).await.expect("enqueue");
    }
    consumers.await.expect("workers")
}

fn main() {
    let server = RedisServer::start(Flavor::Redis);
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "Redis queue on standalone Redis 7.0 (testkit), trivial jobs; drain: {JOBS} queued jobs, \
         latency: {PACED} jobs at {RATE}/s"
    );
    println!(
        "{:>7} | {:>12} | {:>16} | {:>16} | {:>16}",
        "workers", "drain jobs/s", "start p50 (ms)", "start p99 (ms)", "start max (ms)"
    );
    for workers in [1, 2, 4] {
        let rate = rt.block_on(drain(&url, workers));
        let h = rt.block_on(latency(&url, workers));
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{workers:>7} | {rate:>12.0} | {:>16.2} | {:>16.2} | {:>16.2}",
            ms(0.5),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    }
}
