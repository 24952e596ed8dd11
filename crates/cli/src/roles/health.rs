//! `/ping`, `/ready` and `/metrics` for the roles that serve no API (workers, schedulers), on
//! their own address (`--metrics-bind`), with the same checks as the server's.

use anyhow::Context;
use cairn_exec::queue::Queue;
use cairn_http::{AppState, ServerSettings};
use cairn_store::Store;
use clap::Args;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where a worker or scheduler answers `/ping`, `/ready` and `/metrics`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Address of `/ping`, `/ready` and `/metrics`.
    #[arg(long, env = "CAIRN_METRICS_BIND", default_value = "0.0.0.0:9100")]
    pub metrics_bind: String,
}

/// A bound health address, bound before anything else so a taken port fails the start at once.
pub struct HealthListener {
    listener: TcpListener,
}

impl HealthListener {
    /// Binds `--metrics-bind`.
    ///
    /// # Errors
    /// When the address is taken or invalid.
    pub async fn bind(args: &HealthArgs) -> anyhow::Result<HealthListener> {
        let addr = &args.metrics_bind;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (use --metrics-bind)"))?;
        Ok(HealthListener { listener })
    }

    /// Serves the health routes over `store` and `queue` until `stop` is cancelled. Readiness
    /// turns false as soon as `draining` is cancelled, so the process leaves its Service first.
    pub fn spawn(
        self,
        store: Store,
        queue: Arc<dyn Queue>,
        draining: CancellationToken,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let state = AppState::new(store, queue, ServerSettings::default());
        let app = cairn_http::health_app(state, draining);
        tokio::spawn(async move {
            if let Err(e) =
                cairn_http::serve_app(self.listener, app, async move { stop.cancelled().await })
                    .await
            {
                tracing::error!(error = %e, "the health listener failed");
            }
        })
    }
}
