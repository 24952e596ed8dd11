//! `count`: what `redis-cli --cluster rebalance` does, kept for comparison.
//!
//! Slot counts proportional to operator weights: `expected = floor(16384 / sum(w) * w)` computed
//! in single precision as redis-cli does, then the rounding leftovers are handed one by one to
//! nodes that are not donors. Nothing happens unless some node is more than the threshold off
//! (redis-cli's `--cluster-threshold`, 2% by default). Donors and receivers are sorted by
//! balance; the largest donor gives its lowest-numbered slots to the largest receiver until one
//! of them is even. Load, keys, bytes and capacity are ignored, which is the point of comparing.
//!
//! The number of moves is exactly `sum over nodes of max(0, count - expected)`, the minimum for
//! reaching those counts.

use crate::layout::Layout;
use crate::planner::{Planner, Proposal};
use crate::policy::{Mode, Policy};

/// The `count` planner. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountPlanner;

impl Planner for CountPlanner {
    fn mode(&self) -> Mode {
        Mode::Count
    }

    fn propose(&self, layout: &Layout, policy: &Policy) -> Proposal {
        let mut out = Proposal::default();
        let Some(expected) = expected_counts(&layout.weight) else {
            out.notes
                .push("every weight is zero: nothing to balance by count".into());
            return out;
        };
        let counts = layout.slot_counts();
        let threshold_pct = policy.threshold * 100.0;
        let over = counts.iter().zip(&expected).any(|(&have, &want)| {
            if have > 0 {
                (100.0 - 100.0 * want as f64 / have as f64).abs() > threshold_pct
            } else {
                want > 1
            }
        });
        if !over {
            out.notes.push(format!(
                "no rebalancing needed: every node is within {threshold_pct:.1}% of its expected slot count"
            ));
            return out;
        }

        let mut balance: Vec<i64> = counts
            .iter()
            .zip(&expected)
            .map(|(&have, &want)| have as i64 - want as i64)
            .collect();
        // Floors leave `total` slots without a target; give them out one per non-donor node per
        // round, as redis-cli does (skipping zero-weight nodes, which should end empty).
        let mut total: i64 = balance.iter().sum();
        while total > 0 {
            let mut given = false;
            for (b, &w) in balance.iter_mut().zip(&layout.weight) {
                if *b <= 0 && w > 0.0 && total > 0 {
                    *b -= 1;
                    total -= 1;
                    given = true;
                }
            }
            if !given {
                // Single-precision floors lost a whole slot on every node: give the rest to the
                // heaviest node.
                let heaviest = (0..balance.len())
                    .max_by(|&a, &b| {
                        layout.weight[a]
                            .total_cmp(&layout.weight[b])
                            .then(b.cmp(&a))
                    })
                    .unwrap_or(0);
                balance[heaviest] -= total;
                total = 0;
            }
        }

        let mut order: Vec<usize> = (0..balance.len()).collect();
        order.sort_by_key(|&i| (balance[i], i));
        let budget = policy.max_moves.unwrap_or(usize::MAX);
        let mut lay = layout.clone();
        let (mut dst, mut src) = (0usize, order.len().saturating_sub(1));
        'pairs: while dst < src {
            let (d, s) = (order[dst], order[src]);
            let n = balance[d].unsigned_abs().min(balance[s].unsigned_abs()) as usize;
            let slots: Vec<usize> = (0..lay.owner.len())
                .filter(|&x| lay.owner[x] == s)
                .take(n)
                .collect();
            for slot in slots {
                if out.moves.len() >= budget {
                    out.notes.push(format!(
                        "move budget of {budget} reached before counts were even"
                    ));
                    break 'pairs;
                }
                out.moves.push(lay.move_record(slot, s, d));
                lay.shift(slot, d);
            }
            balance[d] += n as i64;
            balance[s] -= n as i64;
            if balance[d] == 0 {
                dst += 1;
            }
            if balance[s] == 0 {
                src -= 1;
            }
        }
        out
    }
}

/// Slot counts per node in proportion to `weights`, before rounding fixes; `None` when every
/// weight is zero.
pub(crate) fn expected_counts(weights: &[f64]) -> Option<Vec<usize>> {
    let total: f32 = weights.iter().map(|&w| w as f32).sum();
    if total <= 0.0 {
        return None;
    }
    let per_weight = crate::SLOT_COUNT as f32 / total;
    Some(
        weights
            .iter()
            .map(|&w| (per_weight * w as f32).floor().max(0.0) as usize)
            .collect(),
    )
}
