//! Atomic slot migration: the server moves a set of slot ranges as a unit, so clients see no
//! `ASK`/`TRYAGAIN` and a failed job rolls back. Two protocols ([`protocol`]):
//! - Valkey 9+: `CLUSTER MIGRATESLOTS SLOTSRANGE a b .. NODE target` on the source, then polling
//!   `CLUSTER GETSLOTMIGRATIONS` until the job ends.
//! - Redis 8.4+: `CLUSTER MIGRATION IMPORT a b ..` on the target, which answers a task id, then
//!   polling `CLUSTER MIGRATION STATUS ID <id>`. The server retries a failed task every second;
//!   after [`REDIS_RETRIES`] retries, or at the timeout, the task is cancelled
//!   (`CLUSTER MIGRATION CANCEL ID <id>`), which rolls it back. A Redis node runs one task at a
//!   time (source and target alike), so each import first waits until both nodes are idle.
//!
//! The journal only records which slots a job covered. A resume skips a job whose slots all
//! belong to the target already, and waits for a Redis import of exactly its slots that is
//! still running instead of starting another. There is no bandwidth throttle on the server side;
//! apply refuses `--method atomic` with a throttle.

use super::{Ctx, Step};
use crate::client::NodeClient;
use crate::cluster::Cluster;
use crate::error::SlotsError;
use crate::info::AtomicMigration;
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

/// Failed attempts of a Redis import task (each retried by the server a second later) before it
/// is cancelled.
pub const REDIS_RETRIES: i64 = 3;

/// The atomic migration protocol of the cluster: the one every master offers, or `None` when a
/// master offers none (or masters offer different ones).
pub fn protocol(cluster: &Cluster) -> Option<AtomicMigration> {
    let mut found = None;
    for m in cluster.masters() {
        let p = m.server.and_then(|s| s.atomic_migration())?;
        if found.is_some_and(|f| f != p) {
            return None;
        }
        found = Some(p);
    }
    found
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// A reply that is a list of `field -> value` records (RESP2 flat arrays or RESP3 maps).
fn records(
    node: &NodeClient,
    command: &str,
    reply: Value,
) -> Result<Vec<BTreeMap<String, String>>, SlotsError> {
    let Value::Array(items) = reply else {
        return Err(SlotsError::bad_reply(node.addr(), command, "not an array"));
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

/// `GETSLOTMIGRATIONS` as a list of `field -> value` maps.
async fn jobs(node: &NodeClient) -> Result<Vec<BTreeMap<String, String>>, SlotsError> {
    let reply: Value = node
        .query(redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS"))
        .await?;
    records(node, "CLUSTER GETSLOTMIGRATIONS", reply)
}

/// Moves `slots` from `from` to `to` in one atomic job and waits for it.
///
/// # Errors
/// [`SlotsError::Refused`] when the cluster has no common atomic protocol, or the job fails, is
/// cancelled (the server rolled it back) or does not finish within the migrate timeout per
/// range; command errors.
pub async fn move_slots(
    ctx: &Ctx<'_>,
    from: &str,
    to: &str,
    slots: &[u16],
) -> Result<(), SlotsError> {
    // A resume after a job finished but before the journal said so.
    if !slots.is_empty() && slots.iter().all(|&s| ctx.cluster.owner(s) == Some(to)) {
        return Ok(());
    }
    match protocol(ctx.cluster) {
        Some(AtomicMigration::ValkeyMigrateSlots) => valkey_migrate(ctx, from, to, slots).await,
        Some(AtomicMigration::RedisMigrationImport) => redis_import(ctx, from, to, slots).await,
        None => Err(SlotsError::refused(
            "atomic migration needs CLUSTER MIGRATESLOTS (Valkey 9+) or CLUSTER MIGRATION IMPORT \
             (Redis 8.4+) on every master",
            "use --method legacy",
        )),
    }
}

async fn valkey_migrate(
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

/// `CLUSTER MIGRATION STATUS <which..>` on a Redis node: its tasks as `field -> value` maps
/// (`id`, `slots`, `operation`, `state`, `last_error`, `retries`, ...).
async fn redis_tasks(
    node: &NodeClient,
    which: &[&str],
) -> Result<Vec<BTreeMap<String, String>>, SlotsError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("MIGRATION").arg("STATUS").arg(which);
    let reply: Value = node.query(&cmd).await?;
    records(node, "CLUSTER MIGRATION STATUS", reply)
}

/// Whether a Redis task has ended for good (`failed` tasks are retried by the server).
fn redis_ended(task: &BTreeMap<String, String>) -> bool {
    matches!(
        task.get("state").map(String::as_str),
        Some("completed" | "canceled")
    )
}

/// The slots of a Redis task's `slots` field (`"0-100 200-200"`), sorted.
fn redis_slots(field: &str) -> Vec<u16> {
    let mut out: Vec<u16> = field
        .split_whitespace()
        .filter_map(|r| r.split_once('-'))
        .filter_map(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
        .flat_map(|(a, b)| a..=b)
        .collect();
    out.sort_unstable();
    out
}

/// Waits until `node` runs no Redis migration task (a node runs one at a time; a source ends
/// its side of a task a moment after the target).
async fn redis_wait_idle(node: &NodeClient, deadline: Instant) -> Result<(), SlotsError> {
    loop {
        let busy = redis_tasks(node, &["ALL"])
            .await?
            .into_iter()
            .find(|t| !redis_ended(t));
        let Some(task) = busy else {
            return Ok(());
        };
        if Instant::now() > deadline {
            return Err(SlotsError::refused(
                format!(
                    "{} is busy with slot migration task {} (slots {}, state {})",
                    node.addr(),
                    task.get("id").cloned().unwrap_or_default(),
                    task.get("slots").cloned().unwrap_or_default(),
                    task.get("state").cloned().unwrap_or_default()
                ),
                "wait for it, or cancel it with CLUSTER MIGRATION CANCEL ALL on that node",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn redis_import(
    ctx: &Ctx<'_>,
    from: &str,
    to: &str,
    slots: &[u16],
) -> Result<(), SlotsError> {
    let src = ctx.cluster.client(from)?;
    let dst = ctx.cluster.client(to)?;
    let runs = ranges(slots);
    let deadline = Instant::now() + ctx.opts.migrate_timeout * runs.len().max(1) as u32;
    let wanted: Vec<u16> = runs.iter().flat_map(|&(a, b)| a..=b).collect();
    // A resume adopts the import of exactly these slots that an earlier run left running.
    let running = redis_tasks(dst, &["ALL"]).await?.into_iter().find(|t| {
        !redis_ended(t)
            && t.get("operation").map(String::as_str) == Some("import")
            && t.get("slots").is_some_and(|s| redis_slots(s) == wanted)
    });
    let id = match running.and_then(|t| t.get("id").cloned()) {
        Some(id) => id,
        None => {
            redis_wait_idle(dst, deadline).await?;
            redis_wait_idle(src, deadline).await?;
            ctx.journal_many(Step::Atomic, slots)?;
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("MIGRATION").arg("IMPORT");
            for (a, b) in &runs {
                cmd.arg(*a).arg(*b);
            }
            let reply: Value = dst.query(&cmd).await?;
            match text(&reply) {
                id if !id.is_empty() => id,
                _ => {
                    return Err(SlotsError::bad_reply(
                        dst.addr(),
                        "CLUSTER MIGRATION IMPORT",
                        format!("expected a task id, found {reply:?}"),
                    ));
                }
            }
        }
    };
    let what = format!(
        "atomic migration of {} slots from {from} to {to} (task {id} on {})",
        slots.len(),
        dst.addr()
    );
    loop {
        let task = redis_tasks(dst, &["ID", &id]).await?.into_iter().next();
        let Some(task) = task else {
            return Err(SlotsError::refused(
                format!("{what}: the target no longer knows the task (restarted?)"),
                "check the slot owners with `cairn slots status`, then `cairn slots resume`",
            ));
        };
        let field = |name: &str| task.get(name).cloned().unwrap_or_default();
        let retries: i64 = field("retries").parse().unwrap_or(0);
        let state = field("state");
        let gave_up = match state.as_str() {
            "completed" => return Ok(()),
            "canceled" => {
                return Err(SlotsError::refused(
                    format!("{what} was cancelled: {}", field("last_error")),
                    "the server rolled it back; retry with `cairn slots resume` or use --method legacy",
                ));
            }
            "failed" if retries >= REDIS_RETRIES => Some(format!("failed {} times", retries + 1)),
            _ if Instant::now() > deadline => Some("did not finish in time".to_string()),
            _ => None,
        };
        if let Some(why) = gave_up {
            let mut cancel = redis::cmd("CLUSTER");
            cancel.arg("MIGRATION").arg("CANCEL").arg("ID").arg(&id);
            let cancelled = match dst.query::<i64>(&cancel).await {
                Ok(n) if n > 0 => "cancelled, the server rolled it back".to_string(),
                Ok(_) => "the task had already ended".to_string(),
                Err(e) => format!("cancelling it failed: {e}"),
            };
            let last_error = match field("last_error") {
                e if e.is_empty() => String::new(),
                e => format!(" (last error: {e})"),
            };
            return Err(SlotsError::refused(
                format!("{what} {why}{last_error}; {cancelled}"),
                "retry with `cairn slots resume` or use --method legacy",
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
