//! Who owns which slot: the one piece of cluster state a plan changes.
//!
//! An [`Ownership`] is a dense table of 16384 entries, each `None` (uncovered) or a master id.
//! On disk it is a sorted list of contiguous [`SlotRange`]s, which is what `CLUSTER SHARDS`
//! reports and what a human reads. A plan's moves are applied with [`apply_moves`], which checks
//! every move's source so that a plan made for another layout cannot be replayed silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::OwnershipError;
use crate::plan::Move;

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// A run of consecutive slots owned by one node, both ends inclusive (`start <= end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRange {
    /// First slot of the run.
    pub start: u16,
    /// Last slot of the run, inclusive.
    pub end: u16,
    /// The owning master's id.
    pub node: String,
}

/// The owner of every slot. Always exactly [`SLOT_COUNT`] entries.
///
/// Serialized as a list of [`SlotRange`]s sorted by `start`; uncovered slots are simply absent.
/// Deserialization rejects overlapping, reversed and out-of-range runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SlotRange>", into = "Vec<SlotRange>")]
pub struct Ownership {
    owners: Vec<Option<String>>,
}

impl Default for Ownership {
    fn default() -> Self {
        Self::unassigned()
    }
}

impl Ownership {
    /// A table where no slot has an owner.
    pub fn unassigned() -> Self {
        Ownership {
            owners: vec![None; SLOT_COUNT],
        }
    }

    /// Splits the slots into contiguous, nearly equal runs, one per node in the given order,
    /// the way `redis-cli --cluster create` does (the first nodes get the extra slot).
    ///
    /// An empty `nodes` list yields an unassigned table.
    pub fn even<S: AsRef<str>>(nodes: &[S]) -> Self {
        let mut own = Self::unassigned();
        if nodes.is_empty() {
            return own;
        }
        let n = nodes.len();
        let (base, extra) = (SLOT_COUNT / n, SLOT_COUNT % n);
        let mut slot = 0;
        for (i, node) in nodes.iter().enumerate() {
            let count = base + usize::from(i < extra);
            for entry in &mut own.owners[slot..slot + count] {
                *entry = Some(node.as_ref().to_owned());
            }
            slot += count;
        }
        own
    }

    /// Builds a table from ranges.
    ///
    /// # Errors
    /// [`OwnershipError::SlotOutOfRange`], [`OwnershipError::ReversedRange`] or
    /// [`OwnershipError::Overlap`] when the ranges do not describe one owner per slot.
    pub fn from_ranges(ranges: &[SlotRange]) -> Result<Self, OwnershipError> {
        let mut own = Self::unassigned();
        for r in ranges {
            if r.start > r.end {
                return Err(OwnershipError::ReversedRange {
                    start: r.start,
                    end: r.end,
                });
            }
            check_slot(u32::from(r.end))?;
            for slot in r.start..=r.end {
                let entry = &mut own.owners[usize::from(slot)];
                if let Some(first) = entry {
                    return Err(OwnershipError::Overlap {
                        slot,
                        first: first.clone(),
                        second: r.node.clone(),
                    });
                }
                *entry = Some(r.node.clone());
            }
        }
        Ok(own)
    }

    /// The table as sorted, maximal contiguous runs.
    pub fn ranges(&self) -> Vec<SlotRange> {
        let mut out: Vec<SlotRange> = Vec::new();
        for (slot, owner) in self.iter() {
            let Some(node) = owner else { continue };
            match out.last_mut() {
                Some(last)
                    if last.node == node && usize::from(last.end) + 1 == usize::from(slot) =>
                {
                    last.end = slot;
                }
                _ => out.push(SlotRange {
                    start: slot,
                    end: slot,
                    node: node.to_owned(),
                }),
            }
        }
        out
    }

    /// The owner of `slot`, or `None` when it is uncovered or out of range.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.owners
            .get(usize::from(slot))
            .and_then(|o| o.as_deref())
    }

    /// Gives `slot` to `node`.
    ///
    /// # Errors
    /// [`OwnershipError::SlotOutOfRange`] when `slot >= 16384`.
    pub fn assign(&mut self, slot: u16, node: impl Into<String>) -> Result<(), OwnershipError> {
        check_slot(u32::from(slot))?;
        self.owners[usize::from(slot)] = Some(node.into());
        Ok(())
    }

    /// Removes the owner of `slot` (an uncovered slot, as after a failed migration).
    ///
    /// # Errors
    /// [`OwnershipError::SlotOutOfRange`] when `slot >= 16384`.
    pub fn unassign(&mut self, slot: u16) -> Result<(), OwnershipError> {
        check_slot(u32::from(slot))?;
        self.owners[usize::from(slot)] = None;
        Ok(())
    }

    /// Every slot in order with its owner.
    pub fn iter(&self) -> impl Iterator<Item = (u16, Option<&str>)> + '_ {
        self.owners
            .iter()
            .enumerate()
            .map(|(slot, o)| (slot as u16, o.as_deref()))
    }

    /// The slots `node` owns, ascending.
    pub fn slots_of(&self, node: &str) -> Vec<u16> {
        self.iter()
            .filter(|(_, o)| *o == Some(node))
            .map(|(s, _)| s)
            .collect()
    }

    /// Slots with no owner, ascending.
    pub fn uncovered(&self) -> Vec<u16> {
        self.iter()
            .filter(|(_, o)| o.is_none())
            .map(|(s, _)| s)
            .collect()
    }

    /// Number of slots per owner, ordered by node id.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (_, owner) in self.iter() {
            if let Some(node) = owner {
                *counts.entry(node.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    }
}

impl TryFrom<Vec<SlotRange>> for Ownership {
    type Error = OwnershipError;

    fn try_from(ranges: Vec<SlotRange>) -> Result<Self, Self::Error> {
        Ownership::from_ranges(&ranges)
    }
}

impl From<Ownership> for Vec<SlotRange> {
    fn from(own: Ownership) -> Self {
        own.ranges()
    }
}

fn check_slot(slot: u32) -> Result<(), OwnershipError> {
    if slot as usize >= SLOT_COUNT {
        return Err(OwnershipError::SlotOutOfRange { slot });
    }
    Ok(())
}

/// Applies `moves` in order to a copy of `start` and returns the final layout.
///
/// This is the contract between a plan and the cluster: the layout a plan predicts is exactly
/// `apply_moves(&snapshot.ownership, &plan.moves)`, and the cluster crate can replay a journal's
/// completed prefix the same way.
///
/// # Errors
/// [`OwnershipError::WrongSource`] when a move's `from` is not the slot's owner at that point,
/// [`OwnershipError::SlotOutOfRange`] for a slot number `>= 16384`.
pub fn apply_moves(start: &Ownership, moves: &[Move]) -> Result<Ownership, OwnershipError> {
    let mut own = start.clone();
    for m in moves {
        check_slot(u32::from(m.slot))?;
        let found = own.owner(m.slot);
        if found != Some(m.from.as_str()) {
            return Err(OwnershipError::WrongSource {
                slot: m.slot,
                expected: m.from.clone(),
                found: found.unwrap_or("none").to_owned(),
            });
        }
        own.assign(m.slot, m.to.clone())?;
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_split_matches_redis_cli_create_for_three_nodes() {
        let own = Ownership::even(&["a", "b", "c"]);
        let ranges = own.ranges();
        assert_eq!(ranges.len(), 3);
        assert_eq!((ranges[0].start, ranges[0].end), (0, 5461));
        assert_eq!((ranges[1].start, ranges[1].end), (5462, 10922));
        assert_eq!((ranges[2].start, ranges[2].end), (10923, 16383));
        assert!(own.uncovered().is_empty());
    }

    #[test]
    fn ranges_round_trip_through_from_ranges() {
        let mut own = Ownership::even(&["a", "b"]);
        own.assign(3, "b").unwrap();
        own.unassign(9000).unwrap();
        let back = Ownership::from_ranges(&own.ranges()).unwrap();
        assert_eq!(back, own);
        assert_eq!(back.uncovered(), vec![9000]);
        assert_eq!(back.owner(3), Some("b"));
    }

    #[test]
    fn overlapping_and_bad_ranges_are_rejected() {
        let r = |start, end, node: &str| SlotRange {
            start,
            end,
            node: node.into(),
        };
        let err = Ownership::from_ranges(&[r(0, 10, "a"), r(10, 20, "b")]).unwrap_err();
        assert_eq!(
            err,
            OwnershipError::Overlap {
                slot: 10,
                first: "a".into(),
                second: "b".into()
            }
        );
        let err = Ownership::from_ranges(&[r(5, 4, "a")]).unwrap_err();
        assert_eq!(err, OwnershipError::ReversedRange { start: 5, end: 4 });
        let err = Ownership::from_ranges(&[r(0, 16384, "a")]).unwrap_err();
        assert_eq!(err, OwnershipError::SlotOutOfRange { slot: 16384 });
    }

    #[test]
    fn apply_moves_checks_each_source() {
        let own = Ownership::even(&["a", "b"]);
        let mv = |slot, from: &str, to: &str| Move {
            slot,
            from: from.into(),
            to: to.into(),
            keys: 0,
            bytes: 0,
        };
        let after =
            apply_moves(&own, &[mv(0, "a", "b"), mv(0, "b", "a"), mv(1, "a", "b")]).unwrap();
        assert_eq!(after.owner(0), Some("a"));
        assert_eq!(after.owner(1), Some("b"));
        let err = apply_moves(&own, &[mv(0, "b", "a")]).unwrap_err();
        assert_eq!(
            err,
            OwnershipError::WrongSource {
                slot: 0,
                expected: "b".into(),
                found: "a".into()
            }
        );
    }
}
