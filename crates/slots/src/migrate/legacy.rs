//! Moving one slot with the legacy protocol every Redis and Valkey version supports.
//!
//! 1. target `CLUSTER SETSLOT s IMPORTING source`, source `CLUSTER SETSLOT s MIGRATING target`;
//! 2. until the slot is empty: source `CLUSTER GETKEYSINSLOT s n`, then one
//!    `MIGRATE host port "" 0 timeout KEYS k1 .. kn` for the whole batch (redis-cli sends 10 keys
//!    per call; the per-call round trips dominate, so Cairn sends many);
//! 3. `CLUSTER SETSLOT s NODE target` on the target first (so it serves the slot before anyone
//!    else points clients at it), then the source, then every other master. Before the target's,
//!    `await_source_epoch` waits until the target has heard of the source's config epoch.
//!
//! The function is idempotent, so `resume` and `fix` reuse it: it looks at both nodes' own views
//! first and skips the steps already done (a target that already owns the slot goes straight to
//! step 3).
//!
//! `BUSYKEY` (the key already exists on the target, e.g. after an earlier failed attempt) is
//! resolved key by key: identical copies (`DUMP` equal) just drop the source's copy; different
//! copies stop the move with [`SlotsError::BusyKey`] unless `replace` is set.

use super::{Ctx, Step};
use crate::client::NodeClient;
use crate::error::SlotsError;
use crate::info::Info;
use cairn_slots_planner::Move;
use redis::Value;
use std::time::{Duration, Instant};

/// Keys and bytes one slot move carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Keys migrated.
    pub keys: u64,
    /// Bytes migrated (measured only when a byte limit or the big-key check needs it).
    pub bytes: u64,
}

pub(super) fn setslot(slot: u16, state: &str, id: &str) -> redis::Cmd {
    let mut c = redis::cmd("CLUSTER");
    c.arg("SETSLOT").arg(slot).arg(state).arg(id);
    c
}

/// `(owner per node's own view, open markers)` for `node` and `slot`.
async fn own_view(node: &NodeClient, slot: u16) -> Result<(bool, bool, bool), SlotsError> {
    let view = node.cluster_nodes().await?;
    let me = view
        .myself()
        .ok_or_else(|| SlotsError::bad_reply(node.addr(), "CLUSTER NODES", "no myself line"))?;
    let owns = me.slots.iter().any(|&(a, b)| a <= slot && slot <= b);
    let migrating = me.migrating.iter().any(|(s, _)| *s == slot);
    let importing = me.importing.iter().any(|(s, _)| *s == slot);
    Ok((owns, migrating, importing))
}

/// Runs `cmd` on `node`, prefixed with `ASKING` when `asking` (needed to touch keys of a slot the
/// node is importing but does not own).
async fn query_as<T: redis::FromRedisValue>(
    node: &NodeClient,
    cmd: &redis::Cmd,
    asking: bool,
) -> Result<T, SlotsError> {
    if !asking {
        return node.query(cmd).await;
    }
    let mut pipe = redis::pipe();
    pipe.cmd("ASKING").ignore().add_command(cmd.clone());
    let mut conn = node.connection();
    let (v,): (T,) = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| SlotsError::command(node.addr(), &crate::client::command_name(cmd), e))?;
    Ok(v)
}

/// Sizes of `keys` by `MEMORY USAGE` (0 for keys that vanished).
pub(super) async fn sizes(
    node: &NodeClient,
    keys: &[Vec<u8>],
    asking: bool,
) -> Result<Vec<u64>, SlotsError> {
    let mut pipe = redis::pipe();
    for k in keys {
        if asking {
            pipe.cmd("ASKING").ignore();
        }
        pipe.cmd("MEMORY").arg("USAGE").arg(k).arg("SAMPLES").arg(0);
    }
    let mut conn = node.connection();
    let v: Vec<Value> = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| SlotsError::command(node.addr(), "MEMORY USAGE", e))?;
    Ok(v.into_iter()
        .map(|x| {
            if let Value::Int(n) = x {
                n.max(0) as u64
            } else {
                0
            }
        })
        .collect())
}

pub(super) fn check_big(
    slot: u16,
    keys: &[Vec<u8>],
    sizes: &[u64],
    limit: u64,
) -> Result<(), SlotsError> {
    if limit == 0 {
        return Ok(());
    }
    match keys.iter().zip(sizes).find(|(_, s)| **s > limit) {
        Some((k, s)) => Err(SlotsError::BigKey {
            slot,
            key: String::from_utf8_lossy(k).into_owned(),
            bytes: *s,
            limit,
        }),
        None => Ok(()),
    }
}

/// Whether `node` may hold a key of more than `limit` bytes: no key's `MEMORY USAGE` exceeds the
/// memory the whole node has allocated (`used_memory`), so a node using at most `limit` bytes
/// cannot, and its keys need not be sized one by one (on a CPU-capped source that sizing cost as
/// much as a sixth of the migration). A node that does not report `used_memory` may.
///
/// # Errors
/// A command error.
pub(super) async fn may_hold_big_keys(node: &NodeClient, limit: u64) -> Result<bool, SlotsError> {
    let used = node.info("memory").await?.number("used_memory");
    Ok(used.is_none_or(|u| u > limit as f64))
}

/// Checks every key of `slot` on `source` against `limit` before the slot is opened, so that a
/// big key stops the move while nothing is half-moved.
///
/// # Errors
/// [`SlotsError::BigKey`], or a command error.
pub async fn precheck_big_keys(
    source: &NodeClient,
    slot: u16,
    limit: u64,
) -> Result<(), SlotsError> {
    if limit == 0 {
        return Ok(());
    }
    let count: u64 = source
        .query(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot))
        .await?;
    if count == 0 || !may_hold_big_keys(source, limit).await? {
        return Ok(());
    }
    let keys: Vec<Vec<u8>> = source
        .query(
            redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(count),
        )
        .await?;
    for chunk in keys.chunks(1000) {
        check_big(slot, chunk, &sizes(source, chunk, false).await?, limit)?;
    }
    Ok(())
}

/// Moves `mv.slot` from `mv.from` to `mv.to`; see the module docs.
///
/// # Errors
/// Any command error (the slot is then left open, which the journal records), [`SlotsError::BigKey`]
/// or [`SlotsError::BusyKey`].
pub async fn move_slot(ctx: &Ctx<'_>, mv: &Move) -> Result<Moved, SlotsError> {
    let slot = mv.slot;
    let src = ctx.cluster.client(&mv.from)?;
    let dst = ctx.cluster.client(&mv.to)?;
    let mut moved = Moved::default();
    // A fresh apply starts from a verified healthy, unchanged layout: every slot is closed and
    // owned by its source, so the state probes (two CLUSTER NODES per slot) are skipped.
    let (dst_owns, dst_importing) = if ctx.fresh {
        (false, false)
    } else {
        let (owns, _, importing) = own_view(dst, slot).await?;
        (owns, importing)
    };
    if !dst_owns {
        let (src_owns, src_migrating, _) = if ctx.fresh {
            (true, false, false)
        } else {
            own_view(src, slot).await?
        };
        if !src_owns {
            return Err(SlotsError::refused(
                format!(
                    "slot {slot} is owned by neither {} nor {}",
                    short(&mv.from),
                    short(&mv.to)
                ),
                "run `cairn slots fix`, then measure and plan again",
            ));
        }
        if !dst_importing && !src_migrating {
            precheck_big_keys(src, slot, ctx.opts.max_key_bytes).await?;
        }
        ctx.journal(Step::Open, slot)?;
        let _: () = dst.query(&setslot(slot, "IMPORTING", &mv.from)).await?;
        let _: () = src.query(&setslot(slot, "MIGRATING", &mv.to)).await?;
        ctx.journal(Step::Keys, slot)?;
        moved = migrate_keys(ctx, src, dst, mv, false).await?;
        await_source_epoch(ctx, src, dst).await?;
    }
    ctx.journal(Step::Assign, slot)?;
    assign_everywhere(ctx, slot, &mv.to, Some(&mv.from)).await?;
    Ok(moved)
}

/// Longest a target may take to hear of its source's config epoch before it claims slots from
/// it. The cluster bus brings the epoch within about a second (every node pings another one each
/// second, and each other node at least every half node timeout, 7.5 s by default).
const EPOCH_WAIT: Duration = Duration::from_secs(10);

/// Waits until `target` has heard of `source`'s config epoch, before `target` claims slots that
/// `source` owns.
///
/// A target's `SETSLOT NODE` that ends an import (or `CLUSTER BUMPEPOCH`, see [`super::batch`])
/// gives it a config epoch above the epochs *it has heard of*, and a slot goes to whichever
/// node claims it with the strictly higher epoch. If the source had just raised its own epoch
/// (say, as the target of the previous batch) and the target had not heard yet, the target's
/// claim would carry an epoch no higher than the source's: a cluster-bus message the source sent
/// before its own `SETSLOT NODE` would then take the slot back, and the target would delete the
/// keys it had just received. Once the target's `cluster_current_epoch` is at least the source's
/// `cluster_my_epoch`, its claim is at least the source's epoch (above it but for an epoch
/// collision, which the cluster resolves on its own).
///
/// One `CLUSTER INFO` on each node, concurrently; only a target behind is asked again, until
/// it has heard or [`EPOCH_WAIT`] has passed. A wait is reported to [`super::Progress`].
///
/// # Errors
/// A command error, a reply without the epochs, or [`SlotsError::Unhealthy`] when the target is
/// still behind after [`EPOCH_WAIT`]. Nothing has been claimed then: the slots stay open (the
/// journal says so) and `resume` finishes them.
pub(super) async fn await_source_epoch(
    ctx: &Ctx<'_>,
    source: &NodeClient,
    target: &NodeClient,
) -> Result<(), SlotsError> {
    let (s, t) = futures::try_join!(source.cluster_info(), target.cluster_info())?;
    let missing = |field: &str| {
        let node = if field == MY_EPOCH { source } else { target };
        SlotsError::bad_reply(node.addr(), "CLUSTER INFO", format!("no {field}"))
    };
    let mut lag = epoch_lag(&s, &t).map_err(missing)?;
    if lag.is_none() {
        return Ok(());
    }
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    while let Some((heard, wanted)) = lag {
        if started.elapsed() >= EPOCH_WAIT {
            return Err(SlotsError::Unhealthy {
                reason: format!(
                    "{} has not heard of config epoch {wanted} of {} after {} s (it knows {heard}), \
                     so claiming slots from it could lose their keys",
                    target.addr(),
                    source.addr(),
                    EPOCH_WAIT.as_secs()
                ),
                remedy: "check the cluster bus between the two (CLUSTER INFO, CLUSTER NODES), \
                         then `cairn slots resume`",
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
        lag = epoch_lag(&s, &target.cluster_info().await?).map_err(missing)?;
    }
    let waited = started.elapsed();
    tracing::info!(
        target = target.addr(),
        source = source.addr(),
        ?waited,
        "waited for the target to hear of the source's config epoch"
    );
    ctx.progress.epoch_waited(target.addr(), waited);
    Ok(())
}

/// The source's config epoch in its `CLUSTER INFO`.
const MY_EPOCH: &str = "cluster_my_epoch";
/// The highest epoch a node has heard of, in its `CLUSTER INFO`.
const CURRENT_EPOCH: &str = "cluster_current_epoch";

/// From `CLUSTER INFO` of the source and the target: `Some((heard, wanted))` while the target's
/// current epoch (`heard`) is below the source's config epoch (`wanted`), `None` once it is not;
/// `Err(field)` for a reply without `field`.
fn epoch_lag(source: &Info, target: &Info) -> Result<Option<(u64, u64)>, &'static str> {
    let number = |info: &Info, field: &'static str| {
        info.get(field)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or(field)
    };
    let wanted = number(source, MY_EPOCH)?;
    let heard = number(target, CURRENT_EPOCH)?;
    Ok((heard < wanted).then_some((heard, wanted)))
}

/// `CLUSTER SETSLOT slot NODE owner` on the owner, then `first_after` (the source), then every
/// other master at once.
///
/// # Errors
/// A command error.
pub async fn assign_everywhere(
    ctx: &Ctx<'_>,
    slot: u16,
    owner: &str,
    first_after: Option<&str>,
) -> Result<(), SlotsError> {
    let cmd = setslot(slot, "NODE", owner);
    let _: () = ctx.cluster.client(owner)?.query(&cmd).await?;
    if let Some(src) = first_after {
        let _: () = ctx.cluster.client(src)?.query(&cmd).await?;
    }
    let mut others = Vec::new();
    for m in ctx.cluster.masters() {
        if m.id() != owner && Some(m.id()) != first_after {
            let c = ctx.cluster.client(m.id())?;
            let cmd = &cmd;
            others.push(async move { c.query::<()>(cmd).await });
        }
    }
    for r in futures::future::join_all(others).await {
        r?;
    }
    Ok(())
}

/// Step 2 of the protocol: batches of keys from `src` to `dst` until the slot is empty on `src`.
/// `asking` is for a source that holds keys of a slot it does not own (`fix`): it must be
/// importing the slot, and every key command is prefixed with `ASKING`.
///
/// # Errors
/// As [`move_slot`].
pub async fn migrate_keys(
    ctx: &Ctx<'_>,
    src: &NodeClient,
    dst: &NodeClient,
    mv: &Move,
    asking: bool,
) -> Result<Moved, SlotsError> {
    let slot = mv.slot;
    let timeout_ms = ctx.opts.migrate_timeout.as_millis() as u64;
    let mig = ctx.migrate_client(src.addr()).await?;
    let (host, port) = migrate_target(dst)?;
    let mut moved = Moved::default();
    // Big keys were checked before the slot was opened; sizes are only needed for a byte limit.
    let measure = ctx.throttle.limits_bytes();
    loop {
        let keys: Vec<Vec<u8>> = src
            .query(
                redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(slot)
                    .arg(ctx.opts.keys_per_migrate),
            )
            .await?;
        if keys.is_empty() {
            return Ok(moved);
        }
        let bytes: u64 = if measure {
            let s = sizes(src, &keys, asking).await?;
            check_big(slot, &keys, &s, ctx.opts.max_key_bytes)?;
            s.iter().sum()
        } else {
            0
        };
        ctx.throttle.wait(keys.len() as u64, bytes).await;
        let mut cmd = redis::cmd("MIGRATE");
        cmd.arg(host).arg(port).arg("").arg(0).arg(timeout_ms);
        if ctx.opts.replace {
            cmd.arg("REPLACE");
        }
        cmd.arg("KEYS").arg(&keys);
        match query_as::<Value>(&mig, &cmd, asking).await {
            Ok(_) => {}
            Err(SlotsError::Command { source, .. }) if source.to_string().contains("BUSYKEY") => {
                let target = Target {
                    node: dst,
                    host,
                    port,
                    timeout_ms,
                };
                resolve_busy(&mig, &target, slot, &keys, ctx.opts.replace, asking).await?;
            }
            Err(e) => return Err(e),
        }
        moved.keys += keys.len() as u64;
        moved.bytes += bytes;
        ctx.progress.keys_moved(slot, keys.len() as u64, bytes);
    }
}

/// Where keys go: the node and its MIGRATE address and timeout.
pub(super) struct Target<'a> {
    pub(super) node: &'a NodeClient,
    pub(super) host: &'a str,
    pub(super) port: &'a str,
    pub(super) timeout_ms: u64,
}

pub(super) async fn resolve_busy(
    src: &NodeClient,
    dst: &Target<'_>,
    slot: u16,
    keys: &[Vec<u8>],
    replace: bool,
    asking: bool,
) -> Result<(), SlotsError> {
    for key in keys {
        let mut one = redis::cmd("MIGRATE");
        one.arg(dst.host)
            .arg(dst.port)
            .arg(key)
            .arg(0)
            .arg(dst.timeout_ms);
        match query_as::<Value>(src, &one, asking).await {
            Ok(_) => continue,
            Err(SlotsError::Command { source, .. }) if source.to_string().contains("BUSYKEY") => {}
            Err(e) => return Err(e),
        }
        let here: Value = query_as(src, redis::cmd("DUMP").arg(key), asking).await?;
        // The target is importing the slot: reading it there needs ASKING too.
        let there: Value = query_as(dst.node, redis::cmd("DUMP").arg(key), true).await?;
        if there == here {
            tracing::info!(slot, key = %String::from_utf8_lossy(key), "identical copy already on target; dropping the source's");
            let _: Value = query_as(src, redis::cmd("DEL").arg(key), asking).await?;
        } else if replace {
            one.arg("REPLACE");
            let _: Value = query_as(src, &one, asking).await?;
        } else {
            return Err(SlotsError::BusyKey {
                slot,
                key: String::from_utf8_lossy(key).into_owned(),
                target: dst.node.addr().to_string(),
            });
        }
    }
    Ok(())
}

/// `MIGRATE`'s host and port arguments for moving keys to `dst`.
pub(super) fn migrate_target(dst: &NodeClient) -> Result<(&str, &str), SlotsError> {
    dst.addr()
        .rsplit_once(':')
        .ok_or_else(|| SlotsError::BadAddress {
            addr: dst.addr().to_string(),
        })
}

fn short(id: &str) -> &str {
    crate::cluster::short_id(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_waits_until_it_has_heard_of_the_source_epoch() {
        // The source bumped to 4 (e.g. as the previous batch's target); the target knows 3.
        let source =
            Info::parse("cluster_state:ok\r\ncluster_current_epoch:4\r\ncluster_my_epoch:4\r\n");
        let behind = Info::parse("cluster_current_epoch:3\r\ncluster_my_epoch:3\r\n");
        assert_eq!(epoch_lag(&source, &behind), Ok(Some((3, 4))));
        // Heard of it, by any node's message: its own epoch need not be higher yet.
        let heard = Info::parse("cluster_current_epoch:4\r\ncluster_my_epoch:3\r\n");
        assert_eq!(epoch_lag(&source, &heard), Ok(None));
        let ahead = Info::parse("cluster_current_epoch:9\r\ncluster_my_epoch:9\r\n");
        assert_eq!(epoch_lag(&source, &ahead), Ok(None));
        // A reply without the field names it, so the error can name the node.
        assert_eq!(epoch_lag(&Info::default(), &heard), Err(MY_EPOCH));
        assert_eq!(epoch_lag(&source, &Info::default()), Err(CURRENT_EPOCH));
    }
}
