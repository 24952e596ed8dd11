//! `cairn migrate`: brings the metadata schema to this binary's version, then exits.
//!
//! Run it once before a rollout (the Kubernetes migration Job); servers, workers and schedulers
//! refuse to start until it has run. Running it again, or from several places at once, is safe.

use crate::config::StoreArgs;
use clap::Args;

/// Flags of `cairn migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only report whether migrations are pending (exit status 1 when they are).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Applies pending migrations (or, with `--check`, reports them).
///
/// # Errors
/// When the database cannot be reached, is newer than this binary, or a migration fails.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let store = args.store.connect(false).await?;
    let before = store.schema_status().await?;
    if args.check {
        println!("{before}");
        store.close().await;
        anyhow::ensure!(before.is_current(), "{before}");
        return Ok(());
    }
    store.migrate().await?;
    let after = store.schema_status().await?;
    println!("metadata schema: {after}");
    store.close().await;
    anyhow::ensure!(after.is_current(), "{after}");
    Ok(())
}
