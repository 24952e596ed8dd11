//! `cairn slots measure`: turning a live cluster into the planner's [`Snapshot`].
//!
//! Load sources, combined when several are given:
//! - `CLUSTER SLOT-STATS` deltas over the window, when every master offers it (Valkey 8+,
//!   Redis 8.2+): CPU time and network bytes per slot. `cluster-slot-stats-enabled` is switched
//!   on at runtime if needed (and left on: switching it off would drop the counters of whoever
//!   else reads them).
//! - a bounded `MONITOR` window (opt-in, [`monitor`]): reads and writes per slot on any server.
//! - an access log in the origin format ([`access_log`]): reads and writes per slot.
//! - always: key counts per slot and sampled bytes per slot ([`keys`]), the cost of a move.
//!
//! Capacity comes from [`capacity`]: weights, the origin formula on capacity, or a probe.

pub mod access_log;
pub mod capacity;
pub mod keys;
pub mod monitor;

use crate::cluster::Cluster;
use crate::error::SlotsError;
use crate::stats::{self, SlotStat};
use access_log::SlotCounts;
use cairn_slots_planner::{
    Capacity, CapacitySource, LoadSource, Node, Role, ServerInfo, SlotLoads, Snapshot,
};
use futures::future::join_all;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to derive node capacity.
#[derive(Debug, Clone, PartialEq)]
pub enum CapacityConfig {
    /// Weight 1 everywhere, plus any explicit weights.
    Weights(Vec<(String, f64)>),
    /// Probe each master for `duration` (opt-in: it loads the nodes).
    Probe(Duration),
    /// The origin formula on capacity; missing per-node numbers are probed for `probe`.
    CpuMembw {
        /// Share of CPU in the weight.
        alpha: f64,
        /// CPU capacity per node (`name=value`).
        cpu: Vec<(String, f64)>,
        /// Memory bandwidth per node (`name=value`).
        membw: Vec<(String, f64)>,
        /// Probe length for nodes without numbers.
        probe: Duration,
    },
}

/// What `measure` reads.
#[derive(Debug, Clone)]
pub struct MeasureConfig {
    /// The rate-measuring window (SLOT-STATS deltas).
    pub window: Duration,
    /// Sample with `MONITOR` on every master for this long (opt-in).
    pub monitor: Option<Duration>,
    /// Per-slot reads/writes from an access log, and the time span it covers (for rates).
    pub access_log: Option<(SlotCounts, Duration)>,
    /// Keys per slot sampled with `MEMORY USAGE` (0: no byte estimates).
    pub sample_keys: usize,
    /// Capacity source.
    pub capacity: CapacityConfig,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        MeasureConfig {
            window: Duration::from_secs(60),
            monitor: None,
            access_log: None,
            sample_keys: 3,
            capacity: CapacityConfig::Weights(Vec::new()),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Measures `cluster` into a snapshot.
///
/// # Errors
/// [`SlotsError::Unhealthy`] when a master is down or a slot is uncovered or open (a snapshot
/// of a broken cluster cannot be planned), [`SlotsError::Command`] when reading counters fails,
/// [`SlotsError::BadAddress`]-style errors for weights naming unknown nodes.
pub async fn measure(cluster: &Cluster, cfg: &MeasureConfig) -> Result<Snapshot, SlotsError> {
    cluster.require_healthy().await?;
    let masters: Vec<_> = cluster.masters().collect();
    let mut snapshot = Snapshot::new(snapshot_nodes(cluster).await?, cluster.ownership());

    let slot_stats = !masters.is_empty()
        && masters
            .iter()
            .all(|m| m.server.is_some_and(|s| s.has_slot_stats()));
    let use_window = slot_stats || cfg.monitor.is_some();
    let mut loads = SlotLoads::default();

    // Key counts and sampled bytes, per master for its own slots.
    for m in &masters {
        let client = cluster.client(m.id())?;
        let own: Vec<u16> = snapshot.slots.slots_of(m.id());
        let counts = keys::count_keys(client, &own).await?;
        for &(slot, k) in &counts {
            if let Some(l) = loads.get_mut(slot) {
                l.keys = k;
            }
        }
        for (slot, bytes) in keys::sample_bytes(client, &counts, cfg.sample_keys).await? {
            if let Some(l) = loads.get_mut(slot) {
                l.bytes = bytes;
            }
        }
    }
    snapshot.load_sources.push(LoadSource::KeyCounts);

    if use_window {
        let first = if slot_stats {
            Some(read_slot_stats(cluster).await?)
        } else {
            None
        };
        let started = std::time::Instant::now();
        let mut counts = SlotCounts::default();
        if let Some(d) = cfg.monitor {
            let sampled = join_all(masters.iter().map(|m| async move {
                let mut c = SlotCounts::default();
                monitor::sample(m.addr(), d, &mut c).await.map(|_| c)
            }))
            .await;
            for c in sampled {
                let c = c?;
                for s in 0..counts.reads.len() {
                    counts.reads[s] += c.reads[s];
                    counts.writes[s] += c.writes[s];
                }
            }
            let secs = d.as_secs_f64().max(1e-3);
            for (s, (r, w)) in counts.reads.iter().zip(&counts.writes).enumerate() {
                if let Some(l) = loads.get_mut(s as u16) {
                    l.reads_per_sec = *r as f64 / secs;
                    l.writes_per_sec = *w as f64 / secs;
                }
            }
            snapshot.load_sources.push(LoadSource::Sampling);
        }
        if let Some(first) = first {
            if let Some(rest) = cfg.window.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
            let second = read_slot_stats(cluster).await?;
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            for (slot, later) in &second {
                let Some(d) = first.get(slot).and_then(|f| f.delta(later)) else {
                    continue;
                };
                if let Some(l) = loads.get_mut(*slot) {
                    l.cpu_usec_per_sec = d.cpu_usec as f64 / secs;
                    l.net_in_bytes_per_sec = d.net_in as f64 / secs;
                    l.net_out_bytes_per_sec = d.net_out as f64 / secs;
                    l.keys = later.key_count;
                }
            }
            snapshot.load_sources.push(LoadSource::SlotStats);
        }
        snapshot.window_ms = started.elapsed().as_millis() as u64;
    }

    if let Some((log, span)) = &cfg.access_log {
        let secs = span.as_secs_f64().max(1e-3);
        for (s, (r, w)) in log.reads.iter().zip(&log.writes).enumerate() {
            if let Some(l) = loads.get_mut(s as u16) {
                l.reads_per_sec += *r as f64 / secs;
                l.writes_per_sec += *w as f64 / secs;
            }
        }
        snapshot.load_sources.push(LoadSource::AccessLog);
        if snapshot.window_ms == 0 {
            snapshot.window_ms = span.as_millis() as u64;
        }
    }
    snapshot.load_sources.sort();
    snapshot.slot_load = loads;
    apply_capacity(cluster, &mut snapshot, &cfg.capacity).await?;
    snapshot.taken_at_ms = now_ms();
    snapshot.validate().map_err(|e| SlotsError::Unhealthy {
        reason: format!("measured snapshot is inconsistent: {e}"),
        remedy: "re-run measure; if it persists, report a bug",
    })?;
    Ok(snapshot)
}

async fn read_slot_stats(cluster: &Cluster) -> Result<BTreeMap<u16, SlotStat>, SlotsError> {
    let mut out = BTreeMap::new();
    for m in cluster.masters().filter(|m| m.line.slot_count() > 0) {
        let client = cluster.client(m.id())?;
        stats::enable_slot_stats(client).await?;
        for s in stats::slot_stats(client, 0, crate::slot::SLOTS - 1).await? {
            out.insert(s.slot, s);
        }
    }
    Ok(out)
}

async fn snapshot_nodes(cluster: &Cluster) -> Result<Vec<Node>, SlotsError> {
    let mut nodes = Vec::new();
    for n in cluster.nodes() {
        let client = cluster.client(n.id())?;
        let info = client.info("memory").await?;
        let stats = info.stats();
        let server = n.server.map(|s| {
            let name = match s.kind {
                crate::info::ServerKind::Redis => "redis",
                crate::info::ServerKind::Valkey => "valkey",
            };
            ServerInfo {
                name: name.into(),
                version: format!("{}.{}.{}", s.major, s.minor, s.patch),
            }
        });
        nodes.push(Node {
            id: n.id().to_string(),
            addr: n.addr().to_string(),
            role: if n.line.is_master() {
                Role::Master
            } else {
                Role::Replica
            },
            master_id: n.line.master_id.clone(),
            flags: n
                .line
                .flags
                .iter()
                .filter(|f| !matches!(f.as_str(), "myself" | "master" | "slave"))
                .cloned()
                .collect(),
            server: server.unwrap_or_default(),
            capacity: Capacity {
                maxmemory: (stats.maxmemory > 0).then_some(stats.maxmemory),
                ..Capacity::default()
            },
            used_memory: stats.used_memory,
        });
    }
    Ok(nodes)
}

fn resolve<'a>(cluster: &'a Cluster, name: &str, flag: &str) -> Result<&'a str, SlotsError> {
    cluster
        .find(name)
        .map(|n| n.id())
        .ok_or_else(|| SlotsError::Unhealthy {
            reason: format!("{flag} names {name:?}, which is no node of this cluster"),
            remedy: "use a node id, a unique id prefix or host:port from `cairn slots status`",
        })
}

async fn apply_capacity(
    cluster: &Cluster,
    snapshot: &mut Snapshot,
    cfg: &CapacityConfig,
) -> Result<(), SlotsError> {
    let masters: Vec<String> = snapshot.masters().map(|n| n.id.clone()).collect();
    match cfg {
        CapacityConfig::Weights(weights) => {
            for (name, w) in weights {
                let id = resolve(cluster, name, "--weight")?.to_string();
                if let Some(n) = snapshot.nodes.iter_mut().find(|n| n.id == id) {
                    n.capacity.weight = *w;
                }
            }
            snapshot.capacity_source = if weights.is_empty() {
                CapacitySource::Default
            } else {
                CapacitySource::Weights
            };
        }
        CapacityConfig::Probe(d) => {
            let probed = probe_all(cluster, snapshot, &masters, *d).await?;
            for (id, p) in probed {
                if let Some(n) = snapshot.nodes.iter_mut().find(|n| n.id == id) {
                    n.capacity.cpu = Some(p.ops_per_sec);
                    n.capacity.membw = Some(p.write_bytes_per_sec);
                }
            }
            snapshot.capacity_source = CapacitySource::Probe;
        }
        CapacityConfig::CpuMembw {
            alpha,
            cpu,
            membw,
            probe,
        } => {
            let mut cpu_of: BTreeMap<String, f64> = BTreeMap::new();
            let mut membw_of: BTreeMap<String, f64> = BTreeMap::new();
            for (name, v) in cpu {
                cpu_of.insert(resolve(cluster, name, "--cpu")?.to_string(), *v);
            }
            for (name, v) in membw {
                membw_of.insert(resolve(cluster, name, "--membw")?.to_string(), *v);
            }
            let missing: Vec<String> = masters
                .iter()
                .filter(|id| !cpu_of.contains_key(*id) || !membw_of.contains_key(*id))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let probed = probe_all(cluster, snapshot, &missing, *probe).await?;
                for (id, p) in probed {
                    cpu_of.entry(id.clone()).or_insert(p.ops_per_sec);
                    membw_of.entry(id).or_insert(p.write_bytes_per_sec);
                }
            }
            let c: Vec<f64> = masters
                .iter()
                .map(|id| cpu_of.get(id).copied().unwrap_or(0.0))
                .collect();
            let m: Vec<f64> = masters
                .iter()
                .map(|id| membw_of.get(id).copied().unwrap_or(0.0))
                .collect();
            let weights = capacity::origin_weights(&c, &m, *alpha);
            for (i, id) in masters.iter().enumerate() {
                if let Some(n) = snapshot.nodes.iter_mut().find(|n| &n.id == id) {
                    n.capacity.cpu = Some(c[i]);
                    n.capacity.membw = Some(m[i]);
                    n.capacity.weight = weights[i];
                }
            }
            snapshot.capacity_source = CapacitySource::CpuMembw;
        }
    }
    Ok(())
}

async fn probe_all(
    cluster: &Cluster,
    snapshot: &Snapshot,
    ids: &[String],
    duration: Duration,
) -> Result<Vec<(String, capacity::ProbeResult)>, SlotsError> {
    let mut out = Vec::new();
    for id in ids {
        let Some(slot) = snapshot.slots.slots_of(id).first().copied() else {
            tracing::warn!(node = %id, "master owns no slot: not probed, capacity left unset");
            continue;
        };
        let addr = cluster.client(id)?.addr().to_string();
        let r = capacity::probe(&addr, slot, duration).await?;
        tracing::info!(node = %id, ops_per_sec = r.ops_per_sec, write_bytes_per_sec = r.write_bytes_per_sec, "probed");
        out.push((id.clone(), r));
    }
    Ok(out)
}
