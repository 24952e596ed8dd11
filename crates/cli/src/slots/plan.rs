//! `cairn slots plan snapshot.json -o plan.json [--mode count|origin|load] [--max-moves N]`.

use anyhow::Context;
use cairn_slots_planner::{Mode, Policy, Snapshot, plan};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `cairn slots plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A snapshot written by `cairn slots measure`.
    pub snapshot: PathBuf,
    /// Where to write the plan (default: only print the summary).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Planner: count (what redis-cli rebalance does), origin, or load (default).
    #[arg(long, default_value = "load")]
    pub mode: Mode,
    /// At most this many slot moves.
    #[arg(long)]
    pub max_moves: Option<usize>,
    /// Do nothing unless the imbalance exceeds this fraction (0.02 = 2%).
    #[arg(long, default_value_t = 0.02)]
    pub threshold: f64,
    /// Share of CPU in the origin weight formula.
    #[arg(long, default_value_t = 0.6)]
    pub alpha: f64,
    /// Fraction of maxmemory to keep free on every node.
    #[arg(long, default_value_t = 0.1)]
    pub memory_headroom: f64,
    /// Do not give slots to masters that own none.
    #[arg(long)]
    pub no_empty_masters: bool,
}

pub fn read_snapshot(path: &PathBuf) -> anyhow::Result<Snapshot> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read snapshot {}", path.display()))?;
    Snapshot::from_json(&text).with_context(|| {
        format!(
            "{} is not a usable snapshot; re-create it with `cairn slots measure`",
            path.display()
        )
    })
}

pub async fn run(args: PlanArgs) -> anyhow::Result<()> {
    let snapshot = read_snapshot(&args.snapshot)?;
    let policy = Policy {
        mode: args.mode,
        max_moves: args.max_moves,
        threshold: args.threshold,
        alpha: args.alpha,
        memory_headroom: args.memory_headroom,
        use_empty_masters: !args.no_empty_masters,
    };
    let made = plan(&snapshot, &policy).context("cannot plan")?;
    print!("{}", made.summary());
    if let Some(path) = &args.output {
        std::fs::write(path, made.to_json() + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "plan with {} moves written to {}",
            made.moves.len(),
            path.display()
        );
    }
    Ok(())
}
