//! The load generator: correct key loading, and every request answered while a slot migrates.

use crate::support::{cluster, dbsize_sum, info_field, migrate_slot_slowly};
use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::{BenchConfig, Clients, populate, run};
use cairn_slots::cluster::Cluster;
use cairn_slots::stats::count_keys_in_slot;
use cairn_testkit::redis::Flavor;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_writes_every_key_to_its_owner() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let keys = KeySpace::spread("pop:", 5000);
    let report = populate(&found, &keys, 32, 50, 16).await.unwrap();
    assert_eq!(report.keys, 5000);
    assert!(
        report.slots > 3000,
        "5000 keys hit most slots: {}",
        report.slots
    );
    assert_eq!(dbsize_sum(&c), 5000);

    let mut cfg = BenchConfig::new(keys);
    cfg.clients = 4;
    cfg.pipeline = 8;
    cfg.duration = Duration::from_millis(500);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    cfg.access_log = Some(log.clone());
    let r = run(&found, &cfg).await.unwrap();
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert!(r.ops > 100);
    assert_eq!(r.reads + r.writes, r.ops);
    assert_eq!(
        (r.moved, r.ask),
        (0, 0),
        "a fresh slot map needs no redirection"
    );
    assert_eq!(r.per_node.len(), 3);
    assert_eq!(r.per_node.values().sum::<u64>(), r.ops);
    assert!(r.latency.p50_us <= r.latency.p99_us && r.latency.p99_us <= r.latency.max_us);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Every request sent is logged, answered or not.
    assert_eq!(lines.len() as u64, r.ops + r.errors);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("pop:") && (l.ends_with(" read") || l.ends_with(" write")))
    );
}

/// Connections every node has accepted so far (`total_connections_received`), counting the one
/// each node accepts for this question.
fn connections_received(c: &cairn_testkit::redis::RedisCluster) -> u64 {
    c.nodes()
        .iter()
        .map(|n| info_field(n, &["INFO", "stats"], "total_connections_received"))
        .sum()
}

/// Clients kept between runs send every run over the connections they opened once (the nodes
/// accept no new one), and each run reports only its own requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_run_loads_one_after_another_on_the_same_connections() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let keys = KeySpace::spread("reuse:", 1000);
    populate(&found, &keys, 32, 50, 16).await.unwrap();

    let mut cfg = BenchConfig::new(keys);
    cfg.duration = Duration::from_millis(500);
    let mut clients = Clients::connect(&found, 4, cfg.timeouts).await.unwrap();
    let accepted = connections_received(&c);
    let closed = clients.run(&cfg).await.unwrap();
    cfg.rate = Some(1000.0);
    let open = clients.run(&cfg).await.unwrap();
    assert_eq!(
        connections_received(&c),
        accepted + 3,
        "the runs opened connections"
    );
    for r in [&closed, &open] {
        assert_eq!(r.errors, 0, "{:?}", r.first_error);
        assert_eq!(r.per_node.values().sum::<u64>(), r.ops, "{r:?}");
    }
    assert!(closed.ops > 100, "{closed:?}");
    // 500 ms at 1000/s: 500 requests due.
    assert!((480..=500).contains(&open.ops), "{open:?}");
}

/// An open loop offers its rate, no more and (on an idle cluster) no less, and a cluster that
/// cannot keep up shows its backlog in the latency, counted from when each request was due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_offers_its_rate_and_counts_latency_from_when_requests_were_due() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let keys = KeySpace::spread("rate:", 1000);
    populate(&found, &keys, 32, 50, 16).await.unwrap();

    let mut cfg = BenchConfig::new(keys);
    cfg.clients = 8;
    cfg.pipeline = 2;
    cfg.duration = Duration::from_secs(2);
    cfg.rate = Some(2000.0);
    let r = run(&found, &cfg).await.unwrap();
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(r.offered_per_sec, Some(2000.0));
    // 2 s at 2000/s: 4000 requests due, in whole pipelines.
    assert!((3900..=4000).contains(&r.ops), "{r:?}");

    // Every node paused for 600 ms mid-run: requests due meanwhile are answered after it, and
    // their latency counts from when they were due, so well over 1% of them show >= 300 ms. (A
    // closed loop would only have its 16 in-flight requests delayed.)
    cfg.duration = Duration::from_millis(2500);
    let run_cluster = found.clone();
    let load = tokio::spawn(async move { run(&run_cluster, &cfg).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    for n in c.nodes() {
        n.command(&["CLIENT", "PAUSE", "600", "ALL"]).unwrap();
    }
    let r = load.await.unwrap().unwrap();
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert!(
        (4900..=5000).contains(&r.ops),
        "every due request answered: {r:?}"
    );
    assert!(r.latency.p99_us >= 300_000, "{:?}", r.latency);
}

/// 8 clients x 16 pipelined requests = 128 in flight on one slot while it migrates key by key:
/// the Rust cluster clients hang here; our router must answer every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_answered_while_the_slot_migrates() {
    for flavor in Flavor::ALL {
        let c = cluster(flavor, 3, 0);
        let found = Cluster::discover(&c.seed()).await.unwrap();
        let slot = 100;
        let keys = KeySpace::in_slot("hot:", 2000, slot);
        populate(&found, &keys, 16, 100, 8).await.unwrap();
        let source = found.owner(slot).unwrap().to_string();
        let target = found
            .masters()
            .find(|m| m.id() != source)
            .unwrap()
            .id()
            .to_string();

        let mut cfg = BenchConfig::new(keys);
        cfg.clients = 8;
        cfg.pipeline = 16;
        cfg.zipf = 0.0;
        cfg.read_ratio = 0.7;
        cfg.duration = Duration::from_millis(3500);
        let bench_cluster = found.clone();
        let stale_cfg = BenchConfig {
            duration: Duration::from_millis(300),
            ..cfg.clone()
        };
        let bench = tokio::spawn(async move { run(&bench_cluster, &cfg).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        migrate_slot_slowly(
            &found,
            slot,
            &source,
            &target,
            40,
            Duration::from_millis(15),
        )
        .await;
        let r = bench.await.unwrap().unwrap();
        assert_eq!(r.errors, 0, "{flavor:?}: {:?}", r.first_error);
        assert!(r.ask > 0, "{flavor:?}: requests met the migration: {r:?}");
        assert!(r.ops > 1000, "{flavor:?}: {r:?}");
        // A client still holding the old slot map is moved, then served.
        let r = run(&found, &stale_cfg).await.unwrap();
        assert_eq!(r.errors, 0, "{flavor:?}: {:?}", r.first_error);
        assert!(r.moved > 0 && r.ask == 0, "{flavor:?}: {r:?}");
        let target_client = found.client(&target).unwrap();
        assert_eq!(
            count_keys_in_slot(target_client, slot).await.unwrap(),
            2000,
            "{flavor:?}"
        );
    }
}

/// Two masters that disagree about a slot's owner for a moment (each redirects to the other)
/// do not fail a request: after the second redirection the router pauses between tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlasts_two_masters_bouncing_it_between_them() {
    use cairn_slots::client::Timeouts;
    use cairn_slots::router::{Router, SlotMap};
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let slot = 4000;
    let a = found.owner(slot).unwrap().to_string();
    let b = found
        .masters()
        .find(|m| m.id() != a)
        .unwrap()
        .id()
        .to_string();
    let node = |id: &str| {
        let addr = found.masters().find(|m| m.id() == id).unwrap().addr();
        c.nodes().iter().find(|n| n.addr() == addr).unwrap()
    };
    let slot_arg = slot.to_string();
    // `a` now points at `b`, while `b` still points at `a`.
    node(&a)
        .command(&["CLUSTER", "SETSLOT", &slot_arg, "NODE", &b])
        .unwrap();
    let key = KeySpace::in_slot("bounce:", 1, slot).key(0);
    let mut router = Router::new(Arc::new(SlotMap::from_cluster(&found)), Timeouts::default());
    let mut cmd = redis::cmd("SET");
    cmd.arg(&key).arg("v");
    let request = tokio::spawn(async move {
        let r = router.query(slot, cmd).await;
        (r, router.redirects)
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    node(&b)
        .command(&["CLUSTER", "SETSLOT", &slot_arg, "NODE", &b])
        .unwrap();
    let (answer, redirects) = request.await.unwrap();
    assert_eq!(answer.unwrap(), redis::Value::Okay, "{redirects:?}");
    assert!(redirects.moved >= 3, "{redirects:?}");
}
