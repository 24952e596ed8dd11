//! A fresh apply's legacy moves, many slots of one (source, target) pair at a time.
//!
//! The protocol is [`legacy`]'s, step for step and in the same order for every slot; only the
//! round trips are shared. For a batch of slots:
//! 1. big-key check on the source (a big key stops the batch while nothing is open): nothing
//!    more than `INFO memory` when the whole node uses no more than the limit (no key can then
//!    exceed it), else one pipeline of `COUNTKEYSINSLOT` for all slots, then `GETKEYSINSLOT` for
//!    the non-empty ones and `MEMORY USAGE` for their keys, `SIZES_PER_PIPELINE` per pipeline;
//! 2. one pipeline of `SETSLOT IMPORTING` on the target, then one of `SETSLOT MIGRATING` +
//!    `GETKEYSINSLOT` per slot on the source. The first key batch is read *after* the slot is
//!    migrating (the source no longer creates keys of it), so a slot that reads empty here is
//!    empty for good and skips step 3;
//! 3. while any slot has keys left: pipelines on the source's `MIGRATE` connection of
//!    `MIGRATE ... KEYS` + `GETKEYSINSLOT` per slot, [`MIGRATES_PER_PIPELINE`] slots each (each
//!    `GETKEYSINSLOT` runs after its `MIGRATE`, so it is also the emptiness check), one pipeline
//!    per source at a time ([`Ctx::migrate_turn`]). `MIGRATE` blocks the source until the target
//!    has restored the keys, so deeper or back-to-back pipelines would stall the source's clients
//!    (and its other commands) for longer. `BUSYKEY` is resolved per slot as
//!    in [`legacy`];
//! 4. once the target has heard of the source's config epoch (one `CLUSTER INFO` on each, see
//!    `await_source_epoch`), `SETSLOT NODE target` pipelined on the target, then on the
//!    source, then on every other master concurrently (redis-cli sends it to every master too;
//!    the others would otherwise learn it only by gossip).
//!
//! On the target, each `SETSLOT NODE` that ends an import bumps the target's config epoch if
//! another node's is higher, then broadcasts a cluster-bus PONG to every node, and every node
//! receiving a PONG whose slots differ from what it knew scans all 16384 slots twice and saves
//! `nodes.conf`. Slot by slot that is one broadcast per slot moved, received by every node, small
//! ones included: it was half of the CPU a 5%-of-a-core source spent on a migration. Where the
//! server allows it (`claims_in_one_transaction`), the target's step is therefore one
//! `MULTI`/`EXEC` (`claim`): `CLUSTER BUMPEPOCH` (the same bump, under the same condition),
//! then `SETSLOT s STABLE` + `SETSLOT s NODE target` for every slot but the last (clearing the
//! import first, so these neither bump nor broadcast), then a plain `SETSLOT last NODE target`,
//! whose one broadcast carries all the batch's slots. The end state is the slot-by-slot one:
//! every slot owned by the target with the same epoch, which is the highest the target knows.
//! Nothing runs between the commands of a transaction, so no slot is ever owned by the target
//! with a lower epoch, nor without its import marker before the bump (a gossip message from the
//! source with a higher epoch could otherwise take the slot, and its keys, back). The bump is
//! above the epochs the target has heard of, which is why step 4 first waits until those include
//! the source's.
//!
//! Journal records are written per slot before each step, in one write per batch and step.
//! Server-side, batching also matters: Redis saves `nodes.conf` (with `fsync`) once per event
//! loop iteration after a `SETSLOT`, so a pipeline of SETSLOTs costs about one save.
//!
//! [`legacy`]: super::legacy

use super::legacy::{
    Moved, Target, await_source_epoch, check_big, may_hold_big_keys, migrate_target, resolve_busy,
    setslot, sizes,
};
use super::{Ctx, Step};
use crate::client::NodeClient;
use crate::error::SlotsError;
use crate::info::{ServerKind, ServerVersion};
use cairn_slots_planner::Move;
use redis::{FromRedisValue, RedisResult, Value};

/// Most `MIGRATE` calls sent in one pipeline: bounds how long the source is blocked at once.
pub const MIGRATES_PER_PIPELINE: usize = 16;

/// Keys of `slots` on `src` larger than the limit stop the batch before anything is opened.
async fn precheck(ctx: &Ctx<'_>, src: &NodeClient, slots: &[u16]) -> Result<(), SlotsError> {
    let limit = ctx.opts.max_key_bytes;
    if limit == 0 || !may_hold_big_keys(src, limit).await? {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for &s in slots {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(s);
    }
    let counts: Vec<u64> = run(src, &pipe, "CLUSTER COUNTKEYSINSLOT").await?;
    let full: Vec<(u16, u64)> = slots
        .iter()
        .copied()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .collect();
    if full.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for &(s, n) in &full {
        pipe.cmd("CLUSTER").arg("GETKEYSINSLOT").arg(s).arg(n);
    }
    let keys: Vec<Vec<Vec<u8>>> = run(src, &pipe, "CLUSTER GETKEYSINSLOT").await?;
    // Sizes of up to SIZES_PER_PIPELINE keys per round trip, across slots.
    let all: Vec<(u16, &Vec<u8>)> = full
        .iter()
        .zip(&keys)
        .flat_map(|((slot, _), keys)| keys.iter().map(move |k| (*slot, k)))
        .collect();
    for chunk in all.chunks(SIZES_PER_PIPELINE) {
        let names: Vec<Vec<u8>> = chunk.iter().map(|(_, k)| k.to_vec()).collect();
        let sizes = sizes(src, &names, false).await?;
        for ((slot, key), size) in chunk.iter().zip(sizes) {
            check_big(*slot, std::slice::from_ref(*key), &[size], limit)?;
        }
    }
    Ok(())
}

/// Most `MEMORY USAGE` calls of the big-key check sent in one pipeline.
const SIZES_PER_PIPELINE: usize = 1000;

async fn run<T: FromRedisValue>(
    node: &NodeClient,
    pipe: &redis::Pipeline,
    what: &str,
) -> Result<T, SlotsError> {
    let mut conn = node.connection();
    pipe.query_async(&mut conn)
        .await
        .map_err(|e| SlotsError::command(node.addr(), what, e))
}

fn getkeys(pipe: &mut redis::Pipeline, slot: u16, n: usize) {
    pipe.cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(n);
}

/// Moves every slot of `moves` (all from `from` to `to`, all closed and owned by `from`: a
/// fresh apply) and returns what each carried, in order; see the module docs.
///
/// # Errors
/// Any command error (slots already opened stay open; the journal says which), [`SlotsError::BigKey`]
/// or [`SlotsError::BusyKey`].
pub async fn move_slots(
    ctx: &Ctx<'_>,
    from: &str,
    to: &str,
    moves: &[&Move],
) -> Result<Vec<Moved>, SlotsError> {
    let src = ctx.cluster.client(from)?;
    let dst = ctx.cluster.client(to)?;
    let slots: Vec<u16> = moves.iter().map(|m| m.slot).collect();
    precheck(ctx, src, &slots).await?;

    ctx.journal_many(Step::Open, &slots)?;
    let mut pipe = redis::pipe();
    for &s in &slots {
        pipe.add_command(setslot(s, "IMPORTING", from)).ignore();
    }
    let () = run(dst, &pipe, "CLUSTER SETSLOT IMPORTING").await?;

    ctx.journal_many(Step::Keys, &slots)?;
    let n = ctx.opts.keys_per_migrate.max(1);
    let mut pipe = redis::pipe();
    for &s in &slots {
        pipe.add_command(setslot(s, "MIGRATING", to)).ignore();
        getkeys(&mut pipe, s, n);
    }
    let first: Vec<Vec<Vec<u8>>> = run(src, &pipe, "CLUSTER SETSLOT MIGRATING").await?;
    let mut moved = vec![Moved::default(); slots.len()];
    migrate_all(ctx, src, dst, &slots, first, &mut moved).await?;

    await_source_epoch(ctx, src, dst).await?;
    ctx.journal_many(Step::Assign, &slots)?;
    assign(ctx, &slots, to, from).await?;
    Ok(moved)
}

/// The source, its `MIGRATE` connection and the target.
struct Link<'a> {
    src: &'a NodeClient,
    mig: NodeClient,
    target: Target<'a>,
}

/// Step 3: `pending[i]` holds the next keys of `slots[i]`.
async fn migrate_all(
    ctx: &Ctx<'_>,
    src: &NodeClient,
    dst: &NodeClient,
    slots: &[u16],
    mut pending: Vec<Vec<Vec<u8>>>,
    moved: &mut [Moved],
) -> Result<(), SlotsError> {
    let (host, port) = migrate_target(dst)?;
    let link = Link {
        src,
        mig: ctx.migrate_client(src.addr()).await?,
        target: Target {
            node: dst,
            host,
            port,
            timeout_ms: ctx.opts.migrate_timeout.as_millis() as u64,
        },
    };
    loop {
        let live: Vec<usize> = (0..slots.len())
            .filter(|&i| !pending[i].is_empty())
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        for group in live.chunks(MIGRATES_PER_PIPELINE) {
            migrate_group(ctx, &link, slots, group, &mut pending, moved).await?;
        }
    }
}

/// One pipeline of `MIGRATE` + `GETKEYSINSLOT` for the slots `slots[i]`, `i` in `group`.
async fn migrate_group(
    ctx: &Ctx<'_>,
    link: &Link<'_>,
    slots: &[u16],
    group: &[usize],
    pending: &mut [Vec<Vec<u8>>],
    moved: &mut [Moved],
) -> Result<(), SlotsError> {
    let n = ctx.opts.keys_per_migrate.max(1);
    let (src, t) = (link.src, &link.target);
    let mut bytes = vec![0u64; group.len()];
    if ctx.throttle.limits_bytes() {
        for (b, &i) in bytes.iter_mut().zip(group) {
            let s = sizes(src, &pending[i], false).await?;
            check_big(slots[i], &pending[i], &s, ctx.opts.max_key_bytes)?;
            *b = s.iter().sum();
        }
    }
    let keys: u64 = group.iter().map(|&i| pending[i].len() as u64).sum();
    ctx.throttle.wait(keys, bytes.iter().sum()).await;
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for &i in group {
        let mut cmd = redis::cmd("MIGRATE");
        cmd.arg(t.host).arg(t.port).arg("").arg(0).arg(t.timeout_ms);
        if ctx.opts.replace {
            cmd.arg("REPLACE");
        }
        cmd.arg("KEYS").arg(&pending[i]);
        pipe.add_command(cmd);
        getkeys(&mut pipe, slots[i], n);
    }
    let turn = ctx.migrate_turn(src.addr());
    let replies: Vec<RedisResult<Value>> = {
        let _turn = turn.lock().await;
        run(&link.mig, &pipe, "MIGRATE").await?
    };
    let getkeys_err = |e| SlotsError::command(src.addr(), "CLUSTER GETKEYSINSLOT", e);
    for (j, &i) in group.iter().enumerate() {
        let slot = slots[i];
        let sent = std::mem::take(&mut pending[i]);
        let next = match &replies[2 * j] {
            Ok(_) => {
                Vec::<Vec<u8>>::from_redis_value(replies[2 * j + 1].clone().map_err(getkeys_err)?)
                    .map_err(|e| getkeys_err(e.into()))?
            }
            Err(e) if e.to_string().contains("BUSYKEY") => {
                resolve_busy(&link.mig, t, slot, &sent, ctx.opts.replace, false).await?;
                src.query(redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(n))
                    .await?
            }
            Err(e) => return Err(SlotsError::command(src.addr(), "MIGRATE", e.clone())),
        };
        moved[i].keys += sent.len() as u64;
        moved[i].bytes += bytes[j];
        ctx.progress.keys_moved(slot, sent.len() as u64, bytes[j]);
        pending[i] = next;
    }
    Ok(())
}

/// Step 4 for all `slots`: the owner, then the source, then every other master at once.
async fn assign(ctx: &Ctx<'_>, slots: &[u16], owner: &str, source: &str) -> Result<(), SlotsError> {
    let mut pipe = redis::pipe();
    for &s in slots {
        pipe.add_command(setslot(s, "NODE", owner)).ignore();
    }
    let owner_node = ctx.cluster.client(owner)?;
    if claims_in_one_transaction(ctx.cluster.node(owner).and_then(|n| n.server)) {
        let () = run(owner_node, &claim(slots, owner), "CLUSTER SETSLOT NODE").await?;
    } else {
        let () = run(owner_node, &pipe, "CLUSTER SETSLOT NODE").await?;
    }
    let () = run(ctx.cluster.client(source)?, &pipe, "CLUSTER SETSLOT NODE").await?;
    let others = ctx
        .cluster
        .masters()
        .filter(|m| m.id() != owner && m.id() != source)
        .map(|m| ctx.cluster.client(m.id()));
    let pipe = &pipe;
    let mut sends = Vec::new();
    for c in others {
        let c = c?;
        sends.push(async move { run::<()>(c, pipe, "CLUSTER SETSLOT NODE").await });
    }
    for r in futures::future::join_all(sends).await {
        r?;
    }
    Ok(())
}

/// Whether `server` runs `CLUSTER SETSLOT` inside `MULTI` as [`claim`] needs: Redis up to 8.0 and
/// Valkey 7 (their `SETSLOT` code was read for this). Valkey 8+ first replicates `SETSLOT` to the
/// replicas and waits for them, which a transaction cannot do; an unknown server is not assumed
/// to.
fn claims_in_one_transaction(server: Option<ServerVersion>) -> bool {
    server.is_some_and(|v| match v.kind {
        ServerKind::Redis => (v.major, v.minor) <= (8, 0),
        ServerKind::Valkey => v.major < 8,
    })
}

/// The target's `SETSLOT NODE target` for all `slots` with one broadcast instead of one per slot
/// (see the module docs): one transaction of `CLUSTER BUMPEPOCH`, `SETSLOT s STABLE` and
/// `SETSLOT s NODE target` for all slots but the last, then `SETSLOT last NODE target`.
fn claim(slots: &[u16], owner: &str) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("CLUSTER").arg("BUMPEPOCH").ignore();
    if let Some((last, rest)) = slots.split_last() {
        for &s in rest {
            pipe.cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("STABLE")
                .ignore();
            pipe.add_command(setslot(s, "NODE", owner)).ignore();
        }
        pipe.add_command(setslot(*last, "NODE", owner)).ignore();
    }
    pipe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transaction_only_where_setslot_is_not_replicated_first() {
        let v = |kind, major, minor| {
            Some(ServerVersion {
                kind,
                major,
                minor,
                patch: 0,
            })
        };
        assert!(claims_in_one_transaction(v(ServerKind::Redis, 7, 0)));
        assert!(claims_in_one_transaction(v(ServerKind::Redis, 8, 0)));
        assert!(!claims_in_one_transaction(v(ServerKind::Redis, 8, 2)));
        assert!(claims_in_one_transaction(v(ServerKind::Valkey, 7, 2)));
        assert!(!claims_in_one_transaction(v(ServerKind::Valkey, 8, 0)));
        assert!(!claims_in_one_transaction(None));
    }
}
