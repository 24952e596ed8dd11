//! Atomic slot migration on Valkey 9+: `CLUSTER MIGRATESLOTS SLOTSRANGE a b .. NODE target` on
//! the source, then polling `CLUSTER GETSLOTMIGRATIONS` until the job ends.
//!
//! The server moves the slots as a unit: clients see no `ASK`/`TRYAGAIN`, and a failed job rolls
//! back, so the journal only records which slots a job covered. There is no bandwidth throttle
//! on the server side; apply refuses `--method atomic` with a throttle.
//!
//! Redis 8.4's `CLUSTER MIGRATION IMPORT` is detected ([`crate::info::AtomicMigration`]) but not
//! driven by this build: with such nodes `--method auto` uses the legacy protocol.

use super::{Ctx, Step};
use crate::client::NodeClient;
use crate::error::SlotsError;
use redis::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Contiguous runs of `slots` (sorted), as `(first, last)`.
pub fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut sorted: Vec<u16> = slots.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == s => *last = s,
            _ => out.push((s, s)),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// `GETSLOTMIGRATIONS` as a list of `field -> value` maps.
async fn jobs(node: &NodeClient) -> Result<Vec<BTreeMap<String, String>>, SlotsError> {
    let reply: Value = node
        .query(redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS"))
        .await?;
    let Value::Array(items) = reply else {
        return Err(SlotsError::bad_reply(
            node.addr(),
            "CLUSTER GETSLOTMIGRATIONS",
            "not an array",
        ));
    };
    Ok(items
        .iter()
        .map(|item| match item {
            Value::Array(flat) => flat
                .chunks(2)
                .map(|c| (text(&c[0]), c.get(1).map(text).unwrap_or_default()))
                .collect(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), text(v))).collect(),
            _ => BTreeMap::new(),
        })
        .collect())
}

/// Moves `slots` from `from` to `to` in one atomic job and waits for it.
///
/// # Errors
/// [`SlotsError::Refused`] when the job fails or is cancelled (the server rolled it back), or
/// does not finish within the migrate timeout per range; command errors.
pub async fn move_slots(
    ctx: &Ctx<'_>,
    from: &str,
    to: &str,
    slots: &[u16],
) -> Result<(), SlotsError> {
    let src = ctx.cluster.client(from)?;
    let before: BTreeSet<String> = jobs(src)
        .await?
        .into_iter()
        .filter_map(|j| j.get("name").cloned())
        .collect();
    for &s in slots {
        ctx.journal(Step::Atomic, s)?;
    }
    let runs = ranges(slots);
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("MIGRATESLOTS").arg("SLOTSRANGE");
    for (a, b) in &runs {
        cmd.arg(*a).arg(*b);
    }
    cmd.arg("NODE").arg(to);
    let _: Value = src.query(&cmd).await?;
    let deadline = Instant::now() + ctx.opts.migrate_timeout * runs.len().max(1) as u32;
    loop {
        let mine = jobs(src).await?.into_iter().find(|j| {
            j.get("name").is_some_and(|n| !before.contains(n))
                && j.get("operation").map(String::as_str) == Some("EXPORT")
        });
        if let Some(job) = mine {
            match job.get("state").map(String::as_str) {
                Some("success") => return Ok(()),
                Some(state @ ("failed" | "canceled" | "cancelled")) => {
                    return Err(SlotsError::refused(
                        format!(
                            "atomic migration of {} slots from {from} to {to} {state}: {}",
                            slots.len(),
                            job.get("message").cloned().unwrap_or_default()
                        ),
                        "the server rolled it back; retry with `cairn slots resume` or use --method legacy",
                    ));
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(SlotsError::refused(
                format!("atomic migration from {from} to {to} did not finish in time"),
                "check CLUSTER GETSLOTMIGRATIONS on the source; cancel with CLUSTER CANCELSLOTMIGRATIONS ALL",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_ranges() {
        assert_eq!(
            ranges(&[5, 1, 2, 3, 9, 10, 3]),
            vec![(1, 3), (5, 5), (9, 10)]
        );
        assert_eq!(ranges(&[]), vec![]);
    }
}
