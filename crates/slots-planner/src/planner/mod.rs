//! The planners, behind one strategy trait.
//!
//! A [`Planner`] has two required methods: its [`Mode`] and [`Planner::propose`], which looks at
//! an evaluated [`Layout`] and returns ordered moves. Everything else (checking the policy,
//! building the layout, replaying the moves, predicting the loads after, costing, binding the
//! plan to the snapshot's fingerprint) is the provided [`Planner::plan`], shared by every mode
//! so that the three cannot disagree on how a plan is judged. The same seam lets a test or a
//! future planner plug in without touching the bookkeeping.

mod count;
mod load;
mod origin;
mod search;

pub use count::CountPlanner;
pub use load::LoadPlanner;
pub use origin::OriginPlanner;

use crate::error::PlanError;
use crate::format::PlanFormat;
use crate::layout::{Layout, Resource};
use crate::ownership::apply_moves;
use crate::plan::{Cost, Move, NodePrediction, Plan, ResourcePrediction};
use crate::policy::{Mode, Policy};
use crate::snapshot::Snapshot;

/// What a planner proposes: moves in apply order, and remarks for the operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proposal {
    /// Moves in the order they should be applied; each slot at most once, never to its owner.
    pub moves: Vec<Move>,
    /// Why the planner stopped or did nothing, in plain words.
    pub notes: Vec<String>,
}

/// A slot planning strategy.
///
/// Implementations must be deterministic (same layout and policy, same proposal) and must
/// respect [`Policy::max_moves`]; [`Planner::plan`] rejects a proposal that breaks the budget
/// or does not replay onto the snapshot's ownership.
pub trait Planner {
    /// The mode this planner implements.
    fn mode(&self) -> Mode;

    /// Proposes moves for `layout` (the snapshot's layout as measured) under `policy`.
    fn propose(&self, layout: &Layout, policy: &Policy) -> Proposal;

    /// Plans `snapshot` under `policy`: proposes moves, then predicts and costs them.
    ///
    /// # Errors
    /// [`PlanError::InvalidPolicy`] for an out-of-range policy, the [`Layout::new`] errors for
    /// a snapshot that cannot be planned (uncovered slots, failing owner, no capacity), and
    /// [`PlanError::InconsistentProposal`] if the proposal breaks the budget or does not
    /// replay (a planner bug).
    fn plan(&self, snapshot: &Snapshot, policy: &Policy) -> Result<Plan, PlanError> {
        policy.validate()?;
        let before = Layout::new(snapshot, policy)?;
        let proposal = self.propose(&before, policy);
        if let Some(max) = policy.max_moves
            && proposal.moves.len() > max
        {
            return Err(PlanError::InconsistentProposal(format!(
                "{} planner proposed {} moves over a budget of {max}",
                self.mode(),
                proposal.moves.len()
            )));
        }
        let final_slots = apply_moves(&snapshot.slots, &proposal.moves)
            .map_err(|e| PlanError::InconsistentProposal(format!("moves do not replay: {e}")))?;
        let after = before.evaluate(&final_slots)?;
        Ok(assemble(
            snapshot,
            policy,
            self.mode(),
            &before,
            &after,
            proposal,
        ))
    }
}

/// The planner for `mode`.
pub fn planner_for(mode: Mode) -> &'static dyn Planner {
    match mode {
        Mode::Count => &CountPlanner,
        Mode::Origin => &OriginPlanner,
        Mode::Load => &LoadPlanner,
    }
}

/// Plans `snapshot` with the planner `policy.mode` names. See [`Planner::plan`].
///
/// # Errors
/// As [`Planner::plan`].
pub fn plan(snapshot: &Snapshot, policy: &Policy) -> Result<Plan, PlanError> {
    planner_for(policy.mode).plan(snapshot, policy)
}

fn assemble(
    snapshot: &Snapshot,
    policy: &Policy,
    mode: Mode,
    before: &Layout,
    after: &Layout,
    proposal: Proposal,
) -> Plan {
    let loads_before = before.node_loads();
    let loads_after = after.node_loads();
    let mut notes = proposal.notes;
    let nodes: Vec<NodePrediction> = before
        .node_ids()
        .iter()
        .enumerate()
        .map(|(i, id)| NodePrediction {
            id: id.clone(),
            addr: before.addrs[i].clone(),
            slots_before: before.slot_counts()[i],
            slots_after: after.slot_counts()[i],
            before: loads_before[i].clone(),
            after: loads_after[i].clone(),
        })
        .collect();
    for n in &nodes {
        if let Some(m) = n.after.memory
            && m > 1.0
        {
            notes.push(format!(
                "{} is predicted at {:.0}% of its usable memory (maxmemory minus {:.0}% headroom)",
                n.id,
                m * 100.0,
                policy.memory_headroom * 100.0
            ));
        }
    }
    let resources = Resource::ALL
        .iter()
        .filter_map(|&r| {
            Some(ResourcePrediction {
                resource: r,
                max_before: before.resource_max(r)?,
                max_after: after.resource_max(r)?,
                lower_bound: before.resource_lower_bound(r)?,
            })
        })
        .collect();
    Plan {
        format: PlanFormat,
        snapshot_fingerprint: snapshot.fingerprint(),
        mode,
        policy: policy.clone(),
        cost: Cost::of(&proposal.moves),
        moves: proposal.moves,
        nodes,
        resources,
        lower_bound: before.lower_bound(),
        max_mean_before: before.max_mean(),
        max_mean_after: after.max_mean(),
        notes,
    }
}
