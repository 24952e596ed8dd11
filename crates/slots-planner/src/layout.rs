//! A slot layout evaluated against a snapshot's capacities and loads.
//!
//! [`Layout`] turns the snapshot's raw numbers into shares: every slot's share of the cluster's
//! demand per [`Resource`] and every eligible master's share of the capacity. A node's
//! normalised load is then `sum(slot shares) / capacity share`, so 1.0 is a fair share whatever
//! the units, and moving a slot is two additions. The planners search over a `Layout`; the
//! cluster crate can use one to predict the effect of any ownership (for instance a partly
//! applied plan) with [`Layout::evaluate`].
//!
//! Which demand feeds which resource follows the origin design: reads (or server CPU time when
//! SLOT-STATS measured it) load the CPU, writes load memory bandwidth, bytes in and out load the
//! network. A snapshot with key counts but no rates lets keys stand in for CPU demand, so that
//! `load` still spreads data by capacity.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::PlanError;
use crate::ownership::{Ownership, SLOT_COUNT};
use crate::plan::{Move, NodeLoad};
use crate::policy::Policy;
use crate::snapshot::{Node, SlotLoad, Snapshot};

/// A resource a node's load is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// CPU: serves reads (and all commands when only CPU time is known).
    Cpu,
    /// Memory bandwidth: serves writes.
    Membw,
    /// Network bandwidth: bytes in and out.
    Network,
}

/// Number of resources; per-node and per-slot vectors are `[f64; RESOURCES]`.
pub(crate) const RESOURCES: usize = 3;

impl Resource {
    /// Every resource, in index order.
    pub const ALL: [Resource; RESOURCES] = [Resource::Cpu, Resource::Membw, Resource::Network];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Membw => "membw",
            Resource::Network => "network",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Capacity shares below this count as zero: a drained node's load divides by it, which makes
/// any load on it enormous but finite, so comparisons stay total.
const MIN_SHARE: f64 = 1e-12;

/// Slots, loads and capacities of the eligible masters, plus a current owner for every slot.
///
/// Eligible masters are the snapshot's masters without a `fail`, `noaddr` or `handshake` flag
/// (and, unless [`Policy::use_empty_masters`], owning at least one slot), ordered by id. Every
/// slot is owned by exactly one of them at all times.
#[derive(Debug, Clone)]
pub struct Layout {
    pub(crate) ids: Vec<String>,
    pub(crate) addrs: Vec<String>,
    /// Operator weights (count mode).
    pub(crate) weight: Vec<f64>,
    /// Capacity share per node and resource; each column sums to 1.
    pub(crate) cap: Vec<[f64; RESOURCES]>,
    /// Usable memory per node in bytes, after headroom.
    pub(crate) mem_limit: Vec<Option<f64>>,
    /// Memory a node uses besides its slots' bytes.
    mem_base: Vec<f64>,
    /// Demand share per slot and resource; each active column sums to 1.
    pub(crate) demand: Vec<[f64; RESOURCES]>,
    /// Resources with any demand.
    pub(crate) active: [bool; RESOURCES],
    pub(crate) keys: Vec<u64>,
    pub(crate) bytes: Vec<u64>,
    /// Reads and writes per slot, to tell read-hot from write-hot slots (origin mode).
    pub(crate) reads: Vec<f64>,
    pub(crate) writes: Vec<f64>,
    /// Current owner of each slot, an index into `ids`.
    pub(crate) owner: Vec<usize>,
    /// Sum of `demand` per node.
    pub(crate) load: Vec<[f64; RESOURCES]>,
    /// Bytes per node (base plus slots).
    pub(crate) mem: Vec<f64>,
    pub(crate) counts: Vec<usize>,
}

impl Layout {
    /// Builds the layout of `snapshot` as measured.
    ///
    /// # Errors
    /// [`PlanError::InvalidSnapshot`] when the snapshot fails [`Snapshot::validate`],
    /// [`PlanError::UncoveredSlots`] when a slot has no owner, [`PlanError::UnknownOwner`] when
    /// a slot's owner is not an eligible master, [`PlanError::NodeFailing`] when a failing
    /// master owns slots, [`PlanError::NoCapacity`] when no master can hold load.
    pub fn new(snapshot: &Snapshot, policy: &Policy) -> Result<Layout, PlanError> {
        snapshot
            .validate()
            .map_err(|e| PlanError::InvalidSnapshot(e.to_string()))?;
        let uncovered = snapshot.slots.uncovered();
        if let Some(&first) = uncovered.first() {
            return Err(PlanError::UncoveredSlots {
                count: uncovered.len(),
                first,
            });
        }
        let owned = snapshot.slots.counts();
        let mut masters: Vec<&Node> = Vec::new();
        for node in snapshot.masters() {
            let has_slots = owned.contains_key(&node.id);
            if let Some(flag) = node.failing_flag() {
                if has_slots {
                    return Err(PlanError::NodeFailing {
                        id: node.id.clone(),
                        flag: flag.into(),
                    });
                }
                continue;
            }
            if has_slots || policy.use_empty_masters {
                masters.push(node);
            }
        }
        masters.sort_by(|a, b| a.id.cmp(&b.id));
        let index_of = |id: &str| masters.binary_search_by(|n| n.id.as_str().cmp(id)).ok();

        let mut owner = Vec::with_capacity(SLOT_COUNT);
        for (slot, id) in snapshot.slots.iter() {
            let id = id.unwrap_or_default();
            let i = index_of(id).ok_or_else(|| PlanError::UnknownOwner {
                slot,
                owner: id.to_owned(),
            })?;
            owner.push(i);
        }

        let cap = capacity_shares(&masters)?;
        let loads = snapshot.slot_load.as_slice();
        let (demand, active) = demand_shares(loads);
        let n = masters.len();
        let mut layout = Layout {
            ids: masters.iter().map(|m| m.id.clone()).collect(),
            addrs: masters.iter().map(|m| m.addr.clone()).collect(),
            weight: masters.iter().map(|m| m.capacity.weight).collect(),
            cap,
            mem_limit: masters
                .iter()
                .map(|m| {
                    m.capacity
                        .maxmemory
                        .map(|b| b as f64 * (1.0 - policy.memory_headroom))
                })
                .collect(),
            mem_base: vec![0.0; n],
            demand,
            active,
            keys: loads.iter().map(|l| l.keys).collect(),
            bytes: loads.iter().map(|l| l.bytes).collect(),
            reads: loads.iter().map(|l| l.reads_per_sec).collect(),
            writes: loads.iter().map(|l| l.writes_per_sec).collect(),
            owner,
            load: vec![[0.0; RESOURCES]; n],
            mem: vec![0.0; n],
            counts: vec![0; n],
        };
        layout.recompute();
        for (i, m) in masters.iter().enumerate() {
            layout.mem_base[i] = (m.used_memory as f64 - layout.mem[i]).max(0.0);
        }
        layout.recompute();
        Ok(layout)
    }

    /// The same capacities and loads with another ownership, e.g. a plan's final layout.
    ///
    /// # Errors
    /// [`PlanError::UncoveredSlots`] or [`PlanError::UnknownOwner`] when `slots` does not give
    /// every slot to an eligible master.
    pub fn evaluate(&self, slots: &Ownership) -> Result<Layout, PlanError> {
        let uncovered = slots.uncovered();
        if let Some(&first) = uncovered.first() {
            return Err(PlanError::UncoveredSlots {
                count: uncovered.len(),
                first,
            });
        }
        let mut next = self.clone();
        for (slot, id) in slots.iter() {
            let id = id.unwrap_or_default();
            next.owner[usize::from(slot)] =
                self.index_of(id).ok_or_else(|| PlanError::UnknownOwner {
                    slot,
                    owner: id.to_owned(),
                })?;
        }
        next.recompute();
        Ok(next)
    }

    fn recompute(&mut self) {
        let n = self.ids.len();
        self.load = vec![[0.0; RESOURCES]; n];
        self.mem = self.mem_base.clone();
        self.counts = vec![0; n];
        for (slot, &i) in self.owner.iter().enumerate() {
            for r in 0..RESOURCES {
                self.load[i][r] += self.demand[slot][r];
            }
            self.mem[i] += self.bytes[slot] as f64;
            self.counts[i] += 1;
        }
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.ids.binary_search_by(|x| x.as_str().cmp(id)).ok()
    }

    /// Ids of the eligible masters, sorted.
    pub fn node_ids(&self) -> &[String] {
        &self.ids
    }

    /// The current owner of every slot.
    pub fn ownership(&self) -> Ownership {
        let mut own = Ownership::unassigned();
        for (slot, &i) in self.owner.iter().enumerate() {
            // `owner` has SLOT_COUNT entries, so `slot` fits in u16 and is in range.
            let _ = own.assign(slot as u16, self.ids[i].clone());
        }
        own
    }

    /// The current owner of `slot`; `None` when `slot >= 16384`.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.owner
            .get(usize::from(slot))
            .map(|&i| self.ids[i].as_str())
    }

    /// Moves `slot` to `to` and returns the move, or `None` when the slot is out of range, `to`
    /// is not an eligible master, or `to` already owns it.
    pub fn move_slot(&mut self, slot: u16, to: &str) -> Option<Move> {
        let t = self.index_of(to)?;
        let s = usize::from(slot);
        let f = *self.owner.get(s)?;
        if f == t {
            return None;
        }
        self.shift(s, t);
        Some(self.move_record(s, f, t))
    }

    pub(crate) fn move_record(&self, slot: usize, from: usize, to: usize) -> Move {
        Move {
            slot: slot as u16,
            from: self.ids[from].clone(),
            to: self.ids[to].clone(),
            keys: self.keys[slot],
            bytes: self.bytes[slot],
        }
    }

    /// Gives `slot` to node `to`, updating loads, memory and counts.
    pub(crate) fn shift(&mut self, slot: usize, to: usize) {
        let from = self.owner[slot];
        for r in 0..RESOURCES {
            self.load[from][r] -= self.demand[slot][r];
            self.load[to][r] += self.demand[slot][r];
        }
        let b = self.bytes[slot] as f64;
        self.mem[from] -= b;
        self.mem[to] += b;
        self.counts[from] -= 1;
        self.counts[to] += 1;
        self.owner[slot] = to;
    }

    /// Normalised load of node `i` for resource `r`.
    pub(crate) fn norm(&self, i: usize, r: usize) -> f64 {
        norm(self.load[i][r], self.cap[i][r])
    }

    /// Worst normalised load of node `i` over the active resources.
    pub(crate) fn score(&self, i: usize) -> f64 {
        self.score_of(i, &self.load[i])
    }

    /// Worst normalised load node `i` would have with load vector `load`.
    pub(crate) fn score_of(&self, i: usize, load: &[f64; RESOURCES]) -> f64 {
        let cap = &self.cap[i];
        (0..RESOURCES)
            .filter(|&r| self.active[r])
            .map(|r| norm(load[r], cap[r]))
            .fold(0.0, f64::max)
    }

    /// True when node `i` can take `extra` more bytes within its memory limit.
    pub(crate) fn fits(&self, i: usize, extra: f64) -> bool {
        match self.mem_limit[i] {
            Some(limit) => self.mem[i] + extra <= limit,
            None => true,
        }
    }

    /// The worst normalised load over nodes and resources: the max/mean ratio.
    pub fn max_mean(&self) -> f64 {
        (0..self.ids.len())
            .map(|i| self.score(i))
            .fold(0.0, f64::max)
    }

    /// The worst normalised load of one resource; `None` when it has no demand.
    pub fn resource_max(&self, resource: Resource) -> Option<f64> {
        let r = resource as usize;
        self.active[r].then(|| {
            (0..self.ids.len())
                .map(|i| self.norm(i, r))
                .fold(0.0, f64::max)
        })
    }

    /// The lower bound of one resource's worst load: the larger of 1.0 and the hottest slot's
    /// demand placed alone on the node with the most capacity. `None` when it has no demand.
    pub fn resource_lower_bound(&self, resource: Resource) -> Option<f64> {
        let r = resource as usize;
        if !self.active[r] {
            return None;
        }
        let hottest = self.demand.iter().map(|d| d[r]).fold(0.0, f64::max);
        let strongest = self.cap.iter().map(|c| c[r]).fold(0.0, f64::max);
        Some(norm(hottest, strongest).max(1.0))
    }

    /// No layout's [`max_mean`](Self::max_mean) is below this (the largest per-resource bound).
    pub fn lower_bound(&self) -> f64 {
        Resource::ALL
            .iter()
            .filter_map(|&r| self.resource_lower_bound(r))
            .fold(1.0, f64::max)
    }

    /// Slots owned per eligible master, in [`node_ids`](Self::node_ids) order.
    pub fn slot_counts(&self) -> &[usize] {
        &self.counts
    }

    /// Per-master load, in [`node_ids`](Self::node_ids) order.
    pub fn node_loads(&self) -> Vec<NodeLoad> {
        (0..self.ids.len())
            .map(|i| {
                let get = |r: Resource| self.active[r as usize].then(|| self.norm(i, r as usize));
                NodeLoad {
                    cpu: get(Resource::Cpu),
                    membw: get(Resource::Membw),
                    network: get(Resource::Network),
                    worst: self.score(i),
                    bytes: self.mem[i].max(0.0).round() as u64,
                    memory: self.mem_limit[i].map(|limit| self.mem[i] / limit.max(1.0)),
                }
            })
            .collect()
    }
}

fn norm(load: f64, cap: f64) -> f64 {
    load / cap.max(MIN_SHARE)
}

/// Each master's share of each resource's capacity. A resource uses its measured value only
/// when every master has one; otherwise the operator weight.
fn capacity_shares(masters: &[&Node]) -> Result<Vec<[f64; RESOURCES]>, PlanError> {
    let pick = |n: &Node, r: Resource| match r {
        Resource::Cpu => n.capacity.cpu,
        Resource::Membw => n.capacity.membw,
        Resource::Network => n.capacity.network,
    };
    let mut cap = vec![[0.0; RESOURCES]; masters.len()];
    for r in Resource::ALL {
        let measured = masters.iter().all(|n| pick(n, r).is_some());
        let raw: Vec<f64> = masters
            .iter()
            .map(|n| {
                if measured {
                    pick(n, r).unwrap_or(0.0)
                } else {
                    n.capacity.weight
                }
            })
            .collect();
        let total: f64 = raw.iter().sum();
        if total <= 0.0 {
            return Err(PlanError::NoCapacity);
        }
        for (i, v) in raw.iter().enumerate() {
            cap[i][r as usize] = v / total;
        }
    }
    Ok(cap)
}

/// Each slot's share of each resource's demand, and which resources have any demand.
fn demand_shares(loads: &[SlotLoad]) -> (Vec<[f64; RESOURCES]>, [bool; RESOURCES]) {
    let sum = |f: &dyn Fn(&SlotLoad) -> f64| loads.iter().map(f).sum::<f64>();
    let has_cpu_time = sum(&|l| l.cpu_usec_per_sec) > 0.0;
    let has_ops = sum(&|l| l.ops_per_sec()) > 0.0;
    let has_writes = sum(&|l| l.writes_per_sec) > 0.0;
    let has_net = sum(&|l| l.net_in_bytes_per_sec + l.net_out_bytes_per_sec) > 0.0;
    let only_keys = !(has_cpu_time || has_ops || has_net);
    let raw = |l: &SlotLoad| -> [f64; RESOURCES] {
        let cpu = if has_cpu_time {
            l.cpu_usec_per_sec
        } else if only_keys {
            l.keys as f64
        } else {
            l.ops_per_sec()
        };
        let membw = if has_writes {
            l.writes_per_sec
        } else {
            l.net_in_bytes_per_sec
        };
        [cpu, membw, l.net_in_bytes_per_sec + l.net_out_bytes_per_sec]
    };
    let mut totals = [0.0; RESOURCES];
    let mut demand: Vec<[f64; RESOURCES]> = loads.iter().map(raw).collect();
    for d in &demand {
        for r in 0..RESOURCES {
            totals[r] += d[r];
        }
    }
    let active = totals.map(|t| t > 0.0);
    for d in &mut demand {
        for r in 0..RESOURCES {
            d[r] = if active[r] { d[r] / totals[r] } else { 0.0 };
        }
    }
    (demand, active)
}
