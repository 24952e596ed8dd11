//! The Redis job queue: lets the server, the workers and the scheduler run as separate processes.
//!
//! [`connect`] takes one URL and gives a [`Backend`]: [`Backend::queue`] is a
//! [`cairn_exec::queue::Queue`] on Redis Streams, [`Backend::lease`] a fenced single-holder lease
//! for the scheduler, [`Backend::limiter`] a rate limit shared by every process,
//! [`Backend::ping`] a readiness check.
//!
//! # URLs
//! - `redis://[user:password@]host:port[/db]`: a standalone server, or, when that node reports
//!   `cluster_enabled:1` (`INFO cluster`), a cluster seed: the rest of the cluster is discovered.
//! - `redis+cluster://host:port`: the same, but refuses to run on a non-cluster server.
//!
//! Cluster connections take no password or database number (a cluster has only database 0).
//!
//! # Guarantees
//! - Every key shares one hash tag (`{cairn}` by default, [`Options::key_tag`]), so every state
//!   change is one Lua script over declared keys: atomic on a single server and on a cluster, and
//!   safe while the queue's slot migrates (the scripts are retried on `TRYAGAIN`/`ASK`).
//! - Delivery is at least once: a started job is heartbeated; when its worker stops it is
//!   re-queued (connection tests, schema refreshes) or failed with a clear message (query runs);
//!   see [`recover`].
//! - Nothing lives forever: job states, locks and cancel flags expire after [`Options::job_ttl`].
//! - Every operation either answers or fails within [`Options::op_timeout`]; lost connections,
//!   restarts, failovers (`MOVED`, refused connections: the topology is re-discovered from any
//!   known node) and migrations are retried inside that time.
//!
//! # Trade-offs
//! - One hash tag means the whole queue lives on one master: a cluster gives it failover, not
//!   write scaling. Redash's queue is a single Redis too, and one slot keeps every state change
//!   a single atomic script.
//! - While the queue's slot moves with the legacy protocol (`MIGRATING`/`IMPORTING`), scripts
//!   whose keys are split between the two nodes get `TRYAGAIN` until the move ends, so queue
//!   operations wait for it (a slot of queue keys moves in milliseconds with `redis-cli`, about
//!   one second when moved key by key). A move longer than `op_timeout` turns into errors, never
//!   into a hang. Valkey 9's atomic slot migration has no such window.
//! - Redis durability is Redis's: acknowledged jobs survive a restart only with `appendonly yes`
//!   (`appendfsync always` for every write), and a failover can lose the last writes that had
//!   not reached the replica.
//!
//! # Layout
//! - `link`: URL, routing through the slots crate's `Router`, retries, blocking connections.
//! - `keys`, `scripts`: key names and the Lua scripts.
//! - [`queue`]: the [`RedisQueue`] itself.
//! - [`recover`]: heartbeats and stale-job recovery.
//! - [`lease`]: the scheduler's [`RedisLease`].
//! - [`limiter`]: [`RedisLimiter`], attempt limits shared by every server.
//!
//! # Examples
//! ```no_run
//! # async fn demo() -> Result<(), cairn_exec::queue::QueueError> {
//! use std::time::Duration;
//! let backend = cairn_queue_redis::connect("redis://127.0.0.1:6379/0", Default::default()).await?;
//! backend.ping().await?;
//! let queue = backend.queue();
//! let mut lease = backend.lease("scheduler", "host-1:4242", Duration::from_secs(30));
//! if let Ok(Some(token)) = lease.acquire_or_renew().await {
//!     println!("leading with fencing token {token}");
//! }
//! # let _ = queue; Ok(()) }
//! ```

mod keys;
pub mod lease;
pub mod limiter;
pub(crate) mod link;
pub mod queue;
pub mod recover;
mod scripts;

pub use lease::{LeaseError, RedisLease};
pub use limiter::RedisLimiter;
pub use queue::RedisQueue;

use cairn_exec::queue::{Queue, QueueError};
use cairn_slots::client::Timeouts;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the backend behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long job states, de-duplication locks and cancel flags live (Redash's
    /// `REDASH_JOB_EXPIRY_TIME`, 12 h by default).
    pub job_ttl: Duration,
    /// After how long without a heartbeat a started job's worker counts as stopped (30 s).
    pub heartbeat_timeout: Duration,
    /// The longest any one operation may take, retries included (10 s).
    pub op_timeout: Duration,
    /// Connection and per-reply limits of every connection.
    pub timeouts: Timeouts,
    /// The hash tag of every key (`cairn` gives `{cairn}:...`). Deployments sharing one Redis
    /// need different tags.
    pub key_tag: String,
    /// This process's worker id; `None`: host name, process id and a random suffix.
    pub worker_id: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            job_ttl: Duration::from_secs(12 * 3600),
            heartbeat_timeout: Duration::from_secs(30),
            op_timeout: Duration::from_secs(10),
            timeouts: Timeouts::default(),
            key_tag: "cairn".to_string(),
            worker_id: None,
        }
    }
}

/// A connected Redis deployment: the queue, leases and a readiness check.
#[derive(Debug, Clone)]
pub struct Backend {
    link: Arc<link::Link>,
    queue: Arc<RedisQueue>,
}

/// Connects to the Redis (or Valkey) deployment at `url`; see the crate docs for URL forms.
/// Must be called inside a Tokio runtime: it starts the heartbeat task.
///
/// # Errors
/// [`QueueError::Unavailable`] with a message naming the URL and what to check.
pub async fn connect(url: &str, opts: Options) -> Result<Backend, QueueError> {
    let link = link::Link::connect(url, opts.timeouts, opts.op_timeout)
        .await
        .map_err(QueueError::Unavailable)?;
    let link = Arc::new(link);
    let worker_id = opts.worker_id.clone().unwrap_or_else(default_worker_id);
    let queue = Arc::new(RedisQueue {
        link: link.clone(),
        keys: keys::Keys::new(&opts.key_tag),
        timing: queue::Timing {
            job_ttl: opts.job_ttl,
            heartbeat_timeout: opts.heartbeat_timeout,
        },
        worker_id,
        busy: Mutex::new(BTreeSet::new()),
        served: Mutex::new(BTreeSet::new()),
        last_recover: Mutex::new(None),
    });
    let every = (opts.heartbeat_timeout / 3).max(Duration::from_millis(100));
    recover::spawn_heartbeats(Arc::downgrade(&queue), every);
    tracing::info!(
        url = %link.url,
        cluster = link.is_cluster(),
        worker = %queue.worker_id,
        "connected to the redis queue"
    );
    Ok(Backend { link, queue })
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..6])
}

impl Backend {
    /// The job queue.
    pub fn queue(&self) -> Arc<dyn Queue> {
        self.queue.clone()
    }

    /// The concrete queue (for its worker id).
    pub fn redis_queue(&self) -> &Arc<RedisQueue> {
        &self.queue
    }

    /// A lease named `name` for `holder` (unique per process) lasting `ttl` unless renewed.
    pub fn lease(&self, name: &str, holder: &str, ttl: Duration) -> RedisLease {
        RedisLease::new(self.link.clone(), name, holder, ttl)
    }

    /// A rate limit `name` shared by every process on this Redis: at most `max` attempts per
    /// key in any `window` ([`RedisLimiter`]).
    pub fn limiter(&self, name: &str, max: usize, window: Duration) -> RedisLimiter {
        RedisLimiter::new(self.queue.clone(), name, max, window)
    }

    /// Whether Redis answers (and, on a cluster, the node owning the queue's slot).
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] naming the URL.
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.queue
            .run::<String>("answer PING", &redis::cmd("PING"))
            .await
            .map(|_| ())
    }
}

impl RedisQueue {
    /// This process's worker id (its consumer name in the streams' group).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }
}
