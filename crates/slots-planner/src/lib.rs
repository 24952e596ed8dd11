//! Pure, deterministic Redis Cluster slot planner.
//!
//! This crate does no I/O: `cairn-slots` measures a cluster into a [`Snapshot`], this crate
//! turns a snapshot and a [`Policy`] into a [`Plan`], and `cairn-slots` applies the plan's
//! moves. Keeping the decision pure makes it testable on any synthetic cluster, repeatable
//! (same input, same plan, byte for byte) and reviewable before anything moves.
//!
//! # Brief overview
//!
//! - [`Snapshot`] (`snapshot.rs`): topology, per-node [`Capacity`], the slot [`Ownership`] and
//!   per-slot [`SlotLoad`]; a versioned JSON file (`"cairn.slots.snapshot/1"`) with a
//!   [`fingerprint`](Snapshot::fingerprint) of the topology.
//! - [`Policy`] (`policy.rs`): which [`Mode`], the move budget, the threshold, the origin
//!   `alpha`, the memory headroom.
//! - [`Layout`] (`layout.rs`): a snapshot evaluated as shares of demand and capacity per
//!   [`Resource`], so that a node's *normalised load* is 1.0 at its fair share and the worst
//!   node's value is the max/mean ratio; also the lower bound set by the hottest slot.
//! - [`Planner`] (`planner/`): one strategy trait with two required methods and the shared
//!   bookkeeping in [`Planner::plan`]; [`CountPlanner`] (what `redis-cli --cluster rebalance`
//!   does), [`OriginPlanner`] (the origin design, fixed) and [`LoadPlanner`] (the default).
//! - [`Plan`] (`plan.rs`): ordered [`Move`]s, predicted loads per node before and after, the
//!   lower bound, the [`Cost`], notes, and a text [`summary`](Plan::summary); a versioned JSON
//!   file (`"cairn.slots.plan/1"`) bound to the snapshot's fingerprint.
//! - [`apply_moves`] (`ownership.rs`): replays moves onto an ownership, checking each source;
//!   the contract between a plan and the cluster.
//! - [`synthetic`]: seeded Zipf-skewed snapshots on unequal nodes, for tests and benchmarks.
//!
//! Invariants every plan keeps (and the tests check for every mode): every slot has exactly
//! one owner after the moves, each slot moves at most once and never to its owner, the move
//! budget holds, a `load` plan is never worse than the start, and planning is deterministic
//! (ties are broken by slot number and node id, never by hash-map order).
//!
//! # Examples
//!
//! ```
//! use cairn_slots_planner::synthetic::{SyntheticSpec, generate};
//! use cairn_slots_planner::{Mode, Policy, Snapshot, apply_moves, plan};
//!
//! // Six unequal nodes under Zipf traffic, as `cairn slots measure` would describe them.
//! let snapshot = generate(&SyntheticSpec { nodes: 6, keys: 20_000, ..SyntheticSpec::default() });
//! let text = snapshot.to_json();
//! let snapshot = Snapshot::from_json(&text)?;
//!
//! let policy = Policy { mode: Mode::Load, max_moves: Some(200), ..Policy::default() };
//! let plan = plan(&snapshot, &policy)?;
//! assert!(plan.moves.len() <= 200);
//! assert!(plan.max_mean_after <= plan.max_mean_before);
//! assert_eq!(plan.snapshot_fingerprint, snapshot.fingerprint());
//!
//! let layout = apply_moves(&snapshot.slots, &plan.moves)?;
//! assert!(layout.uncovered().is_empty());
//! println!("{}", plan.summary());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod error;
mod fingerprint;
mod format;
mod layout;
mod ownership;
mod plan;
mod planner;
mod policy;
mod snapshot;
mod summary;
pub mod synthetic;
#[cfg(test)]
mod tests;

pub use error::{FormatError, OwnershipError, PlanError};
pub use fingerprint::topology_fingerprint;
pub use format::{PlanFormat, SnapshotFormat};
pub use layout::{Layout, Resource};
pub use ownership::{Ownership, SLOT_COUNT, SlotRange, apply_moves};
pub use plan::{Cost, Move, NodeLoad, NodePrediction, Plan, ResourcePrediction};
pub use planner::{CountPlanner, LoadPlanner, OriginPlanner, Planner, Proposal, plan, planner_for};
pub use policy::{Mode, Policy, UnknownMode};
pub use snapshot::{
    Capacity, CapacitySource, LoadSource, Node, Role, ServerInfo, SlotLoad, SlotLoadEntry,
    SlotLoads, Snapshot,
};
