//! The local search behind the `load` planner: one greedy descent over a private copy of a
//! [`Layout`]. See [`crate::planner::LoadPlanner`] for the strategy; this module holds the
//! mechanics (candidate moves, pruning, bookkeeping of what has moved and what it costs).

use crate::layout::{Layout, RESOURCES};
use crate::ownership::SLOT_COUNT;
use crate::plan::Move;
use crate::planner::load::EPS;
use crate::policy::Policy;

/// Most-loaded nodes tried as sources of a rebalancing move.
const SOURCES: usize = 3;
/// Least-loaded nodes (overall) tried as targets of a move.
const TARGETS_OVERALL: usize = 4;
/// Least-loaded nodes per resource tried as targets of a move.
const TARGETS_PER_RESOURCE: usize = 2;
/// Least-loaded nodes tried as partners of a swap.
const SWAP_TARGETS: usize = 3;
/// Hottest slots of the worst node tried in a swap.
const SWAP_CANDIDATES: usize = 32;
/// Slots of a partner tried against each hot slot: the ones just cooler than it.
const SWAP_PARTNER_SLOTS: usize = 256;
/// Exponent of the potential: high enough to track the maximum, low enough to see the rest.
const POWER: i32 = 8;
/// A move of a slot that is already displaced (onward, or back home) adds no new migration,
/// so it is charged this fraction of the slot's cost.
const REROUTE_DISCOUNT: f64 = 0.5;
/// Upper bound on search steps, a safety net: every step strictly lowers the potential, so the
/// search ends anyway, but not necessarily soon on adversarial input.
pub(super) const MAX_STEPS: usize = 4 * SLOT_COUNT;

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The worst load is at or below the stopping level.
    Reached,
    /// The move budget is spent.
    Budget,
    /// No move or swap improves.
    Stuck,
    /// [`MAX_STEPS`] steps taken.
    StepLimit,
    /// Stopped because it already cost more than a route that reached the stopping level.
    Abandoned,
}

/// What a search does first at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strategy {
    /// Relieve the worst node directly (fewest moves when one node stands out), and fall back
    /// to lowering the potential only when that is stuck.
    Relief,
    /// Always lower the potential (better when several nodes are tied on different
    /// resources).
    Potential,
}

/// One greedy descent.
pub(super) struct Search<'a> {
    lay: Layout,
    strategy: Strategy,
    /// Owner of each slot at the start.
    home: Vec<usize>,
    /// Slots per node, in no particular order (ties are broken by slot number, never position).
    slots_of: Vec<Vec<usize>>,
    /// Position of each slot in its node's `slots_of` list.
    pos: Vec<usize>,
    costs: &'a [f64],
    min_cost: f64,
    stop: f64,
    /// Normalised loads are divided by this before raising to [`POWER`].
    scale: f64,
    pub(super) budget: usize,
    /// When each displaced slot was first moved, to order the plan's moves.
    first_moved: Vec<u64>,
    clock: u64,
    displaced: usize,
    pub(super) total_cost: f64,
    pub(super) worst: f64,
    pub(super) end: End,
}

/// The best candidate so far, compared by ratio (higher), resulting worst (lower), then slot
/// and node numbers so that ties never depend on iteration order.
#[derive(Clone, Copy)]
struct Candidate {
    ratio: f64,
    worst: f64,
    slot: usize,
    /// For a swap, the slot coming back to the source; otherwise `usize::MAX`.
    back: usize,
    from: usize,
    to: usize,
}

impl Candidate {
    fn beats(&self, other: &Option<Candidate>) -> bool {
        let Some(o) = other else { return true };
        self.ratio
            .total_cmp(&o.ratio)
            .then(o.worst.total_cmp(&self.worst))
            .then(o.slot.cmp(&self.slot))
            .then(o.back.cmp(&self.back))
            .then(o.from.cmp(&self.from))
            .then(o.to.cmp(&self.to))
            .is_gt()
    }
}

impl<'a> Search<'a> {
    /// A search from `layout` that stops at `stop`.
    pub(super) fn new(
        layout: &Layout,
        policy: &Policy,
        costs: &'a [f64],
        stop: f64,
        strategy: Strategy,
    ) -> Self {
        let mut slots_of = vec![Vec::new(); layout.ids.len()];
        let mut pos = vec![0; SLOT_COUNT];
        for (slot, &i) in layout.owner.iter().enumerate() {
            pos[slot] = slots_of[i].len();
            slots_of[i].push(slot);
        }
        let worst = layout.max_mean();
        Search {
            lay: layout.clone(),
            strategy,
            home: layout.owner.clone(),
            slots_of,
            pos,
            costs,
            min_cost: costs.iter().copied().fold(f64::INFINITY, f64::min) * REROUTE_DISCOUNT,
            stop,
            scale: worst.max(EPS),
            budget: policy.max_moves.unwrap_or(usize::MAX),
            first_moved: vec![0; SLOT_COUNT],
            clock: 0,
            displaced: 0,
            total_cost: 0.0,
            worst,
            end: End::Stuck,
        }
    }

    /// Descends until the stopping level, the budget, a dead end, or (when `cost_cap` is set)
    /// a total cost above it.
    pub(super) fn run(mut self, cost_cap: Option<f64>) -> Self {
        let n = self.lay.ids.len();
        self.end = End::StepLimit;
        for _ in 0..MAX_STEPS {
            let scores: Vec<f64> = (0..n).map(|i| self.lay.score(i)).collect();
            let h = (0..n).fold(0, |best, i| if scores[i] > scores[best] { i } else { best });
            self.worst = scores[h];
            if self.worst <= self.stop {
                self.end = End::Reached;
                break;
            }
            if cost_cap.is_some_and(|cap| self.total_cost > cap) {
                self.end = End::Abandoned;
                break;
            }
            let targets = self.targets(h, &scores);
            let relief = match self.strategy {
                Strategy::Relief => self.best_relief(h, &targets),
                Strategy::Potential => None,
            };
            if let Some(c) = relief {
                self.shift(c.slot, c.to);
                continue;
            }
            let mut best = None;
            let mut sources: Vec<usize> = (0..n).filter(|&i| scores[i] > self.stop).collect();
            sources.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            for &src in sources.iter().take(SOURCES) {
                let targets = self.targets(src, &scores);
                self.best_rebalance(src, &targets, &mut best);
            }
            if let Some(c) = best {
                self.shift(c.slot, c.to);
                continue;
            }
            let mut partners: Vec<usize> = (0..n).filter(|&i| i != h).collect();
            partners.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
            partners.truncate(SWAP_TARGETS);
            if let Some(c) = self.best_swap(h, &partners) {
                self.shift(c.slot, c.to);
                self.shift(c.back, c.from);
                continue;
            }
            self.end = if self.displaced >= self.budget {
                End::Budget
            } else {
                End::Stuck
            };
            break;
        }
        self
    }

    /// The plan's moves: every displaced slot from its home to its final owner, in the order
    /// the slots were first moved.
    pub(super) fn moves(&self) -> Vec<Move> {
        let mut slots: Vec<usize> = (0..SLOT_COUNT)
            .filter(|&s| self.lay.owner[s] != self.home[s])
            .collect();
        slots.sort_by_key(|&s| (self.first_moved[s], s));
        slots
            .iter()
            .map(|&s| self.lay.move_record(s, self.home[s], self.lay.owner[s]))
            .collect()
    }

    /// The least-loaded nodes overall and per resource, without `h`, deduplicated, ascending.
    fn targets(&self, h: usize, scores: &[f64]) -> Vec<usize> {
        let n = scores.len();
        let lowest = |key: &dyn Fn(usize) -> f64, k: usize| {
            let mut v: Vec<usize> = (0..n).filter(|&i| i != h).collect();
            v.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
            v.truncate(k);
            v
        };
        let mut targets = lowest(&|i| scores[i], TARGETS_OVERALL);
        for r in (0..RESOURCES).filter(|&r| self.lay.active[r]) {
            targets.extend(lowest(&|i| self.lay.norm(i, r), TARGETS_PER_RESOURCE));
        }
        targets.sort_unstable();
        targets.dedup();
        targets
    }

    /// The potential of node `i` with load vector `load`: the sum over active resources of the
    /// scaled normalised load to the [`POWER`]. Convex and increasing, it tracks the worst
    /// resource but still rewards relieving the others, which is what gets several nodes that
    /// are each stuck on a different resource out of a tie. Every accepted move lowers it.
    fn potential(&self, i: usize, load: &[f64; RESOURCES]) -> f64 {
        let lay = &self.lay;
        (0..RESOURCES)
            .filter(|&r| lay.active[r])
            .map(|r| (load[r] / lay.cap[i][r].max(1e-12) / self.scale).powi(POWER))
            .sum()
    }

    /// The derivative of node `i`'s potential with respect to its load in resource `r`.
    fn gradient(&self, i: usize, r: usize) -> f64 {
        let lay = &self.lay;
        if !lay.active[r] {
            return 0.0;
        }
        let c = lay.cap[i][r].max(1e-12) * self.scale;
        f64::from(POWER) * (lay.load[i][r] / c).powi(POWER - 1) / c
    }

    /// What moving `slot` to `to` costs: its full cost when it leaves home, a discounted cost
    /// when it is already displaced; `None` when that would exceed the budget.
    fn charge(&self, slot: usize, to: usize, extra_displaced: usize) -> Option<f64> {
        let was = self.lay.owner[slot] != self.home[slot];
        let will = to != self.home[slot];
        if !was && will && self.displaced + extra_displaced + 1 > self.budget {
            return None;
        }
        Some(if was {
            self.costs[slot] * REROUTE_DISCOUNT
        } else {
            self.costs[slot]
        })
    }

    /// The move of a slot of the worst node `h` that lowers the pair's worst load the most per
    /// unit of cost, counting only down to the stopping level, so that among moves that get
    /// there the cheapest wins. Neither node may end at or above `h`'s current load, and the
    /// pair's potential must drop.
    fn best_relief(&self, h: usize, targets: &[usize]) -> Option<Candidate> {
        let lay = &self.lay;
        let score_h = lay.score(h);
        let phi_h = self.potential(h, &lay.load[h]);
        let phi_t: Vec<f64> = targets
            .iter()
            .map(|&t| self.potential(t, &lay.load[t]))
            .collect();
        let inv_cap: [f64; RESOURCES] = std::array::from_fn(|r| {
            if lay.active[r] {
                1.0 / lay.cap[h][r].max(1e-12)
            } else {
                0.0
            }
        });
        let mut best: Option<Candidate> = None;
        // h drops by at most its largest normalised share of the slot.
        let mut ranked: Vec<(f64, usize)> = self.slots_of[h]
            .iter()
            .map(|&s| {
                let d = &lay.demand[s];
                let reach = (0..RESOURCES)
                    .map(|r| d[r] * inv_cap[r])
                    .fold(0.0, f64::max);
                (reach / self.min_cost, s)
            })
            .collect();
        for (bound, s) in BoundOrder::new(&mut ranked) {
            if best.is_some_and(|b| bound <= b.ratio) {
                break;
            }
            let d = &lay.demand[s];
            let load_h = sub(&lay.load[h], d);
            let new_h = lay.score_of(h, &load_h);
            if new_h >= score_h - EPS {
                continue;
            }
            let gain_h = phi_h - self.potential(h, &load_h);
            for (k, &t) in targets.iter().enumerate() {
                if !lay.fits(t, lay.bytes[s] as f64) {
                    continue;
                }
                let Some(cost) = self.charge(s, t, 0) else {
                    continue;
                };
                let load_t = add(&lay.load[t], d);
                let worst = new_h.max(lay.score_of(t, &load_t));
                if worst >= score_h - EPS {
                    continue;
                }
                if gain_h - (self.potential(t, &load_t) - phi_t[k]) <= EPS * (phi_h + phi_t[k]) {
                    continue;
                }
                let ratio = (score_h - worst.max(self.stop)) / cost;
                let c = Candidate {
                    ratio,
                    worst,
                    slot: s,
                    back: usize::MAX,
                    from: h,
                    to: t,
                };
                if c.beats(&best) {
                    best = Some(c);
                }
            }
        }
        best
    }

    /// Finds the best rebalancing move of a slot of `h` to one of `targets`, improving on
    /// `best`: used when no move relieves the worst node directly, typically because several
    /// nodes are tied at the top, each on a different resource, so that any target is full in
    /// some resource. It lowers the pair's potential instead, making room for later reliefs,
    /// and keeps both nodes at or below the current worst load.
    ///
    /// Because the potential is convex, a move's gain is at most the difference of the two
    /// nodes' gradients times the slot's demand, which prunes most slots without evaluating
    /// them.
    fn best_rebalance(&self, h: usize, targets: &[usize], best: &mut Option<Candidate>) {
        let lay = &self.lay;
        let load_h = lay.load[h];
        let phi_h = self.potential(h, &load_h);
        // Convexity: h loses at most gradient_h . d and a target gains at least
        // gradient_t . d, so no target does better than (gradient_h - min gradient_t) . d.
        let steepest: [f64; RESOURCES] = std::array::from_fn(|r| {
            let flattest = targets
                .iter()
                .map(|&t| self.gradient(t, r))
                .fold(f64::INFINITY, f64::min);
            (self.gradient(h, r) - flattest).max(0.0)
        });
        let phi_t: Vec<f64> = targets
            .iter()
            .map(|&t| self.potential(t, &lay.load[t]))
            .collect();
        let mut ranked: Vec<(f64, usize)> = self.slots_of[h]
            .iter()
            .map(|&s| {
                let d = &lay.demand[s];
                (
                    (0..RESOURCES).map(|r| steepest[r] * d[r]).sum::<f64>() / self.min_cost,
                    s,
                )
            })
            .collect();
        for (bound, s) in BoundOrder::new(&mut ranked) {
            if best.is_some_and(|b| bound <= b.ratio) {
                break;
            }
            let d = &lay.demand[s];
            let new_load_h = sub(&load_h, d);
            let gain_h = phi_h - self.potential(h, &new_load_h);
            if gain_h <= 0.0 {
                continue;
            }
            let new_h = lay.score_of(h, &new_load_h);
            for (k, &t) in targets.iter().enumerate() {
                if !lay.fits(t, lay.bytes[s] as f64) {
                    continue;
                }
                let Some(cost) = self.charge(s, t, 0) else {
                    continue;
                };
                let new_load_t = add(&lay.load[t], d);
                let gain = gain_h - (self.potential(t, &new_load_t) - phi_t[k]);
                if gain <= EPS * (phi_h + phi_t[k]) {
                    continue;
                }
                let worst = new_h.max(lay.score_of(t, &new_load_t));
                if worst > self.worst + EPS {
                    continue;
                }
                let c = Candidate {
                    ratio: gain / cost,
                    worst,
                    slot: s,
                    back: usize::MAX,
                    from: h,
                    to: t,
                };
                if c.beats(best) {
                    *best = Some(c);
                }
            }
        }
    }

    /// The best exchange of one of `h`'s hottest slots for a slot of a partner: the way out
    /// when every single move would overshoot. Both nodes must end below `h`'s current load.
    fn best_swap(&self, h: usize, partners: &[usize]) -> Option<Candidate> {
        let lay = &self.lay;
        let score_h = lay.score(h);
        let binding = (0..RESOURCES)
            .filter(|&r| lay.active[r])
            .max_by(|&a, &b| lay.norm(h, a).total_cmp(&lay.norm(h, b)).then(b.cmp(&a)))?;
        let mut hottest = self.slots_of[h].clone();
        hottest.sort_by(|&a, &b| {
            lay.demand[b][binding]
                .total_cmp(&lay.demand[a][binding])
                .then(a.cmp(&b))
        });
        hottest.truncate(SWAP_CANDIDATES);
        let phi_h = self.potential(h, &lay.load[h]);
        let mut best = None;
        for &t in partners {
            let phi_t = self.potential(t, &lay.load[t]);
            let mut cooler = self.slots_of[t].clone();
            cooler.sort_by(|&a, &b| {
                lay.demand[a][binding]
                    .total_cmp(&lay.demand[b][binding])
                    .then(a.cmp(&b))
            });
            for &a in &hottest {
                let da = &lay.demand[a];
                let Some(cost_a) = self.charge(a, t, 0) else {
                    continue;
                };
                let extra = usize::from(lay.owner[a] == self.home[a]);
                // Only a cooler slot can come back, and the useful ones are just below `a`.
                let below = cooler.partition_point(|&b| lay.demand[b][binding] < da[binding]);
                for &b in &cooler[below.saturating_sub(SWAP_PARTNER_SLOTS)..below] {
                    let Some(cost_b) = self.charge(b, h, extra) else {
                        continue;
                    };
                    let db = &lay.demand[b];
                    let bytes = lay.bytes[a] as f64 - lay.bytes[b] as f64;
                    if !lay.fits(t, bytes) || !lay.fits(h, -bytes) {
                        continue;
                    }
                    let load_h = add(&sub(&lay.load[h], da), db);
                    let load_t = sub(&add(&lay.load[t], da), db);
                    let worst = lay.score_of(h, &load_h).max(lay.score_of(t, &load_t));
                    if worst >= score_h - EPS {
                        continue;
                    }
                    let gain =
                        phi_h + phi_t - self.potential(h, &load_h) - self.potential(t, &load_t);
                    if gain <= EPS * (phi_h + phi_t) {
                        continue;
                    }
                    let ratio = (score_h - worst.max(self.stop)) / (cost_a + cost_b);
                    let c = Candidate {
                        ratio,
                        worst,
                        slot: a,
                        back: b,
                        from: h,
                        to: t,
                    };
                    if c.beats(&best) {
                        best = Some(c);
                    }
                }
            }
        }
        best
    }

    /// Moves `slot` to `to`, keeping the per-node lists, the displaced count and the cost.
    fn shift(&mut self, slot: usize, to: usize) {
        let from = self.lay.owner[slot];
        let list = &mut self.slots_of[from];
        let p = self.pos[slot];
        list.swap_remove(p);
        if let Some(&moved) = list.get(p) {
            self.pos[moved] = p;
        }
        self.pos[slot] = self.slots_of[to].len();
        self.slots_of[to].push(slot);
        let home = self.home[slot];
        match (from != home, to != home) {
            (false, true) => {
                self.displaced += 1;
                self.total_cost += self.costs[slot];
                self.clock += 1;
                self.first_moved[slot] = self.clock;
            }
            (true, false) => {
                self.displaced -= 1;
                self.total_cost -= self.costs[slot];
            }
            _ => {}
        }
        self.lay.shift(slot, to);
    }
}

/// Candidates in descending order of their bound (ties by slot), sorted lazily: a short head
/// first, the rest only if the search gets that far. Evaluating in this order lets a search
/// stop at the first bound not above the best ratio found: nothing after it can do better
/// (the bound is an upper bound), and among equals the first in this fixed order is kept, so
/// the choice stays deterministic. It usually comes after a handful of slots.
struct BoundOrder<'v> {
    items: &'v mut [(f64, usize)],
    next: usize,
    sorted_to: usize,
}

/// Size of the head sorted first.
const HEAD: usize = 64;

impl<'v> BoundOrder<'v> {
    fn new(items: &'v mut [(f64, usize)]) -> Self {
        BoundOrder {
            items,
            next: 0,
            sorted_to: 0,
        }
    }

    fn order(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
    }
}

impl Iterator for BoundOrder<'_> {
    type Item = (f64, usize);

    fn next(&mut self) -> Option<(f64, usize)> {
        if self.next >= self.items.len() {
            return None;
        }
        if self.next == self.sorted_to {
            let rest = &mut self.items[self.next..];
            if rest.len() > HEAD && self.next == 0 {
                rest.select_nth_unstable_by(HEAD, Self::order);
                rest[..HEAD].sort_unstable_by(Self::order);
                self.sorted_to = HEAD;
            } else {
                rest.sort_unstable_by(Self::order);
                self.sorted_to = self.items.len();
            }
        }
        let item = self.items[self.next];
        self.next += 1;
        Some(item)
    }
}

fn add(a: &[f64; RESOURCES], b: &[f64; RESOURCES]) -> [f64; RESOURCES] {
    std::array::from_fn(|r| a[r] + b[r])
}

fn sub(a: &[f64; RESOURCES], b: &[f64; RESOURCES]) -> [f64; RESOURCES] {
    std::array::from_fn(|r| a[r] - b[r])
}
