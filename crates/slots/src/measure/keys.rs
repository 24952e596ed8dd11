//! Key counts per slot (`CLUSTER COUNTKEYSINSLOT`) and sampled bytes per slot
//! (`CLUSTER GETKEYSINSLOT` + `MEMORY USAGE`): the sizes a plan's move costs are made of.
//!
//! Both are pipelined per node, so 16384 slots cost a few round trips, not 16384.

use crate::client::NodeClient;
use crate::error::SlotsError;
use redis::Value;

const CHUNK: usize = 512;

/// `(slot, keys)` for every slot in `slots`, asked of their owner `node`.
///
/// # Errors
/// [`SlotsError::Command`] when a pipeline fails.
pub async fn count_keys(node: &NodeClient, slots: &[u16]) -> Result<Vec<(u16, u64)>, SlotsError> {
    let mut out = Vec::with_capacity(slots.len());
    for chunk in slots.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for &s in chunk {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(s);
        }
        let mut conn = node.connection();
        let counts: Vec<u64> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| SlotsError::command(node.addr(), "CLUSTER COUNTKEYSINSLOT", e))?;
        out.extend(chunk.iter().copied().zip(counts));
    }
    Ok(out)
}

/// Estimated bytes of each `(slot, keys)`: the mean `MEMORY USAGE` of up to `sample` keys of the
/// slot times its key count. Slots without keys weigh 0.
///
/// # Errors
/// [`SlotsError::Command`] when a pipeline fails.
pub async fn sample_bytes(
    node: &NodeClient,
    slot_keys: &[(u16, u64)],
    sample: usize,
) -> Result<Vec<(u16, u64)>, SlotsError> {
    let occupied: Vec<(u16, u64)> = slot_keys.iter().copied().filter(|&(_, k)| k > 0).collect();
    let mut out = Vec::with_capacity(occupied.len());
    if sample == 0 {
        return Ok(out);
    }
    for chunk in occupied.chunks(CHUNK / sample.max(1) + 1) {
        let mut pipe = redis::pipe();
        for &(s, _) in chunk {
            pipe.cmd("CLUSTER").arg("GETKEYSINSLOT").arg(s).arg(sample);
        }
        let mut conn = node.connection();
        let names: Vec<Vec<Vec<u8>>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| SlotsError::command(node.addr(), "CLUSTER GETKEYSINSLOT", e))?;
        let mut pipe = redis::pipe();
        for keys in &names {
            for k in keys {
                pipe.cmd("MEMORY").arg("USAGE").arg(k);
            }
        }
        let sizes: Vec<Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| SlotsError::command(node.addr(), "MEMORY USAGE", e))?;
        let mut sizes = sizes.into_iter();
        for (&(slot, keys), sampled) in chunk.iter().zip(&names) {
            let mut total = 0u64;
            let mut n = 0u64;
            for _ in sampled {
                // A key deleted between the two pipelines reports nil: skip it.
                if let Some(Value::Int(b)) = sizes.next() {
                    total += u64::try_from(b).unwrap_or(0);
                    n += 1;
                }
            }
            if let Some(mean) = total.checked_div(n) {
                out.push((slot, mean * keys));
            }
        }
    }
    Ok(out)
}
