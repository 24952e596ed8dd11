//! `origin`: the design the project started from, with the defects of its sample code fixed.
//!
//! 1. Weight every master by *capacity* (not by usage, which would give a busy node more):
//!    `w = a * cpu / sum(cpu) + (1 - a) * membw / sum(membw)`, `a = Policy::alpha`.
//! 2. Turn weights into slot counts by the largest-remainder method, so the counts add up to
//!    exactly 16384 and no slot is left without an owner (the sample truncated).
//! 3. Place hot slots by access pattern: a read-hot slot goes to the node with the most CPU
//!    headroom for hot reads, a write-hot slot to the one with the most memory bandwidth
//!    headroom for hot writes, within each node's slot count.
//! 4. Fill the remaining counts with cold slots, keeping each node's own slots where possible
//!    (lowest-numbered kept) so the count change costs the fewest moves.
//!
//! Unlike `load`, it balances counts and hot-slot placement, not measured load, and ignores the
//! threshold (it always places hot slots). Moves are ordered hot first, then by slot, and cut
//! at the move budget.

use crate::layout::{Layout, RESOURCES, Resource};
use crate::ownership::SLOT_COUNT;
use crate::planner::{Planner, Proposal};
use crate::policy::{Mode, Policy};

/// A slot is hot when its demand is at least this many times the mean slot's.
pub(crate) const HOT_FACTOR: f64 = 4.0;

/// The `origin` planner. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct OriginPlanner;

impl Planner for OriginPlanner {
    fn mode(&self) -> Mode {
        Mode::Origin
    }

    fn propose(&self, layout: &Layout, policy: &Policy) -> Proposal {
        let n = layout.ids.len();
        let (cpu, membw) = (Resource::Cpu as usize, Resource::Membw as usize);
        let weights: Vec<f64> = layout
            .cap
            .iter()
            .map(|c| policy.alpha * c[cpu] + (1.0 - policy.alpha) * c[membw])
            .collect();
        let target = largest_remainder(&weights, SLOT_COUNT);

        let mut assigned: Vec<Option<usize>> = vec![None; SLOT_COUNT];
        let mut filled = vec![0usize; n];
        let mut hot_reads = vec![0.0f64; n];
        let mut hot_writes = vec![0.0f64; n];
        let mut hot_order = Vec::new();
        for slot in hot_slots(layout) {
            let ops = heat(layout, slot);
            let read_hot = layout.reads[slot] >= layout.writes[slot];
            let (placed, strength) = if read_hot {
                (&mut hot_reads, cpu)
            } else {
                (&mut hot_writes, membw)
            };
            let current = layout.owner[slot];
            let best = (0..n).filter(|&i| filled[i] < target[i]).min_by(|&a, &b| {
                let fill = |i: usize| (placed[i] + ops) / layout.cap[i][strength].max(1e-12);
                fill(a)
                    .total_cmp(&fill(b))
                    .then((b == current).cmp(&(a == current)))
                    .then(a.cmp(&b))
            });
            let Some(node) = best else { break };
            placed[node] += ops;
            filled[node] += 1;
            assigned[slot] = Some(node);
            hot_order.push(slot);
        }

        let mut pool = Vec::new();
        for (slot, entry) in assigned.iter_mut().enumerate() {
            if entry.is_some() {
                continue;
            }
            let own = layout.owner[slot];
            if filled[own] < target[own] {
                filled[own] += 1;
                *entry = Some(own);
            } else {
                pool.push(slot);
            }
        }
        let mut receivers = (0..n).flat_map(|i| std::iter::repeat_n(i, target[i] - filled[i]));
        for &slot in &pool {
            // Counts add up to SLOT_COUNT, so there is exactly one free place per pooled slot.
            assigned[slot] = receivers.next();
        }

        let budget = policy.max_moves.unwrap_or(usize::MAX);
        let mut is_hot = vec![false; SLOT_COUNT];
        for &slot in &hot_order {
            is_hot[slot] = true;
        }
        let cold_order = (0..SLOT_COUNT).filter(|&s| !is_hot[s]);
        let mut out = Proposal::default();
        let mut lay = layout.clone();
        for slot in hot_order.iter().copied().chain(cold_order) {
            let Some(to) = assigned[slot] else { continue };
            let from = lay.owner[slot];
            if to == from {
                continue;
            }
            if out.moves.len() >= budget {
                out.notes.push(format!(
                    "move budget of {budget} reached before the origin layout"
                ));
                break;
            }
            out.moves.push(lay.move_record(slot, from, to));
            lay.shift(slot, to);
        }
        if out.moves.is_empty() {
            out.notes
                .push("the layout already matches the origin design".into());
        }
        out
    }
}

/// A slot's demand relative to the mean slot (1.0 = average), over its busiest resource.
pub(crate) fn heat(layout: &Layout, slot: usize) -> f64 {
    (0..RESOURCES)
        .map(|r| layout.demand[slot][r])
        .fold(0.0, f64::max)
        * SLOT_COUNT as f64
}

/// Slots at least [`HOT_FACTOR`] times the mean demand, hottest first (ties by slot).
fn hot_slots(layout: &Layout) -> Vec<usize> {
    let mut hot: Vec<usize> = (0..SLOT_COUNT)
        .filter(|&s| heat(layout, s) >= HOT_FACTOR)
        .collect();
    hot.sort_by(|&a, &b| heat(layout, b).total_cmp(&heat(layout, a)).then(a.cmp(&b)));
    hot
}

/// Splits `total` into integer parts proportional to `weights` that add up to exactly `total`:
/// floors first, then one more to the largest fractional remainders (ties to the lower index).
/// All-zero weights split evenly.
pub(crate) fn largest_remainder(weights: &[f64], total: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let even = vec![1.0; weights.len()];
    let (weights, sum) = if sum > 0.0 {
        (weights, sum)
    } else {
        (&even[..], weights.len() as f64)
    };
    let quotas: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut parts: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        let frac = |i: usize| quotas[i] - parts[i] as f64;
        frac(b).total_cmp(&frac(a)).then(a.cmp(&b))
    });
    let given: usize = parts.iter().sum();
    for &i in order.iter().cycle().take(total.saturating_sub(given)) {
        parts[i] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_covers_every_slot() {
        let parts = largest_remainder(&[3.0, 2.0, 2.0], SLOT_COUNT);
        assert_eq!(parts, vec![7022, 4681, 4681]);
        let parts = largest_remainder(&[1.0, 1.0, 1.0], SLOT_COUNT);
        assert_eq!(parts, vec![5462, 5461, 5461]);
        let parts = largest_remainder(&[0.0, 0.0], 5);
        assert_eq!(parts, vec![3, 2]);
    }
}
