//! Redis 8.6: `CLUSTER SLOT-STATS` and atomic slot migration (`CLUSTER MIGRATION IMPORT` on the
//! target), so `Method::Auto` applies atomically.

use crate::support::{all_keys_readable, cluster, dbsize_sum, writer};
use cairn_slots::SlotsError;
use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::populate;
use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use cairn_slots::info::{AtomicMigration, ServerKind};
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots::migrate::{ApplyOptions, Method, Silent, apply, journal, resume};
use cairn_slots::router::{Router, SlotMap};
use cairn_slots::slot::slot_of;
use cairn_slots::stats::{enable_slot_stats, slot_stats};
use cairn_slots_planner::{LoadSource, Mode, Plan, Policy, apply_moves, plan};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, Reply};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn redis8(replicas: usize) -> RedisCluster {
    cluster(Flavor::Redis8, 3, replicas)
}

/// Waits until the masters hold `want` keys: a source deletes the keys of slots it gave away in
/// the background, after the migration ended.
fn wait_master_keys(c: &RedisCluster, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while dbsize_sum(c) != want {
        assert!(
            Instant::now() < deadline,
            "masters hold {} keys, want {want}",
            dbsize_sum(c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `CLUSTER MIGRATION STATUS ALL` of node `id`, as `(operation, state)` per task.
async fn tasks(found: &Cluster, id: &str) -> Vec<(String, String)> {
    let node = found.client(id).unwrap();
    let reply: redis::Value = node
        .query(
            redis::cmd("CLUSTER")
                .arg("MIGRATION")
                .arg("STATUS")
                .arg("ALL"),
        )
        .await
        .unwrap();
    let redis::Value::Array(items) = reply else {
        panic!("{reply:?}")
    };
    items
        .iter()
        .map(|t| {
            let fields: Vec<String> = match t {
                redis::Value::Array(flat) => flat
                    .iter()
                    .map(|v| redis::from_redis_value(v.clone()).unwrap_or_default())
                    .collect(),
                other => panic!("{other:?}"),
            };
            let get = |name: &str| {
                let i = fields.iter().position(|f| f == name).unwrap();
                fields[i + 1].clone()
            };
            (get("operation"), get("state"))
        })
        .collect()
}

/// `DEBUG ASM-FAILPOINT channel state`: the migration task fails when it reaches `state`
/// (`""`, `""` clears it).
fn failpoint(channel: &str, state: &str) -> redis::Cmd {
    let mut c = redis::cmd("DEBUG");
    c.arg("ASM-FAILPOINT").arg(channel).arg(state);
    c
}

/// A count-mode plan giving the first `heavy` masters weight 3: slots move from the others to
/// them.
async fn weighted_plan(found: &Cluster, heavy: usize, window: Duration, max_moves: usize) -> Plan {
    let weights = found
        .masters()
        .take(heavy)
        .map(|m| (m.id().to_string(), 3.0))
        .collect();
    let cfg = MeasureConfig {
        window,
        sample_keys: 1,
        capacity: CapacityConfig::Weights(weights),
        ..MeasureConfig::default()
    };
    let snap = measure(found, &cfg).await.unwrap();
    if !window.is_zero() {
        assert_eq!(
            snap.load_sources,
            vec![LoadSource::SlotStats, LoadSource::KeyCounts]
        );
        let loads = snap.slot_load.as_slice();
        assert!(loads.iter().any(|l| l.cpu_usec_per_sec > 0.0));
        assert!(loads.iter().any(|l| l.net_in_bytes_per_sec > 0.0));
    }
    let policy = Policy {
        mode: Mode::Count,
        max_moves: Some(max_moves),
        ..Policy::default()
    };
    let p = plan(&snap, &policy).unwrap();
    assert_eq!(p.moves.len(), max_moves, "{}", p.summary());
    p
}

/// Every Redis 8.6 node is detected with SLOT-STATS and `CLUSTER MIGRATION IMPORT`, and
/// `CLUSTER SLOT-STATS` answers all the metrics cairn reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_slot_stats() {
    let c = redis8(1);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(found.nodes().len(), 6);
    for n in found.nodes() {
        let v = n.server.expect("every node answered INFO");
        assert_eq!((v.kind, v.major, v.minor), (ServerKind::Redis, 8, 6));
        assert!(v.has_slot_stats());
        assert_eq!(
            v.atomic_migration(),
            Some(AtomicMigration::RedisMigrationImport)
        );
    }
    found.require_healthy().await.unwrap();
    let slot = slot_of(b"foo");
    let owner = found.client(found.owner(slot).unwrap()).unwrap();
    let _: () = owner
        .query(redis::cmd("SET").arg("foo").arg("bar"))
        .await
        .unwrap();
    let _: String = owner.query(redis::cmd("GET").arg("foo")).await.unwrap();
    let stats = slot_stats(owner, slot, slot).await.unwrap();
    assert_eq!(stats.len(), 1);
    let s = stats[0];
    assert_eq!((s.slot, s.key_count), (slot, 1));
    assert!(s.cpu_usec > 0 && s.net_in > 0 && s.net_out > 0, "{s:?}");
}

/// Redis 8 refuses `cluster-slot-stats-enabled yes` at runtime on a node started without it
/// (memory tracking starts only with the server): measure turns on `cpu net` instead and reads
/// per-slot CPU and network for the slot that got traffic during the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_turns_on_cpu_and_net_on_nodes_started_without_slot_stats() {
    let c = RedisCluster::start_with(
        ClusterSpec {
            flavor: Flavor::Redis8,
            masters: 3,
            replicas: 0,
        },
        &["--cluster-slot-stats-enabled", "no"],
    );
    let config =
        |i: usize| match c.nodes()[i].command(&["CONFIG", "GET", "cluster-slot-stats-enabled"]) {
            Ok(Reply::Array(Some(v))) => v[1].text().unwrap(),
            other => panic!("{other:?}"),
        };
    assert_eq!(config(0), "no");
    let refused = c.nodes()[0].command(&["CONFIG", "SET", "cluster-slot-stats-enabled", "yes"]);
    assert!(
        matches!(&refused, Ok(Reply::Error(e)) if e.contains("memory tracking")),
        "{refused:?}"
    );

    let found = Cluster::discover(&c.seed()).await.unwrap();
    let slot = slot_of(b"hot");
    let owner = found.client(found.owner(slot).unwrap()).unwrap().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: () = owner
                    .query(redis::cmd("SET").arg("hot").arg(n))
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }
    });
    let cfg = MeasureConfig {
        window: Duration::from_secs(1),
        sample_keys: 1,
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await;
    stop.store(true, Ordering::Relaxed);
    let writes = load.await.unwrap();
    let snap = snap.unwrap();
    assert!(writes > 0);
    assert_eq!(
        snap.load_sources,
        vec![LoadSource::SlotStats, LoadSource::KeyCounts]
    );
    let hot = snap.slot_load.get(slot).unwrap();
    assert!(
        hot.cpu_usec_per_sec > 0.0 && hot.net_in_bytes_per_sec > 0.0,
        "{hot:?}"
    );
    for i in 0..3 {
        assert_eq!(config(i), "cpu net", "node {i}");
    }
    // Already on: left alone.
    for m in found.masters() {
        assert!(
            !enable_slot_stats(found.client(m.id()).unwrap())
                .await
                .unwrap()
        );
    }
}

/// measure (SLOT-STATS deltas), plan, apply with `Method::Auto` (= atomic, one import task per
/// source) under a write load: no acknowledged write is lost, with and without replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_apply_is_atomic_and_loses_no_acknowledged_write() {
    for replicas in [0, 1] {
        let c = redis8(replicas);
        let found = Cluster::discover(&c.seed()).await.unwrap();
        let keys = KeySpace::spread("bg:", 3000);
        populate(&found, &keys, 64, 100, 16).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let map = Arc::new(SlotMap::from_cluster(&found));
        let writers: Vec<_> = (0..4)
            .map(|w| tokio::spawn(writer(w, map.clone(), stop.clone())))
            .collect();
        let p = weighted_plan(&found, 1, Duration::from_millis(500), 200).await;
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ApplyOptions::new(dir.path().join("journal"));
        opts.method = Method::Auto;
        let report = apply(&found, &p, &opts, &Silent).await.unwrap();
        assert_eq!(report.method, "atomic");
        assert_eq!(report.moves, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);

        let after = Cluster::discover(&c.seed()).await.unwrap();
        assert_eq!(
            after.ownership(),
            apply_moves(&found.ownership(), &p.moves).unwrap()
        );
        after.require_healthy().await.unwrap();
        // The target ran one completed import per source, and nothing else.
        let target = &p.moves[0].to;
        let sources: std::collections::BTreeSet<&str> =
            p.moves.iter().map(|m| m.from.as_str()).collect();
        let done = tasks(&after, target).await;
        assert_eq!(done.len(), sources.len(), "{done:?}");
        assert!(
            done.iter()
                .all(|(op, st)| op == "import" && st == "completed"),
            "{done:?}"
        );
        assert!(journal::read(&opts.journal).unwrap().finished);
        all_keys_readable(&after, &keys).await;
        let mut router = Router::new(Arc::new(SlotMap::from_cluster(&after)), Timeouts::default());
        let (mut total, mut redirected) = (0, 0);
        for w in writers {
            let (acked, failed, redirects) = w.await.unwrap();
            assert_eq!(failed, 0, "every write was answered");
            total += acked.len();
            redirected += redirects;
            let batch: Vec<_> = acked
                .iter()
                .map(|(k, _)| {
                    let mut cmd = redis::cmd("GET");
                    cmd.arg(k);
                    (slot_of(k.as_bytes()), cmd)
                })
                .collect();
            for (r, (k, v)) in router.query_batch(batch).await.into_iter().zip(&acked) {
                let got: Option<String> = redis::from_redis_value(r.unwrap()).unwrap();
                assert_eq!(
                    got.as_deref(),
                    Some(v.to_string().as_str()),
                    "acknowledged write of {k} lost"
                );
            }
        }
        assert!(total > 200, "writers made progress: {total}");
        assert!(redirected > 0, "writers met the moved slots");
        wait_master_keys(&c, 3000 + total as i64);
    }
}

/// An import that keeps failing (a `DEBUG ASM-FAILPOINT` on the target) is cancelled after
/// [`cairn_slots::migrate::atomic::REDIS_RETRIES`] retries: apply fails with a one-sentence
/// reason, the cluster is as before (healthy, same owners, every key once), and `resume`
/// finishes the plan once the fault is gone. A second apply stopped after its first import
/// resumes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_import_is_cancelled_and_resume_finishes() {
    let c = redis8(0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let keys = KeySpace::spread("f:", 3000);
    populate(&found, &keys, 32, 100, 16).await.unwrap();
    let p = weighted_plan(&found, 1, Duration::ZERO, 60).await;
    let target = found.client(&p.moves[0].to).unwrap().clone();
    let _: () = target
        .query(&failpoint("import-main-channel", "handshake-reply"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ApplyOptions::new(dir.path().join("journal"));
    opts.method = Method::Atomic;
    let err = apply(&found, &p, &opts, &Silent).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SlotsError::Refused { .. }), "{text}");
    assert!(text.contains("failed 4 times"), "{text}");
    assert!(
        text.contains("cancelled, the server rolled it back"),
        "{text}"
    );
    assert!(text.contains("cairn slots resume"), "{text}");
    assert_eq!(
        tasks(&found, &p.moves[0].to).await,
        vec![("import".to_string(), "canceled".to_string())]
    );
    let now = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(now.ownership(), found.ownership());
    now.require_healthy().await.unwrap();
    wait_master_keys(&c, 3000);
    all_keys_readable(&now, &keys).await;
    assert!(!journal::read(&opts.journal).unwrap().finished);

    // The same plan again (nothing moved), the failing task cancelled by someone else while
    // Cairn waits for the server's retries.
    let canceller = {
        let target = target.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut cancel = redis::cmd("CLUSTER");
            cancel.arg("MIGRATION").arg("CANCEL").arg("ALL");
            target.query::<i64>(&cancel).await.unwrap()
        })
    };
    let err = apply(&found, &p, &opts, &Silent).await.unwrap_err();
    assert_eq!(canceller.await.unwrap(), 1);
    assert!(err.to_string().contains("was cancelled"), "{err}");
    let now = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(now.ownership(), found.ownership());
    now.require_healthy().await.unwrap();

    let _: () = target.query(&failpoint("", "")).await.unwrap();
    let r = resume(None, &opts, &Silent).await.unwrap();
    assert_eq!((r.method.as_str(), r.moves), ("atomic", 60), "{r:?}");
    let after = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(
        after.ownership(),
        apply_moves(&found.ownership(), &p.moves).unwrap()
    );
    after.require_healthy().await.unwrap();
    wait_master_keys(&c, 3000);
    all_keys_readable(&after, &keys).await;
    assert!(journal::read(&opts.journal).unwrap().finished);

    // Two targets, one source: stopped after the first (source, target) pair, as if the process
    // had died, resume moves the rest.
    let p = weighted_plan(&after, 2, Duration::ZERO, 1700).await;
    let pairs: std::collections::BTreeSet<(&str, &str)> = p
        .moves
        .iter()
        .map(|m| (m.from.as_str(), m.to.as_str()))
        .collect();
    assert!(pairs.len() > 1, "{pairs:?}");
    let mut opts = ApplyOptions::new(dir.path().join("journal2"));
    opts.stop_after = Some(1);
    let r = apply(&after, &p, &opts, &Silent).await.unwrap();
    assert!(r.stopped_early && r.moves > 0 && r.moves < 1700, "{r:?}");
    opts.stop_after = None;
    let rest = resume(None, &opts, &Silent).await.unwrap();
    assert_eq!(r.moves + rest.moves, 1700, "{rest:?}");
    let last = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(
        last.ownership(),
        apply_moves(&after.ownership(), &p.moves).unwrap()
    );
    wait_master_keys(&c, 3000);
    all_keys_readable(&last, &keys).await;
}

/// An apply that dies while the target retries a failing import (the future is dropped, as when
/// the process is killed): once the fault is gone, `resume` waits for that same task (or finds
/// its slots moved already) instead of starting a second import, and finishes the plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_crash_adopts_the_running_import() {
    let c = redis8(0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let keys = KeySpace::spread("c:", 3000);
    populate(&found, &keys, 32, 100, 16).await.unwrap();
    let p = weighted_plan(&found, 1, Duration::ZERO, 60).await;
    let target = found.client(&p.moves[0].to).unwrap().clone();
    let _: () = target
        .query(&failpoint("import-main-channel", "handshake-reply"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = ApplyOptions::new(dir.path().join("journal"));
    let crashed = tokio::time::timeout(
        Duration::from_millis(1500),
        apply(&found, &p, &opts, &Silent),
    )
    .await;
    assert!(crashed.is_err(), "the apply was still waiting: {crashed:?}");
    let j = journal::read(&opts.journal).unwrap();
    assert!(!j.finished && j.done.is_empty());
    assert_eq!(
        tasks(&found, &p.moves[0].to).await,
        vec![("import".to_string(), "failed".to_string())]
    );

    let _: () = target.query(&failpoint("", "")).await.unwrap();
    let r = resume(None, &opts, &Silent).await.unwrap();
    assert_eq!((r.method.as_str(), r.moves), ("atomic", 60), "{r:?}");
    assert_eq!(
        tasks(&found, &p.moves[0].to).await,
        vec![("import".to_string(), "completed".to_string())],
        "one task, adopted by resume"
    );
    let after = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(
        after.ownership(),
        apply_moves(&found.ownership(), &p.moves).unwrap()
    );
    after.require_healthy().await.unwrap();
    wait_master_keys(&c, 3000);
    all_keys_readable(&after, &keys).await;
    assert!(journal::read(&opts.journal).unwrap().finished);
}
