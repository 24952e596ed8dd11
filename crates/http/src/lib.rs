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
//! - [`password`]: password hashes (argon2id; Redash's sha512-crypt verifies).
//! - [`error`]: one error type answered as `{"message": ...}` with the right status.
//! - [`serialize`]: Redash's JSON shapes.
//! - [`download`]: results streamed as JSON, CSV, TSV or XLSX.
//! - [`state`]: what handlers share.

pub mod auth;
pub mod download;
pub mod error;
pub mod password;
pub mod routes;
pub mod serialize;
pub mod session;
pub mod state;

pub use state::{AppState, ServerSettings};

use axum::Router;
use axum::serve::ListenerExt;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// The whole application, ready to serve or to call with `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    routes::router()
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting and lets
/// requests in flight finish.
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

/// The API with `extra` routes merged in (the web UI), ready to serve.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    routes::router()
        .merge(extra)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves a built application (see [`app`], [`app_with`]) like [`serve`]; handlers see the
/// peer address (`ConnectInfo`), which the login rate limit keys on.
///
/// # Errors
/// When the listener fails.
pub async fn serve_app(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Responses are written as headers, then body blocks: without TCP_NODELAY, Nagle's
    // algorithm holds the second write until the client's delayed ACK (about 40 ms).
    let listener = listener.tap_io(|socket| {
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
