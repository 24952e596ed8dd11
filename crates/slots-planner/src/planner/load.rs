//! `load` (the default): minimise the worst normalised load over all resources, under a move
//! budget, at the lowest migration cost.
//!
//! # How it searches
//!
//! Local search from the current layout: one slot move (or, as a last resort, a swap) per
//! step, never to a node without memory room (`maxmemory * (1 - headroom)`). Two scores guide
//! it:
//!
//! - *relief*: how much a move `h -> t` from the worst node `h` lowers the larger of the two
//!   nodes' loads, counted only down to the stopping level `lower_bound * (1 + threshold)`, so
//!   that among moves that get there the cheapest wins and a move that would overshoot (leave
//!   `t` as loaded as `h` was) is not a candidate.
//! - *potential*: the sum over nodes and resources of `normalised load ^ 8`. It follows the
//!   maximum but also sees the other resources, so it finds the way out when several nodes are
//!   tied at the top, each on a different resource, and any target is full in some resource.
//!
//! Each is divided by the move's cost, `1 + keys / mean keys + bytes / mean bytes`: the 1 is the
//! fixed price of a move (round trips, a `SETSLOT` on every master), keys and bytes are what
//! MIGRATE copies. Re-routing a slot that already moved is charged half, moving it home is a
//! refund. Every accepted step lowers the potential and keeps every node at or below the
//! current worst load, so the plan is never worse than the start and the search ends.
//!
//! # Two routes
//!
//! - The *relief* route relieves the worst node directly whenever it can: when a few hot slots
//!   are the imbalance, that is a handful of moves.
//! - The *potential* route always follows the potential: better when nodes are unequal in
//!   several resources at once.
//!
//! The route that reaches the stopping level at the lower cost wins (the relief route is
//! abandoned as soon as it costs more than a potential plan that got there); if neither gets
//! there, the lower worst load wins. The moves of a route are then listed slot by slot, from
//! the slot's original owner to its final one, in the order the slots first moved, so each slot
//! appears once and the budget counts slots that change owner.
//!
//! # Cold and small slots first
//!
//! Cost enters every choice, so among moves that help about as much the slot with fewer keys
//! and bytes wins, and once the worst node is close to the stopping level (where the relief
//! benefit is capped) the cheapest slot that gets there wins over a hot one that overshoots.
//! Hot slots do move when that is what relieves the worst node per unit of cost: under Zipf
//! traffic the imbalance usually *is* a few hot slots, and moving them is far fewer moves than
//! shifting hundreds of cold ones. Hot slots are never pinned, so the result is not held above
//! the bound by a rule.
//!
//! # Lower bound
//!
//! No layout beats `max(1, hottest slot / strongest node)` per resource ([`Layout::lower_bound`]);
//! the plan stops once within `threshold` of it, and does nothing when the start already is.

use crate::layout::Layout;
use crate::ownership::SLOT_COUNT;
use crate::planner::search::{End, MAX_STEPS, Search, Strategy};
use crate::planner::{Planner, Proposal};
use crate::policy::{Mode, Policy};

/// Improvements smaller than this are rounding noise.
pub(super) const EPS: f64 = 1e-9;

/// The `load` planner. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadPlanner;

impl Planner for LoadPlanner {
    fn mode(&self) -> Mode {
        Mode::Load
    }

    fn propose(&self, layout: &Layout, policy: &Policy) -> Proposal {
        let start = layout.max_mean();
        let bound = layout.lower_bound();
        let stop = bound * (1.0 + policy.threshold);
        let mut out = Proposal::default();
        if start <= stop {
            out.notes.push(format!(
                "nothing to do: worst load {start:.3} is within {:.1}% of the lower bound {bound:.3}",
                policy.threshold * 100.0
            ));
            return out;
        }
        let costs = move_costs(layout);
        let reached = |s: &Search<'_>| s.worst <= stop + EPS;
        let potential = Search::new(layout, policy, &costs, stop, Strategy::Potential).run(None);
        let cap = reached(&potential).then_some(potential.total_cost);
        let relief = Search::new(layout, policy, &costs, stop, Strategy::Relief).run(cap);
        let (p, r) = (&potential, &relief);
        let potential_wins = match (reached(p), reached(r)) {
            (true, true) => p.total_cost <= r.total_cost,
            (true, false) => true,
            (false, true) => false,
            (false, false) if (p.worst - r.worst).abs() > EPS => p.worst < r.worst,
            (false, false) => p.total_cost <= r.total_cost,
        };
        let chosen = if potential_wins { potential } else { relief };
        out.notes.push(format!(
            "{} route: worst load {start:.3} -> {:.3} (lower bound {bound:.3})",
            if potential_wins {
                "potential"
            } else {
                "relief"
            },
            chosen.worst
        ));
        match chosen.end {
            End::Reached => {}
            End::Budget => out.notes.push(format!(
                "move budget of {} reached before the stopping level {stop:.3}",
                chosen.budget
            )),
            End::Stuck => out.notes.push(format!(
                "stopped at {:.3}: no move or swap lowers the worst node further",
                chosen.worst
            )),
            End::StepLimit => out.notes.push(format!(
                "stopped at {:.3} after {} search steps",
                chosen.worst, MAX_STEPS
            )),
            End::Abandoned => {}
        }
        out.moves = chosen.moves();
        out
    }
}

/// Cost of moving each slot: `1 + keys / mean keys + bytes / mean bytes`.
fn move_costs(layout: &Layout) -> Vec<f64> {
    let mean = |v: &[u64]| v.iter().map(|&x| x as f64).sum::<f64>() / SLOT_COUNT as f64;
    let (mk, mb) = (mean(&layout.keys), mean(&layout.bytes));
    let rel = |x: u64, m: f64| if m > 0.0 { x as f64 / m } else { 0.0 };
    (0..SLOT_COUNT)
        .map(|s| 1.0 + rel(layout.keys[s], mk) + rel(layout.bytes[s], mb))
        .collect()
}
