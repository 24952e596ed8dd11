//! `load`: the default planner.

use super::tester::PlannerTester;
use super::{small_synthetic, uniform};
use crate::synthetic::{SyntheticSpec, generate};
use crate::{Mode, PlanError, Policy, Snapshot, plan};

fn with_hot_slots(mut snap: Snapshot, hot: &[(u16, f64)]) -> Snapshot {
    for &(slot, reads) in hot {
        snap.slot_load
            .get_mut(slot)
            .expect("in range")
            .reads_per_sec = reads;
    }
    snap
}

#[test]
fn hot_slots_are_spread_with_few_moves() {
    // n0 and n1 hold two hot slots each, n2 and n3 none: one hot slot from each of the first
    // two to each of the others evens everything out.
    let hot = [(10, 5000.0), (20, 5000.0), (4100, 5000.0), (4200, 5000.0)];
    let snap = with_hot_slots(uniform(&[1.0, 1.0, 1.0, 1.0]), &hot);
    let p = PlannerTester::new(snap).check(Mode::Load);
    assert!(p.max_mean_before > 1.4, "{}", p.max_mean_before);
    assert!(
        p.max_mean_after <= p.lower_bound * 1.02 + 1e-9,
        "{}",
        p.summary()
    );
    assert!(p.moves.len() <= 4, "{}", p.summary());
}

#[test]
fn unequal_nodes_get_load_in_proportion_to_capacity() {
    let mut snap = uniform(&[1.0, 1.0]);
    snap.nodes[0].capacity.cpu = Some(3.0);
    snap.nodes[1].capacity.cpu = Some(1.0);
    let p = PlannerTester::new(snap).check(Mode::Load);
    assert!(p.max_mean_before > 1.9);
    assert!(p.max_mean_after <= 1.02 + 1e-9, "{}", p.summary());
    let n0 = p.nodes[0].slots_after as f64;
    assert!((n0 / 16384.0 - 0.75).abs() < 0.02, "{}", p.summary());
}

#[test]
fn a_balanced_cluster_is_left_alone() {
    let p = PlannerTester::new(uniform(&[1.0, 1.0, 1.0, 1.0])).check(Mode::Load);
    assert!(p.is_empty());
    assert!(p.notes[0].starts_with("nothing to do"), "{:?}", p.notes);
}

#[test]
fn the_move_budget_is_respected_and_still_helps() {
    let snap = small_synthetic(6, 5, 1.0);
    let p = PlannerTester::new(snap)
        .policy(Policy {
            max_moves: Some(3),
            ..Policy::default()
        })
        .check(Mode::Load);
    assert!(p.moves.len() <= 3);
    assert!(p.max_mean_after < p.max_mean_before, "{}", p.summary());
}

#[test]
fn a_zero_budget_moves_nothing() {
    let p = PlannerTester::new(small_synthetic(3, 1, 2.0))
        .policy(Policy {
            max_moves: Some(0),
            ..Policy::default()
        })
        .check(Mode::Load);
    assert!(p.is_empty());
    assert_eq!(p.max_mean_after, p.max_mean_before);
}

#[test]
fn the_cheaper_of_two_equal_slots_moves() {
    // One extra-hot slot on each of two n0 slots; the one with 100x the keys stays.
    let mut snap = with_hot_slots(uniform(&[1.0, 1.0]), &[(1, 1000.0), (2, 1000.0)]);
    snap.slot_load.get_mut(1).expect("in range").keys = 1000;
    let p = PlannerTester::new(snap).check(Mode::Load);
    assert!(p.moves.iter().any(|m| m.slot == 2), "{}", p.summary());
    assert!(p.moves.iter().all(|m| m.slot != 1), "{}", p.summary());
}

#[test]
fn no_node_is_filled_past_its_memory_headroom() {
    let mut snap = uniform(&[1.0, 1.0]);
    snap.nodes[0].capacity.cpu = Some(3.0);
    snap.nodes[1].capacity.cpu = Some(1.0);
    // Both hold 8192 slots of 1000 bytes; 90% of 9.2 MB leaves n0 room for 88 more, though
    // its CPU would take three times as many slots as n1.
    for n in &mut snap.nodes {
        n.capacity.maxmemory = Some(9_200_000);
        n.used_memory = 8_192_000;
    }
    let p = PlannerTester::new(snap).check(Mode::Load);
    assert!(
        p.nodes
            .iter()
            .all(|n| n.after.memory.is_some_and(|m| m <= 1.0)),
        "{}",
        p.summary()
    );
    assert!(
        !p.moves.is_empty() && p.moves.len() <= 88,
        "{}",
        p.summary()
    );
    assert!(p.moves.iter().all(|m| m.to == "n0"));
    let err = crate::plan(
        &uniform(&[1.0]),
        &Policy {
            memory_headroom: 1.5,
            ..Policy::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        PlanError::InvalidPolicy {
            field: "memory_headroom",
            ..
        }
    ));
}

#[test]
fn a_zero_weight_node_is_drained() {
    let p = PlannerTester::new(uniform(&[1.0, 0.0, 1.0]))
        .without_replanning()
        .check(Mode::Load);
    assert_eq!(p.nodes[1].slots_after, 0, "{}", p.summary());
    assert!(p.max_mean_after <= 1.02 + 1e-9);
}

#[test]
fn key_counts_alone_still_spread_data_by_capacity() {
    let mut snap = uniform(&[1.0, 1.0]);
    for slot in 0..16384u16 {
        snap.slot_load
            .get_mut(slot)
            .expect("in range")
            .reads_per_sec = 0.0;
    }
    snap.nodes[0].capacity.weight = 3.0;
    let p = PlannerTester::new(snap).check(Mode::Load);
    assert!(
        (p.nodes[0].slots_after as f64 / 16384.0 - 0.75).abs() < 0.02,
        "{}",
        p.summary()
    );
}

#[test]
fn skewed_synthetic_clusters_end_near_the_lower_bound() {
    for (nodes, spread) in [(3, 1.0), (5, 2.0)] {
        let snap = generate(&SyntheticSpec {
            nodes,
            seed: 11,
            keys: 200_000,
            capacity_spread: spread,
            ..SyntheticSpec::default()
        });
        let p = PlannerTester::new(snap)
            .without_replanning()
            .check(Mode::Load);
        assert!(
            p.max_mean_after <= p.lower_bound * 1.05,
            "{nodes} nodes, spread {spread}:\n{}",
            p.summary()
        );
    }
}

#[test]
fn unplannable_snapshots_are_refused_with_the_reason() {
    let mut uncovered = uniform(&[1.0, 1.0]);
    uncovered.slots.unassign(42).expect("in range");
    assert_eq!(
        plan(&uncovered, &Policy::default()).unwrap_err(),
        PlanError::UncoveredSlots {
            count: 1,
            first: 42
        }
    );
    let mut failing = uniform(&[1.0, 1.0]);
    failing.nodes[1].flags.push("fail".into());
    let err = plan(&failing, &Policy::default()).unwrap_err();
    assert_eq!(
        err,
        PlanError::NodeFailing {
            id: "n1".into(),
            flag: "fail".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "master n1 owns slots but is flagged fail; repair the cluster before planning"
    );
    let drained = uniform(&[0.0, 0.0]);
    assert_eq!(
        plan(&drained, &Policy::default()).unwrap_err(),
        PlanError::NoCapacity
    );
}

#[test]
fn empty_masters_receive_slots_unless_told_not_to() {
    let mut snap = uniform(&[1.0, 1.0]);
    let mut spare = crate::Node::master("n2", "127.0.0.1:7002");
    spare.capacity.weight = 1.0;
    snap.nodes.push(spare);
    let p = PlannerTester::new(snap.clone())
        .without_replanning()
        .check(Mode::Load);
    assert!(p.nodes[2].slots_after > 5000, "{}", p.summary());
    let p = PlannerTester::new(snap)
        .policy(Policy {
            use_empty_masters: false,
            ..Policy::default()
        })
        .check(Mode::Load);
    assert_eq!(p.nodes.len(), 2);
    assert!(p.is_empty());
}

#[test]
fn the_summary_shows_cost_loads_and_notes() {
    let snap = with_hot_slots(uniform(&[1.0, 1.0, 1.0]), &[(10, 3400.0), (20, 3400.0)]);
    let p = plan(&snap, &Policy::default()).expect("plans");
    let text = p.summary();
    assert!(text.starts_with(&format!(
        "plan (load mode) for snapshot {}",
        p.snapshot_fingerprint
    )));
    assert!(
        text.contains(&format!("moves: {}", p.moves.len())),
        "{text}"
    );
    assert!(
        text.contains("worst normalised load (max/mean): "),
        "{text}"
    );
    assert!(text.contains("n0           127.0.0.1:7000"), "{text}");
    assert!(text.contains("first moves:"), "{text}");
    assert!(text.contains("note: "), "{text}");
}
