//! The connection layer: one URL in, commands routed to the right node, failures retried.
//!
//! Every command goes through a [`Router`] of the slots crate (our own `MOVED`/`ASK` handling over
//! per-node multiplexed connections); the Rust cluster clients hang on concurrent `ASK`
//! redirections, which a live slot migration produces. A router is `&mut`, so the link keeps a
//! small pool of them and each command borrows one. A standalone server is a cluster of one: a
//! [`SlotMap::single`] map and a connection opened from the user's URL (database number,
//! password) handed to the router.
//!
//! Failures are retried until the operation's deadline (`op_timeout`): a lost connection drops the
//! router's connections (they are reopened on the next use, so a restarted server is picked up),
//! and in a cluster it also re-discovers the topology from any node known so far, which is how a
//! failover is followed. Nothing waits longer than the deadline.
//!
//! Blocking reads (`XREADGROUP BLOCK`) never use the shared multiplexed connections, which would
//! stall every request queued behind them; they take a dedicated connection from
//! [`Link::blocking`].

use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use cairn_slots::router::{Router, SlotMap};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Routers in the pool: concurrent commands beyond this wait for one to be free.
const ROUTERS: usize = 8;
/// Re-discoveries closer together than this are skipped (many failing commands, one refresh).
const REFRESH_GAP: Duration = Duration::from_millis(250);

/// Where the server is and how to reach it.
#[derive(Debug)]
enum Mode {
    /// One server; the client carries the URL's database and credentials.
    Standalone { client: redis::Client, addr: String },
    /// A cluster; `known` holds every node address seen, for re-discovery.
    Cluster { known: Mutex<Vec<String>> },
}

/// A routed, retrying connection to one Redis deployment.
#[derive(Debug)]
pub(crate) struct Link {
    /// The URL as given, password removed, for error messages.
    pub(crate) url: String,
    mode: Mode,
    timeouts: Timeouts,
    op_timeout: Duration,
    /// The current slot map and its generation; routers built on an older one are rebuilt.
    map: Mutex<(u64, Arc<SlotMap>)>,
    routers: Vec<tokio::sync::Mutex<Option<(u64, Router)>>>,
    next: AtomicUsize,
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    blocking: Mutex<Vec<(Arc<str>, MultiplexedConnection)>>,
}

/// A failed command, with what the link did about it.
pub(crate) type LinkResult<T> = Result<T, RedisError>;

impl Link {
    /// Connects to the deployment at `url`: `redis://[user:password@]host:port[/db]`, or
    /// `redis+cluster://host:port` to insist on a cluster. A plain `redis://` URL pointing at a
    /// cluster node is detected (`INFO cluster`, `cluster_enabled:1`) and used as a cluster seed.
    ///
    /// # Errors
    /// A message naming the URL and what to check.
    pub(crate) async fn connect(
        url: &str,
        timeouts: Timeouts,
        op_timeout: Duration,
    ) -> Result<Link, String> {
        let shown = redact(url);
        let (force_cluster, plain) = match url.strip_prefix("redis+cluster://") {
            Some(rest) => (true, format!("redis://{rest}")),
            None => (false, url.to_string()),
        };
        let client = redis::Client::open(plain.as_str()).map_err(|e| {
            format!(
                "invalid Redis URL {shown}: {e} (expected redis://host:port/db or redis+cluster://host:port)"
            )
        })?;
        let info = client.get_connection_info();
        let addr = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            _ => {
                return Err(format!(
                    "unsupported Redis URL {shown}: only redis:// over TCP is supported"
                ));
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response));
        let unreachable = |e: RedisError| {
            format!(
                "cannot reach Redis at {shown}: {e}; check that the server runs and the URL is right"
            )
        };
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(unreachable)?;
        let text: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut conn)
            .await
            .map_err(unreachable)?;
        let is_cluster = text.contains("cluster_enabled:1");
        if force_cluster && !is_cluster {
            return Err(format!(
                "Redis at {shown} is not a cluster node (cluster_enabled:0): use redis://{addr}/ for a standalone server"
            ));
        }
        let (mode, map) = if is_cluster {
            if info.redis_settings().password().is_some() || info.redis_settings().db() != 0 {
                return Err(format!(
                    "Redis at {shown} is a cluster: use redis+cluster://{addr} (no password, database 0)"
                ));
            }
            let cluster = Cluster::discover_with(&addr, timeouts)
                .await
                .map_err(|e| format!("cannot discover the Redis cluster at {shown}: {e}"))?;
            let known = cluster
                .nodes()
                .iter()
                .map(|n| n.addr().to_string())
                .collect();
            (
                Mode::Cluster {
                    known: Mutex::new(known),
                },
                SlotMap::from_cluster(&cluster),
            )
        } else {
            (
                Mode::Standalone {
                    client,
                    addr: addr.clone(),
                },
                SlotMap::single(&addr),
            )
        };
        Ok(Link {
            url: shown,
            mode,
            timeouts,
            op_timeout,
            map: Mutex::new((0, Arc::new(map))),
            routers: (0..ROUTERS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            last_refresh: tokio::sync::Mutex::new(None),
            blocking: Mutex::new(Vec::new()),
        })
    }

    /// Whether the deployment is a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.mode, Mode::Cluster { .. })
    }

    fn current_map(&self) -> (u64, Arc<SlotMap>) {
        let g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        (g.0, g.1.clone())
    }

    /// The node that owns `slot` as far as the link knows.
    pub(crate) fn owner(&self, slot: u16) -> Arc<str> {
        self.current_map().1.get(slot)
    }

    async fn build_router(&self) -> LinkResult<(u64, Router)> {
        let (generation, map) = self.current_map();
        let mut router = Router::new(map, self.timeouts);
        if let Mode::Standalone { client, addr } = &self.mode {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeouts.connect))
                .set_response_timeout(Some(self.timeouts.response));
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            router.insert_connection(addr, conn);
        }
        Ok((generation, router))
    }

    /// Runs `f` with a router from the pool, once, without retrying. A connection-level failure
    /// drops that router's connections and triggers a re-discovery.
    pub(crate) async fn with_router<T, F>(&self, f: F) -> LinkResult<T>
    where
        F: AsyncFnOnce(&mut Router) -> LinkResult<T>,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.routers.len();
        let mut slot = self.routers[i].lock().await;
        let generation = self.current_map().0;
        if slot.as_ref().is_none_or(|(g, _)| *g != generation) {
            match self.build_router().await {
                Ok(r) => *slot = Some(r),
                Err(e) => {
                    drop(slot);
                    self.refresh().await;
                    return Err(e);
                }
            }
        }
        let Some((_, router)) = slot.as_mut() else {
            return Err(RedisError::from((ErrorKind::Client, "no router")));
        };
        let result = f(router).await;
        if let Err(e) = &result
            && needs_reconnect(e)
        {
            *slot = None;
            drop(slot);
            self.refresh().await;
        }
        result
    }

    /// Sends `cmd` for a key in `slot`, retrying redirections, lost connections, failovers and
    /// migrations until the operation timeout.
    ///
    /// # Errors
    /// The last failure once the deadline passed, or at once for a non-retryable error reply.
    pub(crate) async fn query(&self, slot: u16, cmd: &Cmd) -> LinkResult<Value> {
        let deadline = Instant::now() + self.op_timeout;
        let mut attempt: u32 = 0;
        loop {
            let once = self.with_router(async |r: &mut Router| r.query(slot, cmd.clone()).await);
            let err = match tokio::time::timeout_at(deadline, once).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => {
                    return Err(RedisError::from((
                        ErrorKind::Io,
                        "operation timed out",
                        format!("no answer within {:?}", self.op_timeout),
                    )));
                }
            };
            if !is_retryable(&err) || Instant::now() >= deadline {
                return Err(err);
            }
            tracing::debug!(error = %err, attempt, "redis command failed; retrying");
            let pause = Duration::from_millis(20 * 2u64.pow(attempt.min(5)));
            tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
            attempt += 1;
        }
    }

    /// Re-reads the cluster topology from any known node (a no-op for a standalone server).
    pub(crate) async fn refresh(&self) {
        let Mode::Cluster { known } = &self.mode else {
            return;
        };
        let mut last = self.last_refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < REFRESH_GAP) {
            return;
        }
        *last = Some(Instant::now());
        let candidates = known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for addr in candidates {
            match Cluster::discover_with(&addr, self.timeouts).await {
                Ok(cluster) => {
                    let mut nodes: Vec<String> = cluster
                        .nodes()
                        .iter()
                        .map(|n| n.addr().to_string())
                        .collect();
                    let mut k = known.lock().unwrap_or_else(|e| e.into_inner());
                    nodes.retain(|n| !k.contains(n));
                    k.extend(nodes);
                    drop(k);
                    let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
                    *m = (m.0 + 1, Arc::new(SlotMap::from_cluster(&cluster)));
                    tracing::info!(via = %addr, "redis cluster topology refreshed");
                    return;
                }
                Err(e) => tracing::debug!(node = %addr, error = %e, "cannot discover through node"),
            }
        }
        tracing::warn!(url = %self.url, "no known redis cluster node answered");
    }

    /// A connection of its own to `addr` for one blocking command; give it back with
    /// [`Link::give_back`] only when the command completed.
    ///
    /// # Errors
    /// The connection failure.
    pub(crate) async fn blocking(&self, addr: &Arc<str>) -> LinkResult<MultiplexedConnection> {
        {
            let mut pool = self.blocking.lock().unwrap_or_else(|e| e.into_inner());
            pool.retain(|(a, _)| self.is_current_node(a));
            if let Some(i) = pool.iter().position(|(a, _)| a == addr) {
                return Ok(pool.swap_remove(i).1);
            }
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(None);
        match &self.mode {
            Mode::Standalone { client, .. } => {
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            }
            Mode::Cluster { .. } => {
                redis::Client::open(format!("redis://{addr}/"))?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            }
        }
    }

    fn is_current_node(&self, addr: &str) -> bool {
        match &self.mode {
            Mode::Standalone { addr: a, .. } => a == addr,
            Mode::Cluster { known } => known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|k| k == addr),
        }
    }

    /// Returns a blocking connection whose command completed, for reuse.
    pub(crate) fn give_back(&self, addr: Arc<str>, conn: MultiplexedConnection) {
        let mut pool = self.blocking.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 64 {
            pool.push((addr, conn));
        }
    }
}

/// Whether the error means the connection (or the topology behind it) is no longer usable.
fn needs_reconnect(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::Moved
            )
        )
        || e.to_string().contains("too many redirections")
}

/// Whether retrying can help: connection trouble, a failover or migration in progress, a
/// server still loading its data.
fn is_retryable(e: &RedisError) -> bool {
    if needs_reconnect(e) {
        return true;
    }
    if matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::TryAgain | ServerErrorKind::BusyLoading | ServerErrorKind::Ask
        )
    ) {
        return true;
    }
    let text = e.to_string();
    // A script touching a key that is mid-migration fails before it writes anything.
    text.contains("non local key") || text.contains("slot not served")
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://:secret@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis://u:secret@h:1"), "redis://u:***@h:1");
        assert_eq!(redact("redis://h:1/2"), "redis://h:1/2");
    }

    #[test]
    fn migration_and_connection_errors_are_retried() {
        let tryagain = RedisError::from((ErrorKind::Server(ServerErrorKind::TryAgain), "TRYAGAIN"));
        assert!(is_retryable(&tryagain));
        let script = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "ERR",
            "Script attempted to access a non local key in a cluster node".to_string(),
        ));
        assert!(is_retryable(&script));
        let wrongtype = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ));
        assert!(!is_retryable(&wrongtype));
    }
}
