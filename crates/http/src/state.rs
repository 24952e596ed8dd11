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
    /// HMAC key of browser session cookies ([`crate::session`]); random by default, so
    /// sessions then end when the server restarts.
    pub cookie_secret: Vec<u8>,
    /// Login attempts allowed per client IP and per email in an hour (Redash: 50).
    pub login_attempts_per_hour: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            test_connection_wait: std::time::Duration::from_secs(30),
            base_url: "http://127.0.0.1:5000".to_string(),
            unused_result_age_secs: 7 * 24 * 3600,
            cookie_secret: rand::random::<[u8; 32]>().to_vec(),
            login_attempts_per_hour: 50,
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
    /// Login attempts of the last hour, per client IP and email (this process only).
    pub login_limiter: Arc<crate::session::LoginLimiter>,
}

impl AppState {
    /// State over a store and a queue.
    pub fn new(store: Store, queue: Arc<dyn Queue>, settings: ServerSettings) -> AppState {
        let login_limiter = Arc::new(crate::session::LoginLimiter::new(
            settings.login_attempts_per_hour,
            std::time::Duration::from_secs(3600),
        ));
        AppState {
            store,
            queue,
            settings: Arc::new(settings),
            started_at: Utc::now(),
            login_limiter,
        }
    }

    /// The key that signs and verifies session cookies.
    pub fn session_key(&self) -> crate::session::SessionKey {
        crate::session::SessionKey::new(&self.settings.cookie_secret)
    }
}
