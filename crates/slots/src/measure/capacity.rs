//! Node capacity: what each master can sustain, so that load is balanced against capacity and
//! not against slot counts.
//!
//! Three sources, in increasing cost:
//! - operator weights (`--weight node=w`), as `redis-cli --cluster-weight`;
//! - the origin design's formula on *capacity* (`--capacity cpu-membw --alpha a`):
//!   `weight = a * cpu / sum(cpu) + (1 - a) * membw / sum(membw)`, with the CPU and memory
//!   bandwidth numbers given per node (`--cpu`, `--membw`, e.g. from `nproc`/STREAM) or probed;
//! - a short saturating probe per node ([`probe`]): small pipelined `GET`s measure command
//!   throughput (CPU), large `SET`s measure write bandwidth (memory bandwidth). Nodes are probed
//!   one at a time so that they do not compete for the client's CPU. The probe *loads the
//!   node*: it is opt-in and a few seconds long.

use crate::client::{NodeClient, Timeouts};
use crate::error::SlotsError;
use crate::slot::SlotKeys;
use std::time::{Duration, Instant};

/// Probe results of one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeResult {
    /// Small `GET`s per second at saturation.
    pub ops_per_sec: f64,
    /// Bytes written per second with large `SET`s.
    pub write_bytes_per_sec: f64,
}

const CONNECTIONS: usize = 4;
const DEPTH: usize = 32;
const BIG_VALUE: usize = 16 * 1024;

/// Saturates `addr` for `duration` (half reads, half large writes) using a key in `slot`, which
/// the node must own. The probe key is deleted afterwards.
///
/// # Errors
/// [`SlotsError::Unreachable`] or [`SlotsError::Command`].
pub async fn probe(addr: &str, slot: u16, duration: Duration) -> Result<ProbeResult, SlotsError> {
    let key = SlotKeys::new().key(slot, "cairn:probe");
    let timeouts = Timeouts {
        connect: Duration::from_secs(3),
        response: Duration::from_secs(10),
    };
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        conns.push(NodeClient::connect_with(addr, timeouts).await?);
    }
    let _: () = conns[0].query(redis::cmd("SET").arg(&key).arg("x")).await?;
    let half = duration / 2;
    let reads = saturate(&conns, half, |p| {
        p.cmd("GET").arg(&key);
    })
    .await?;
    let big = "x".repeat(BIG_VALUE);
    let writes = saturate(&conns, half, |p| {
        p.cmd("SET").arg(&key).arg(&big);
    })
    .await?;
    let _: () = conns[0].query(redis::cmd("DEL").arg(&key)).await?;
    Ok(ProbeResult {
        ops_per_sec: reads,
        write_bytes_per_sec: writes * BIG_VALUE as f64,
    })
}

async fn saturate(
    conns: &[NodeClient],
    duration: Duration,
    add: impl Fn(&mut redis::Pipeline) + Clone + Send,
) -> Result<f64, SlotsError> {
    let start = Instant::now();
    let tasks = conns.iter().map(|c| {
        let add = add.clone();
        async move {
            let mut pipe = redis::pipe();
            for _ in 0..DEPTH {
                add(&mut pipe);
            }
            let mut conn = c.connection();
            let mut done = 0u64;
            while start.elapsed() < duration {
                let _: Vec<redis::Value> = pipe
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| SlotsError::command(c.addr(), "probe", e))?;
                done += DEPTH as u64;
            }
            Ok::<u64, SlotsError>(done)
        }
    });
    let mut total = 0;
    for r in futures::future::join_all(tasks).await {
        total += r?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64().max(1e-3))
}

/// The origin formula, on capacities: `a * cpu_i / sum(cpu) + (1 - a) * membw_i / sum(membw)`,
/// scaled so that the weights average 1. Empty or all-zero inputs give all-ones.
pub fn origin_weights(cpu: &[f64], membw: &[f64], alpha: f64) -> Vec<f64> {
    let n = cpu.len().min(membw.len());
    let (sc, sm) = (cpu.iter().sum::<f64>(), membw.iter().sum::<f64>());
    if n == 0 || sc <= 0.0 || sm <= 0.0 {
        return vec![1.0; n];
    }
    (0..n)
        .map(|i| (alpha * cpu[i] / sc + (1.0 - alpha) * membw[i] / sm) * n as f64)
        .collect()
}

/// Parses `name=value` (a node id, id prefix or `host:port`, and a non-negative number).
///
/// # Errors
/// A message naming the bad text.
pub fn parse_node_value(text: &str) -> Result<(String, f64), String> {
    let (name, value) = text.rsplit_once('=').ok_or_else(|| {
        format!("{text:?}: expected node=value (node id, id prefix or host:port)")
    })?;
    let v: f64 = value
        .parse()
        .map_err(|_| format!("{text:?}: {value:?} is not a number"))?;
    if !v.is_finite() || v < 0.0 || name.is_empty() {
        return Err(format!(
            "{text:?}: expected a node and a non-negative number"
        ));
    }
    Ok((name.to_string(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_formula_on_capacity() {
        let w = origin_weights(&[4.0, 4.0, 8.0], &[10.0, 10.0, 10.0], 0.6);
        assert!((w.iter().sum::<f64>() - 3.0).abs() < 1e-9);
        assert!(w[2] > w[0]);
        assert!((w[0] - w[1]).abs() < 1e-12);
        assert!((w[2] - (0.6 * 0.5 + 0.4 / 3.0) * 3.0).abs() < 1e-9);
        assert_eq!(
            origin_weights(&[0.0, 0.0], &[1.0, 1.0], 0.6),
            vec![1.0, 1.0]
        );
    }

    #[test]
    fn node_values() {
        assert_eq!(
            parse_node_value("127.0.0.1:7000=2.5").unwrap(),
            ("127.0.0.1:7000".into(), 2.5)
        );
        assert_eq!(parse_node_value("abcd=0").unwrap(), ("abcd".into(), 0.0));
        assert!(parse_node_value("abcd").is_err());
        assert!(parse_node_value("abcd=-1").is_err());
        assert!(parse_node_value("=1").is_err());
        assert!(parse_node_value("a=x").is_err());
    }
}
