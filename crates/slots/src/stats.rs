//! Reading load counters: per-node `INFO`, per-slot `CLUSTER SLOT-STATS`, key counts.
//!
//! `CLUSTER SLOT-STATS` (Valkey 8+, Redis 8.2+) answers only for slots the asking node owns, so it
//! is sent to every master. Its counters are cumulative and reset when a slot moves: rates come
//! from the difference of two readings, and a slot whose counter went down was moved in between
//! and has no valid delta ([`SlotStat::delta`]).

use crate::client::NodeClient;
use crate::error::SlotsError;
use crate::info::NodeStats;
use redis::Value;
use serde::Serialize;

/// Counters of one slot from `CLUSTER SLOT-STATS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SlotStat {
    /// The slot.
    pub slot: u16,
    /// Keys in the slot (a gauge).
    pub key_count: u64,
    /// CPU microseconds spent on the slot's commands (a counter).
    pub cpu_usec: u64,
    /// Bytes received for the slot's commands (a counter).
    pub net_in: u64,
    /// Bytes sent for the slot's commands (a counter).
    pub net_out: u64,
}

impl SlotStat {
    /// `later - self` for the counters (key count from `later`), or `None` when a counter went
    /// down: the slot was moved or the node restarted between the readings.
    pub fn delta(&self, later: &SlotStat) -> Option<SlotStat> {
        Some(SlotStat {
            slot: self.slot,
            key_count: later.key_count,
            cpu_usec: later.cpu_usec.checked_sub(self.cpu_usec)?,
            net_in: later.net_in.checked_sub(self.net_in)?,
            net_out: later.net_out.checked_sub(self.net_out)?,
        })
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Parses a `CLUSTER SLOT-STATS` reply: `[[slot, [name, value, ...]], ...]` (RESP2) or the RESP3
/// map forms. Unknown metric names are ignored so newer servers still parse.
///
/// # Errors
/// A description of the first element that does not have that shape.
pub fn parse_slot_stats(reply: &Value) -> Result<Vec<SlotStat>, String> {
    let entries: Vec<(&Value, &Value)> = match reply {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => Ok((&pair[0], &pair[1])),
                other => Err(format!("expected [slot, metrics], found {other:?}")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        other => return Err(format!("expected an array, found {other:?}")),
    };
    entries
        .into_iter()
        .map(|(slot, metrics)| {
            let slot = as_u64(slot)
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| *s < crate::slot::SLOTS)
                .ok_or_else(|| format!("bad slot number {slot:?}"))?;
            let pairs: Vec<(&Value, &Value)> = match metrics {
                Value::Array(flat) if flat.len() % 2 == 0 => {
                    flat.chunks(2).map(|c| (&c[0], &c[1])).collect()
                }
                Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
                other => return Err(format!("slot {slot}: bad metrics {other:?}")),
            };
            let mut stat = SlotStat {
                slot,
                ..SlotStat::default()
            };
            for (name, value) in pairs {
                let name = as_text(name).ok_or_else(|| format!("slot {slot}: bad metric name"))?;
                let value =
                    as_u64(value).ok_or_else(|| format!("slot {slot}: {name} is not a number"))?;
                match name.as_str() {
                    "key-count" => stat.key_count = value,
                    "cpu-usec" => stat.cpu_usec = value,
                    "network-bytes-in" => stat.net_in = value,
                    "network-bytes-out" => stat.net_out = value,
                    _ => {}
                }
            }
            Ok(stat)
        })
        .collect()
}

/// `CLUSTER SLOT-STATS SLOTSRANGE first last` on one node: the stats of the slots in the range
/// that this node owns.
///
/// # Errors
/// [`SlotsError::Command`] (e.g. on a server without the command), [`SlotsError::BadReply`].
pub async fn slot_stats(
    node: &NodeClient,
    first: u16,
    last: u16,
) -> Result<Vec<SlotStat>, SlotsError> {
    let cmd = {
        let mut c = redis::cmd("CLUSTER");
        c.arg("SLOT-STATS").arg("SLOTSRANGE").arg(first).arg(last);
        c
    };
    let reply: Value = node.query(&cmd).await?;
    parse_slot_stats(&reply)
        .map_err(|r| SlotsError::bad_reply(node.addr(), "CLUSTER SLOT-STATS", r))
}

/// Whether a `cluster-slot-stats-enabled` value turns on the CPU and network counters: `yes`
/// (Valkey 8+, Redis 8) or a Redis 8 flag list holding both `cpu` and `net` (e.g. `cpu net`).
fn cpu_and_net_on(value: &str) -> bool {
    let has = |flag: &str| {
        value
            .split_whitespace()
            .any(|f| f.eq_ignore_ascii_case(flag))
    };
    has("yes") || (has("cpu") && has("net"))
}

async fn set_slot_stats(node: &NodeClient, value: &str) -> Result<(), SlotsError> {
    node.query(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("cluster-slot-stats-enabled")
            .arg(value),
    )
    .await
}

/// Turns on the CPU and network counters of `CLUSTER SLOT-STATS` at runtime (all metrics but
/// key-count need them): `CONFIG SET cluster-slot-stats-enabled yes`, or, where that is refused,
/// `cpu net`. Redis 8 refuses `yes` on a node started without it, since `yes` includes per-slot
/// memory tracking, which can only start with the server; Cairn does not read memory counters.
/// A value that already covers CPU and network is left alone. Returns whether the counters were
/// off before, so the caller can restore them.
///
/// # Errors
/// [`SlotsError::Command`]: that of `yes` when `cpu net` is refused too.
pub async fn enable_slot_stats(node: &NodeClient) -> Result<bool, SlotsError> {
    let current: Vec<String> = node
        .query(
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("cluster-slot-stats-enabled"),
        )
        .await?;
    if current.get(1).is_some_and(|v| cpu_and_net_on(v)) {
        return Ok(false);
    }
    if let Err(refused) = set_slot_stats(node, "yes").await {
        set_slot_stats(node, "cpu net").await.map_err(|_| refused)?;
    }
    Ok(true)
}

/// `CLUSTER COUNTKEYSINSLOT slot`.
///
/// # Errors
/// [`SlotsError::Command`].
pub async fn count_keys_in_slot(node: &NodeClient, slot: u16) -> Result<u64, SlotsError> {
    node.query(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot))
        .await
}

/// `INFO` (default sections) parsed into [`NodeStats`].
///
/// # Errors
/// [`SlotsError::Command`].
pub async fn node_stats(node: &NodeClient) -> Result<NodeStats, SlotsError> {
    Ok(node.info("").await?.stats())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_resp2_reply() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::Int(12182),
            Value::Array(vec![
                bulk("key-count"),
                Value::Int(1),
                bulk("cpu-usec"),
                Value::Int(25),
                bulk("network-bytes-in"),
                Value::Int(31),
                bulk("network-bytes-out"),
                Value::Int(5),
                bulk("future-metric"),
                Value::Int(9),
            ]),
        ])]);
        let stats = parse_slot_stats(&reply).unwrap();
        assert_eq!(
            stats,
            vec![SlotStat {
                slot: 12182,
                key_count: 1,
                cpu_usec: 25,
                net_in: 31,
                net_out: 5
            }]
        );
    }

    #[test]
    fn parses_resp3_maps_and_rejects_garbage() {
        let reply = Value::Map(vec![(
            Value::Int(7),
            Value::Map(vec![(bulk("cpu-usec"), Value::Int(3))]),
        )]);
        assert_eq!(parse_slot_stats(&reply).unwrap()[0].cpu_usec, 3);
        assert!(parse_slot_stats(&Value::Int(1)).is_err());
        let bad_slot = Value::Array(vec![Value::Array(vec![
            Value::Int(16384),
            Value::Array(vec![]),
        ])]);
        assert!(parse_slot_stats(&bad_slot).is_err());
    }

    #[test]
    fn slot_stats_values_with_cpu_and_net() {
        for on in ["yes", "cpu net", "net cpu", "CPU NET", "cpu net mem"] {
            assert!(cpu_and_net_on(on), "{on}");
        }
        for off in ["no", "", "cpu", "net", "mem", "cpu mem", "unknown"] {
            assert!(!cpu_and_net_on(off), "{off}");
        }
    }

    #[test]
    fn deltas_detect_resets() {
        let a = SlotStat {
            slot: 1,
            key_count: 5,
            cpu_usec: 100,
            net_in: 10,
            net_out: 10,
        };
        let b = SlotStat {
            slot: 1,
            key_count: 6,
            cpu_usec: 150,
            net_in: 30,
            net_out: 11,
        };
        assert_eq!(
            a.delta(&b),
            Some(SlotStat {
                slot: 1,
                key_count: 6,
                cpu_usec: 50,
                net_in: 20,
                net_out: 1
            })
        );
        assert_eq!(b.delta(&a), None);
    }
}
