//! `cairn slots apply` and `cairn slots resume`: carrying out a plan on a live cluster.
//!
//! Safety rules, in order:
//! 1. The cluster must be healthy (every node up, `cluster_state:ok`, all views agree, no open
//!    slots) and its topology fingerprint must equal the plan's: a plan made for another layout
//!    is refused before anything is touched.
//! 2. A journal ([`journal`]) records each step before it is sent, so a crash leaves a file that
//!    `resume` finishes from (see its durability notes).
//! 3. Moves run at most `max_parallel` slots at once (each slot's protocol is independent;
//!    overlapping them hides the round trips that make redis-cli take a millisecond per slot),
//!    in plan order except that a source with fewer moves in flight, then one with more moves
//!    left, goes first: the sources with the most work set the pace, so they start at once and
//!    never wait behind other sources' moves. A fresh apply moves slots of one (source, target)
//!    pair in batches of up to [`SLOTS_PER_BATCH`] that share every round trip ([`batch`]);
//!    `resume` and `fix` move slot by slot, probing each slot's state first ([`legacy`]).
//!    `--max-parallel 1` moves strictly one slot at a time.
//! 4. At the end every node must agree that each moved slot belongs to its target, and the
//!    cluster must be healthy again.
//!
//! # Layout
//! - [`legacy`]: the `SETSLOT`/`MIGRATE` protocol, idempotent for resume.
//! - [`batch`]: the same protocol for many slots at once, for a fresh apply.
//! - [`atomic`]: Valkey 9 `CLUSTER MIGRATESLOTS` and Redis 8.4 `CLUSTER MIGRATION IMPORT`.
//! - [`journal`]: the crash journal.
//! - [`throttle`]: keys/s and bytes/s limits shared by all moves.

pub mod atomic;
pub mod batch;
pub mod journal;
pub mod legacy;
pub mod throttle;

use crate::client::NodeClient;
use crate::cluster::Cluster;
use crate::error::SlotsError;
use cairn_slots_planner::{Move, Ownership, Plan, apply_moves};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use journal::{Journal, Record};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use throttle::Throttle;

/// How slots are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Atomic when every master supports it and no throttle is set, else legacy.
    #[default]
    Auto,
    /// `SETSLOT`/`MIGRATE`.
    Legacy,
    /// The server's atomic slot migration: `CLUSTER MIGRATESLOTS` (Valkey 9+) or
    /// `CLUSTER MIGRATION IMPORT` (Redis 8.4+), on every master.
    Atomic,
}

/// Settings of an apply or resume.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Migration method.
    pub method: Method,
    /// Slots in flight at once.
    pub max_parallel: usize,
    /// Keys per `MIGRATE` call.
    pub keys_per_migrate: usize,
    /// `MIGRATE` timeout (and atomic job timeout per range).
    pub migrate_timeout: Duration,
    /// Keys per second over all moves.
    pub max_keys_per_sec: Option<f64>,
    /// Bytes per second over all moves.
    pub max_bytes_per_sec: Option<f64>,
    /// Largest key `MIGRATE` may carry, bytes (0: no check).
    pub max_key_bytes: u64,
    /// Overwrite keys that exist on the target with different values.
    pub replace: bool,
    /// The journal file.
    pub journal: PathBuf,
    /// How long to wait for all nodes to agree at the end.
    pub converge_timeout: Duration,
    /// Stop after this many completed moves, as if the process had died (for crash tests).
    pub stop_after: Option<usize>,
}

impl ApplyOptions {
    /// Defaults with the journal at `journal`.
    pub fn new(journal: PathBuf) -> ApplyOptions {
        ApplyOptions {
            method: Method::Auto,
            max_parallel: 512,
            keys_per_migrate: 500,
            migrate_timeout: Duration::from_secs(60),
            max_keys_per_sec: None,
            max_bytes_per_sec: None,
            max_key_bytes: 256 * 1024 * 1024,
            replace: false,
            journal,
            converge_timeout: Duration::from_secs(15),
            stop_after: None,
        }
    }
}

/// Progress events, for bars or log lines. Every method has an empty default.
pub trait Progress: Send + Sync {
    /// Apply begins: `moves` moves carrying about `keys` keys.
    fn begin(&self, _moves: usize, _keys: u64, _method: &str) {}
    /// A move starts.
    fn move_started(&self, _mv: &Move) {}
    /// A batch of keys of `slot` was migrated.
    fn keys_moved(&self, _slot: u16, _keys: u64, _bytes: u64) {}
    /// A move finished.
    fn move_done(&self, _mv: &Move) {}
    /// The target at `target` (an address) waited `waited` to hear of its source's config epoch
    /// before claiming slots from it (see [`legacy`], step 3): the source had raised its epoch
    /// just before, e.g. as the target of an earlier batch.
    fn epoch_waited(&self, _target: &str, _waited: Duration) {}
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// Protocol steps recorded in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `SETSLOT IMPORTING`/`MIGRATING`.
    Open,
    /// The `MIGRATE` loop.
    Keys,
    /// `SETSLOT NODE` everywhere.
    Assign,
    /// An atomic job.
    Atomic,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Keys => "keys",
            Step::Assign => "assign",
            Step::Atomic => "atomic",
        }
    }
}

/// What every move needs: the cluster, the options, the shared throttle, journal and progress.
pub struct Ctx<'a> {
    /// The cluster.
    pub cluster: &'a Cluster,
    /// Settings.
    pub opts: &'a ApplyOptions,
    /// Shared speed limits.
    pub throttle: Throttle,
    /// Progress sink.
    pub progress: &'a dyn Progress,
    journal: Mutex<Journal>,
    migrate_conns: Mutex<HashMap<String, NodeClient>>,
    migrate_turns: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Set by `apply` only: the layout was verified healthy and unchanged just before, so moves
    /// need not probe each slot's state (`resume` and `fix` must).
    fresh: bool,
}

impl<'a> Ctx<'a> {
    /// A context writing to `journal`, with throttles from `opts`.
    pub fn new(
        cluster: &'a Cluster,
        opts: &'a ApplyOptions,
        progress: &'a dyn Progress,
        journal: Journal,
    ) -> Ctx<'a> {
        let throttle = Throttle::new(opts.max_keys_per_sec, opts.max_bytes_per_sec);
        Ctx {
            cluster,
            opts,
            throttle,
            progress,
            journal: Mutex::new(journal),
            migrate_conns: Mutex::new(HashMap::new()),
            migrate_turns: Mutex::new(HashMap::new()),
            fresh: false,
        }
    }

    /// The dedicated `MIGRATE` connection to `addr`, opened once and reused: a long `MIGRATE`
    /// must not hold up other commands to the node, and a node is in at most one move at a time.
    ///
    /// # Errors
    /// [`SlotsError::Unreachable`].
    pub async fn migrate_client(&self, addr: &str) -> Result<NodeClient, SlotsError> {
        if let Some(c) = self
            .migrate_conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(addr)
        {
            return Ok(c.clone());
        }
        let timeouts = crate::client::Timeouts {
            connect: Duration::from_secs(3),
            response: self.opts.migrate_timeout + Duration::from_secs(5),
        };
        let client = NodeClient::connect_with(addr, timeouts).await?;
        self.migrate_conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr.to_string(), client.clone());
        Ok(client)
    }

    /// The turn of `addr`'s `MIGRATE` pipelines: held while one is sent, so that batches moving
    /// slots out of one node take turns. `MIGRATE` blocks the source until the target has
    /// restored the keys; back-to-back pipelines from several batches would block it (and its
    /// clients) for seconds when the target is slow, while taking turns leaves a gap between
    /// pipelines in which the source serves everyone else.
    pub fn migrate_turn(&self, addr: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.migrate_turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(addr.to_string())
            .or_default()
            .clone()
    }

    fn sync_journal(&self) -> Result<(), SlotsError> {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sync()?;
        Ok(())
    }

    /// Records a step before it is taken.
    ///
    /// # Errors
    /// [`SlotsError::Journal`].
    pub fn journal(&self, step: Step, slot: u16) -> Result<(), SlotsError> {
        self.record(&Record::Step {
            slot,
            step: step.as_str().into(),
        })
    }

    /// Records the same step of many slots, in one write.
    ///
    /// # Errors
    /// [`SlotsError::Journal`].
    pub fn journal_many(&self, step: Step, slots: &[u16]) -> Result<(), SlotsError> {
        let records: Vec<Record> = slots
            .iter()
            .map(|&slot| Record::Step {
                slot,
                step: step.as_str().into(),
            })
            .collect();
        self.record_many(&records)
    }

    fn record_many(&self, records: &[Record]) -> Result<(), SlotsError> {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_many(records)?;
        Ok(())
    }

    fn record(&self, r: &Record) -> Result<(), SlotsError> {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(r)?;
        Ok(())
    }
}

/// The outcome of an apply or resume.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    /// Moves completed in this run.
    pub moves: usize,
    /// Keys migrated by the legacy protocol (atomic jobs do not report keys).
    pub keys: u64,
    /// `legacy` or `atomic`.
    pub method: String,
    /// Wall time, milliseconds.
    pub elapsed_ms: u64,
    /// Whether the run stopped early on purpose (`stop_after`).
    pub stopped_early: bool,
}

fn choose_method(cluster: &Cluster, opts: &ApplyOptions) -> Result<&'static str, SlotsError> {
    let throttled = opts.max_keys_per_sec.is_some() || opts.max_bytes_per_sec.is_some();
    let atomic_everywhere = atomic::protocol(cluster).is_some();
    match opts.method {
        Method::Legacy => Ok("legacy"),
        Method::Auto if atomic_everywhere && !throttled => Ok("atomic"),
        Method::Auto => Ok("legacy"),
        Method::Atomic if !atomic_everywhere => Err(SlotsError::refused(
            "--method atomic needs CLUSTER MIGRATESLOTS (Valkey 9+) or CLUSTER MIGRATION IMPORT \
             (Redis 8.4+) on every master",
            "use --method legacy or auto",
        )),
        Method::Atomic if throttled => Err(SlotsError::refused(
            "atomic migration cannot be throttled (the server has no bandwidth limit)",
            "drop --max-keys-per-sec/--max-bytes-per-sec or use --method legacy",
        )),
        Method::Atomic => Ok("atomic"),
    }
}

/// Applies `plan` to `cluster`.
///
/// # Errors
/// [`SlotsError::Unhealthy`] before anything moved, [`SlotsError::Refused`] when the cluster's
/// fingerprint is not the plan's (or the method cannot be used), then any error of a move (the
/// journal then tells `resume` where to continue).
pub async fn apply(
    cluster: &Cluster,
    plan: &Plan,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, SlotsError> {
    cluster.require_healthy().await?;
    let live = cluster.fingerprint();
    if live != plan.snapshot_fingerprint {
        return Err(SlotsError::refused(
            format!(
                "the cluster changed since the snapshot (topology fingerprint {live}, plan made for {})",
                plan.snapshot_fingerprint
            ),
            "measure and plan again",
        ));
    }
    let method = choose_method(cluster, opts)?;
    let start = cluster.ownership();
    apply_moves(&start, &plan.moves).map_err(|e| {
        SlotsError::refused(
            format!("the plan does not fit the cluster: {e}"),
            "measure and plan again",
        )
    })?;
    let mut journal = Journal::create(&opts.journal)?;
    journal.write(&Record::Start {
        plan_fingerprint: plan.snapshot_fingerprint.clone(),
        start_layout: start.ranges(),
        seed: cluster.seed().to_string(),
        moves: plan.moves.clone(),
        method: method.to_string(),
    })?;
    run(cluster, &plan.moves, method, opts, progress, journal, true).await
}

/// Finishes the apply recorded in the journal at `opts.journal`, discovering the cluster through
/// `seed` (or the journal's seed).
///
/// # Errors
/// [`SlotsError::Journal`] for an unreadable journal, [`SlotsError::Refused`] when the cluster is
/// not the one the journal describes (a slot outside the plan changed owner), else as
/// [`apply`].
pub async fn resume(
    seed: Option<&str>,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, SlotsError> {
    let state = journal::read(&opts.journal)?;
    if state.finished {
        return Ok(ApplyReport {
            method: state.method,
            ..ApplyReport::default()
        });
    }
    let cluster = Cluster::discover(seed.unwrap_or(&state.seed)).await?;
    let start = Ownership::from_ranges(&state.start_layout).map_err(|e| {
        SlotsError::refused(
            format!("journal start layout is invalid: {e}"),
            "fix the cluster with `cairn slots fix`",
        )
    })?;
    let done: Vec<Move> = state
        .moves
        .iter()
        .filter(|m| state.done.contains(&m.slot))
        .cloned()
        .collect();
    let expected = apply_moves(&start, &done).map_err(|e| {
        SlotsError::refused(
            format!("journal moves do not replay: {e}"),
            "fix the cluster with `cairn slots fix`",
        )
    })?;
    let pending = state.pending();
    let pending_slots: BTreeMap<u16, &Move> = pending.iter().map(|m| (m.slot, m)).collect();
    let live = cluster.ownership();
    for (slot, owner) in live.iter() {
        let ok = match pending_slots.get(&slot) {
            Some(m) => owner == Some(m.from.as_str()) || owner == Some(m.to.as_str()),
            None => owner == expected.owner(slot),
        };
        if !ok {
            return Err(SlotsError::refused(
                format!(
                    "slot {slot} is owned by {} but the journal expects otherwise: the cluster changed",
                    owner.unwrap_or("nobody")
                ),
                "repair with `cairn slots fix`, then measure and plan again",
            ));
        }
    }
    let health = cluster.health().await;
    for p in &health.problems {
        match p {
            crate::cluster::Problem::OpenSlot { slot, .. } if pending_slots.contains_key(slot) => {}
            crate::cluster::Problem::Disagreement { slot, .. }
                if pending_slots.contains_key(slot) => {}
            other => {
                return Err(SlotsError::Unhealthy {
                    reason: other.to_string(),
                    remedy: "repair this first (`cairn slots fix` for open slots outside the plan)",
                });
            }
        }
    }
    let journal = Journal::append(&opts.journal)?;
    let method = if state.method == "atomic" {
        "atomic"
    } else {
        "legacy"
    };
    run(&cluster, &pending, method, opts, progress, journal, false).await
}

async fn run(
    cluster: &Cluster,
    moves: &[Move],
    method: &'static str,
    opts: &ApplyOptions,
    progress: &dyn Progress,
    journal: Journal,
    fresh: bool,
) -> Result<ApplyReport, SlotsError> {
    let started = Instant::now();
    let mut ctx = Ctx::new(cluster, opts, progress, journal);
    ctx.fresh = fresh;
    progress.begin(moves.len(), moves.iter().map(|m| m.keys).sum(), method);
    let mut report = ApplyReport {
        method: method.to_string(),
        ..ApplyReport::default()
    };
    let outcome = match method {
        "atomic" => run_atomic(&ctx, moves, &mut report).await,
        _ => run_legacy(&ctx, moves, &mut report).await,
    };
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    ctx.sync_journal()?;
    outcome?;
    if report.stopped_early {
        return Ok(report);
    }
    verify(cluster, moves, opts.converge_timeout).await?;
    ctx.record(&Record::Finished)?;
    Ok(report)
}

/// Most slots of one (source, target) pair that a fresh apply moves together.
pub const SLOTS_PER_BATCH: usize = 128;

/// Splits `moves` into units of work: batches of one (source, target) pair, at most `size`
/// slots each, in order of their first move.
fn batches(moves: &[Move], size: usize) -> Vec<Vec<&Move>> {
    let mut out: Vec<Vec<&Move>> = Vec::new();
    let mut open: HashMap<(&str, &str), usize> = HashMap::new();
    for m in moves {
        let key = (m.from.as_str(), m.to.as_str());
        match open.get(&key) {
            Some(&i) if out[i].len() < size => out[i].push(m),
            _ => {
                open.insert(key, out.len());
                out.push(vec![m]);
            }
        }
    }
    out
}

/// Which nodes are sources and which are targets of the moves in flight. `MIGRATE` blocks its
/// source until the target has restored the keys, so a node must not be a source and a target
/// at once: `A -> B` beside `B -> A` (or any cycle) would have every node wait for another until
/// `MIGRATE` times out, and a chain `A -> B -> C` makes `A` wait for `B`'s own migration.
#[derive(Default)]
struct Roles {
    sources: HashMap<String, usize>,
    targets: HashMap<String, usize>,
}

impl Roles {
    /// Whether a move `from -> to` may start beside the ones in flight.
    fn admits(&self, from: &str, to: &str) -> bool {
        !self.targets.contains_key(from) && !self.sources.contains_key(to)
    }

    /// Units in flight with `node` as their source.
    fn as_source(&self, node: &str) -> usize {
        self.sources.get(node).copied().unwrap_or(0)
    }

    fn enter(&mut self, from: &str, to: &str) {
        *self.sources.entry(from.to_string()).or_default() += 1;
        *self.targets.entry(to.to_string()).or_default() += 1;
    }

    fn leave(&mut self, from: &str, to: &str) {
        for (map, node) in [(&mut self.sources, from), (&mut self.targets, to)] {
            if let Some(n) = map.get_mut(node) {
                *n -= 1;
                if *n == 0 {
                    map.remove(node);
                }
            }
        }
    }
}

/// Units not started yet, per (source, target) pair in plan order, and the slots they hold per
/// source.
struct Queue<'m> {
    pairs: Vec<VecDeque<(usize, Vec<&'m Move>)>>,
    left: HashMap<&'m str, usize>,
}

impl<'m> Queue<'m> {
    /// `units` in plan order, each of one pair.
    fn new(units: Vec<Vec<&'m Move>>) -> Queue<'m> {
        let mut queue = Queue {
            pairs: Vec::new(),
            left: HashMap::new(),
        };
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, unit) in units.into_iter().enumerate() {
            let Some(first) = unit.first() else {
                continue;
            };
            *queue.left.entry(first.from.as_str()).or_default() += unit.len();
            let p = *index
                .entry((first.from.as_str(), first.to.as_str()))
                .or_insert_with(|| {
                    queue.pairs.push(VecDeque::new());
                    queue.pairs.len() - 1
                });
            queue.pairs[p].push_back((i, unit));
        }
        queue
    }

    /// The next unit to start, if any fits: of the pairs' first units that `room` has room for
    /// and whose nodes keep their roles (see [`Roles`]), the one whose source has the fewest
    /// units in flight, then the most slots left, then the first in plan order. Every source
    /// keeps a unit in flight, and the sources with the most work, which set the pace, start
    /// first.
    fn next(&mut self, roles: &Roles, room: impl Fn(usize) -> bool) -> Option<Vec<&'m Move>> {
        let p = self
            .pairs
            .iter()
            .enumerate()
            .filter_map(|(p, units)| Some((p, units.front()?)))
            .filter(|(_, (_, u))| room(u.len()) && roles.admits(&u[0].from, &u[0].to))
            .min_by_key(|(_, (i, u))| {
                let from = u[0].from.as_str();
                let left = self.left.get(from).copied().unwrap_or(0);
                (roles.as_source(from), std::cmp::Reverse(left), *i)
            })
            .map(|(p, _)| p)?;
        let (_, unit) = self.pairs[p].pop_front()?;
        if let Some(n) = self.left.get_mut(unit[0].from.as_str()) {
            *n -= unit.len();
        }
        Some(unit)
    }
}

/// One unit: a batch on a fresh apply, else one slot with its state probes.
async fn move_unit(ctx: &Ctx<'_>, unit: &[&Move]) -> Result<Vec<legacy::Moved>, SlotsError> {
    match unit {
        [m] if !ctx.fresh => Ok(vec![legacy::move_slot(ctx, m).await?]),
        _ if !ctx.fresh => Err(SlotsError::refused(
            "internal: several slots in one unit of a resume",
            "report this bug",
        )),
        _ => batch::move_slots(ctx, &unit[0].from, &unit[0].to, unit).await,
    }
}

async fn run_legacy(
    ctx: &Ctx<'_>,
    moves: &[Move],
    report: &mut ApplyReport,
) -> Result<(), SlotsError> {
    let limit = ctx.opts.max_parallel.max(1);
    let todo = &moves[..ctx.opts.stop_after.unwrap_or(moves.len()).min(moves.len())];
    let size = if ctx.fresh {
        limit.min(SLOTS_PER_BATCH)
    } else {
        1
    };
    let mut queue = Queue::new(batches(todo, size));
    let mut roles = Roles::default();
    let mut running = FuturesUnordered::new();
    let mut in_flight = 0usize;
    let mut first_error: Option<SlotsError> = None;
    loop {
        while first_error.is_none() {
            let room = |n: usize| in_flight == 0 || in_flight + n <= limit;
            let Some(unit) = queue.next(&roles, room) else {
                break;
            };
            in_flight += unit.len();
            roles.enter(&unit[0].from, &unit[0].to);
            for m in &unit {
                ctx.progress.move_started(m);
            }
            running.push(async move {
                let r = move_unit(ctx, &unit).await;
                (unit, r)
            });
        }
        let Some((unit, result)) = running.next().await else {
            break;
        };
        in_flight -= unit.len();
        roles.leave(&unit[0].from, &unit[0].to);
        match result {
            Ok(moved) => {
                let done: Vec<Record> =
                    unit.iter().map(|m| Record::Done { slot: m.slot }).collect();
                ctx.record_many(&done)?;
                for (m, k) in unit.iter().zip(moved) {
                    ctx.progress.move_done(m);
                    report.moves += 1;
                    report.keys += k.keys;
                }
            }
            Err(e) => {
                let slots: Vec<u16> = unit.iter().map(|m| m.slot).collect();
                tracing::error!(?slots, error = %e, "slot move failed");
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    report.stopped_early = todo.len() < moves.len();
    Ok(())
}

async fn run_atomic(
    ctx: &Ctx<'_>,
    moves: &[Move],
    report: &mut ApplyReport,
) -> Result<(), SlotsError> {
    // One job per (source, target) pair, in order of first appearance in the plan.
    let mut pairs: Vec<((String, String), Vec<&Move>)> = Vec::new();
    for m in moves {
        match pairs.iter_mut().find(|(k, _)| k.0 == m.from && k.1 == m.to) {
            Some((_, v)) => v.push(m),
            None => pairs.push(((m.from.clone(), m.to.clone()), vec![m])),
        }
    }
    for ((from, to), group) in pairs {
        if ctx.opts.stop_after.is_some_and(|n| report.moves >= n) {
            report.stopped_early = true;
            return Ok(());
        }
        for m in &group {
            ctx.progress.move_started(m);
        }
        let slots: Vec<u16> = group.iter().map(|m| m.slot).collect();
        atomic::move_slots(ctx, &from, &to, &slots).await?;
        for m in group {
            ctx.record(&Record::Done { slot: m.slot })?;
            ctx.progress.move_done(m);
            report.moves += 1;
            report.keys += m.keys;
        }
    }
    Ok(())
}

/// Waits until every node agrees the moved slots belong to their targets and the cluster is
/// healthy.
///
/// # Errors
/// [`SlotsError::Unhealthy`] naming what is still wrong after `timeout`.
pub async fn verify(
    cluster: &Cluster,
    moves: &[Move],
    timeout: Duration,
) -> Result<(), SlotsError> {
    let deadline = Instant::now() + timeout;
    loop {
        let fresh = cluster.refresh().await?;
        let misplaced = moves
            .iter()
            .find(|m| fresh.owner(m.slot) != Some(m.to.as_str()));
        let health = fresh.health().await;
        match (misplaced, health.is_ok()) {
            (None, true) => return Ok(()),
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            (Some(m), _) => {
                return Err(SlotsError::Unhealthy {
                    reason: format!("slot {} is not owned by {} after the apply", m.slot, m.to),
                    remedy: "run `cairn slots resume`, then `cairn slots fix` if it persists",
                });
            }
            (None, false) => return health.into_result(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moves(from: &str, to: &str, slots: std::ops::Range<u16>) -> Vec<Move> {
        slots
            .map(|slot| Move {
                slot,
                from: from.into(),
                to: to.into(),
                keys: 0,
                bytes: 0,
            })
            .collect()
    }

    #[test]
    fn sources_with_the_most_work_start_first_and_every_source_keeps_one_unit() {
        // Plan order: a (2 slots), b (12), c (6); units of 4.
        let mut plan = moves("a", "t", 0..2);
        plan.extend(moves("b", "t", 2..14));
        plan.extend(moves("c", "u", 14..20));
        let mut queue = Queue::new(batches(&plan, 4));
        let mut roles = Roles::default();
        let mut started = Vec::new();
        while let Some(unit) = queue.next(&roles, |_| true) {
            roles.enter(&unit[0].from, &unit[0].to);
            started.push((unit[0].from.clone(), unit.len()));
        }
        let order: Vec<(&str, usize)> = started.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        assert_eq!(
            order,
            [("b", 4), ("c", 4), ("a", 2), ("b", 4), ("c", 2), ("b", 4)]
        );
    }

    #[test]
    fn a_node_is_never_source_and_target_at_once_and_room_is_respected() {
        let mut plan = moves("a", "b", 0..8);
        plan.extend(moves("b", "a", 8..10));
        let mut queue = Queue::new(batches(&plan, 4));
        let mut roles = Roles::default();
        let first = queue.next(&roles, |_| true).unwrap();
        assert_eq!((first[0].from.as_str(), first.len()), ("a", 4));
        roles.enter("a", "b");
        let second = queue.next(&roles, |_| true).unwrap();
        assert_eq!(second[0].from, "a", "b -> a waits while a is a source");
        roles.enter("a", "b");
        assert!(queue.next(&roles, |_| true).is_none());
        roles.leave("a", "b");
        roles.leave("a", "b");
        assert!(
            queue.next(&roles, |n| n < 2).is_none(),
            "no room for 2 slots"
        );
        assert_eq!(queue.next(&roles, |_| true).unwrap()[0].from, "b");
    }
}
