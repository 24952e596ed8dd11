//! The planner's output: ordered moves plus the prediction and cost that justify them.
//!
//! A [`Plan`] is bound to the snapshot it was made from by `snapshot_fingerprint`; the cluster
//! crate recomputes the fingerprint of the live cluster and refuses to apply on a mismatch.
//! Applying `moves` in order to the snapshot's ownership ([`crate::apply_moves`]) gives the
//! layout the `after` numbers were computed for.
//!
//! # Normalised load
//!
//! For each resource (CPU, memory bandwidth, network) a node's normalised load is its share of
//! the cluster's demand divided by its share of the cluster's capacity. 1.0 means "exactly its
//! fair share"; the capacity-weighted mean over nodes is always 1.0, so the worst value over
//! nodes is directly the max/mean ratio. Memory is reported as a fraction of the usable limit
//! (`maxmemory * (1 - headroom)`), a constraint rather than something to balance.

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, OwnershipError};
use crate::format::{PlanFormat, read_json};
use crate::layout::Resource;
use crate::ownership::{Ownership, apply_moves};
use crate::policy::{Mode, Policy};

/// A slot layout change, ready to apply. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always `"cairn.slots.plan/1"`; a file with another tag is refused.
    pub format: PlanFormat,
    /// [`crate::Snapshot::fingerprint`] of the snapshot this plan was made from.
    pub snapshot_fingerprint: String,
    /// The planner that made it.
    pub mode: Mode,
    /// The policy it was made under.
    pub policy: Policy,
    /// Moves in the order they should be applied; each slot appears at most once.
    pub moves: Vec<Move>,
    /// Per-master prediction, ordered by node id.
    pub nodes: Vec<NodePrediction>,
    /// Per-resource worst loads and bounds; only resources with demand are listed.
    pub resources: Vec<ResourcePrediction>,
    /// No layout can have a worst normalised load below this: the larger of 1.0 and, per
    /// resource, the hottest slot's demand on the strongest node.
    pub lower_bound: f64,
    /// Worst normalised load over nodes and resources before the plan (= max/mean).
    pub max_mean_before: f64,
    /// Worst normalised load over nodes and resources after the plan (= max/mean).
    pub max_mean_after: f64,
    /// What the moves cost.
    pub cost: Cost,
    /// Remarks for the operator: why nothing moved, budget exhausted, memory limits.
    pub notes: Vec<String>,
}

/// Moving one slot from one master to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The slot.
    pub slot: u16,
    /// Its owner before the move.
    pub from: String,
    /// Its owner after the move.
    pub to: String,
    /// Keys in the slot at measurement time.
    pub keys: u64,
    /// Bytes in the slot at measurement time.
    pub bytes: u64,
}

/// Total cost of a plan's moves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Number of slot moves.
    pub moves: usize,
    /// Keys to migrate.
    pub keys: u64,
    /// Bytes to migrate.
    pub bytes: u64,
}

impl Cost {
    /// The total cost of `moves`.
    pub fn of(moves: &[Move]) -> Cost {
        Cost {
            moves: moves.len(),
            keys: moves.iter().map(|m| m.keys).sum(),
            bytes: moves.iter().map(|m| m.bytes).sum(),
        }
    }
}

/// One master's predicted state before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePrediction {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub addr: String,
    /// Slots owned before.
    pub slots_before: usize,
    /// Slots owned after.
    pub slots_after: usize,
    /// Load before.
    pub before: NodeLoad,
    /// Load after.
    pub after: NodeLoad,
}

/// A node's normalised load per resource (1.0 = fair share; `None` when the cluster has no
/// demand for that resource) and its memory use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeLoad {
    /// CPU: reads and writes (or server CPU time) over CPU capacity.
    pub cpu: Option<f64>,
    /// Memory bandwidth: writes over memory-bandwidth capacity.
    pub membw: Option<f64>,
    /// Network: bytes in and out over network capacity.
    pub network: Option<f64>,
    /// The largest of the three.
    pub worst: f64,
    /// Bytes held (sum of the slots' bytes).
    pub bytes: u64,
    /// `bytes` over the usable memory limit; `None` when the node has no `maxmemory`.
    pub memory: Option<f64>,
}

impl NodeLoad {
    /// The normalised load for one resource.
    pub fn get(&self, resource: Resource) -> Option<f64> {
        match resource {
            Resource::Cpu => self.cpu,
            Resource::Membw => self.membw,
            Resource::Network => self.network,
        }
    }
}

/// Worst normalised load of one resource before and after, with its own lower bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePrediction {
    /// The resource.
    pub resource: Resource,
    /// Worst node before.
    pub max_before: f64,
    /// Worst node after.
    pub max_after: f64,
    /// The larger of 1.0 and the hottest slot's demand on the strongest node.
    pub lower_bound: f64,
}

impl Plan {
    /// Reads a plan file's text.
    ///
    /// # Errors
    /// [`FormatError::Malformed`] for text that is not JSON or has the wrong shape,
    /// [`FormatError::MissingFormat`] / [`FormatError::Foreign`] for a file that is not a
    /// version-1 plan (a snapshot, say), [`FormatError::Invalid`] when a slot is moved twice.
    pub fn from_json(text: &str) -> Result<Self, FormatError> {
        let plan: Plan = read_json(text, PlanFormat::KIND, PlanFormat::TAG)?;
        let mut seen = vec![false; crate::SLOT_COUNT];
        for m in &plan.moves {
            let i = usize::from(m.slot);
            let invalid = |reason| FormatError::Invalid {
                kind: "plan",
                reason,
            };
            if i >= seen.len() {
                return Err(invalid(format!(
                    "move of slot {}, out of range 0..=16383",
                    m.slot
                )));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(invalid(format!("slot {} is moved twice", m.slot)));
            }
            if m.from == m.to {
                return Err(invalid(format!(
                    "slot {} is moved from {} to itself",
                    m.slot, m.to
                )));
            }
        }
        Ok(plan)
    }

    /// The plan as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Only structs, strings and numbers: serializing to a String cannot fail.
        serde_json::to_string_pretty(self).expect("a plan always serializes to json")
    }

    /// True when the plan moves nothing.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
    }

    /// The layout after all moves, starting from `start` (the snapshot's ownership).
    ///
    /// # Errors
    /// [`OwnershipError::WrongSource`] when `start` is not the layout the plan was made for.
    pub fn final_layout(&self, start: &Ownership) -> Result<Ownership, OwnershipError> {
        apply_moves(start, &self.moves)
    }
}
