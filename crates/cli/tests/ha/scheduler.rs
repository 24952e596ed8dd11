//! Scheduler failover: the leader killed with SIGKILL again and again; another leads within
//! twice the lease time, and no scheduled query runs twice for one due time.

use crate::deployment::{Deployment, LEASE_TTL};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, RedisServer};
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

/// Seconds between runs of the scheduled query.
const INTERVAL: i64 = 2;
const KILLS: usize = 4;

/// Saves a query that runs every [`INTERVAL`] seconds; returns its id.
async fn scheduled_query(d: &mut Deployment) -> i64 {
    let (status, q) = d
        .call(
            reqwest::Method::POST,
            "/api/queries",
            Some(json!({
                "name": "every two seconds",
                "query": "SELECT now()",
                "data_source_id": d.data_source_id,
                "schedule": {"interval": INTERVAL},
            })),
        )
        .await;
    assert_eq!(status, 200, "{q}");
    q["id"].as_i64().unwrap()
}

/// When each run of query `query_id` finished, in seconds since the epoch, in order.
async fn run_times(d: &Deployment, query_id: i64) -> Vec<f64> {
    let pool = sqlx::PgPool::connect(&d.database_url).await.unwrap();
    let rows = sqlx::query(
        "SELECT EXTRACT(EPOCH FROM r.retrieved_at)::float8 AS t FROM query_results r \
         JOIN queries q ON q.query_hash = r.query_hash AND q.data_source_id = r.data_source_id \
         WHERE q.id = $1 ORDER BY r.retrieved_at",
    )
    .bind(query_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter().map(|r| r.get::<f64, _>("t")).collect()
}

async fn failover_runs_each_due_time_once(redis_url: &str) {
    let mut d = Deployment::start(redis_url, 2, 2, 3).await;
    let query_id = scheduled_query(&mut d).await;

    let bound = Duration::from_secs(2 * LEASE_TTL);
    let mut failovers = Vec::new();
    let (mut leader, _) = d.wait_leader(Duration::from_secs(30)).await;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        d.schedulers[leader].process.kill();
        let (next, took) = d.wait_leader(Duration::from_secs(30)).await;
        assert_ne!(next, leader);
        failovers.push(took);
        d.add_scheduler();
        leader = next;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("failover times: {failovers:?}");
    let text = reqwest::get(format!("{}/metrics", d.schedulers[leader].url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last_round: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("cairn_scheduler_last_round_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("the leader exports its last round:\n{text}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - last_round < 10.0,
        "the leader's rounds are recent: {last_round} at {now}"
    );
    for took in &failovers {
        assert!(
            *took <= bound,
            "a new leader took {took:?} (lease {LEASE_TTL} s): {failovers:?}"
        );
    }

    // One result per run of the scheduled query; a due time enqueued twice would show as two
    // results much closer together than the interval.
    let times = run_times(&d, query_id).await;
    assert!(
        times.len() >= 5,
        "the scheduled query ran {} times in ~{} s",
        times.len(),
        3 * (KILLS + 1)
    );
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= INTERVAL as f64 * 0.75,
            "two runs {gap:.3} s apart for a {INTERVAL} s schedule: {times:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_on_standalone_redis_7() {
    let _serial = crate::serial().await;
    let redis = RedisServer::start(Flavor::Redis);
    failover_runs_each_due_time_once(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_on_a_valkey_9_cluster() {
    let _serial = crate::serial().await;
    let cluster = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Valkey,
        masters: 3,
        replicas: 0,
    });
    failover_runs_each_due_time_once(&format!("redis://{}", cluster.seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_go_on_after_redis_restarts_without_its_data() {
    let _serial = crate::serial().await;
    let mut redis = RedisServer::start(Flavor::Redis);
    let mut d = Deployment::start(&redis.url(), 1, 1, 2).await;
    let query_id = scheduled_query(&mut d).await;
    d.wait_leader(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = run_times(&d, query_id).await;
    assert!(!before.is_empty(), "the schedule ran before the restart");

    // The lease, its fencing counter and the queue are gone; the store still remembers the
    // highest token it accepted.
    redis.node().restart();
    let restarted = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = std::time::Instant::now();
    loop {
        let runs = run_times(&d, query_id).await;
        if runs.iter().filter(|t| **t > restarted).count() >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no scheduled run after Redis restarted empty: {runs:?} (restart at {restarted})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
