//! `cairn slots fix`: repairing open (half-migrated) and uncovered slots.
//!
//! [`diagnose`] looks at every master's own view and key counts and decides one action per slot;
//! [`repair`] carries the actions out and waits for the cluster to be healthy. `--dry-run` prints
//! the diagnosis only. The cases (redis-cli's `fix` knows the first four and gives up otherwise):
//!
//! | state of slot `s` | action |
//! |---|---|
//! | `M` migrating to `T`, `T` importing | finish the migration to `T` |
//! | `M` migrating to `T`, `T` not importing but holding keys of `s` | finish the migration to `T` |
//! | `M` migrating to `T`, `T` not importing and empty | `SETSLOT s STABLE` on `M` |
//! | `I` importing, nobody migrating | move `I`'s keys of `s` to the owner, `SETSLOT s STABLE` on `I` |
//! | nobody owns `s`, no keys anywhere | give it to the master with fewest slots |
//! | nobody owns `s`, keys on some masters | give it to the one with most keys, move the others' keys there |
//! | the owners' own views disagree, one node claims `s` | `SETSLOT s NODE claimer` everywhere |
//!
//! Key moves use the same batched `MIGRATE` with `BUSYKEY` resolution as apply.

use crate::client::NodeClient;
use crate::cluster::{Cluster, short_id};
use crate::error::SlotsError;
use crate::migrate::{ApplyOptions, Ctx, Progress, legacy};
use cairn_slots_planner::Move;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One repair. Serialized (for `--json`) with a `kind` tag: `finish-migration`,
/// `close-migrating`, `close-importing`, `assign-ownerless`, `propagate`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FixAction {
    /// Finish moving `slot` from `from` to `to`.
    FinishMigration {
        /// The slot.
        slot: u16,
        /// The migrating owner.
        from: String,
        /// The target.
        to: String,
    },
    /// Cancel a migration nobody imports: `SETSLOT STABLE` on `node`.
    CloseMigrating {
        /// The slot.
        slot: u16,
        /// The node.
        node: String,
    },
    /// Move `node`'s keys of `slot` to `owner`, then `SETSLOT STABLE` on `node`.
    CloseImporting {
        /// The slot.
        slot: u16,
        /// The importing node.
        node: String,
        /// The slot's owner.
        owner: String,
    },
    /// Give an ownerless slot to `to`, moving keys from `gather` there first.
    AssignOwnerless {
        /// The slot.
        slot: u16,
        /// The new owner.
        to: String,
        /// Other masters holding keys of the slot.
        gather: Vec<String>,
    },
    /// Tell every master that `owner` owns `slot`.
    Propagate {
        /// The slot.
        slot: u16,
        /// The node that claims it.
        owner: String,
    },
}

impl fmt::Display for FixAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixAction::FinishMigration { slot, from, to } => {
                write!(
                    f,
                    "slot {slot}: finish the migration {} -> {}",
                    short_id(from),
                    short_id(to)
                )
            }
            FixAction::CloseMigrating { slot, node } => {
                write!(
                    f,
                    "slot {slot}: nobody imports it; set it stable on {}",
                    short_id(node)
                )
            }
            FixAction::CloseImporting { slot, node, owner } => write!(
                f,
                "slot {slot}: move {}'s keys to the owner {} and set it stable there",
                short_id(node),
                short_id(owner)
            ),
            FixAction::AssignOwnerless { slot, to, gather } => {
                write!(f, "slot {slot}: no owner; assign it to {}", short_id(to))?;
                if !gather.is_empty() {
                    let g: Vec<&str> = gather.iter().map(|g| short_id(g)).collect();
                    write!(f, " after moving keys from {}", g.join(", "))?;
                }
                Ok(())
            }
            FixAction::Propagate { slot, owner } => {
                write!(
                    f,
                    "slot {slot}: tell every master it belongs to {}",
                    short_id(owner)
                )
            }
        }
    }
}

async fn keys_in(node: &NodeClient, slot: u16) -> Result<u64, SlotsError> {
    crate::stats::count_keys_in_slot(node, slot).await
}

/// Works out what to repair.
///
/// # Errors
/// [`SlotsError::Unhealthy`] when a node is down (nothing can be fixed safely then) or a case
/// is ambiguous (several nodes claim one slot); command errors.
pub async fn diagnose(cluster: &Cluster) -> Result<Vec<FixAction>, SlotsError> {
    let health = cluster.health().await;
    if let Some(p) = health.problems.iter().find(|p| {
        matches!(
            p,
            crate::cluster::Problem::NodeDown { .. } | crate::cluster::Problem::NodeFlagged { .. }
        )
    }) {
        return Err(SlotsError::Unhealthy {
            reason: p.to_string(),
            remedy: "bring the node back (or fail it over) before fixing slots",
        });
    }
    let masters: Vec<&str> = cluster.masters().map(|m| m.id()).collect();
    // Each master's own claims and open markers.
    let mut claims: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    let mut migrating: BTreeMap<u16, Vec<(&str, &str)>> = BTreeMap::new();
    let mut importing: BTreeMap<u16, Vec<(&str, &str)>> = BTreeMap::new();
    for id in &masters {
        let Some(me) = health.views.get(*id).and_then(|v| v.myself()) else {
            continue;
        };
        for &(a, b) in &me.slots {
            for s in a..=b {
                claims.entry(s).or_default().push(id);
            }
        }
        for (s, t) in &me.migrating {
            migrating.entry(*s).or_default().push((id, t.as_str()));
        }
        for (s, src) in &me.importing {
            importing.entry(*s).or_default().push((id, src.as_str()));
        }
    }
    let mut actions = Vec::new();
    let mut handled = BTreeSet::new();
    for (&slot, migs) in &migrating {
        handled.insert(slot);
        let (from, to) = migs[0];
        let target_imports = importing
            .get(&slot)
            .is_some_and(|v| v.iter().any(|(n, _)| *n == to));
        let target_has_keys = match cluster.client(to) {
            Ok(c) => keys_in(c, slot).await? > 0,
            Err(_) => false,
        };
        if target_imports || target_has_keys {
            actions.push(FixAction::FinishMigration {
                slot,
                from: from.into(),
                to: to.into(),
            });
        } else {
            actions.push(FixAction::CloseMigrating {
                slot,
                node: from.into(),
            });
        }
        for (node, _) in importing.get(&slot).into_iter().flatten() {
            if *node != to {
                let owner = from.to_string();
                actions.push(FixAction::CloseImporting {
                    slot,
                    node: (*node).into(),
                    owner,
                });
            }
        }
    }
    for (&slot, imps) in &importing {
        if handled.contains(&slot) {
            continue;
        }
        handled.insert(slot);
        let owner = match claims.get(&slot).map(Vec::as_slice) {
            Some([one]) => one.to_string(),
            _ => {
                return Err(SlotsError::Unhealthy {
                    reason: format!("slot {slot} is importing but has no single owner"),
                    remedy: "assign it by hand with CLUSTER SETSLOT ... NODE, then run fix again",
                });
            }
        };
        for (node, _) in imps {
            actions.push(FixAction::CloseImporting {
                slot,
                node: (*node).into(),
                owner: owner.clone(),
            });
        }
    }
    let seed_owners = cluster.view().slot_owners();
    let view_owners: Vec<Vec<Option<String>>> =
        health.views.values().map(|v| v.slot_owners()).collect();
    for slot in 0..crate::slot::SLOTS {
        if handled.contains(&slot) {
            continue;
        }
        match claims.get(&slot).map(Vec::as_slice) {
            None | Some([]) => {
                let mut with_keys = Vec::new();
                for id in &masters {
                    let n = keys_in(cluster.client(id)?, slot).await?;
                    if n > 0 {
                        with_keys.push((n, *id));
                    }
                }
                with_keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                let to = match with_keys.first() {
                    Some((_, id)) => id.to_string(),
                    None => fewest_slots(&claims, &masters, &actions),
                };
                let gather = with_keys
                    .iter()
                    .skip(1)
                    .map(|(_, id)| id.to_string())
                    .collect();
                actions.push(FixAction::AssignOwnerless { slot, to, gather });
            }
            Some([one]) => {
                let disagree = view_owners
                    .iter()
                    .any(|v| v[usize::from(slot)].as_deref() != Some(*one))
                    || seed_owners[usize::from(slot)].as_deref() != Some(*one);
                if disagree {
                    actions.push(FixAction::Propagate {
                        slot,
                        owner: one.to_string(),
                    });
                }
            }
            Some(many) => {
                return Err(SlotsError::Unhealthy {
                    reason: format!("slot {slot} is claimed by {} nodes at once", many.len()),
                    remedy: "the cluster resolves this by config epoch; wait, or bump the epoch of the rightful owner",
                });
            }
        }
    }
    Ok(actions)
}

fn fewest_slots(
    claims: &BTreeMap<u16, Vec<&str>>,
    masters: &[&str],
    planned: &[FixAction],
) -> String {
    let mut count: BTreeMap<&str, usize> = masters.iter().map(|m| (*m, 0)).collect();
    for owners in claims.values() {
        for o in owners {
            *count.entry(o).or_default() += 1;
        }
    }
    for a in planned {
        if let FixAction::AssignOwnerless { to, .. } = a {
            *count.entry(to.as_str()).or_default() += 1;
        }
    }
    count
        .into_iter()
        .min_by_key(|(id, n)| (*n, *id))
        .map(|(id, _)| id.to_string())
        .unwrap_or_default()
}

/// Carries out `actions`, then waits until the cluster is healthy.
///
/// # Errors
/// The first failing command; [`SlotsError::Unhealthy`] when the cluster does not converge.
pub async fn repair(
    cluster: &Cluster,
    actions: &[FixAction],
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<(), SlotsError> {
    // Repairs are not resumable plans (fix is simply run again): the journal is scratch.
    let journal = crate::migrate::journal::Journal::create(&opts.journal.with_extension("fix"))?;
    let ctx = Ctx::new(cluster, opts, progress, journal);
    // Ownerless slots first: while any slot is uncovered the cluster refuses most commands
    // (CLUSTERDOWN), including the MEMORY USAGE and MIGRATE the other repairs need.
    let mut assigned = false;
    for a in actions {
        if let FixAction::AssignOwnerless { slot, to, .. } = a {
            tracing::info!(action = %a, "fixing");
            let _: () = cluster
                .client(to)?
                .query(redis::cmd("CLUSTER").arg("ADDSLOTS").arg(*slot))
                .await?;
            assigned = true;
        }
    }
    if assigned {
        wait_state_ok(cluster, opts.converge_timeout).await?;
    }
    for a in actions {
        if !matches!(a, FixAction::AssignOwnerless { .. }) {
            tracing::info!(action = %a, "fixing");
        }
        match a {
            FixAction::FinishMigration { slot, from, to } => {
                let mv = Move {
                    slot: *slot,
                    from: from.clone(),
                    to: to.clone(),
                    keys: 0,
                    bytes: 0,
                };
                legacy::move_slot(&ctx, &mv).await?;
            }
            FixAction::CloseMigrating { slot, node } => {
                stable(cluster.client(node)?, *slot).await?
            }
            FixAction::CloseImporting { slot, node, owner } => {
                let mv = Move {
                    slot: *slot,
                    from: node.clone(),
                    to: owner.clone(),
                    keys: 0,
                    bytes: 0,
                };
                legacy::migrate_keys(
                    &ctx,
                    cluster.client(node)?,
                    cluster.client(owner)?,
                    &mv,
                    true,
                )
                .await?;
                stable(cluster.client(node)?, *slot).await?;
            }
            FixAction::AssignOwnerless { slot, to, gather } => {
                for g in gather {
                    // The holder must import the slot to let its keys be touched (with ASKING).
                    let holder = cluster.client(g)?;
                    let _: () = holder
                        .query(
                            redis::cmd("CLUSTER")
                                .arg("SETSLOT")
                                .arg(*slot)
                                .arg("IMPORTING")
                                .arg(to),
                        )
                        .await?;
                    let mv = Move {
                        slot: *slot,
                        from: g.clone(),
                        to: to.clone(),
                        keys: 0,
                        bytes: 0,
                    };
                    legacy::migrate_keys(&ctx, holder, cluster.client(to)?, &mv, true).await?;
                    stable(holder, *slot).await?;
                }
            }
            FixAction::Propagate { slot, owner } => {
                legacy::assign_everywhere(&ctx, *slot, owner, None).await?
            }
        }
    }
    crate::migrate::verify(cluster, &[], opts.converge_timeout).await
}

async fn wait_state_ok(cluster: &Cluster, timeout: std::time::Duration) -> Result<(), SlotsError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut all_ok = true;
        for n in cluster.nodes() {
            let info = cluster.client(n.id())?.cluster_info().await?;
            all_ok &= info.get("cluster_state") == Some("ok");
        }
        if all_ok {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(SlotsError::Unhealthy {
                reason: "cluster_state is not ok after assigning the ownerless slots".into(),
                remedy: "check `cairn slots status`, then run fix again",
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn stable(node: &NodeClient, slot: u16) -> Result<(), SlotsError> {
    node.query(redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("STABLE"))
        .await
}
