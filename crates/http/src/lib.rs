//! Cairn's HTTP server: the Redash-compatible REST API.
//!
//! Handlers are thin: they authenticate the caller ([`auth::Caller`]), check input, call the
//! metadata store or enqueue a job, and shape the answer as Redash does ([`serialize`]). No SQL
//! of users runs in a request: runs are jobs, and results are streamed from the store
//! ([`download`]), so a request never holds a whole result in memory.
//!
//! # Layout
//! - [`routes`]: the route table and one module per resource.
//! - [`auth`]: API keys (user, query, shared dashboard) and what each may do.
//! - [`session`]: browser login with a signed session cookie and CSRF protection.
//! - [`limiter`]: attempt limits (logins, public runs), in memory or shared by every server.
//! - [`password`]: password hashes (argon2id; Redash's sha512-crypt verifies).
//! - [`error`]: one error type answered as `{"message": ...}` with the right status.
//! - [`serialize`]: Redash's JSON shapes.
//! - [`download`]: results streamed as JSON, CSV, TSV or XLSX, with download controls.
//! - [`throttle`]: the per-download byte-rate limit.
//! - [`metrics`]: Prometheus metrics and `GET /metrics`.
//! - [`server`]: the accept loop and graceful shutdown.
//! - [`state`]: what handlers share.

pub mod auth;
pub mod download;
pub mod error;
pub mod limiter;
pub mod metrics;
pub mod password;
pub mod routes;
pub mod serialize;
pub mod server;
pub mod session;
pub mod state;
pub mod throttle;

pub use server::{App, serve_app};
pub use state::{AppState, ServerSettings};

use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

/// The whole application, ready to serve (or, through [`App::router`], to call with `oneshot`
/// in tests).
pub fn app(state: AppState) -> App {
    app_with(state, Router::new())
}

/// The API with `extra` routes merged in (the web UI), ready to serve.
pub fn app_with(state: AppState, extra: Router<AppState>) -> App {
    build(routes::router().merge(extra), state)
}

/// Only `/ping`, `/ready` and `/metrics`, for the processes that serve no API (workers,
/// schedulers). `/ready` fails once `draining` is cancelled, which the caller does when its
/// own shutdown begins, as [`serve_app`] does when the listener's does.
pub fn health_app(mut state: AppState, draining: CancellationToken) -> App {
    state.draining = draining;
    build(routes::health_router(), state)
}

/// `routes` with the metrics and tracing layers, over `state`.
fn build(routes: Router<AppState>, state: AppState) -> App {
    let draining = state.draining.clone();
    let grace = state.settings.shutdown_grace;
    let router = routes
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    App::new(router, draining, grace)
}

/// Serves `state` on `listener` until `shutdown` resolves, then shuts down gracefully (see
/// [`serve_app`]).
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, app(state), shutdown).await
}
