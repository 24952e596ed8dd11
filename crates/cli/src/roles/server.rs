//! `cairn server`: the HTTP API and web UI, stateless, any number of replicas.

use crate::config::{RedisArgs, StoreArgs};
use anyhow::Context;
use cairn_http::limiter::{
    Attempt, AttemptFuture, AttemptLimiter, FallbackLimiter, LimiterError, SHARED_WAIT,
};
use cairn_http::state::{LOGIN_WINDOW, PUBLIC_RUN_WINDOW};
use cairn_http::{AppState, ServerSettings};
use cairn_queue_redis::RedisLimiter;
use cairn_queue_redis::limiter::Verdict;
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `cairn server`.
#[derive(Debug, Args)]
pub struct ServerRoleArgs {
    /// Address to listen on.
    #[arg(long, env = "CAIRN_BIND", default_value = "0.0.0.0:5000")]
    pub bind: String,
    /// Public URL of the service, used in share links (e.g. `https://cairn.example.com`).
    #[arg(long, env = "CAIRN_BASE_URL")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub http: crate::server_args::ServerArgs,
}

/// Serves until SIGTERM, then drains (readiness fails at once, requests in flight finish).
///
/// # Errors
/// When the database or Redis cannot be reached, the schema is not this binary's, or the
/// address cannot be bound.
pub async fn run(args: ServerRoleArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {} (use --bind)", args.bind))?;
    let addr = listener.local_addr()?;
    let store = args.store.connect(true).await?;
    let backend = args.redis.connect().await?;
    let mut settings = ServerSettings {
        base_url: args.base_url.unwrap_or_else(|| format!("http://{addr}")),
        cookie_secret: args.store.cookie_secret()?,
        ..ServerSettings::default()
    };
    args.http.apply(&mut settings);
    let mut state = AppState::new(store.clone(), backend.queue(), settings);
    share_limits(&mut state, &backend);
    tracing::info!(%addr, "listening");
    let app = cairn_http::app_with(state, cairn_web::router());
    cairn_http::serve_app(listener, app, crate::signals::terminated())
        .await
        .context("the HTTP server failed")?;
    store.close().await;
    Ok(())
}

/// Replaces the state's per-process login and public-run limits with ones shared by every
/// replica through Redis, each falling back to a per-process limit while Redis does not answer
/// ([`FallbackLimiter`]: logging in stays possible, and limited, during a Redis outage).
fn share_limits(state: &mut AppState, backend: &cairn_queue_redis::Backend) {
    let shared = |name: &str, max: usize, window: Duration| -> Arc<dyn AttemptLimiter> {
        let redis = Arc::new(Shared(backend.limiter(name, max, window)));
        Arc::new(FallbackLimiter::new(redis, max, window, SHARED_WAIT))
    };
    let logins = state.settings.login_attempts_per_hour;
    state.login_limiter = shared("login", logins, LOGIN_WINDOW);
    if let Some(runs) = state.settings.public_runs_per_minute {
        state.public_run_limiter = Some(shared("public-runs", runs, PUBLIC_RUN_WINDOW));
    }
}

/// A [`RedisLimiter`] as the HTTP crate's [`AttemptLimiter`].
#[derive(Debug)]
struct Shared(RedisLimiter);

impl AttemptLimiter for Shared {
    fn try_attempt<'a>(&'a self, keys: &'a [String]) -> AttemptFuture<'a> {
        Box::pin(async move {
            match self.0.try_attempt(keys).await {
                Ok(Verdict::Allowed) => Ok(Attempt::Allowed),
                Ok(Verdict::Refused { retry_after }) => Ok(Attempt::Refused { retry_after }),
                Err(e) => Err(LimiterError(e.to_string())),
            }
        })
    }
}
