//! The queue on 3-master clusters: Redis 7.0 and Valkey 9, a failover, a live slot migration.

mod common;

use cairn_exec::job::{JobStatus, QueueName};
use cairn_slots::slot::slot_of;
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, command};
use common::{Topology, backend, enqueue_default, opts, test_job};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn cluster(flavor: Flavor, replicas: usize) -> RedisCluster {
    RedisCluster::start(ClusterSpec {
        flavor,
        masters: 3,
        replicas,
    })
}

fn url(c: &RedisCluster) -> String {
    format!("redis+cluster://{}", c.seed())
}

fn tag_slot(o: &cairn_queue_redis::Options) -> u16 {
    slot_of(format!("{{{}}}", o.key_tag).as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_behaviour_suite() {
    let c = cluster(Flavor::Redis, 0);
    common::suite(&url(&c)).await;
    // A plain redis:// URL to a cluster node is detected as a cluster.
    let b = backend(&format!("redis://{}/", c.seed()), &opts("detect")).await;
    b.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valkey_cluster_behaviour_suite() {
    let c = cluster(Flavor::Valkey, 0);
    common::suite(&url(&c)).await;
}

/// `CLUSTER FAILOVER` on the replica of the queue's master: the backend follows the new master
/// by itself and keeps every job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_failover_is_followed() {
    let c = cluster(Flavor::Redis, 1);
    let o = opts("failover");
    let b = backend(&url(&c), &o).await;
    let q = b.queue();
    let mut ids = enqueue_default(&q, 10).await;
    let seed = c.nodes()[0].port();
    let topo = Topology::read(seed);
    let (master_id, _) = topo.owner(tag_slot(&o));
    let replica = topo.replica_of(&master_id);
    common::ok(
        command(replica, &["CLUSTER", "FAILOVER"]),
        "CLUSTER FAILOVER",
    );
    common::eventually("replica promoted", Duration::from_secs(30), || async {
        let info = command(replica, &["INFO", "replication"]).ok()?.text()?;
        info.contains("role:master").then_some(())
    })
    .await;
    // Operations right after the promotion: the old master answers MOVED.
    ids.extend(enqueue_default(&q, 10).await);
    let mut taken = Vec::new();
    while let Some(job) = q
        .dequeue(&[QueueName::Default], Duration::from_millis(50))
        .await
        .unwrap()
    {
        let done = q
            .state(&job.id)
            .await
            .unwrap()
            .unwrap()
            .with_status(JobStatus::Finished);
        q.update(done).await.unwrap();
        taken.push(job.id);
    }
    assert_eq!(taken, ids, "every job, in order, after the failover");
    let (new_master, _) = Topology::read(replica).owner(tag_slot(&o));
    assert_ne!(new_master, master_id);
}

/// The master of the queue's slot is killed: its replica takes over after the node timeout, and
/// the backend finds it by itself (refused connections trigger a re-discovery); a worker that
/// was waiting in `dequeue` keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_killed_master_is_replaced() {
    let mut c = cluster(Flavor::Redis, 1);
    let o = opts("killed-master");
    let b = backend(&url(&c), &o).await;
    let q = b.queue();
    let ids = enqueue_default(&q, 5).await;
    let seed = c.nodes()[0].port();
    let topo = Topology::read(seed);
    let (master_id, master_port) = topo.owner(tag_slot(&o));
    let replica = topo.replica_of(&master_id);
    // Let replication catch up (acknowledged writes on an async replica), then kill the master.
    common::eventually("replica in sync", Duration::from_secs(30), || async {
        let info = command(replica, &["INFO", "replication"]).ok()?.text()?;
        let offset = |key: &str, text: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let master_info = command(master_port, &["INFO", "replication"])
            .ok()?
            .text()?;
        (offset("slave_repl_offset:", &info)? >= offset("master_repl_offset:", &master_info)?)
            .then_some(())
    })
    .await;
    let index = c
        .nodes()
        .iter()
        .position(|n| n.port() == master_port)
        .unwrap();
    c.kill_node(index);
    let mut taken = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match q
            .dequeue(&[QueueName::Default], Duration::from_millis(200))
            .await
        {
            Ok(Some(job)) => taken.push(job.id),
            Ok(None) => break,
            Err(e) => eprintln!("during the failover: {e}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new master within 60 s"
        );
    }
    assert_eq!(taken, ids, "every job queued before the crash");
    let after = q.enqueue(test_job(QueueName::Default), None).await.unwrap();
    assert_eq!(
        q.state(&after.state.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    let alive = c.nodes()[if index == 0 { 1 } else { 0 }].port();
    let (new_master, _) = Topology::read(alive).owner(tag_slot(&o));
    assert_ne!(new_master, master_id);
}

/// The queue's slot migrates (legacy protocol, one key at a time) while 32 clients keep running
/// operations (at least 128 in flight): every operation answers, none fails or hangs. Scripts
/// whose keys are split between the two nodes get `TRYAGAIN` until the move ends, so most
/// operations wait for it; that is the protocol, and they are answered within `op_timeout`.
async fn live_migration(flavor: Flavor) {
    let c = cluster(flavor, 0);
    let o = opts("migrate");
    let b = backend(&url(&c), &o).await;
    let q = b.queue();
    for i in 0..30 {
        q.enqueue(test_job(QueueName::Scheduled), Some(format!("seed{i}")))
            .await
            .unwrap();
    }
    let seed = c.nodes()[0].port();
    let slot = tag_slot(&o);
    let from = Topology::read(seed).owner(slot).1;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn(common::traffic(q.clone(), 32, stop.clone()));
    let to = tokio::task::spawn_blocking(move || {
        common::migrate_slot_slowly(seed, slot, Duration::from_millis(10))
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let answered = traffic.await.unwrap();
    eprintln!("{} operations answered while the slot moved", answered);
    assert!(
        answered >= 100,
        "only {answered} operations ran during the move"
    );
    assert_ne!(from, to);
    assert_eq!(Topology::read(seed).owner(slot).1, to);
    // The jobs queued before the move are all still there.
    assert!(
        q.sizes()
            .await
            .unwrap()
            .contains(&(QueueName::Scheduled, 30))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_slot_migrates_under_load() {
    live_migration(Flavor::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valkey_cluster_slot_migrates_under_load() {
    live_migration(Flavor::Valkey).await;
}
