//! Parts failing under a running deployment: a worker killed mid-job, Redis restarted, a Redis
//! Cluster master failed over, a server killed mid-download, and the slots of Cairn's own Redis
//! Cluster moved by `cairn slots apply` while queries run.

use crate::deployment::{Api, Deployment, HEARTBEAT_TIMEOUT};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, RedisServer, Reply};
use futures::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// The pid of the process holding the client end of the PostgreSQL session that runs `marker`.
async fn pid_running(d: &Deployment, marker: &str) -> u32 {
    let pool = sqlx::PgPool::connect(&d.database_url).await.unwrap();
    let started = Instant::now();
    let port: i32 = loop {
        let port: Option<i32> = sqlx::query_scalar(
            "SELECT client_port FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
        )
        .bind(format!("%{marker}%"))
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some(p) = port {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{marker} never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    pool.close().await;
    let out = Command::new("ss")
        .args(["-tnpH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("pid=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no process on port {port}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_job_fails_it_within_the_heartbeat_timeout() {
    let _serial = crate::serial().await;
    let cluster = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Redis,
        masters: 3,
        replicas: 0,
    });
    let mut d = Deployment::start(&format!("redis://{}", cluster.seed()), 2, 2, 1).await;
    let marker = "worker_killed_marker";
    let job = d.submit(&format!("SELECT pg_sleep(60), '{marker}'")).await;
    d.wait_status(&job, 2).await;
    let pid = pid_running(&d, marker).await;
    let victim = d
        .workers
        .iter_mut()
        .position(|w| w.process.pid() == pid)
        .expect("a worker runs the query");
    d.workers[victim].process.kill();
    let killed = Instant::now();

    let state = d.wait_job(&job, Duration::from_secs(60)).await;
    let noticed = killed.elapsed();
    assert_eq!(state["status"], 4, "{state}");
    let error = state["error"].as_str().unwrap_or_default();
    assert!(error.contains("worker"), "a clear message: {error}");
    println!("a killed worker's job failed after {noticed:?}: {error}");
    assert!(
        noticed < Duration::from_secs(HEARTBEAT_TIMEOUT * 3),
        "noticed after {noticed:?}, heartbeat timeout {HEARTBEAT_TIMEOUT} s"
    );

    // The surviving worker still runs jobs.
    let next = d.submit("SELECT 1").await;
    assert_eq!(
        d.wait_job(&next, Duration::from_secs(30)).await["status"],
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_no_acknowledged_job() {
    let _serial = crate::serial().await;
    let mut redis = RedisServer::start_with(
        Flavor::Redis,
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let mut d = Deployment::start(&redis.url(), 2, 0, 1).await;
    // No worker yet: the jobs stay queued across the restart.
    let mut jobs = Vec::new();
    for i in 0..20 {
        jobs.push(d.submit(&format!("SELECT {i} AS n")).await);
    }
    redis.node().restart();
    d.add_worker(&[]);
    d.add_worker(&[]);
    for job in &jobs {
        let state = d.wait_job(job, Duration::from_secs(60)).await;
        assert_eq!(state["status"], 3, "job {job} after the restart: {state}");
    }
    // The servers reconnected too.
    let after = d.submit("SELECT 'after'").await;
    assert_eq!(
        d.wait_job(&after, Duration::from_secs(30)).await["status"],
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_master_failover_recovers_without_manual_action() {
    let _serial = crate::serial().await;
    let mut cluster = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Redis,
        masters: 3,
        replicas: 1,
    });
    let mut d = Deployment::start(&format!("redis://{}", cluster.seed()), 2, 0, 1).await;
    let mut jobs = Vec::new();
    for i in 0..10 {
        jobs.push(d.submit(&format!("SELECT {i} AS n")).await);
    }
    // Fail over the master that holds the queue, once its replica has every job.
    let slot = queue_slot(&cluster);
    let owner = (0..3)
        .find(|&m| {
            cluster.nodes()[m]
                .command(&["CLUSTER", "COUNTKEYSINSLOT", &slot])
                .ok()
                .and_then(|r| r.text())
                .is_some_and(|n| n != "0")
        })
        .expect("a master holds the queue");
    let synced = cluster
        .node_mut(owner)
        .command(&["WAIT", "1", "5000"])
        .unwrap();
    assert_eq!(
        synced.text().as_deref(),
        Some("1"),
        "the replica has the jobs"
    );
    cluster.kill_node(owner);
    cluster.wait_healthy();
    d.add_worker(&[]);
    d.add_worker(&[]);
    for job in &jobs {
        let state = d.wait_job(job, Duration::from_secs(60)).await;
        assert_eq!(state["status"], 3, "job {job} after the failover: {state}");
    }
    let after = d.submit("SELECT 'after'").await;
    assert_eq!(
        d.wait_job(&after, Duration::from_secs(30)).await["status"],
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_download_fails_cleanly_and_the_other_serves() {
    let _serial = crate::serial().await;
    let redis = RedisServer::start(Flavor::Redis);
    let mut d = Deployment::start(&redis.url(), 2, 1, 0).await;
    let job = d
        .submit("SELECT g, md5(g::text) AS h FROM generate_series(1, 400000) g")
        .await;
    let state = d.wait_job(&job, Duration::from_secs(120)).await;
    assert_eq!(state["status"], 3, "{state}");
    let result_id = state["query_result_id"].as_i64().unwrap();
    let path = format!("/api/query_results/{result_id}.csv");
    let http = reqwest::Client::new();
    let get = |url: String| {
        http.get(url)
            .header("Authorization", format!("Key {}", d.api_key))
            .send()
    };

    let first = get(format!("{}{path}", d.servers[0].url)).await.unwrap();
    assert_eq!(first.status(), 200);
    let mut body = first.bytes_stream();
    let mut got = body.next().await.expect("a first block").unwrap().len();
    d.servers[0].process.kill();
    let mut failed = false;
    while let Some(block) = body.next().await {
        match block {
            Ok(b) => got += b.len(),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let full = get(format!("{}{path}", d.servers[1].url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        failed || got < full.len(),
        "the killed server's download must end in an error, not look complete ({got} of {})",
        full.len()
    );
    assert_eq!(
        full.lines().count(),
        400_001,
        "the other server serves the whole file"
    );
}

/// The slot of the queue's keys (hash tag `{cairn}`).
fn queue_slot(cluster: &RedisCluster) -> String {
    cluster.nodes()[0]
        .command(&["CLUSTER", "KEYSLOT", "{cairn}"])
        .unwrap()
        .text()
        .unwrap()
}

/// The slot of each key Cairn keeps in the cluster, with its owner's address.
fn cairn_slots(cluster: &RedisCluster) -> Vec<(u16, String)> {
    let mut found = Vec::new();
    for node in cluster.nodes() {
        let keys = match node.command(&["KEYS", "*"]).unwrap() {
            Reply::Array(Some(items)) => items.iter().filter_map(Reply::text).collect(),
            _ => Vec::new(),
        };
        for key in keys {
            let slot: u16 = node
                .command(&["CLUSTER", "KEYSLOT", &key])
                .unwrap()
                .text()
                .unwrap()
                .parse()
                .unwrap();
            found.push((slot, node.addr()));
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_apply_on_cairns_own_cluster_while_queries_run() {
    let _serial = crate::serial().await;
    let mut cluster = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Valkey,
        masters: 3,
        replicas: 0,
    });
    let seed = cluster.seed();
    let mut d = Deployment::start(&format!("redis://{seed}"), 2, 2, 1).await;
    let first = d.submit("SELECT 1").await;
    assert_eq!(
        d.wait_job(&first, Duration::from_secs(30)).await["status"],
        3
    );
    let before = cairn_slots(&cluster);
    assert!(!before.is_empty(), "Cairn keeps its queue in the cluster");

    // Scale out: a new empty master takes slots, and the master that holds Cairn's queue is
    // weighted down so that its slots, the queue's among them, move.
    cluster.add_empty_master();
    let slot: u16 = queue_slot(&cluster).parse().unwrap();
    let owner = |keys: &[(u16, String)]| {
        keys.iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, addr)| addr.clone())
            .expect("the queue's keys")
    };
    let queue_owner = format!("{}=0.05", owner(&before));
    let out = d.run(&[
        "slots",
        "measure",
        &seed,
        "--window",
        "0s",
        "--weight",
        &queue_owner,
        "-o",
        "/dev/stdout",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let plan = dir.path().join("plan.json");
    std::fs::write(&snap, &out.stdout).unwrap();
    let out = d.run(&[
        "slots",
        "plan",
        snap.to_str().unwrap(),
        "--mode",
        "count",
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Queries keep running through both servers while the slots move.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let urls: Vec<String> = d.servers.iter().map(|s| s.url.clone()).collect();
        let api = d.client();
        tokio::spawn(async move { run_queries_until(stop, urls, api).await })
    };
    let journal = dir.path().join("journal");
    let out = d.run(&[
        "slots",
        "apply",
        plan.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--method",
        "legacy",
    ]);
    assert!(
        out.status.success(),
        "apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (done, failed) = load.await.unwrap();
    let after = cairn_slots(&cluster);
    println!("{done} queries ran while the queue's slot {slot} moved: {before:?} -> {after:?}");
    assert_ne!(owner(&before), owner(&after), "the queue's slot moved");
    assert!(
        failed.is_empty(),
        "jobs lost or failed during the move: {failed:?}"
    );
    assert!(done >= 5, "only {done} queries ran during the move");
}

/// Submits queries in turn through `urls` and waits for each, until `stop`; returns how many
/// finished and the failures. Any request without an answer within 20 s fails the test.
async fn run_queries_until(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    urls: Vec<String>,
    api: Api,
) -> (usize, Vec<String>) {
    let (mut done, mut failed) = (0, Vec::new());
    let mut n = 0usize;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let base = &urls[n % urls.len()];
        let id = api.submit(base, &format!("SELECT {n} AS n")).await;
        let job = api.wait_job(base, &id, Duration::from_secs(60)).await;
        match job["status"].as_i64() {
            Some(3) => done += 1,
            Some(4 | 5) => failed.push(job.to_string()),
            _ => failed.push(format!("job {id} not done after 60 s: {job}")),
        }
    }
    (done, failed)
}
