//! `cairn worker`: runs jobs from some queues, as many processes as the load needs.

use crate::config::{ExecArgs, RedisArgs, StoreArgs};
use crate::roles::health::{HealthArgs, HealthListener};
use cairn_exec::job::QueueName;
use cairn_exec::worker::Worker;
use clap::Args;
use tokio_util::sync::CancellationToken;

/// Flags of `cairn worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The queues to take jobs from, in priority order.
    #[arg(
        long,
        env = "CAIRN_WORKER_QUEUES",
        value_delimiter = ',',
        value_parser = QueueName::parse,
        default_value = "adhoc,scheduled,schemas,default"
    )]
    pub queues: Vec<QueueName>,
    /// Jobs this process runs at once.
    #[arg(long, env = "CAIRN_WORKER_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    #[command(flatten)]
    pub health: HealthArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Runs jobs until SIGTERM, then stops taking jobs and finishes the ones it runs.
///
/// # Errors
/// When the database, Redis or the health address cannot be reached or bound.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let health = HealthListener::bind(&args.health).await?;
    let store = args.store.connect(true).await?;
    let backend = args.redis.connect().await?;
    let (draining, stop_health) = (CancellationToken::new(), CancellationToken::new());
    let health_task = health.spawn(
        store.clone(),
        backend.queue(),
        draining.clone(),
        stop_health.clone(),
    );

    let worker = Worker::new(store.clone(), backend.queue(), args.exec.settings());
    let work = tokio::spawn(worker.run(args.queues.clone(), args.concurrency, draining.clone()));
    crate::signals::terminated().await;
    draining.cancel();
    let _ = work.await;
    stop_health.cancel();
    let _ = health_task.await;
    store.close().await;
    Ok(())
}
