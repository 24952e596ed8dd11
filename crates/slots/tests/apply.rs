//! Plan, apply and verify on real clusters; refusals; crash and resume.

use crate::support::{all_keys_readable, cluster, dbsize_sum, info_field};
use cairn_slots::SlotsError;
use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::populate;
use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots::migrate::{ApplyOptions, Method, Silent, apply, journal, resume};
use cairn_slots::router::{Router, SlotMap};
use cairn_slots_planner::{Mode, Move, Plan, Policy, apply_moves, plan};
use cairn_testkit::redis::Flavor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A count-mode plan that gives node 0 weight 3: moves slots from the others to it.
async fn weighted_plan(found: &Cluster, max_moves: usize) -> Plan {
    let heavy = found.masters().next().unwrap().id().to_string();
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        sample_keys: 1,
        capacity: CapacityConfig::Weights(vec![(heavy, 3.0)]),
        ..MeasureConfig::default()
    };
    let snap = measure(found, &cfg).await.unwrap();
    let policy = Policy {
        mode: Mode::Count,
        max_moves: Some(max_moves),
        ..Policy::default()
    };
    let p = plan(&snap, &policy).unwrap();
    assert_eq!(p.moves.len(), max_moves, "{}", p.summary());
    p
}

/// A plan bound to the cluster as it is now whose moves are exactly `moves`.
async fn plan_with_moves(found: &Cluster, moves: Vec<Move>) -> Plan {
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        sample_keys: 0,
        ..MeasureConfig::default()
    };
    let snap = measure(found, &cfg).await.unwrap();
    let mut p = plan(&snap, &Policy::with_mode(Mode::Count)).unwrap();
    p.moves = moves;
    p
}

/// `slots` moving from `from` to `to`.
fn moves_between(slots: &[u16], from: &str, to: &str) -> Vec<Move> {
    slots
        .iter()
        .map(|&slot| Move {
            slot,
            from: from.to_string(),
            to: to.to_string(),
            keys: 0,
            bytes: 0,
        })
        .collect()
}

fn options(dir: &tempfile::TempDir) -> ApplyOptions {
    let mut o = ApplyOptions::new(dir.path().join("journal"));
    o.max_parallel = 3;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_verify_legacy_and_atomic() {
    for (flavor, masters, replicas, method) in [
        (Flavor::Redis, 3, 1, Method::Auto),
        (Flavor::Valkey, 6, 0, Method::Legacy),
        (Flavor::Valkey, 3, 1, Method::Auto),
    ] {
        let c = cluster(flavor, masters, replicas);
        let found = Cluster::discover(&c.seed()).await.unwrap();
        let keys = KeySpace::spread("k:", 4000);
        populate(&found, &keys, 32, 100, 16).await.unwrap();
        let p = weighted_plan(&found, 150).await;
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(&dir);
        opts.method = method;
        let report = apply(&found, &p, &opts, &Silent).await.unwrap();
        let expected_method = if flavor == Flavor::Valkey && method == Method::Auto {
            "atomic"
        } else {
            "legacy"
        };
        assert_eq!(report.method, expected_method, "{flavor:?}");
        assert_eq!(report.moves, 150);
        let after = Cluster::discover(&c.seed()).await.unwrap();
        let want = apply_moves(&found.ownership(), &p.moves).unwrap();
        assert_eq!(after.ownership(), want, "{flavor:?} {method:?}");
        after.require_healthy().await.unwrap();
        assert_eq!(dbsize_sum(&c), 4000);
        all_keys_readable(&after, &keys).await;
        let j = journal::read(&opts.journal).unwrap();
        assert!(j.finished && j.done.len() == 150);
        // The same plan again: the fingerprint no longer matches, nothing is touched.
        let err = apply(&after, &p, &opts, &Silent).await.unwrap_err();
        assert!(matches!(err, SlotsError::Refused { .. }), "{err}");
        assert!(err.to_string().contains("measure and plan again"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_during_apply() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    populate(&found, &KeySpace::spread("bg:", 3000), 64, 100, 16)
        .await
        .unwrap();
    let p = weighted_plan(&found, 300).await;
    let stop = Arc::new(AtomicBool::new(false));
    let map = Arc::new(SlotMap::from_cluster(&found));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, map) = (stop.clone(), map.clone());
            tokio::spawn(async move {
                let mut router = Router::new(map, Timeouts::default());
                let mut acked = Vec::new();
                let mut failed = 0u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}:{i}");
                    let slot = cairn_slots::slot::slot_of(key.as_bytes());
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&key).arg(i);
                    match router.query(slot, cmd).await {
                        Ok(_) => acked.push((key, i)),
                        Err(_) => failed += 1,
                    }
                    i += 1;
                }
                (acked, failed, router.redirects)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir);
    opts.keys_per_migrate = 10;
    apply(&found, &p, &opts, &Silent).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let after = Cluster::discover(&c.seed()).await.unwrap();
    let mut router = Router::new(Arc::new(SlotMap::from_cluster(&after)), Timeouts::default());
    let mut total = 0;
    let mut redirected = 0;
    for w in writers {
        let (acked, failed, redirects) = w.await.unwrap();
        assert_eq!(failed, 0, "every write was answered");
        redirected += redirects.moved + redirects.ask;
        total += acked.len();
        let batch: Vec<_> = acked
            .iter()
            .map(|(k, _)| {
                let mut c = redis::cmd("GET");
                c.arg(k);
                (cairn_slots::slot::slot_of(k.as_bytes()), c)
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
    assert!(
        total > 200,
        "writers made progress during the apply: {total}"
    );
    assert!(redirected > 0, "writers met the migration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_apply_resumes_including_a_half_moved_slot() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let keys = KeySpace::spread("r:", 3000);
    populate(&found, &keys, 32, 100, 16).await.unwrap();
    let p = weighted_plan(&found, 60).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir);
    opts.method = Method::Legacy;
    opts.stop_after = Some(20);
    let r = apply(&found, &p, &opts, &Silent).await.unwrap();
    assert!(r.stopped_early && r.moves == 20, "{r:?}");
    let j = journal::read(&opts.journal).unwrap();
    assert!(!j.finished);
    // Crash in the middle of the next move: slot open on both sides, half its keys moved.
    let next = j.pending()[0].clone();
    let src = found.client(&next.from).unwrap();
    let dst = found.client(&next.to).unwrap();
    let setslot = |state: &str, id: &str| {
        let mut c = redis::cmd("CLUSTER");
        c.arg("SETSLOT").arg(next.slot).arg(state).arg(id);
        c
    };
    let _: () = dst.query(&setslot("IMPORTING", &next.from)).await.unwrap();
    let _: () = src.query(&setslot("MIGRATING", &next.to)).await.unwrap();
    let slot_keys: Vec<String> = src
        .query(
            redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(next.slot)
                .arg(100),
        )
        .await
        .unwrap();
    if let Some(k) = slot_keys.first() {
        let (host, port) = dst.addr().rsplit_once(':').unwrap();
        let _: String = src
            .query(
                redis::cmd("MIGRATE")
                    .arg(host)
                    .arg(port)
                    .arg(k)
                    .arg(0)
                    .arg(5000),
            )
            .await
            .unwrap();
    }
    let mut jw = journal::Journal::append(&opts.journal).unwrap();
    jw.write(&journal::Record::Step {
        slot: next.slot,
        step: "keys".into(),
    })
    .unwrap();
    drop(jw);
    let err = Cluster::discover(&c.seed())
        .await
        .unwrap()
        .require_healthy()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cairn slots resume"), "{err}");

    opts.stop_after = None;
    let r = resume(None, &opts, &Silent).await.unwrap();
    assert_eq!(r.moves, 40, "{r:?}");
    let after = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(
        after.ownership(),
        apply_moves(&found.ownership(), &p.moves).unwrap()
    );
    assert_eq!(dbsize_sum(&c), 3000);
    all_keys_readable(&after, &keys).await;
    assert!(journal::read(&opts.journal).unwrap().finished);
    // Resuming a finished journal is a no-op.
    assert_eq!(resume(None, &opts, &Silent).await.unwrap().moves, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_keys_and_unhealthy_clusters_are_refused_before_moving() {
    let mut c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    populate(&found, &KeySpace::spread("b:", 500), 16, 100, 16)
        .await
        .unwrap();
    let p = weighted_plan(&found, 10).await;
    let big_slot = p.moves[0].slot;
    let big_key = cairn_slots::slot::SlotKeys::new().key(big_slot, "big");
    let owner = found.client(&p.moves[0].from).unwrap();
    let _: () = owner
        .query(redis::cmd("SET").arg(&big_key).arg("x".repeat(2 << 20)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir);
    opts.max_parallel = 1;
    opts.max_key_bytes = 1 << 20;
    let err = apply(&found, &p, &opts, &Silent).await.unwrap_err();
    assert!(
        matches!(&err, SlotsError::BigKey { slot, .. } if *slot == big_slot),
        "{err}"
    );
    assert!(err.to_string().contains("--max-key-bytes"), "{err}");
    // Nothing was left half-moved.
    Cluster::discover(&c.seed())
        .await
        .unwrap()
        .require_healthy()
        .await
        .unwrap();

    c.kill_node(2);
    let down = Cluster::discover(&c.seed()).await.unwrap();
    let err = apply(&down, &p, &opts, &Silent).await.unwrap_err();
    assert!(matches!(err, SlotsError::Unhealthy { .. }), "{err}");
}

/// Slots swapped between two masters (`A -> B` and `B -> A` in one plan, as load plans do):
/// `MIGRATE` blocks its source until the target answers, so the two directions must never be in
/// flight together, or each node waits for the other until `MIGRATE` times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_swapped_between_two_masters_move_without_waiting_on_each_other() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let masters: Vec<String> = found.masters().map(|m| m.id().to_string()).collect();
    let (a, b) = (&masters[0], &masters[1]);
    let mut moves = Vec::new();
    for (from, to) in [(a, b), (b, a)] {
        for &slot in found.ownership().slots_of(from).iter().take(8) {
            let keys = KeySpace::in_slot(&format!("swap{slot}:"), 3000, slot);
            populate(&found, &keys, 64, 500, 4).await.unwrap();
            moves.push(Move {
                slot,
                from: from.clone(),
                to: to.clone(),
                keys: 3000,
                bytes: 0,
            });
        }
    }
    let p = plan_with_moves(&found, moves).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ApplyOptions::new(dir.path().join("journal"));
    opts.method = Method::Legacy;
    opts.migrate_timeout = Duration::from_secs(2);
    let report = apply(&found, &p, &opts, &Silent).await.unwrap();
    assert_eq!((report.moves, report.keys), (16, 16 * 3000));
    let after = Cluster::discover(&c.seed()).await.unwrap();
    assert_eq!(
        after.ownership(),
        apply_moves(&found.ownership(), &p.moves).unwrap()
    );
    assert_eq!(dbsize_sum(&c), 16 * 3000);
}

/// `CLUSTER INFO` field `field` of the node at `addr`, as a number.
fn cluster_info(c: &cairn_testkit::redis::RedisCluster, addr: &str, field: &str) -> u64 {
    let node = c.nodes().iter().find(|n| n.addr() == addr).unwrap();
    info_field(node, &["CLUSTER", "INFO"], field)
}

/// `(cluster_my_epoch, id, address)` of every master, lowest epoch first.
fn masters_by_epoch(
    c: &cairn_testkit::redis::RedisCluster,
    found: &Cluster,
) -> Vec<(u64, String, String)> {
    let mut by_epoch: Vec<(u64, String, String)> = found
        .masters()
        .map(|m| {
            let epoch = cluster_info(c, m.addr(), "cluster_my_epoch");
            (epoch, m.id().to_string(), m.addr().to_string())
        })
        .collect();
    by_epoch.sort();
    by_epoch
}

/// A batch's slots end their import on the target in one transaction on Redis 7: one cluster-bus
/// broadcast for the batch instead of one per slot (each makes every node rescan all slots),
/// and the target still ends with the highest config epoch, even starting from the lowest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_claimed_with_one_broadcast_and_the_highest_epoch() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let by_epoch = masters_by_epoch(&c, &found);
    let (to, to_addr) = (by_epoch[0].1.clone(), by_epoch[0].2.clone());
    let from = by_epoch[2].1.clone();
    let slots: Vec<u16> = found
        .ownership()
        .slots_of(&from)
        .into_iter()
        .take(100)
        .collect();
    for &slot in slots.iter().take(10) {
        let keys = KeySpace::in_slot(&format!("claim{slot}:"), 20, slot);
        populate(&found, &keys, 16, 20, 4).await.unwrap();
    }
    let p = plan_with_moves(&found, moves_between(&slots, &from, &to)).await;
    let pongs = cluster_info(&c, &to_addr, "cluster_stats_messages_pong_sent");
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ApplyOptions::new(dir.path().join("journal"));
    opts.method = Method::Legacy;
    let report = apply(&found, &p, &opts, &Silent).await.unwrap();
    assert_eq!((report.moves, report.keys), (100, 10 * 20));
    let sent = cluster_info(&c, &to_addr, "cluster_stats_messages_pong_sent") - pongs;
    // Slot by slot, the target would have sent 100 broadcasts to 2 nodes; gossip replies to
    // pings add a few.
    assert!(sent < 50, "{sent} PONGs for one batch of 100 slots");
    let after = Cluster::discover(&c.seed()).await.unwrap();
    let target_epoch = cluster_info(&c, &to_addr, "cluster_my_epoch");
    for m in after.masters().filter(|m| m.id() != to) {
        let epoch = cluster_info(&c, m.addr(), "cluster_my_epoch");
        assert!(
            target_epoch > epoch,
            "target epoch {target_epoch}, {} has {epoch}",
            m.id()
        );
    }
    assert_eq!(
        after.ownership(),
        apply_moves(&found.ownership(), &p.moves).unwrap()
    );
    assert_eq!(dbsize_sum(&c), 10 * 20);
}

/// The source with the most slots to give starts first, whatever the plan order: the sources
/// with the most work set the pace of the apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_with_the_most_slots_starts_first() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let masters: Vec<String> = found.masters().map(|m| m.id().to_string()).collect();
    let (small, big, to) = (&masters[0], &masters[1], &masters[2]);
    let mv = |slot: u16, from: &String| Move {
        slot,
        from: from.clone(),
        to: to.clone(),
        keys: 0,
        bytes: 0,
    };
    let own = found.ownership();
    let mut moves: Vec<_> = own
        .slots_of(small)
        .into_iter()
        .take(2)
        .map(|s| mv(s, small))
        .collect();
    moves.extend(own.slots_of(big).into_iter().take(12).map(|s| mv(s, big)));
    let p = plan_with_moves(&found, moves).await;

    /// Sources of moves in the order they started.
    #[derive(Default)]
    struct Starts(std::sync::Mutex<Vec<String>>);
    impl cairn_slots::migrate::Progress for Starts {
        fn move_started(&self, mv: &Move) {
            self.0.lock().unwrap().push(mv.from.clone());
        }
    }
    let starts = Starts::default();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ApplyOptions::new(dir.path().join("journal"));
    opts.method = Method::Legacy;
    opts.max_parallel = 4;
    apply(&found, &p, &opts, &starts).await.unwrap();
    let order = starts.0.into_inner().unwrap();
    assert_eq!(order.len(), 14);
    assert!(order[..12].iter().all(|f| f == big), "{order:?}");
}

/// Targets that waited for their source's config epoch before claiming slots, by address.
#[derive(Default)]
struct EpochWaits(std::sync::Mutex<Vec<String>>);

impl cairn_slots::migrate::Progress for EpochWaits {
    fn epoch_waited(&self, target: &str, _waited: Duration) {
        self.0.lock().unwrap().push(target.to_string());
    }
}

/// A target claims slots only once it has heard of its source's config epoch. Right after the
/// source raised its epoch (`CLUSTER BUMPEPOCH`, as being the target of an earlier batch does)
/// the target usually has not heard yet: without the wait, its claim would keep an epoch below
/// the source's (it already has the highest it knows, so it would not bump), and a message the
/// source sent before its own `SETSLOT NODE` could take the slot, and its keys, back. Batched
/// (apply) and slot by slot (resume). Redis 7 spreads the bumped epoch with its next ping (up to
/// about a second), but that may come before the claim, so each path gets a few rounds to meet a
/// lagging target; every round checks the outcome. (Valkey broadcasts the bump at once: its
/// targets heard of it before the claim in every run we tried.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_claims_only_once_it_has_heard_of_the_source_epoch() {
    let flavor = Flavor::Redis;
    let c = cluster(flavor, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    // The source has the lowest epoch (a bump raises it above every other), the target the
    // highest (so it bumps only if it has heard of a higher one).
    let by_epoch = masters_by_epoch(&c, &found);
    let (from, from_addr) = (by_epoch[0].1.clone(), by_epoch[0].2.clone());
    let (to, to_addr) = (by_epoch[2].1.clone(), by_epoch[2].2.clone());
    let source_node = c.nodes().iter().find(|n| n.addr() == from_addr).unwrap();
    let mut free = found.ownership().slots_of(&from).into_iter();
    let mut written: Vec<KeySpace> = Vec::new();
    for slot_by_slot in [false, true] {
        let mut waited = false;
        for round in 0..5 {
            let found = Cluster::discover(&c.seed()).await.unwrap();
            let slots: Vec<u16> = free.by_ref().take(8).collect();
            for &slot in &slots[..4] {
                let keys = KeySpace::in_slot(&format!("epoch{slot}:"), 25, slot);
                populate(&found, &keys, 16, 20, 4).await.unwrap();
                written.push(keys);
            }
            let p = plan_with_moves(&found, moves_between(&slots, &from, &to)).await;
            let dir = tempfile::tempdir().unwrap();
            let mut opts = ApplyOptions::new(dir.path().join("journal"));
            opts.method = Method::Legacy;
            if slot_by_slot {
                opts.stop_after = Some(0);
                assert!(
                    apply(&found, &p, &opts, &Silent)
                        .await
                        .unwrap()
                        .stopped_early
                );
                opts.stop_after = None;
            }
            let bumped = source_node.command(&["CLUSTER", "BUMPEPOCH"]).unwrap();
            let bumped = bumped.text().unwrap();
            assert!(bumped.starts_with("BUMPED"), "{flavor:?}: {bumped}");
            let waits = EpochWaits::default();
            let report = if slot_by_slot {
                resume(None, &opts, &waits).await.unwrap()
            } else {
                apply(&found, &p, &opts, &waits).await.unwrap()
            };
            assert_eq!(report.moves, 8, "{flavor:?} round {round}");
            let after = Cluster::discover(&c.seed()).await.unwrap();
            assert_eq!(
                after.ownership(),
                apply_moves(&found.ownership(), &p.moves).unwrap(),
                "{flavor:?} round {round}"
            );
            assert_eq!(
                dbsize_sum(&c),
                25 * written.len() as i64,
                "{flavor:?} round {round}"
            );
            for keys in &written {
                all_keys_readable(&after, keys).await;
            }
            let (target_epoch, source_epoch) = (
                cluster_info(&c, &to_addr, "cluster_my_epoch"),
                cluster_info(&c, &from_addr, "cluster_my_epoch"),
            );
            assert!(
                target_epoch > source_epoch,
                "{flavor:?} round {round}: target epoch {target_epoch}, source {source_epoch}"
            );
            let waits = waits.0.into_inner().unwrap();
            assert!(waits.iter().all(|t| t == &to_addr), "{waits:?}");
            // A batch waits once; slot by slot, the slots in flight together each wait.
            if slot_by_slot {
                assert!(waits.len() <= 8, "{waits:?}");
            } else {
                assert!(waits.len() <= 1, "{waits:?}");
            }
            if !waits.is_empty() {
                waited = true;
                break;
            }
        }
        assert!(
            waited,
            "{flavor:?}: the target never lagged in 5 rounds (slot by slot: {slot_by_slot})"
        );
    }
}
