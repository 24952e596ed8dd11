//! `cairn slots ...`: the Redis Cluster slot balancer's commands.
//!
//! Each subcommand has its own module with its clap arguments and its output; the work itself
//! happens in `cairn-slots` (cluster I/O) and `cairn-slots-planner` (pure planning).
//!
//! # Layout
//! - [`status`]: `cairn slots status`.
//! - [`bench`]: `cairn slots bench`.
//! - [`fmt`]: number formatting shared by the human outputs.

mod bench;
mod fmt;
mod status;

use clap::Subcommand;

/// The `cairn slots` subcommands.
#[derive(Debug, Subcommand)]
pub enum SlotsCommand {
    /// Show the cluster's nodes, slot ranges, keys, memory, ops/s, CPU and hottest slots.
    Status(status::StatusArgs),
    /// Load keys and run a Zipf-skewed read/write load that follows MOVED and ASK.
    Bench(bench::BenchArgs),
}

/// Runs one `cairn slots` subcommand.
pub async fn run(cmd: SlotsCommand) -> anyhow::Result<()> {
    match cmd {
        SlotsCommand::Status(args) => status::run(args).await,
        SlotsCommand::Bench(args) => bench::run(args).await,
    }
}
