//! The measured state of a cluster: topology, node capacity and per-slot load.
//!
//! A [`Snapshot`] is what `cairn slots measure` writes and what every planner reads. It is plain
//! data with public fields so the cluster crate can fill it in as it discovers nodes and reads
//! counters; [`Snapshot::validate`] checks the cross-field invariants (unique ids, owners are
//! masters, finite non-negative numbers) and [`Snapshot::from_json`] runs it on every file read.
//!
//! # Format
//!
//! ```json
//! { "format": "cairn.slots.snapshot/1", "taken_at_ms": 1763780000000, "window_ms": 60000,
//!   "load_sources": ["slot-stats"], "capacity_source": "weights",
//!   "nodes": [{ "id": "9f3c…", "addr": "10.0.0.1:6379", "role": "master",
//!               "flags": [], "server": { "name": "valkey", "version": "9.0.1" },
//!               "capacity": { "weight": 1.0, "cpu": 4.0, "membw": 12000.0,
//!                             "network": 1.25e9, "maxmemory": 8589934592 },
//!               "used_memory": 1048576 }],
//!   "slots": [{ "start": 0, "end": 16383, "node": "9f3c…" }],
//!   "slot_load": [{ "slot": 7, "reads_per_sec": 120.5, "writes_per_sec": 3.0, "keys": 42 }] }
//! ```
//!
//! `slot_load` is sparse: a slot that is not listed has zero load, and a listed slot's missing
//! fields are zero.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::FormatError;
use crate::fingerprint::topology_fingerprint;
use crate::format::{SnapshotFormat, read_json};
use crate::ownership::{Ownership, SLOT_COUNT};

/// The measured state of a cluster. See the [module docs](self) for the file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always `"cairn.slots.snapshot/1"`; a file with another tag is refused.
    pub format: SnapshotFormat,
    /// When the measurement window ended, in milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// Length of the measurement window in milliseconds (0 for key counts only).
    pub window_ms: u64,
    /// Where the per-slot load came from; several sources may be combined.
    #[serde(default)]
    pub load_sources: Vec<LoadSource>,
    /// Where the node capacities came from.
    #[serde(default)]
    pub capacity_source: CapacitySource,
    /// Every node seen, masters and replicas.
    pub nodes: Vec<Node>,
    /// The owner of every slot at measurement time.
    pub slots: Ownership,
    /// Per-slot load rates and sizes.
    #[serde(default)]
    pub slot_load: SlotLoads,
}

impl Snapshot {
    /// A snapshot of `nodes` and `slots` with no load and no timing, ready to be filled in.
    pub fn new(nodes: Vec<Node>, slots: Ownership) -> Self {
        Snapshot {
            format: SnapshotFormat,
            taken_at_ms: 0,
            window_ms: 0,
            load_sources: Vec::new(),
            capacity_source: CapacitySource::default(),
            nodes,
            slots,
            slot_load: SlotLoads::default(),
        }
    }

    /// Reads and validates a snapshot file's text.
    ///
    /// # Errors
    /// [`FormatError::Malformed`] for text that is not JSON or has the wrong shape,
    /// [`FormatError::MissingFormat`] / [`FormatError::Foreign`] for a file that is not a
    /// version-1 snapshot (a plan, say), [`FormatError::Invalid`] when [`Snapshot::validate`]
    /// fails.
    pub fn from_json(text: &str) -> Result<Self, FormatError> {
        let snap: Snapshot = read_json(text, SnapshotFormat::KIND, SnapshotFormat::TAG)?;
        snap.validate()?;
        Ok(snap)
    }

    /// The snapshot as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Only structs, strings and numbers: serializing to a String cannot fail.
        serde_json::to_string_pretty(self).expect("a snapshot always serializes to json")
    }

    /// Checks the invariants a planner relies on.
    ///
    /// # Errors
    /// [`FormatError::Invalid`] naming the first problem: an empty or duplicate node id, a slot
    /// owned by an id that is not a master in `nodes`, or a negative or non-finite capacity or
    /// load value.
    pub fn validate(&self) -> Result<(), FormatError> {
        let invalid = |reason: String| FormatError::Invalid {
            kind: "snapshot",
            reason,
        };
        let mut ids = BTreeSet::new();
        for node in &self.nodes {
            if node.id.is_empty() {
                return Err(invalid(format!("node at {} has an empty id", node.addr)));
            }
            if !ids.insert(node.id.as_str()) {
                return Err(invalid(format!("node id {} is listed twice", node.id)));
            }
            node.capacity
                .check()
                .map_err(|what| invalid(format!("node {}: {what}", node.id)))?;
        }
        let masters: BTreeSet<&str> = self.masters().map(|n| n.id.as_str()).collect();
        for (slot, owner) in self.slots.iter() {
            if let Some(owner) = owner
                && !masters.contains(owner)
            {
                return Err(invalid(format!(
                    "slot {slot} is owned by {owner}, not a master"
                )));
            }
        }
        for (slot, load) in self.slot_load.iter() {
            load.check()
                .map_err(|what| invalid(format!("slot {slot}: {what}")))?;
        }
        Ok(())
    }

    /// The topology fingerprint a plan made from this snapshot is bound to.
    /// See [`topology_fingerprint`].
    pub fn fingerprint(&self) -> String {
        topology_fingerprint(self.nodes.iter().map(|n| n.id.as_str()), &self.slots)
    }

    /// The master nodes, in snapshot order.
    pub fn masters(&self) -> impl Iterator<Item = &Node> + '_ {
        self.nodes.iter().filter(|n| n.role == Role::Master)
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// One cluster node as discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The 40-character cluster node id.
    pub id: String,
    /// `host:port` clients use.
    pub addr: String,
    /// Master or replica.
    pub role: Role,
    /// For a replica, the id of its master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_id: Option<String>,
    /// Flags from `CLUSTER NODES` other than the role (`fail`, `fail?`, `noaddr`, ...).
    #[serde(default)]
    pub flags: Vec<String>,
    /// Server software and version.
    #[serde(default)]
    pub server: ServerInfo,
    /// What the node can sustain.
    #[serde(default)]
    pub capacity: Capacity,
    /// `used_memory` from `INFO memory`, bytes.
    #[serde(default)]
    pub used_memory: u64,
}

impl Node {
    /// A master with default capacity (weight 1) and no flags.
    pub fn master(id: impl Into<String>, addr: impl Into<String>) -> Self {
        Node {
            id: id.into(),
            addr: addr.into(),
            role: Role::Master,
            master_id: None,
            flags: Vec::new(),
            server: ServerInfo::default(),
            capacity: Capacity::default(),
            used_memory: 0,
        }
    }

    /// The first flag that makes the node unfit to hold or receive slots
    /// (`fail`, `noaddr`, `handshake`); `fail?` (suspected) does not count.
    pub fn failing_flag(&self) -> Option<&str> {
        self.flags
            .iter()
            .map(String::as_str)
            .find(|f| matches!(*f, "fail" | "noaddr" | "handshake"))
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Owns slots (or may receive them).
    Master,
    /// Replicates a master; never owns slots.
    Replica,
}

/// Server software and version, e.g. `valkey` `9.0.1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `redis` or `valkey` (from `INFO server`).
    pub name: String,
    /// The version string.
    pub version: String,
}

/// What a node can sustain, as measured or declared.
///
/// Every resource is relative: only ratios between nodes matter, so any unit works as long as
/// all nodes use the same one. A resource is used by the planners only when *every* master has a
/// value for it; otherwise all nodes fall back to `weight` for that resource, because mixing a
/// measured number with a default would compare different units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// Operator weight, as `redis-cli --cluster-weight` (default 1; 0 drains the node).
    #[serde(default = "one")]
    pub weight: f64,
    /// CPU capacity (e.g. probed ops/s, or cores times clock); serves reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Memory bandwidth (e.g. MB/s); serves writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membw: Option<f64>,
    /// Network bandwidth, bytes/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<f64>,
    /// `maxmemory` in bytes; `None` when unlimited (Redis reports 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmemory: Option<u64>,
}

fn one() -> f64 {
    1.0
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            weight: 1.0,
            cpu: None,
            membw: None,
            network: None,
            maxmemory: None,
        }
    }
}

impl Capacity {
    fn check(&self) -> Result<(), String> {
        check_number("weight", self.weight)?;
        for (name, v) in [
            ("cpu", self.cpu),
            ("membw", self.membw),
            ("network", self.network),
        ] {
            if let Some(v) = v {
                check_number(name, v)?;
            }
        }
        Ok(())
    }
}

fn check_number(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} = {v} is not a finite non-negative number"))
    }
}

/// Where per-slot load numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadSource {
    /// `CLUSTER SLOT-STATS` counter deltas over the window (Valkey 8+, Redis 8.2+).
    SlotStats,
    /// A bounded `MONITOR` sampling window.
    Sampling,
    /// An access log in the origin format (`key op` per line).
    AccessLog,
    /// `CLUSTER COUNTKEYSINSLOT` and sampled `MEMORY USAGE`: sizes, no rates.
    KeyCounts,
    /// Generated by [`crate::synthetic`].
    Synthetic,
}

/// Where node capacities came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapacitySource {
    /// Nothing measured: every node has weight 1.
    #[default]
    Default,
    /// Explicit `--weight node=w`.
    Weights,
    /// A short saturating probe per node.
    Probe,
    /// The origin formula's CPU and memory-bandwidth numbers.
    CpuMembw,
    /// Generated by [`crate::synthetic`].
    Synthetic,
}

/// Load and size of one slot over the window. Rates are per second; missing fields are zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlotLoad {
    /// Read commands per second.
    pub reads_per_sec: f64,
    /// Write commands per second.
    pub writes_per_sec: f64,
    /// Server CPU microseconds per second (`cpu-usec` from SLOT-STATS).
    pub cpu_usec_per_sec: f64,
    /// Bytes received per second (`network-bytes-in`).
    pub net_in_bytes_per_sec: f64,
    /// Bytes sent per second (`network-bytes-out`).
    pub net_out_bytes_per_sec: f64,
    /// Keys in the slot.
    pub keys: u64,
    /// Memory used by the slot's keys, bytes (sampled estimate).
    pub bytes: u64,
}

impl SlotLoad {
    /// Read plus write commands per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.reads_per_sec + self.writes_per_sec
    }

    fn is_zero(&self) -> bool {
        *self == SlotLoad::default()
    }

    fn check(&self) -> Result<(), String> {
        check_number("reads_per_sec", self.reads_per_sec)?;
        check_number("writes_per_sec", self.writes_per_sec)?;
        check_number("cpu_usec_per_sec", self.cpu_usec_per_sec)?;
        check_number("net_in_bytes_per_sec", self.net_in_bytes_per_sec)?;
        check_number("net_out_bytes_per_sec", self.net_out_bytes_per_sec)
    }
}

/// The load of every slot: always exactly [`SLOT_COUNT`] entries, indexed by slot.
///
/// Serialized sparsely as `[{"slot": s, ...SlotLoad}]`, omitting all-zero slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SlotLoadEntry>", into = "Vec<SlotLoadEntry>")]
pub struct SlotLoads {
    loads: Vec<SlotLoad>,
}

impl Default for SlotLoads {
    fn default() -> Self {
        SlotLoads {
            loads: vec![SlotLoad::default(); SLOT_COUNT],
        }
    }
}

impl SlotLoads {
    /// The load of `slot`; `None` when `slot >= 16384`.
    pub fn get(&self, slot: u16) -> Option<&SlotLoad> {
        self.loads.get(usize::from(slot))
    }

    /// Mutable access to the load of `slot`; `None` when `slot >= 16384`.
    pub fn get_mut(&mut self, slot: u16) -> Option<&mut SlotLoad> {
        self.loads.get_mut(usize::from(slot))
    }

    /// Every slot in order with its load.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &SlotLoad)> + '_ {
        self.loads.iter().enumerate().map(|(s, l)| (s as u16, l))
    }

    /// The loads as a slice indexed by slot.
    pub fn as_slice(&self) -> &[SlotLoad] {
        &self.loads
    }
}

/// One entry of the sparse `slot_load` list on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotLoadEntry {
    /// The slot number.
    pub slot: u16,
    /// Its load.
    #[serde(flatten)]
    pub load: SlotLoad,
}

impl TryFrom<Vec<SlotLoadEntry>> for SlotLoads {
    type Error = String;

    fn try_from(entries: Vec<SlotLoadEntry>) -> Result<Self, Self::Error> {
        let mut loads = SlotLoads::default();
        let mut seen = vec![false; SLOT_COUNT];
        for e in entries {
            let i = usize::from(e.slot);
            if i >= SLOT_COUNT {
                return Err(format!(
                    "slot_load lists slot {}, out of range 0..=16383",
                    e.slot
                ));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!("slot_load lists slot {} twice", e.slot));
            }
            loads.loads[i] = e.load;
        }
        Ok(loads)
    }
}

impl From<SlotLoads> for Vec<SlotLoadEntry> {
    fn from(loads: SlotLoads) -> Self {
        loads
            .loads
            .into_iter()
            .enumerate()
            .filter(|(_, l)| !l.is_zero())
            .map(|(slot, load)| SlotLoadEntry {
                slot: slot as u16,
                load,
            })
            .collect()
    }
}
