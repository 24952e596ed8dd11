//! Valkey 8.0: `CLUSTER SLOT-STATS` (all four metrics) but no atomic slot migration, so
//! `Method::Auto` applies with the legacy protocol.

use crate::support::{cluster, writer};
use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::populate;
use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use cairn_slots::info::ServerKind;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots::migrate::{ApplyOptions, Method, Silent, apply};
use cairn_slots::router::{Router, SlotMap};
use cairn_slots::slot::slot_of;
use cairn_slots::stats::slot_stats;
use cairn_slots_planner::{LoadSource, Mode, Policy, apply_moves, plan};
use cairn_testkit::redis::{Flavor, RedisCluster};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn valkey8(replicas: usize) -> RedisCluster {
    cluster(Flavor::Valkey8, 3, replicas)
}

/// Every Valkey 8.0 master answers `CLUSTER SLOT-STATS` with key-count, cpu-usec,
/// network-bytes-in and network-bytes-out, and is detected as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_stats_has_all_four_metrics() {
    let c = valkey8(0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
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
    for m in found.masters() {
        let v = m.server.unwrap();
        assert_eq!((v.kind, v.major, v.minor), (ServerKind::Valkey, 8, 0));
        assert!(v.has_slot_stats());
        assert_eq!(v.atomic_migration(), None);
    }
}

/// measure (SLOT-STATS deltas), plan, apply with `Method::Auto` (= legacy) under a write load:
/// no acknowledged write is lost, with and without replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_apply_is_legacy_and_loses_no_acknowledged_write() {
    for replicas in [0, 1] {
        let c = valkey8(replicas);
        let found = Cluster::discover(&c.seed()).await.unwrap();
        populate(&found, &KeySpace::spread("bg:", 3000), 64, 100, 16)
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let map = Arc::new(SlotMap::from_cluster(&found));
        let writers: Vec<_> = (0..4)
            .map(|w| tokio::spawn(writer(w, map.clone(), stop.clone())))
            .collect();
        let heavy = found.masters().next().unwrap().id().to_string();
        let cfg = MeasureConfig {
            window: Duration::from_millis(500),
            sample_keys: 1,
            capacity: CapacityConfig::Weights(vec![(heavy, 3.0)]),
            ..MeasureConfig::default()
        };
        let snap = measure(&found, &cfg).await.unwrap();
        assert_eq!(
            snap.load_sources,
            vec![LoadSource::SlotStats, LoadSource::KeyCounts]
        );
        let loads = snap.slot_load.as_slice();
        assert!(loads.iter().any(|l| l.cpu_usec_per_sec > 0.0));
        assert!(loads.iter().any(|l| l.net_in_bytes_per_sec > 0.0));
        let policy = Policy {
            mode: Mode::Count,
            max_moves: Some(200),
            ..Policy::default()
        };
        let p = plan(&snap, &policy).unwrap();
        assert_eq!(p.moves.len(), 200, "{}", p.summary());
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ApplyOptions::new(dir.path().join("journal"));
        opts.method = Method::Auto;
        opts.keys_per_migrate = 10;
        let report = apply(&found, &p, &opts, &Silent).await.unwrap();
        assert_eq!(report.method, "legacy");
        assert_eq!(report.moves, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);

        let after = Cluster::discover(&c.seed()).await.unwrap();
        assert_eq!(
            after.ownership(),
            apply_moves(&found.ownership(), &p.moves).unwrap()
        );
        after.require_healthy().await.unwrap();
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
        assert!(redirected > 0, "writers met the migration");
    }
}
