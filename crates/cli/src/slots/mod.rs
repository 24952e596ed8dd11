//! `cairn slots ...`: the Redis Cluster slot balancer's commands.
//!
//! Each subcommand has its own module with its clap arguments and its output; the work itself
//! happens in `cairn-slots` (cluster I/O) and `cairn-slots-planner` (pure planning).
//!
//! # Layout
//! - [`status`]: `cairn slots status`.
//! - [`bench`]: `cairn slots bench`.
//! - [`measure`]: `cairn slots measure`.
//! - [`plan`]: `cairn slots plan`.
//! - [`apply`]: `cairn slots apply`, `resume` and `fix`.
//! - [`progress`]: migration progress bars and lines.
//! - [`watch`]: `cairn slots watch`.
//! - [`fmt`]: number formatting shared by the human outputs.

mod apply;
mod bench;
mod fmt;
mod measure;
mod plan;
mod progress;
mod status;
mod watch;

use clap::Subcommand;

/// The `cairn slots` subcommands.
#[derive(Debug, Subcommand)]
pub enum SlotsCommand {
    /// Show the cluster's nodes, slot ranges, keys, memory, ops/s, CPU and hottest slots.
    Status(status::StatusArgs),
    /// Load keys and run a Zipf-skewed read/write load that follows MOVED and ASK.
    Bench(bench::BenchArgs),
    /// Measure topology, capacity and per-slot load into a snapshot file.
    Measure(measure::MeasureArgs),
    /// Plan slot moves from a snapshot and print the predicted effect.
    Plan(plan::PlanArgs),
    /// Apply a plan: refuses if the cluster changed since the snapshot; journaled.
    Apply(apply::ApplyArgs),
    /// Finish an interrupted apply from its journal.
    Resume(apply::ResumeArgs),
    /// Repair open (half-migrated) and uncovered slots.
    Fix(apply::FixArgs),
    /// Measure every interval and rebalance when load stays unbalanced (one acting replica).
    Watch(watch::WatchArgs),
}

/// Runs one `cairn slots` subcommand.
pub async fn run(cmd: SlotsCommand) -> anyhow::Result<()> {
    match cmd {
        SlotsCommand::Status(args) => status::run(args).await,
        SlotsCommand::Bench(args) => bench::run(args).await,
        SlotsCommand::Measure(args) => measure::run(args).await,
        SlotsCommand::Plan(args) => plan::run(args).await,
        SlotsCommand::Apply(args) => apply::apply(args).await,
        SlotsCommand::Resume(args) => apply::resume(args).await,
        SlotsCommand::Fix(args) => apply::fix(args).await,
        SlotsCommand::Watch(args) => watch::run(args).await,
    }
}
