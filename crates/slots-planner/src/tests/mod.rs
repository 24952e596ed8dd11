//! The planner's tests, one file per topic, sharing the [`tester::PlannerTester`] harness and
//! the small fixtures below.

mod count;
mod formats;
mod load;
mod origin;
mod properties;
mod tester;

use crate::synthetic::{StartLayout, SyntheticSpec, generate};
use crate::{Node, Ownership, SLOT_COUNT, Snapshot};

/// A synthetic snapshot small enough for debug builds (few keys, same shape as the benchmark).
fn small_synthetic(nodes: usize, seed: u64, spread: f64) -> Snapshot {
    generate(&SyntheticSpec {
        nodes,
        seed,
        keys: 20_000,
        capacity_spread: spread,
        ..SyntheticSpec::default()
    })
}

/// Masters `n0`, `n1`, ... with the given weights, slots split evenly in that order, every slot
/// with one read per second and 10 keys of 100 bytes.
fn uniform(weights: &[f64]) -> Snapshot {
    let ids: Vec<String> = (0..weights.len()).map(|i| format!("n{i}")).collect();
    let nodes = ids
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(i, (id, &w))| {
            let mut n = Node::master(id.clone(), format!("127.0.0.1:{}", 7000 + i));
            n.capacity.weight = w;
            n
        })
        .collect();
    let mut snap = Snapshot::new(nodes, Ownership::even(&ids));
    for slot in 0..SLOT_COUNT as u16 {
        let l = snap.slot_load.get_mut(slot).expect("slot in range");
        l.reads_per_sec = 1.0;
        l.keys = 10;
        l.bytes = 1000;
    }
    snap
}

#[test]
fn synthetic_snapshots_are_seeded() {
    let a = small_synthetic(4, 9, 2.0);
    assert_eq!(a, small_synthetic(4, 9, 2.0));
    assert_ne!(a, small_synthetic(4, 10, 2.0));
    assert!(a.validate().is_ok());
    let random = generate(&SyntheticSpec {
        keys: 1000,
        start: StartLayout::Random,
        ..SyntheticSpec::default()
    });
    assert!(random.slots.uncovered().is_empty());
    assert_eq!(random.slots.counts().len(), 6);
}
