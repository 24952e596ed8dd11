//! The `cairn` binary: parses the command line and wires the crates together.
//!
//! # Layout
//! - [`up`]: `cairn up`, every role of the query server in one process.
//! - [`roles`]: `cairn migrate|server|worker|scheduler`, the roles of a highly available
//!   deployment, each its own process.
//! - [`users`]: `cairn users ...`, user administration.
//! - [`config`]: the query server's flags and environment variables.
//! - [`server_args`]: the HTTP server's download, metrics and shutdown flags.
//! - [`first_start`]: the admin user and demo content created on first start.
//! - [`signals`]: SIGINT / SIGTERM.
//! - [`slots`]: `cairn slots ...`, the Redis Cluster slot balancer.

mod config;
mod first_start;
mod roles;
mod server_args;
mod signals;
mod slots;
mod up;
mod users;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Cairn: a Redash-compatible query server and a load-aware Redis Cluster slot balancer.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server, a worker and the scheduler in one process (SQLite, in-process queue).
    Up(Box<up::UpArgs>),
    /// Apply the metadata database's schema migrations, then exit (run once before a rollout).
    Migrate(Box<roles::migrate::MigrateArgs>),
    /// Serve the API and web UI (stateless; run any number of replicas).
    Server(Box<roles::server::ServerRoleArgs>),
    /// Run jobs from some queues.
    Worker(Box<roles::worker::WorkerArgs>),
    /// Enqueue scheduled queries and housekeeping (run several replicas; one leads).
    Scheduler(Box<roles::scheduler::SchedulerRoleArgs>),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Measure, plan and migrate a Redis Cluster's slot layout.
    #[command(subcommand)]
    Slots(slots::SlotsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::run(*args).await,
            Command::Migrate(args) => roles::migrate::run(*args).await,
            Command::Server(args) => roles::server::run(*args).await,
            Command::Worker(args) => roles::worker::run(*args).await,
            Command::Scheduler(args) => roles::scheduler::run(*args).await,
            Command::Users(cmd) => users::run(cmd).await,
            Command::Slots(cmd) => slots::run(cmd).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Structured logs on stderr; `RUST_LOG` filters, `CAIRN_LOG_FORMAT=json` switches to JSON lines.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("CAIRN_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
