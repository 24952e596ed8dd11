//! `cairn slots ...`: the Redis Cluster slot balancer's commands.

use clap::Subcommand;

/// The `cairn slots` subcommands.
#[derive(Debug, Subcommand)]
pub enum SlotsCommand {
    /// Show the cluster's nodes, slot ranges and load.
    Status {
        /// Any node of the cluster, as host:port.
        seed: String,
    },
}

/// Runs one `cairn slots` subcommand.
pub async fn run(cmd: SlotsCommand) -> anyhow::Result<()> {
    match cmd {
        SlotsCommand::Status { seed } => anyhow::bail!("cairn slots status {seed}: not built yet"),
    }
}
