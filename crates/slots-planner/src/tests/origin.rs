//! `origin`: the origin design with its defects fixed.

use super::tester::PlannerTester;
use super::uniform;
use crate::{Mode, Policy, SLOT_COUNT};

#[test]
fn counts_follow_capacity_not_usage() {
    let mut snap = uniform(&[1.0, 1.0, 1.0]);
    for (n, (cpu, membw)) in snap
        .nodes
        .iter_mut()
        .zip([(3.0, 1.0), (1.0, 1.0), (1.0, 3.0)])
    {
        n.capacity.cpu = Some(cpu);
        n.capacity.membw = Some(membw);
    }
    // The busiest node in the sample code's sense (high usage) gets no extra slots.
    snap.nodes[1].used_memory = 1 << 30;
    let p = PlannerTester::new(snap)
        .policy(Policy::with_mode(Mode::Origin))
        .check(Mode::Origin);
    // weight = 0.6 * cpu share + 0.4 * membw share = 0.44, 0.2, 0.36: 7208.96, 3276.8 and
    // 5898.24 slots; floors leave 2 slots, which go to the largest remainders (n0, n1).
    let after: Vec<usize> = p.nodes.iter().map(|n| n.slots_after).collect();
    assert_eq!(after.iter().sum::<usize>(), SLOT_COUNT);
    assert_eq!(after, vec![7209, 3277, 5898]);
}

#[test]
fn read_hot_slots_go_to_cpu_and_write_hot_slots_to_memory_bandwidth() {
    let mut snap = uniform(&[1.0, 1.0]);
    snap.nodes[0].capacity.cpu = Some(4.0);
    snap.nodes[0].capacity.membw = Some(1.0);
    snap.nodes[1].capacity.cpu = Some(1.0);
    snap.nodes[1].capacity.membw = Some(4.0);
    let read_hot = 9000u16; // on n1, the memory-bandwidth node
    let write_hot = 100u16; // on n0, the CPU node
    snap.slot_load
        .get_mut(read_hot)
        .expect("in range")
        .reads_per_sec = 5000.0;
    let w = snap.slot_load.get_mut(write_hot).expect("in range");
    w.reads_per_sec = 0.0;
    w.writes_per_sec = 5000.0;
    let p = PlannerTester::new(snap)
        .policy(Policy {
            alpha: 0.5,
            ..Policy::with_mode(Mode::Origin)
        })
        .check(Mode::Origin);
    let moved = |slot: u16| {
        p.moves
            .iter()
            .find(|m| m.slot == slot)
            .map(|m| m.to.as_str())
    };
    assert_eq!(moved(read_hot), Some("n0"));
    assert_eq!(moved(write_hot), Some("n1"));
    // Equal weights: the two hot slots trade places and nothing else moves.
    assert_eq!(p.moves.len(), 2);
    // Hot moves come first, hottest first: the write-hot slot carries all the writes.
    assert_eq!(p.moves[0].slot, write_hot);
}
