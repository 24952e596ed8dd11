//! `count`: redis-cli's rebalance, reproduced.

use super::tester::PlannerTester;
use super::uniform;
use crate::{Mode, Ownership, Policy, SlotRange};

fn count_policy() -> Policy {
    Policy::with_mode(Mode::Count)
}

#[test]
fn the_largest_donor_gives_its_lowest_slots_to_the_largest_receiver() {
    let mut snap = uniform(&[1.0, 1.0, 1.0]);
    let r = |start, end, node: &str| SlotRange {
        start,
        end,
        node: node.into(),
    };
    snap.slots = Ownership::from_ranges(&[
        r(0, 8191, "n0"),
        r(8192, 12287, "n1"),
        r(12288, 16383, "n2"),
    ])
    .expect("ranges");
    let p = PlannerTester::new(snap)
        .policy(count_policy())
        .check(Mode::Count);
    // expected = floor(16384 / 3) = 5461 each; the one leftover slot goes to n1 (the first
    // non-donor), so n0 gives 2731: 1366 to n1, then 1365 to n2, lowest-numbered first.
    assert_eq!(p.moves.len(), 2731);
    assert!(
        p.moves[..1366]
            .iter()
            .enumerate()
            .all(|(i, m)| m.slot as usize == i && m.to == "n1")
    );
    assert!(
        p.moves[1366..]
            .iter()
            .enumerate()
            .all(|(i, m)| m.slot as usize == 1366 + i && m.to == "n2")
    );
    let after: Vec<usize> = p.nodes.iter().map(|n| n.slots_after).collect();
    assert_eq!(after, vec![5461, 5462, 5461]);
}

#[test]
fn weights_set_the_counts() {
    let p = PlannerTester::new(uniform(&[2.0, 1.0, 1.0]))
        .policy(count_policy())
        .check(Mode::Count);
    let after: Vec<usize> = p.nodes.iter().map(|n| n.slots_after).collect();
    assert_eq!(after, vec![8192, 4096, 4096]);
    // Minimal: exactly the slots n1 and n2 have over their targets.
    assert_eq!(p.moves.len(), (5461 - 4096) + (5461 - 4096));
}

#[test]
fn within_the_threshold_nothing_moves() {
    let p = PlannerTester::new(uniform(&[1.0, 1.0, 1.0]))
        .policy(count_policy())
        .check(Mode::Count);
    assert!(p.is_empty());
    assert!(
        p.notes[0].starts_with("no rebalancing needed"),
        "{:?}",
        p.notes
    );
    // 1.5% off: still inside redis-cli's default 2%.
    let p = PlannerTester::new(uniform(&[1.0, 1.03]))
        .policy(count_policy())
        .check(Mode::Count);
    assert!(p.is_empty());
    let p = PlannerTester::new(uniform(&[1.0, 1.03]))
        .policy(Policy {
            threshold: 0.001,
            ..count_policy()
        })
        .check(Mode::Count);
    assert!(!p.is_empty());
}

#[test]
fn weight_zero_drains_a_node() {
    let p = PlannerTester::new(uniform(&[1.0, 0.0, 1.0]))
        .policy(count_policy())
        .check(Mode::Count);
    assert_eq!(p.nodes[1].slots_after, 0);
    assert_eq!(p.moves.len(), 5461);
}

#[test]
fn the_budget_cuts_the_plan_short() {
    let p = PlannerTester::new(uniform(&[3.0, 1.0]))
        .policy(Policy {
            max_moves: Some(100),
            ..count_policy()
        })
        .check(Mode::Count);
    assert_eq!(p.moves.len(), 100);
    assert!(
        p.notes.iter().any(|n| n.contains("budget of 100")),
        "{:?}",
        p.notes
    );
}
