//! Cairn's real worker on the Redis queue: a connection test queued by one process is run by a
//! worker in another (two backends), and the worker's metrics carry their contract names.

mod common;

use cairn_exec::job::{JobStatus, QueueName};
use cairn_exec::settings::ExecSettings;
use cairn_exec::worker::Worker;
use cairn_store::{NewDataSource, Store};
use cairn_testkit::redis::{Flavor, RedisServer};
use common::{backend, opts, test_job};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A recorded metric: name, labels, value.
type Metric = (String, Vec<(String, String)>, DebugValue);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_runs_jobs_from_redis_and_records_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        [1; 32],
    )
    .await
    .unwrap();
    let source = dir.path().join("src.db");
    std::fs::write(&source, b"").unwrap(); // an empty file is an empty SQLite database
    let ds = store
        .create_data_source(&NewDataSource {
            name: "src".into(),
            kind: "sqlite".into(),
            options: serde_json::json!({"dbpath": source.display().to_string()}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await
        .unwrap()
        .id;

    let server = RedisServer::start(Flavor::Redis);
    let o = opts("worker");
    let producer = backend(&server.url(), &o).await;
    let consumer = backend(&server.url(), &o).await;
    let worker = Worker::new(store, consumer.queue(), ExecSettings::default());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(vec![QueueName::Schemas], 2, shutdown.clone()));

    let mut job = test_job(QueueName::Schemas);
    job.kind = cairn_exec::job::JobKind::TestConnection { data_source_id: ds };
    let id = producer.queue().enqueue(job, None).await.unwrap().state.id;
    let done = common::eventually("job finished", Duration::from_secs(30), || async {
        let s = producer.queue().state(&id).await.unwrap()?;
        s.status.is_final().then_some(s)
    })
    .await;
    assert_eq!(done.status, JobStatus::Finished, "{:?}", done.error);
    assert!(done.result.is_some());
    shutdown.cancel();
    running.await.unwrap();

    let metrics: Vec<Metric> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            (key.name().to_string(), labels, value)
        })
        .collect();
    let find = |name: &str| {
        metrics
            .iter()
            .find(|(n, labels, _)| {
                n == name && labels.contains(&("queue".into(), "schemas".into()))
            })
            .unwrap_or_else(|| panic!("{name} missing in {metrics:?}"))
    };
    assert!(
        matches!(find("cairn_job_wait_seconds").2, DebugValue::Histogram(ref v) if v.len() == 1)
    );
    assert!(
        matches!(find("cairn_job_run_seconds").2, DebugValue::Histogram(ref v) if v.len() == 1)
    );
    assert!(matches!(find("cairn_workers_busy").2, DebugValue::Gauge(g) if g.into_inner() == 0.0));
    let (_, labels, total) = find("cairn_jobs_total");
    assert!(labels.contains(&("outcome".into(), "finished".into())));
    assert!(matches!(total, DebugValue::Counter(1)));
}
