//! Error types, one per thing that can fail: reading a file, planning, editing an ownership map.
//!
//! Callers match on the variants: the CLI maps [`FormatError`] to "this file is not what you think
//! it is", [`PlanError`] to "this cluster or policy cannot be planned", [`OwnershipError`] to "this
//! plan does not fit this layout".

/// Reading a snapshot or plan file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The text is not JSON, or JSON of the wrong shape.
    #[error("malformed {kind} json: {source}")]
    Malformed {
        /// What was being read: "snapshot" or "plan".
        kind: &'static str,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON has no `format` field: it was not written by cairn.
    #[error("not a cairn {kind} file: no \"format\" field (expected \"{expected}\")")]
    MissingFormat {
        /// What was being read.
        kind: &'static str,
        /// The format tag this build reads.
        expected: &'static str,
    },
    /// The `format` field names another file type or another version.
    #[error("foreign {kind} format \"{found}\": this build reads \"{expected}\"")]
    Foreign {
        /// What was being read.
        kind: &'static str,
        /// The tag found in the file.
        found: String,
        /// The format tag this build reads.
        expected: &'static str,
    },
    /// The file parsed but its content breaks an invariant (unknown node, slot out of range...).
    #[error("invalid {kind}: {reason}")]
    Invalid {
        /// What was being read.
        kind: &'static str,
        /// Which invariant failed, naming the bad value.
        reason: String,
    },
}

/// A plan could not be made from this snapshot and policy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A policy field is out of range.
    #[error("invalid policy: {field} = {value} ({reason})")]
    InvalidPolicy {
        /// The policy field.
        field: &'static str,
        /// Its value, as text.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// Some slots have no owner; the cluster must be fixed before it can be balanced.
    #[error("{count} slots have no owner (first: {first}); run `cairn slots fix` first")]
    UncoveredSlots {
        /// How many slots have no owner.
        count: usize,
        /// The lowest uncovered slot.
        first: u16,
    },
    /// A slot is owned by an id that is not a master of the snapshot.
    #[error("slot {slot} is owned by {owner}, which is not a master in the snapshot")]
    UnknownOwner {
        /// The slot.
        slot: u16,
        /// The owner id found.
        owner: String,
    },
    /// A master that owns slots is flagged failing; moving slots now would make things worse.
    #[error("master {id} owns slots but is flagged {flag}; repair the cluster before planning")]
    NodeFailing {
        /// The node id.
        id: String,
        /// The flag found (`fail`, `noaddr`, ...).
        flag: String,
    },
    /// No master can take slots (all weights or capacities are zero).
    #[error("no master has capacity to hold slots")]
    NoCapacity,
    /// The snapshot breaks a structural invariant (duplicate ids, NaN values...).
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// A planner proposed moves that break the budget or do not replay onto the snapshot.
    /// This is a bug in that planner, reported rather than applied.
    #[error("planner proposed an inconsistent plan: {0}")]
    InconsistentProposal(String),
}

/// Editing an [`Ownership`](crate::Ownership) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnershipError {
    /// Slot numbers run from 0 to 16383.
    #[error("slot {slot} is out of range (0..=16383)")]
    SlotOutOfRange {
        /// The bad slot number.
        slot: u32,
    },
    /// A slot range lists a slot that an earlier range already gave to a node.
    #[error("slot {slot} is listed twice (owners {first} and {second})")]
    Overlap {
        /// The slot.
        slot: u16,
        /// The owner from the first range.
        first: String,
        /// The owner from the second range.
        second: String,
    },
    /// A range has `start > end`.
    #[error("slot range {start}-{end} is reversed")]
    ReversedRange {
        /// The range start.
        start: u16,
        /// The range end.
        end: u16,
    },
    /// A move names a source that does not own the slot at that point of the plan.
    #[error("move of slot {slot} from {expected}: the slot is owned by {found}")]
    WrongSource {
        /// The slot.
        slot: u16,
        /// The source the move names.
        expected: String,
        /// The owner at that point (`none` when unowned).
        found: String,
    },
}
