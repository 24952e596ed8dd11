//! `cairn slots apply plan.json`, `cairn slots resume` and `cairn slots fix`.

use super::progress::MoveProgress;
use super::status::parse_duration;
use anyhow::Context;
use cairn_slots::cluster::Cluster;
use cairn_slots::fix;
use cairn_slots::migrate::{self, ApplyOptions, ApplyReport, Method};
use cairn_slots_planner::Plan;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Atomic when every master supports it and no throttle is set, else legacy.
    Auto,
    /// SETSLOT/MIGRATE (every version).
    Legacy,
    /// CLUSTER MIGRATESLOTS (Valkey 9+) or CLUSTER MIGRATION IMPORT (Redis 8.4+).
    Atomic,
}

/// Settings shared by apply, resume and fix.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Journal file (written before each step; `resume` reads it).
    #[arg(long, default_value = "cairn-slots.journal")]
    pub journal: PathBuf,
    /// Migration method.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Slots in flight at once (1: strictly one at a time).
    #[arg(long, default_value_t = 512)]
    pub max_parallel: usize,
    /// Keys per MIGRATE call.
    #[arg(long, default_value_t = 500)]
    pub keys_per_migrate: usize,
    /// MIGRATE timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub migrate_timeout: Duration,
    /// Keys per second over all moves.
    #[arg(long)]
    pub max_keys_per_sec: Option<f64>,
    /// Bytes per second over all moves.
    #[arg(long)]
    pub max_bytes_per_sec: Option<f64>,
    /// Refuse to MIGRATE keys larger than this many bytes (0 = no check).
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub max_key_bytes: u64,
    /// Overwrite keys that already exist on the target with a different value.
    #[arg(long)]
    pub replace: bool,
    /// Print the outcome as JSON on stdout (see docs/SLOTS.md); progress stays on stderr.
    #[arg(long)]
    pub json: bool,
}

impl MoveArgs {
    pub fn options(&self) -> ApplyOptions {
        let mut o = ApplyOptions::new(self.journal.clone());
        o.method = match self.method {
            MethodArg::Auto => Method::Auto,
            MethodArg::Legacy => Method::Legacy,
            MethodArg::Atomic => Method::Atomic,
        };
        o.max_parallel = self.max_parallel.max(1);
        o.keys_per_migrate = self.keys_per_migrate.max(1);
        o.migrate_timeout = self.migrate_timeout;
        o.max_keys_per_sec = self.max_keys_per_sec;
        o.max_bytes_per_sec = self.max_bytes_per_sec;
        o.max_key_bytes = self.max_key_bytes;
        o.replace = self.replace;
        o
    }
}

/// Arguments of `cairn slots apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan written by `cairn slots plan`.
    pub plan: PathBuf,
    /// A node of the cluster (default: the first address in the plan).
    #[arg(long)]
    pub seed: Option<String>,
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// Arguments of `cairn slots resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// A node of the cluster (default: the seed recorded in the journal).
    #[arg(long)]
    pub seed: Option<String>,
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// Arguments of `cairn slots fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// Any node of the cluster, as host:port.
    pub seed: String,
    /// Only print what would be repaired.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub moves: MoveArgs,
}

fn report(command: &'static str, r: &ApplyReport, args: &MoveArgs) -> anyhow::Result<()> {
    if args.json {
        let status = match (r.moves, r.stopped_early) {
            (_, true) => "stopped",
            (0, false) => "nothing-to-do",
            _ => "ok",
        };
        // The report's fields plus the command, a status (`ok`: moved and verified,
        // `nothing-to-do`: empty plan or finished journal) and the journal path.
        let mut out = serde_json::to_value(r)?;
        out["command"] = json!(command);
        out["status"] = json!(status);
        out["journal"] = json!(args.journal);
        println!("{out}");
    } else if r.moves == 0 {
        eprintln!("nothing to do: the plan moves nothing or the journal's apply is finished");
    } else {
        eprintln!(
            "{} slots moved ({} keys) with the {} protocol in {:.2} s; cluster verified",
            r.moves,
            r.keys,
            r.method,
            r.elapsed_ms as f64 / 1000.0
        );
    }
    Ok(())
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read plan {}", args.plan.display()))?;
    let plan = Plan::from_json(&text).with_context(|| {
        format!(
            "{} is not a usable plan; re-create it with `cairn slots plan`",
            args.plan.display()
        )
    })?;
    if plan.moves.is_empty() {
        return report("apply", &ApplyReport::default(), &args.moves);
    }
    let seed = match &args.seed {
        Some(s) => s.clone(),
        None => plan
            .nodes
            .first()
            .map(|n| n.addr.clone())
            .context("the plan names no node; pass --seed host:port")?,
    };
    let cluster = Cluster::discover(&seed).await?;
    let progress = MoveProgress::new();
    let result = migrate::apply(&cluster, &plan, &args.moves.options(), &progress).await;
    progress.finish();
    let r = result
        .with_context(|| format!("apply stopped; journal {}", args.moves.journal.display()))?;
    report("apply", &r, &args.moves)
}

pub async fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    let progress = MoveProgress::new();
    let result = migrate::resume(args.seed.as_deref(), &args.moves.options(), &progress).await;
    progress.finish();
    let r = result
        .with_context(|| format!("resume stopped; journal {}", args.moves.journal.display()))?;
    report("resume", &r, &args.moves)
}

/// `fix --json`: every action's fields plus its description, how many were carried out and
/// whether the cluster was verified afterwards (both 0/false on a dry run).
fn fix_json(actions: &[fix::FixAction], dry_run: bool) -> anyhow::Result<serde_json::Value> {
    let mut items = Vec::new();
    for a in actions {
        let mut item = serde_json::to_value(a)?;
        item["description"] = json!(a.to_string());
        items.push(item);
    }
    Ok(json!({
        "command": "fix",
        "dry_run": dry_run,
        "actions": items,
        "repaired": if dry_run { 0 } else { actions.len() },
        "verified": !dry_run,
    }))
}

pub async fn fix(args: FixArgs) -> anyhow::Result<()> {
    let cluster = Cluster::discover(&args.seed).await?;
    let actions = fix::diagnose(&cluster).await?;
    if args.moves.json {
        if !args.dry_run && !actions.is_empty() {
            let progress = MoveProgress::new();
            let result = fix::repair(&cluster, &actions, &args.moves.options(), &progress).await;
            progress.finish();
            result?;
        }
        println!("{}", fix_json(&actions, args.dry_run)?);
        return Ok(());
    }
    if actions.is_empty() {
        println!("nothing to fix: no open or uncovered slots");
        return Ok(());
    }
    for a in &actions {
        println!("{a}");
    }
    if args.dry_run {
        println!("dry run: {} repairs listed, nothing changed", actions.len());
        return Ok(());
    }
    let progress = MoveProgress::new();
    fix::repair(&cluster, &actions, &args.moves.options(), &progress).await?;
    println!("{} repairs done; cluster verified", actions.len());
    Ok(())
}
