//! Measuring real clusters into planner snapshots.

use crate::support::cluster;
use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::{BenchConfig, populate, run};
use cairn_slots::cluster::Cluster;
use cairn_slots::measure::access_log::read_access_log;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots_planner::{CapacitySource, LoadSource, Snapshot};
use cairn_testkit::redis::Flavor;
use std::time::Duration;

fn hot_load(
    found: &Cluster,
    slot: u16,
    millis: u64,
) -> tokio::task::JoinHandle<cairn_slots::bench::BenchReport> {
    let mut cfg = BenchConfig::new(KeySpace::in_slot("hot:", 50, slot));
    cfg.clients = 2;
    cfg.pipeline = 4;
    cfg.read_ratio = 0.5;
    cfg.duration = Duration::from_millis(millis);
    let c = found.clone();
    tokio::spawn(async move { run(&c, &cfg).await.unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_snapshot_from_slot_stats() {
    let c = cluster(Flavor::Valkey, 3, 1);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    populate(&found, &KeySpace::spread("m:", 3000), 100, 100, 16)
        .await
        .unwrap();
    let hot = 777;
    let load = hot_load(&found, hot, 1500);
    let cfg = MeasureConfig {
        window: Duration::from_secs(1),
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.unwrap();
    load.await.unwrap();
    assert_eq!(
        snap.load_sources,
        vec![LoadSource::SlotStats, LoadSource::KeyCounts]
    );
    assert_eq!(snap.capacity_source, CapacitySource::Default);
    assert_eq!(snap.nodes.len(), 6);
    assert_eq!(snap.masters().count(), 3);
    assert_eq!(snap.fingerprint(), found.fingerprint());
    assert!(snap.window_ms >= 1000);
    let loads = snap.slot_load.as_slice();
    let keys: u64 = loads.iter().map(|l| l.keys).sum();
    assert!(
        keys >= 3000,
        "3000 populated keys plus the hot ones: {keys}"
    );
    assert!(loads.iter().map(|l| l.bytes).sum::<u64>() > 3000 * 100);
    let hottest = (0..16384u16)
        .max_by(|&a, &b| {
            loads[a as usize]
                .cpu_usec_per_sec
                .total_cmp(&loads[b as usize].cpu_usec_per_sec)
        })
        .unwrap();
    assert_eq!(hottest, hot);
    assert!(loads[hot as usize].net_in_bytes_per_sec > 0.0);
    // serde_json's default float parsing is not bit-exact: compare what is exact.
    let back = Snapshot::from_json(&snap.to_json()).unwrap();
    assert_eq!(back.fingerprint(), snap.fingerprint());
    assert_eq!(back.nodes, snap.nodes);
    let keys_back: Vec<u64> = back.slot_load.as_slice().iter().map(|l| l.keys).collect();
    assert_eq!(keys_back, loads.iter().map(|l| l.keys).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_snapshot_from_monitor_and_access_log() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let hot = 4000;
    let load = hot_load(&found, hot, 1500);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cfg = MeasureConfig {
        window: Duration::from_secs(1),
        monitor: Some(Duration::from_secs(1)),
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.unwrap();
    let report = load.await.unwrap();
    assert!(report.ops > 0);
    assert_eq!(
        snap.load_sources,
        vec![LoadSource::Sampling, LoadSource::KeyCounts]
    );
    let l = &snap.slot_load.as_slice()[hot as usize];
    assert!(l.reads_per_sec > 0.0 && l.writes_per_sec > 0.0, "{l:?}");
    let elsewhere: f64 = snap
        .slot_load
        .as_slice()
        .iter()
        .enumerate()
        .filter(|(s, _)| *s != hot as usize)
        .map(|(_, l)| l.ops_per_sec())
        .sum();
    assert_eq!(elsewhere, 0.0, "only the hot slot was loaded");

    // The same load through an access log written by the bench.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut bench = BenchConfig::new(KeySpace::spread("a:", 100));
    bench.duration = Duration::from_millis(300);
    bench.access_log = Some(path.clone());
    let r = run(&found, &bench).await.unwrap();
    let counts =
        read_access_log(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    assert_eq!(counts.total(), r.ops + r.errors);
    let cfg = MeasureConfig {
        window: Duration::from_secs(1),
        access_log: Some((counts.clone(), Duration::from_secs(10))),
        capacity: CapacityConfig::Weights(vec![(c.nodes()[1].addr(), 2.0)]),
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.unwrap();
    assert_eq!(
        snap.load_sources,
        vec![LoadSource::AccessLog, LoadSource::KeyCounts]
    );
    let reads: f64 = snap
        .slot_load
        .as_slice()
        .iter()
        .map(|l| l.reads_per_sec)
        .sum();
    assert!((reads - counts.reads.iter().sum::<u64>() as f64 / 10.0).abs() < 1e-6);
    assert_eq!(snap.capacity_source, CapacitySource::Weights);
    let weighted = snap
        .nodes
        .iter()
        .find(|n| n.addr == c.nodes()[1].addr())
        .unwrap();
    assert_eq!(weighted.capacity.weight, 2.0);
    let bad = MeasureConfig {
        capacity: CapacityConfig::Weights(vec![("nosuchnode".into(), 1.0)]),
        window: Duration::ZERO,
        ..MeasureConfig::default()
    };
    let err = measure(&found, &bad).await.unwrap_err().to_string();
    assert!(
        err.contains("nosuchnode") && err.contains("cairn slots status"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_and_origin_capacity() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        capacity: CapacityConfig::Probe(Duration::from_millis(400)),
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.unwrap();
    assert_eq!(snap.capacity_source, CapacitySource::Probe);
    for m in snap.masters() {
        assert!(m.capacity.cpu.unwrap() > 100.0, "{:?}", m.capacity);
        assert!(m.capacity.membw.unwrap() > 100_000.0, "{:?}", m.capacity);
    }
    // Explicit numbers for every master: no probe, weights by the origin formula.
    let ids: Vec<String> = snap.masters().map(|m| m.id.clone()).collect();
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        capacity: CapacityConfig::CpuMembw {
            alpha: 0.6,
            cpu: vec![
                (ids[0].clone(), 8.0),
                (ids[1].clone(), 4.0),
                (ids[2].clone(), 4.0),
            ],
            membw: vec![
                (ids[0].clone(), 10.0),
                (ids[1].clone(), 10.0),
                (ids[2].clone(), 10.0),
            ],
            probe: Duration::from_millis(100),
        },
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.unwrap();
    let w: Vec<f64> = ids
        .iter()
        .map(|id| snap.node(id).unwrap().capacity.weight)
        .collect();
    assert!(w[0] > w[1] && (w[1] - w[2]).abs() < 1e-12, "{w:?}");
    assert!((w.iter().sum::<f64>() - 3.0).abs() < 1e-9);
}
