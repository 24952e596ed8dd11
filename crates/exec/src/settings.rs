//! The limits and intervals workers and the scheduler run with.

use cairn_results::ResultLimits;
use std::time::Duration;

/// How queries run: time limits and result limits.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// The longest an ad-hoc query may run (`REDASH_ADHOC_QUERY_TIME_LIMIT`); `None`: no limit.
    pub adhoc_time_limit: Option<Duration>,
    /// The longest a scheduled query may run (`REDASH_SCHEDULED_QUERY_TIME_LIMIT`).
    pub scheduled_time_limit: Option<Duration>,
    /// Row and byte limits of one result; a larger result fails its job with a clear message.
    pub result_limits: ResultLimits,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            adhoc_time_limit: None,
            scheduled_time_limit: None,
            result_limits: ResultLimits {
                max_rows: Some(10_000_000),
                max_bytes: Some(2 << 30),
            },
        }
    }
}

/// What the scheduler does and how often.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// How often due scheduled queries are looked for (Redash: 30 s).
    pub refresh_interval: Duration,
    /// How often schedules past their `until` day are cleared (Redash: 60 min).
    pub expire_interval: Duration,
    /// How often every data source's schema is refreshed (`REDASH_SCHEMAS_REFRESH_SCHEDULE`,
    /// Redash: 30 min).
    pub schema_interval: Duration,
    /// Result cleanup: `None` when disabled (`REDASH_QUERY_RESULTS_CLEANUP_ENABLED=false`).
    pub cleanup: Option<CleanupSettings>,
    /// How often the metadata database is maintained (`VACUUM (ANALYZE)` / `PRAGMA optimize`,
    /// see `Store::maintain`); `None` disables it. The first run is one interval after start.
    pub maintenance_interval: Option<Duration>,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            refresh_interval: Duration::from_secs(30),
            expire_interval: Duration::from_secs(3600),
            schema_interval: Duration::from_secs(1800),
            cleanup: Some(CleanupSettings::default()),
            maintenance_interval: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// Deleting results no query references any more.
#[derive(Debug, Clone)]
pub struct CleanupSettings {
    /// How often cleanup runs (Redash: 5 min).
    pub interval: Duration,
    /// At most this many results per run (`REDASH_QUERY_RESULTS_CLEANUP_COUNT`, 100).
    pub count: u32,
    /// Only results older than this (`REDASH_QUERY_RESULTS_CLEANUP_MAX_AGE`, 7 days).
    pub max_age: Duration,
}

impl Default for CleanupSettings {
    fn default() -> Self {
        CleanupSettings {
            interval: Duration::from_secs(300),
            count: 100,
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}
