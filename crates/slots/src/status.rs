//! `cairn slots status`: what every node is, owns and does right now.
//!
//! Rates (CPU %, per-slot CPU and network) need two readings: [`collect`] reads every node, waits
//! `interval`, reads again and reports the differences. The server's own
//! `instantaneous_ops_per_sec` is reported as is.

use crate::cluster::{Cluster, ClusterNode};
use crate::error::SlotsError;
use crate::info::NodeStats;
use crate::stats::{self, SlotStat};
use futures::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One node's row.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub addr: String,
    /// `master` or `replica`.
    pub role: &'static str,
    /// The master's id, for a replica.
    pub master_id: Option<String>,
    /// Flags other than the role and `myself`.
    pub flags: Vec<String>,
    /// Server and version, e.g. `valkey 9.1.2`.
    pub server: Option<String>,
    /// Whether the node answered.
    pub up: bool,
    /// Why it did not.
    pub error: Option<String>,
    /// Owned slot ranges, inclusive.
    pub slots: Vec<(u16, u16)>,
    /// Number of owned slots.
    pub slot_count: usize,
    /// Counters at the second reading.
    pub stats: Option<NodeStats>,
    /// CPU used over the interval, percent of one core.
    pub cpu_percent: Option<f64>,
}

/// Load of one slot over the interval.
#[derive(Debug, Clone, Serialize)]
pub struct SlotStatus {
    /// The slot.
    pub slot: u16,
    /// Owner id.
    pub node: String,
    /// Keys in the slot.
    pub keys: u64,
    /// CPU microseconds per second.
    pub cpu_usec_per_sec: f64,
    /// Bytes in per second.
    pub net_in_per_sec: f64,
    /// Bytes out per second.
    pub net_out_per_sec: f64,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The seed used.
    pub seed: String,
    /// Topology fingerprint, as plans record it.
    pub fingerprint: String,
    /// Problems found by the health check (empty when healthy).
    pub problems: Vec<String>,
    /// Length of the rate-measuring interval, ms.
    pub interval_ms: u64,
    /// Masters first (by first slot), then replicas.
    pub nodes: Vec<NodeStatus>,
    /// Hottest slots by CPU over the interval, when every master offers `CLUSTER SLOT-STATS`.
    pub top_slots: Option<Vec<SlotStatus>>,
    /// Why `top_slots` is missing.
    pub slot_stats_note: Option<String>,
}

struct Reading {
    at: Instant,
    stats: BTreeMap<String, NodeStats>,
    slots: BTreeMap<String, Vec<SlotStat>>,
}

async fn read_all(cluster: &Cluster, with_slots: bool) -> Reading {
    let at = Instant::now();
    let reads = join_all(cluster.nodes().iter().map(|n| async move {
        let client = n.client.as_ref()?;
        let node_stats = stats::node_stats(client).await.ok()?;
        let slots = if with_slots && n.line.is_master() && n.line.slot_count() > 0 {
            stats::slot_stats(client, 0, crate::slot::SLOTS - 1)
                .await
                .ok()
        } else {
            None
        };
        Some((n.id().to_string(), node_stats, slots))
    }))
    .await;
    let mut reading = Reading {
        at,
        stats: BTreeMap::new(),
        slots: BTreeMap::new(),
    };
    for (id, node_stats, slots) in reads.into_iter().flatten() {
        if let Some(s) = slots {
            reading.slots.insert(id.clone(), s);
        }
        reading.stats.insert(id, node_stats);
    }
    reading
}

/// Reads the cluster twice, `interval` apart, and builds the report with the `top` hottest
/// slots.
///
/// # Errors
/// None today beyond what discovery already reported; unreachable nodes appear as rows with
/// `up: false`. The `Result` leaves room for failures of the whole cluster.
pub async fn collect(
    cluster: &Cluster,
    interval: Duration,
    top: usize,
) -> Result<StatusReport, SlotsError> {
    let masters_with_slots: Vec<&ClusterNode> = cluster
        .masters()
        .filter(|m| m.line.slot_count() > 0)
        .collect();
    let slot_stats_everywhere = !masters_with_slots.is_empty()
        && masters_with_slots
            .iter()
            .all(|m| m.server.is_some_and(|s| s.has_slot_stats()));
    let slot_stats_note = if slot_stats_everywhere {
        for m in &masters_with_slots {
            if let Some(c) = &m.client {
                // Without it only key-count is filled; failing to enable is reported by zeros.
                let _ = stats::enable_slot_stats(c).await;
            }
        }
        None
    } else {
        Some(
            "per-slot load is not offered by every master (needs Valkey 8+ or Redis 8.2+); \
             use `cairn slots measure --sample monitor` or `--access-log`"
                .to_string(),
        )
    };
    let health = cluster.health().await;
    let first = read_all(cluster, slot_stats_everywhere).await;
    tokio::time::sleep(interval).await;
    let second = read_all(cluster, slot_stats_everywhere).await;
    let secs = second.at.duration_since(first.at).as_secs_f64().max(1e-3);

    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| {
            let now = second.stats.get(n.id()).cloned();
            let cpu_percent = match (first.stats.get(n.id()), &now) {
                (Some(a), Some(b)) => {
                    Some(((b.cpu_seconds - a.cpu_seconds) / secs * 100.0).max(0.0))
                }
                _ => None,
            };
            NodeStatus {
                id: n.id().to_string(),
                addr: n.addr().to_string(),
                role: if n.line.is_master() {
                    "master"
                } else {
                    "replica"
                },
                master_id: n.line.master_id.clone(),
                flags: n
                    .line
                    .flags
                    .iter()
                    .filter(|f| !matches!(f.as_str(), "myself" | "master" | "slave"))
                    .cloned()
                    .collect(),
                server: n.server.map(|s| s.to_string()),
                up: n.client.is_some() && now.is_some(),
                error: n.error.clone(),
                slots: n.line.slots.clone(),
                slot_count: n.line.slot_count(),
                stats: now,
                cpu_percent,
            }
        })
        .collect();

    let top_slots = slot_stats_everywhere.then(|| top_slots(&first, &second, secs, top));
    Ok(StatusReport {
        seed: cluster.seed().to_string(),
        fingerprint: cluster.fingerprint(),
        problems: health.problems.iter().map(ToString::to_string).collect(),
        interval_ms: interval.as_millis() as u64,
        nodes,
        top_slots,
        slot_stats_note,
    })
}

fn top_slots(first: &Reading, second: &Reading, secs: f64, top: usize) -> Vec<SlotStatus> {
    let mut rows: Vec<SlotStatus> = Vec::new();
    for (node, later) in &second.slots {
        let earlier: BTreeMap<u16, &SlotStat> = first
            .slots
            .get(node)
            .map(|v| v.iter().map(|s| (s.slot, s)).collect())
            .unwrap_or_default();
        for s in later {
            let Some(d) = earlier.get(&s.slot).and_then(|e| e.delta(s)) else {
                continue;
            };
            rows.push(SlotStatus {
                slot: s.slot,
                node: node.clone(),
                keys: s.key_count,
                cpu_usec_per_sec: d.cpu_usec as f64 / secs,
                net_in_per_sec: d.net_in as f64 / secs,
                net_out_per_sec: d.net_out as f64 / secs,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.cpu_usec_per_sec
            .total_cmp(&a.cpu_usec_per_sec)
            .then(b.keys.cmp(&a.keys))
            .then(a.slot.cmp(&b.slot))
    });
    rows.truncate(top);
    rows
}
