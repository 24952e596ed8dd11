//! What every handler shares: the metadata store, the job queue and the server's settings.

use cairn_exec::queue::Queue;
use cairn_store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Limits and switches of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How long `POST /api/data_sources/<id>/test` waits for its job before answering with the
    /// job to poll instead (the wait is asynchronous: no thread is held).
    pub test_connection_wait: std::time::Duration,
    /// The public base URL used in share links (`public_url`), without a trailing slash.
    pub base_url: String,
    /// Age in seconds past which an unreferenced result counts as unused in `/status.json`.
    pub unused_result_age_secs: i64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            test_connection_wait: std::time::Duration::from_secs(30),
            base_url: "http://127.0.0.1:5000".to_string(),
            unused_result_age_secs: 7 * 24 * 3600,
        }
    }
}

/// Shared state of all handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The metadata store.
    pub store: Store,
    /// The job queue.
    pub queue: Arc<dyn Queue>,
    /// Limits and switches.
    pub settings: Arc<ServerSettings>,
    /// When this server started, for `/status.json`.
    pub started_at: DateTime<Utc>,
}

impl AppState {
    /// State over a store and a queue.
    pub fn new(store: Store, queue: Arc<dyn Queue>, settings: ServerSettings) -> AppState {
        AppState { store, queue, settings: Arc::new(settings), started_at: Utc::now() }
    }
}
