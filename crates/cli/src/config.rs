//! The query server's configuration: flags, each with its environment variable (Redash's name
//! where Redash has one), checked and turned into the settings of each crate.

use anyhow::{Context, bail};
use cairn_exec::settings::{CleanupSettings, ExecSettings, SchedulerSettings};
use cairn_results::ResultLimits;
use cairn_store::Store;
use clap::Args;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the metadata lives and how it is encrypted.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the SQLite metadata database, the generated secret key and the demo data.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    pub data_dir: PathBuf,
    /// Metadata database: `sqlite://PATH` or `postgres://...` (default: SQLite in the data dir).
    #[arg(long, env = "REDASH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Optional PostgreSQL read replica for read-only metadata traffic (query and dashboard
    /// lists); used by `server`, `worker` and `scheduler`.
    #[arg(long, env = "REDASH_DATABASE_REPLICA_URL")]
    pub database_replica_url: Option<String>,
    /// Secret for encrypting data source options at rest (default: a key generated into
    /// `<data-dir>/secret.key` on first start).
    #[arg(long, env = "REDASH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

impl StoreArgs {
    /// Creates the data directory, derives the key and opens (and migrates) the store.
    ///
    /// # Errors
    /// A message naming what failed: the directory, the key file or the database.
    pub async fn open(&self) -> anyhow::Result<Store> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                self.data_dir.display()
            )
        })?;
        let key = match &self.secret_key {
            Some(secret) if !secret.is_empty() => Sha256::digest(secret.as_bytes()).into(),
            _ => key_file(&self.data_dir.join("secret.key"))?,
        };
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("cairn.db").display()
            )
        });
        Store::open(&url, key)
            .await
            .context("cannot open the metadata database (--database-url / REDASH_DATABASE_URL)")
    }
}

impl StoreArgs {
    /// The session cookie key: from `REDASH_COOKIE_SECRET`, else derived from the store's
    /// secret (`REDASH_SECRET_KEY` or the generated key file), so sessions survive restarts.
    ///
    /// # Errors
    /// When neither is set and the key file cannot be read.
    pub fn cookie_secret(&self) -> anyhow::Result<Vec<u8>> {
        let material = match std::env::var("REDASH_COOKIE_SECRET") {
            Ok(s) if !s.is_empty() => s.into_bytes(),
            _ => match &self.secret_key {
                Some(s) if !s.is_empty() => s.clone().into_bytes(),
                _ => std::fs::read(self.data_dir.join("secret.key"))
                    .context("cannot read the secret key file")?,
            },
        };
        Ok(cairn_http::session::derive_cookie_secret(&material))
    }

    /// Connects for one role of a deployment: without migrating, with the secret key given
    /// explicitly (replicas must share it; none may generate its own), and, when
    /// `require_current`, only if the schema is exactly the one this binary knows.
    ///
    /// # Errors
    /// A missing key, an unreachable database, or a schema that needs `cairn migrate` or a newer
    /// binary.
    pub async fn connect(&self, require_current: bool) -> anyhow::Result<Store> {
        let Some(secret) = self.secret_key.as_deref().filter(|s| !s.is_empty()) else {
            bail!(
                "set REDASH_SECRET_KEY (or --secret-key): every replica must share the key that \
                 encrypts data source options"
            );
        };
        let Some(url) = self.database_url.as_deref() else {
            bail!("set REDASH_DATABASE_URL (or --database-url) to the shared metadata database");
        };
        let key = Sha256::digest(secret.as_bytes()).into();
        let store = match self.database_replica_url.as_deref().filter(|u| !u.is_empty()) {
            Some(replica) => Store::connect_with_replica(url, replica, key)
                .await
                .context("cannot connect to the metadata database or its read replica (REDASH_DATABASE_URL, REDASH_DATABASE_REPLICA_URL)")?,
            None => Store::connect(url, key)
                .await
                .context("cannot connect to the metadata database (REDASH_DATABASE_URL)")?,
        };
        if require_current {
            let status = store.schema_status().await?;
            if !status.is_current() {
                store.close().await;
                bail!("{status}");
            }
        }
        Ok(store)
    }
}

/// The shared Redis: job queue, job states, worker heartbeats and the scheduler lease.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// `redis://[:password@]host:port[/db]` of a standalone Redis, or any node of a Redis Cluster.
    #[arg(long, env = "REDASH_REDIS_URL")]
    pub redis_url: String,
    /// Seconds without a heartbeat after which a worker counts as dead and its jobs are
    /// failed or re-queued.
    #[arg(long, env = "CAIRN_WORKER_HEARTBEAT_TIMEOUT", default_value_t = 30)]
    pub heartbeat_timeout: u64,
    /// Seconds a finished job's state stays readable.
    #[arg(long, env = "REDASH_JOB_EXPIRY_TIME", default_value_t = 43_200)]
    pub job_expiry_time: u64,
    /// Hash tag of every key Cairn keeps in Redis; deployments sharing one Redis need
    /// different tags.
    #[arg(long, env = "CAIRN_REDIS_KEY_TAG", default_value = "cairn")]
    pub redis_key_tag: String,
}

impl RedisArgs {
    /// Connects to the queue's Redis and checks that it answers.
    ///
    /// # Errors
    /// When Redis cannot be reached: the message names the URL.
    pub async fn connect(&self) -> anyhow::Result<cairn_queue_redis::Backend> {
        anyhow::ensure!(
            self.heartbeat_timeout >= 1,
            "--heartbeat-timeout must be at least 1 second"
        );
        let options = cairn_queue_redis::Options {
            job_ttl: Duration::from_secs(self.job_expiry_time.max(1)),
            heartbeat_timeout: Duration::from_secs(self.heartbeat_timeout),
            key_tag: self.redis_key_tag.clone(),
            ..cairn_queue_redis::Options::default()
        };
        let backend = cairn_queue_redis::connect(&self.redis_url, options).await?;
        backend.ping().await?;
        Ok(backend)
    }
}

/// The 32-byte key in `path`, generated (readable by the owner only) when missing.
fn key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let bytes = hex::decode(text.trim())
            .with_context(|| format!("{} is not a hex key", path.display()))?;
        let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bail!(
                "{} must hold 64 hex digits; restore it from backup or set REDASH_SECRET_KEY",
                path.display()
            );
        };
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    write_private(path, &hex::encode(key))?;
    Ok(key)
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// How queries run.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Seconds an ad-hoc query may run before it is cancelled on the database (0: no limit).
    #[arg(long, env = "REDASH_ADHOC_QUERY_TIME_LIMIT", default_value_t = 0)]
    pub adhoc_query_time_limit: u64,
    /// Seconds a scheduled query may run (0: no limit).
    #[arg(long, env = "REDASH_SCHEDULED_QUERY_TIME_LIMIT", default_value_t = 0)]
    pub scheduled_query_time_limit: u64,
    /// Most rows one result may have.
    #[arg(long, env = "CAIRN_MAX_RESULT_ROWS", default_value_t = 10_000_000)]
    pub max_result_rows: u64,
    /// Most bytes one result may take (encoded, before compression).
    #[arg(long, env = "CAIRN_MAX_RESULT_BYTES", default_value_t = 2 << 30)]
    pub max_result_bytes: u64,
}

fn limit(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

impl ExecArgs {
    /// The worker settings.
    pub fn settings(&self) -> ExecSettings {
        ExecSettings {
            adhoc_time_limit: limit(self.adhoc_query_time_limit),
            scheduled_time_limit: limit(self.scheduled_query_time_limit),
            result_limits: ResultLimits {
                max_rows: Some(self.max_result_rows),
                max_bytes: Some(self.max_result_bytes),
            },
        }
    }
}

/// What the scheduler does.
#[derive(Debug, Clone, Args)]
pub struct SchedulerArgs {
    /// Delete old results no query references.
    #[arg(long, env = "REDASH_QUERY_RESULTS_CLEANUP_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub query_results_cleanup_enabled: bool,
    /// At most this many results per cleanup run.
    #[arg(
        long,
        env = "REDASH_QUERY_RESULTS_CLEANUP_COUNT",
        default_value_t = 100
    )]
    pub query_results_cleanup_count: u32,
    /// Days a result must be old before cleanup deletes it.
    #[arg(
        long,
        env = "REDASH_QUERY_RESULTS_CLEANUP_MAX_AGE",
        default_value_t = 7
    )]
    pub query_results_cleanup_max_age: u64,
    /// Minutes between schema refreshes of every data source.
    #[arg(long, env = "REDASH_SCHEMAS_REFRESH_SCHEDULE", default_value_t = 30)]
    pub schemas_refresh_schedule: u64,
    /// Seconds between looks for due scheduled queries.
    #[arg(long, env = "CAIRN_SCHEDULER_REFRESH_INTERVAL", default_value_t = 30)]
    pub refresh_interval: u64,
    /// Hours between database maintenance runs (VACUUM ANALYZE on PostgreSQL, ANALYZE and
    /// PRAGMA optimize on SQLite); 0 turns it off.
    #[arg(long, env = "CAIRN_DB_MAINTENANCE_INTERVAL", default_value_t = 24)]
    pub db_maintenance_interval: u64,
}

impl SchedulerArgs {
    /// The scheduler settings.
    pub fn settings(&self) -> SchedulerSettings {
        SchedulerSettings {
            refresh_interval: Duration::from_secs(self.refresh_interval.max(1)),
            maintenance_interval: (self.db_maintenance_interval > 0)
                .then(|| Duration::from_secs(self.db_maintenance_interval * 3600)),
            schema_interval: Duration::from_secs(self.schemas_refresh_schedule.max(1) * 60),
            cleanup: self.query_results_cleanup_enabled.then(|| CleanupSettings {
                count: self.query_results_cleanup_count,
                max_age: Duration::from_secs(self.query_results_cleanup_max_age * 24 * 3600),
                ..CleanupSettings::default()
            }),
            ..SchedulerSettings::default()
        }
    }
}
