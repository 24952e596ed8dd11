//! What every handler shares: the metadata store, the job queue, the server's settings and the
//! process-wide parts of serving (download slots, rate limiters, the draining flag).

use crate::limiter::{AttemptLimiter, MemoryLimiter};
use cairn_exec::queue::Queue;
use cairn_store::Store;
use chrono::{DateTime, Utc};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The window of [`ServerSettings::login_attempts_per_hour`].
pub const LOGIN_WINDOW: Duration = Duration::from_secs(3600);
/// The window of [`ServerSettings::public_runs_per_minute`].
pub const PUBLIC_RUN_WINDOW: Duration = Duration::from_secs(60);

/// Limits and switches of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How long `POST /api/data_sources/<id>/test` waits for its job before answering with the
    /// job to poll instead (the wait is asynchronous: no thread is held).
    pub test_connection_wait: Duration,
    /// The public base URL used in share links (`public_url`), without a trailing slash.
    pub base_url: String,
    /// Age in seconds past which an unreferenced result counts as unused in `/status.json`.
    pub unused_result_age_secs: i64,
    /// HMAC key of browser session cookies ([`crate::session`]); random by default, so
    /// sessions then end when the server restarts.
    pub cookie_secret: Vec<u8>,
    /// Login attempts allowed per client IP and per email in an hour (Redash: 50).
    pub login_attempts_per_hour: usize,
    /// Header holding the client's address when the server is behind a balancer or proxy
    /// (`X-Forwarded-For`: its last entry, the one the balancer appended, is used). `None`
    /// (the default) uses the connection's address, which behind a balancer is the balancer's,
    /// so every client would share one login budget per IP.
    pub client_ip_header: Option<String>,
    /// Query runs (not cache hits) a key may start in a minute: a shared dashboard's token or
    /// a query's API key, both public once shared. One more is refused with 429 and
    /// `Retry-After`; cached results are still served. `None` means no limit. Default 60.
    pub public_runs_per_minute: Option<usize>,
    /// Bytes of each result download sent at full speed before `download_rate_limit` applies
    /// (nginx `limit_rate_after`). Default 10 MiB: what a dashboard or a typical export needs
    /// is never slowed.
    pub download_rate_after: u64,
    /// Bytes per second each download may send once past `download_rate_after` (nginx
    /// `limit_rate`); `None` (the default) sends at full speed. A limit is per download, not
    /// per client: it keeps a few huge exports from filling the server's uplink.
    pub download_rate_limit: Option<NonZeroU64>,
    /// Result bodies (downloads and JSON result reads) streamed at once by this process; one
    /// more is refused with 429 and `Retry-After`. `None` means no cap. Default 64: each
    /// download formats rows on a thread of its own.
    pub max_concurrent_downloads: Option<usize>,
    /// Largest result that may be streamed, compared with the result's stored (compressed)
    /// size before anything is sent; a larger one is refused with 413. `None` (the default)
    /// leaves the limit to the size cap applied when results are stored.
    pub max_download_bytes: Option<u64>,
    /// Bearer token that `GET /metrics` requires (`Authorization: Bearer <token>`); `None`
    /// (the default) leaves it open, as most Prometheus exporters are.
    pub metrics_token: Option<String>,
    /// How long requests in flight may run once shutdown begins before their connections are
    /// closed. Default 25 s, under Kubernetes' default 30 s `terminationGracePeriodSeconds`.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            test_connection_wait: Duration::from_secs(30),
            base_url: "http://127.0.0.1:5000".to_string(),
            unused_result_age_secs: 7 * 24 * 3600,
            cookie_secret: rand::random::<[u8; 32]>().to_vec(),
            login_attempts_per_hour: 50,
            public_runs_per_minute: Some(60),
            client_ip_header: None,
            download_rate_after: 10 * 1024 * 1024,
            download_rate_limit: None,
            max_concurrent_downloads: Some(64),
            max_download_bytes: None,
            metrics_token: None,
            shutdown_grace: Duration::from_secs(25),
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
    /// Login attempts of the last hour, per client IP and email
    /// ([`ServerSettings::login_attempts_per_hour`]); in this process's memory unless replaced
    /// by a shared limiter ([`crate::limiter`]).
    pub login_limiter: Arc<dyn AttemptLimiter>,
    /// Runs started by keys in the last minute, per key
    /// ([`ServerSettings::public_runs_per_minute`]; `None`: no limit); in memory unless
    /// replaced like `login_limiter`.
    pub public_run_limiter: Option<Arc<dyn AttemptLimiter>>,
    /// Slots for result bodies streamed at once ([`ServerSettings::max_concurrent_downloads`]).
    pub downloads: crate::download::DownloadSlots,
    /// Cancelled when shutdown begins: `/ready` then answers 503 so balancers stop sending.
    pub draining: CancellationToken,
}

impl AppState {
    /// State over a store and a queue. Also installs the process's metrics recorder
    /// ([`crate::metrics`]) if no state did before.
    pub fn new(store: Store, queue: Arc<dyn Queue>, settings: ServerSettings) -> AppState {
        crate::metrics::install();
        let login_limiter = Arc::new(MemoryLimiter::new(
            settings.login_attempts_per_hour,
            LOGIN_WINDOW,
        ));
        let public_run_limiter = settings.public_runs_per_minute.map(|max| {
            Arc::new(MemoryLimiter::new(max, PUBLIC_RUN_WINDOW)) as Arc<dyn AttemptLimiter>
        });
        AppState {
            store,
            queue,
            downloads: crate::download::DownloadSlots::new(settings.max_concurrent_downloads),
            settings: Arc::new(settings),
            started_at: Utc::now(),
            login_limiter,
            public_run_limiter,
            draining: CancellationToken::new(),
        }
    }

    /// The key that signs and verifies session cookies.
    pub fn session_key(&self) -> crate::session::SessionKey {
        crate::session::SessionKey::new(&self.settings.cookie_secret)
    }
}
