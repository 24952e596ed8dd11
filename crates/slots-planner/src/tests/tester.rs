//! `PlannerTester`: runs one snapshot through every planner (and through JSON) and checks the
//! invariants every plan must keep, so each test only states what is special about its case.

use crate::layout::Layout;
use crate::ownership::apply_moves;
use crate::plan::Plan;
use crate::policy::{Mode, Policy};
use crate::snapshot::Snapshot;
use crate::{SLOT_COUNT, plan};

/// Tolerance for comparing predicted loads.
const TOLERANCE: f64 = 1e-9;

pub(super) struct PlannerTester {
    snapshot: Snapshot,
    policy: Policy,
    replan: bool,
}

impl PlannerTester {
    pub(super) fn new(snapshot: Snapshot) -> Self {
        PlannerTester {
            snapshot,
            policy: Policy::default(),
            replan: true,
        }
    }

    /// Skips planning the same snapshot twice more (as is, and with the node list reversed)
    /// to check determinism: for cases that are slow to plan and say nothing new about it.
    pub(super) fn without_replanning(mut self) -> Self {
        self.replan = false;
        self
    }

    pub(super) fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Plans with every mode and checks each plan; returns them in [`Mode::ALL`] order.
    pub(super) fn check_all_modes(&self) -> Vec<Plan> {
        Mode::ALL.iter().map(|&m| self.check(m)).collect()
    }

    /// Plans with `mode`, checks every invariant, and returns the plan.
    pub(super) fn check(&self, mode: Mode) -> Plan {
        let policy = Policy {
            mode,
            ..self.policy.clone()
        };
        let plan = plan(&self.snapshot, &policy).expect("snapshot plans");
        let ctx = format!("mode {mode}, policy {policy:?}");

        assert_eq!(plan.mode, mode, "{ctx}");
        assert_eq!(
            plan.snapshot_fingerprint,
            self.snapshot.fingerprint(),
            "{ctx}"
        );
        if let Some(max) = policy.max_moves {
            assert!(
                plan.moves.len() <= max,
                "{ctx}: {} moves over budget",
                plan.moves.len()
            );
        }

        let mut seen = vec![false; SLOT_COUNT];
        for m in &plan.moves {
            assert!(
                !std::mem::replace(&mut seen[usize::from(m.slot)], true),
                "{ctx}: slot {} moved twice",
                m.slot
            );
            assert_ne!(m.from, m.to, "{ctx}: slot {} moved to its owner", m.slot);
            let load = self.snapshot.slot_load.get(m.slot).expect("slot in range");
            assert_eq!(
                (m.keys, m.bytes),
                (load.keys, load.bytes),
                "{ctx}: move of slot {} misreports its size",
                m.slot
            );
        }

        let after = apply_moves(&self.snapshot.slots, &plan.moves).expect("moves replay");
        assert!(
            after.uncovered().is_empty(),
            "{ctx}: slots left without owner"
        );
        let counts = after.counts();
        assert_eq!(counts.values().sum::<usize>(), SLOT_COUNT, "{ctx}");
        for n in &plan.nodes {
            assert_eq!(
                counts.get(&n.id).copied().unwrap_or(0),
                n.slots_after,
                "{ctx}: node {}",
                n.id
            );
            assert!(
                self.snapshot.node(&n.id).is_some(),
                "{ctx}: unknown node {}",
                n.id
            );
        }
        assert_eq!(
            plan.nodes.iter().map(|n| n.slots_before).sum::<usize>(),
            SLOT_COUNT,
            "{ctx}"
        );

        let layout = Layout::new(&self.snapshot, &policy).expect("snapshot lays out");
        let predicted = layout.evaluate(&after).expect("final layout evaluates");
        assert!(
            (predicted.max_mean() - plan.max_mean_after).abs() < TOLERANCE,
            "{ctx}"
        );
        assert!(
            (layout.max_mean() - plan.max_mean_before).abs() < TOLERANCE,
            "{ctx}"
        );
        assert!(plan.lower_bound >= 1.0 - TOLERANCE, "{ctx}");
        assert!(
            plan.max_mean_after >= plan.lower_bound - TOLERANCE,
            "{ctx}: beat the lower bound"
        );
        if mode == Mode::Load {
            assert!(
                plan.max_mean_after <= plan.max_mean_before + TOLERANCE,
                "{ctx}: load plan made things worse: {} -> {}",
                plan.max_mean_before,
                plan.max_mean_after
            );
        }

        if self.replan {
            let again = crate::plan(&self.snapshot, &policy).expect("snapshot plans");
            assert_eq!(again, plan, "{ctx}: planning is not deterministic");
            let mut reordered = self.snapshot.clone();
            reordered.nodes.reverse();
            let shuffled = crate::plan(&reordered, &policy).expect("snapshot plans");
            assert_eq!(
                shuffled.moves, plan.moves,
                "{ctx}: node order in the snapshot changed the plan"
            );
        }

        let back = Plan::from_json(&plan.to_json()).expect("plan reads back");
        assert_eq!(back, plan, "{ctx}: plan does not round-trip through json");
        plan
    }
}
