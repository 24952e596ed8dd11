//! The queue on a standalone Redis 7.0 server.

mod common;

use cairn_exec::job::{JobStatus, QueueName};
use cairn_testkit::redis::{Flavor, RedisServer};
use common::{backend, enqueue_default, opts, test_job};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_redis_behaviour_suite() {
    let server = RedisServer::start(Flavor::Redis);
    common::suite(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_number_in_url_is_used() {
    let server = RedisServer::start(Flavor::Redis);
    let url = format!("redis://{}/3", server.addr());
    let o = opts("db");
    let b = backend(&url, &o).await;
    b.queue()
        .enqueue(test_job(QueueName::Default), None)
        .await
        .unwrap();
    let in_db3 = redis_dbsize(server.port(), "3");
    let in_db0 = redis_dbsize(server.port(), "0");
    assert!(in_db3 > 0 && in_db0 == 0, "db3 {in_db3}, db0 {in_db0}");
}

fn redis_dbsize(port: u16, db: &str) -> i64 {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/{db}")).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::cmd("DBSIZE").query(&mut conn).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_urls_and_dead_servers_are_one_line_errors() {
    let err = cairn_queue_redis::connect("mysql://x", Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("mysql://x"), "{err}");
    let port = cairn_testkit::process::free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let err = cairn_queue_redis::connect(&url, Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&url) && err.contains("check that the server runs"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    let server = RedisServer::start(Flavor::Redis);
    let err = cairn_queue_redis::connect(
        &format!("redis+cluster://{}", server.addr()),
        Default::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a cluster node"), "{err}");
}

/// With `appendfsync always`, a restart (SIGKILL, start again) loses no acknowledged job, and
/// the backend reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_loses_no_acknowledged_job() {
    let mut server = RedisServer::start_with(
        Flavor::Redis,
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let o = opts("restart");
    let b = backend(&server.url(), &o).await;
    let q = b.queue();
    let ids = enqueue_default(&q, 20).await;
    for _ in 0..5 {
        let job = q
            .dequeue(&[QueueName::Default], Duration::from_millis(50))
            .await
            .unwrap()
            .unwrap();
        let done = q
            .state(&job.id)
            .await
            .unwrap()
            .unwrap()
            .with_status(JobStatus::Finished);
        q.update(done).await.unwrap();
    }
    server.node().restart();
    b.ping().await.expect("reconnected after the restart");
    let mut finished = 0;
    for id in &ids[..5] {
        let s = q.state(id).await.unwrap().expect("state survived");
        finished += usize::from(s.status == JobStatus::Finished);
    }
    assert_eq!(finished, 5);
    assert!(q.sizes().await.unwrap().contains(&(QueueName::Default, 15)));
    let mut rest = Vec::new();
    while let Some(job) = q
        .dequeue(&[QueueName::Default], Duration::from_millis(50))
        .await
        .unwrap()
    {
        rest.push(job.id);
    }
    assert_eq!(
        rest,
        ids[5..].to_vec(),
        "every queued job is still there, in order"
    );
}

/// With the server gone, operations fail with a one-line error naming the URL once the
/// operation timeout passes; none hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_on_a_dead_server_fail_instead_of_hanging() {
    let mut server = RedisServer::start(Flavor::Redis);
    let mut o = opts("dead");
    o.op_timeout = Duration::from_secs(1);
    let b = backend(&server.url(), &o).await;
    let q = b.queue();
    let e = q.enqueue(test_job(QueueName::Default), None).await.unwrap();
    server.node().kill();
    let guard = Duration::from_secs(30);
    let err = tokio::time::timeout(guard, q.state(&e.state.id))
        .await
        .expect("state answers")
        .unwrap_err()
        .to_string();
    assert!(err.contains(&server.url()) && !err.contains('\n'), "{err}");
    let dequeued = tokio::time::timeout(guard, q.dequeue(&[QueueName::Default], Duration::ZERO))
        .await
        .expect("dequeue answers");
    assert!(dequeued.is_err());
    assert!(
        tokio::time::timeout(guard, b.ping())
            .await
            .expect("ping answers")
            .is_err()
    );
}
