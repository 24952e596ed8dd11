//! Pure, deterministic Redis Cluster slot planner.
//!
//! This crate does no I/O. `cairn-slots` measures a cluster into a [`Snapshot`], this crate
//! turns a snapshot and a [`Policy`] into a [`Plan`], and `cairn-slots` applies the plan's moves.

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
