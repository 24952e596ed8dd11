//! `cairn up`: the API server, a worker and the scheduler in one process, on an embedded SQLite
//! store and the in-process queue, so a newcomer runs everything with one command.

use crate::config::{ExecArgs, SchedulerArgs, StoreArgs};
use anyhow::Context;
use cairn_exec::job::QueueName;
use cairn_exec::queue::{MemoryQueue, Queue};
use cairn_exec::scheduler::Scheduler;
use cairn_exec::worker::Worker;
use cairn_http::{AppState, ServerSettings};
use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Flags of `cairn up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on.
    #[arg(long, env = "CAIRN_BIND", default_value = "127.0.0.1:5000")]
    pub bind: String,
    /// Do not create the demo data source, query and dashboard on first start.
    #[arg(long)]
    pub no_demo: bool,
    /// Email of the admin created on first start.
    #[arg(long, env = "CAIRN_ADMIN_EMAIL", default_value = "admin@example.com")]
    pub admin_email: String,
    /// Jobs the in-process worker runs at once.
    #[arg(long, env = "CAIRN_WORKER_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Public URL of this server, used in share links (default: from --bind).
    #[arg(long, env = "CAIRN_BASE_URL")]
    pub base_url: Option<String>,
    /// Seconds a finished job's state stays readable.
    #[arg(long, env = "REDASH_JOB_EXPIRY_TIME", default_value_t = 43_200)]
    pub job_expiry_time: u64,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    #[command(flatten)]
    pub http: crate::server_args::ServerArgs,
}

/// Runs every role until SIGINT or SIGTERM, then drains: the server stops accepting and
/// finishes its requests, the worker finishes its jobs.
///
/// # Errors
/// When the store cannot be opened or the address cannot be bound.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server running there? use --bind)",
                args.bind
            )
        })?;
    let addr = listener.local_addr()?;
    let store = args.store.open().await?;
    crate::first_start::bootstrap(
        &store,
        &args.store.data_dir,
        &args.admin_email,
        !args.no_demo,
    )
    .await?;

    let queue: Arc<dyn Queue> =
        Arc::new(MemoryQueue::new(Duration::from_secs(args.job_expiry_time)));
    let shutdown = CancellationToken::new();
    let worker = Worker::new(store.clone(), queue.clone(), args.exec.settings());
    let worker_task =
        tokio::spawn(worker.run(QueueName::ALL.to_vec(), args.concurrency, shutdown.clone()));
    let scheduler = Scheduler::new(store.clone(), queue.clone(), args.scheduler.settings());
    let scheduler_task = tokio::spawn(scheduler.run(shutdown.clone()));

    let mut settings = ServerSettings {
        base_url: args.base_url.unwrap_or_else(|| format!("http://{addr}")),
        cookie_secret: args.store.cookie_secret()?,
        ..ServerSettings::default()
    };
    args.http.apply(&mut settings);
    let state = AppState::new(store.clone(), queue, settings);
    println!("Cairn is running on http://{addr} (Ctrl+C stops it)");
    tracing::info!(%addr, "listening");
    let stop = shutdown.clone();
    let app = cairn_http::app_with(state, cairn_web::router());
    cairn_http::serve_app(listener, app, async move {
        crate::signals::terminated().await;
        stop.cancel();
    })
    .await
    .context("the HTTP server failed")?;
    shutdown.cancel();
    let _ = worker_task.await;
    let _ = scheduler_task.await;
    store.close().await;
    Ok(())
}
