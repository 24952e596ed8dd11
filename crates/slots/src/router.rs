//! Routing commands to the slot owner ourselves, following `MOVED` and `ASK`.
//!
//! This is the part the Rust cluster clients get wrong: with one slot migrating and many requests
//! in flight, redis-rs 1.8 stalls after a few concurrent `ASK` redirections. Here every request
//! goes to the owner in a shared [`SlotMap`] over a per-node [`MultiplexedConnection`]:
//! - `MOVED slot addr` updates the map and resends (after a short pause from the third
//!   redirection of one request on: nodes that disagree right after a move settle meanwhile);
//! - `ASK slot addr` resends once to `addr` prefixed with `ASKING` in the same pipeline, which a
//!   multiplexed connection writes contiguously, so no other request slips between the two;
//! - `TRYAGAIN` (a multi-key command during a migration) and `CLUSTERDOWN` are retried after a
//!   short pause.
//!
//! A batch is pipelined per node; redirected items are resent in further rounds, so a batch of
//! 100 keys in one migrating slot costs two round trips, not 100.

use crate::client::{NodeClient, Timeouts};
use crate::cluster::Cluster;
use crate::slot::SLOTS;
use futures::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::{Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Redirect rounds before a request is given up.
const MAX_ROUNDS: usize = 16;

/// Slot -> owner address, shared by every [`Router`] of a process and corrected by `MOVED`.
#[derive(Debug)]
pub struct SlotMap {
    owners: RwLock<Vec<Arc<str>>>,
}

impl SlotMap {
    /// The map of a discovered cluster; uncovered slots point at the seed, which answers with
    /// `MOVED` or `CLUSTERDOWN`.
    pub fn from_cluster(cluster: &Cluster) -> SlotMap {
        let seed: Arc<str> = cluster.seed().into();
        let addrs: HashMap<&str, Arc<str>> = cluster
            .nodes()
            .iter()
            .map(|n| (n.id(), Arc::from(n.addr())))
            .collect();
        let owners = (0..SLOTS)
            .map(|s| {
                cluster
                    .owner(s)
                    .and_then(|id| addrs.get(id).cloned())
                    .unwrap_or_else(|| seed.clone())
            })
            .collect();
        SlotMap {
            owners: RwLock::new(owners),
        }
    }

    /// A map sending every slot to one address: a standalone (non-cluster) server, reached
    /// through the same [`Router`] code as a cluster.
    pub fn single(addr: &str) -> SlotMap {
        let addr: Arc<str> = addr.into();
        SlotMap {
            owners: RwLock::new(vec![addr; usize::from(SLOTS)]),
        }
    }

    /// The address that owns `slot` as far as this map knows.
    pub fn get(&self, slot: u16) -> Arc<str> {
        let owners = self.owners.read().unwrap_or_else(|e| e.into_inner());
        owners[usize::from(slot % SLOTS)].clone()
    }

    /// Records a new owner (after `MOVED`).
    pub fn set(&self, slot: u16, addr: &str) {
        let mut owners = self.owners.write().unwrap_or_else(|e| e.into_inner());
        let entry = &mut owners[usize::from(slot % SLOTS)];
        if &**entry != addr {
            *entry = Arc::from(addr);
        }
    }
}

/// Redirections seen by one router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedirectCounts {
    /// `MOVED` replies.
    pub moved: u64,
    /// `ASK` replies.
    pub ask: u64,
    /// `TRYAGAIN`, `CLUSTERDOWN` and similar retried replies.
    pub retried: u64,
}

/// One client's view of the cluster: its own connection per node, the shared [`SlotMap`].
///
/// A router is owned by one task (`&mut self`); give each simulated client its own.
#[derive(Debug)]
pub struct Router {
    map: Arc<SlotMap>,
    conns: HashMap<Arc<str>, MultiplexedConnection>,
    timeouts: Timeouts,
    /// Redirections so far.
    pub redirects: RedirectCounts,
    /// Requests answered per node address.
    pub served: HashMap<Arc<str>, u64>,
}

enum Next {
    Done(RedisResult<Value>),
    Resend,
    Ask(Arc<str>),
    Pause,
}

impl Router {
    /// A router over `map`; connections open on first use with `timeouts`.
    pub fn new(map: Arc<SlotMap>, timeouts: Timeouts) -> Router {
        Router {
            map,
            conns: HashMap::new(),
            timeouts,
            redirects: RedirectCounts::default(),
            served: HashMap::new(),
        }
    }

    /// A router over the same slot map and connections, with counters of its own: for requests
    /// sent while this router's are still unanswered; [`Router::join`] takes it back.
    pub fn fork(&self) -> Router {
        Router {
            map: self.map.clone(),
            conns: self.conns.clone(),
            timeouts: self.timeouts,
            redirects: RedirectCounts::default(),
            served: HashMap::new(),
        }
    }

    /// Takes over what a [`Router::fork`] of this router learnt: its counters and the
    /// connections it opened.
    pub fn join(&mut self, fork: Router) {
        self.redirects.moved += fork.redirects.moved;
        self.redirects.ask += fork.redirects.ask;
        self.redirects.retried += fork.redirects.retried;
        for (addr, n) in fork.served {
            *self.served.entry(addr).or_default() += n;
        }
        for (addr, conn) in fork.conns {
            self.conns.entry(addr).or_insert(conn);
        }
    }

    /// Uses `conn` for `addr` instead of opening one: for a connection made with options the
    /// router does not know (a database number, a password).
    pub fn insert_connection(&mut self, addr: &str, conn: MultiplexedConnection) {
        self.conns.insert(addr.into(), conn);
    }

    /// Opens a connection to every address the slot map names now, so that the first requests
    /// do not pay for connecting.
    ///
    /// # Errors
    /// The first address that could not be reached.
    pub async fn connect_all(&mut self) -> RedisResult<()> {
        let addrs: HashSet<Arc<str>> = {
            let owners = self.map.owners.read().unwrap_or_else(|e| e.into_inner());
            owners.iter().cloned().collect()
        };
        for addr in addrs {
            self.conn(&addr).await?;
        }
        Ok(())
    }

    async fn conn(&mut self, addr: &Arc<str>) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.conns.get(addr) {
            return Ok(c.clone());
        }
        let client = NodeClient::connect_with(addr, self.timeouts)
            .await
            .map_err(|e| RedisError::from((ErrorKind::Io, "cannot connect", e.to_string())))?;
        let conn = client.connection();
        self.conns.insert(addr.clone(), conn.clone());
        Ok(conn)
    }

    /// Sends one command for a key in `slot`, following redirections.
    ///
    /// # Errors
    /// The server's error reply, an I/O error or timeout, or "too many redirections".
    pub async fn query(&mut self, slot: u16, cmd: Cmd) -> RedisResult<Value> {
        let mut out = self.query_batch(vec![(slot, cmd)]).await;
        out.pop()
            .unwrap_or_else(|| Err(RedisError::from((ErrorKind::Client, "empty batch"))))
    }

    /// Sends a batch, one pipeline per node per round, and returns one result per item in order.
    pub async fn query_batch(&mut self, items: Vec<(u16, Cmd)>) -> Vec<RedisResult<Value>> {
        let mut results: Vec<Option<RedisResult<Value>>> = (0..items.len()).map(|_| None).collect();
        // (item index, ASK target)
        let mut pending: Vec<(usize, Option<Arc<str>>)> =
            (0..items.len()).map(|i| (i, None)).collect();
        for round in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let mut groups: HashMap<Arc<str>, Vec<(usize, bool)>> = HashMap::new();
            for (i, ask) in pending.drain(..) {
                let (addr, asking) = match ask {
                    Some(a) => (a, true),
                    None => (self.map.get(items[i].0), false),
                };
                groups.entry(addr).or_default().push((i, asking));
            }
            let mut sends = Vec::with_capacity(groups.len());
            for (addr, members) in groups {
                match self.conn(&addr).await {
                    Ok(conn) => sends.push((addr, members, Some(conn))),
                    Err(e) => {
                        for (i, _) in members {
                            results[i] = Some(Err(e.clone()));
                        }
                    }
                }
            }
            let replies = join_all(sends.into_iter().map(|(addr, members, conn)| {
                let items = &items;
                async move {
                    let mut pipe = redis::pipe();
                    pipe.ignore_errors();
                    for &(i, asking) in &members {
                        if asking {
                            pipe.cmd("ASKING").ignore();
                        }
                        pipe.add_command(items[i].1.clone());
                    }
                    let mut conn = conn.expect("connections were resolved above");
                    let reply: RedisResult<Vec<RedisResult<Value>>> =
                        pipe.query_async(&mut conn).await;
                    (addr, members, reply)
                }
            }))
            .await;
            let mut pause = false;
            for (addr, members, reply) in replies {
                let answers: Vec<RedisResult<Value>> = match reply {
                    Ok(v) if v.len() == members.len() => v,
                    Ok(v) => {
                        let e = RedisError::from((
                            ErrorKind::Client,
                            "pipeline reply count mismatch",
                            format!("{} for {}", v.len(), members.len()),
                        ));
                        members.iter().map(|_| Err(e.clone())).collect()
                    }
                    Err(e) => members.iter().map(|_| Err(e.clone())).collect(),
                };
                for ((i, _), answer) in members.into_iter().zip(answers) {
                    match self.classify(answer, round) {
                        Next::Done(r) => {
                            if r.is_ok() {
                                *self.served.entry(addr.clone()).or_default() += 1;
                            }
                            results[i] = Some(r);
                        }
                        Next::Resend => pending.push((i, None)),
                        Next::Ask(target) => pending.push((i, Some(target))),
                        Next::Pause => {
                            pause = true;
                            pending.push((i, None));
                        }
                    }
                }
            }
            if pause {
                tokio::time::sleep(Duration::from_millis(5 * (round as u64 + 1))).await;
            }
        }
        for (i, _) in pending {
            results[i] = Some(Err(RedisError::from((
                ErrorKind::Client,
                "too many redirections",
            ))));
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(RedisError::from((ErrorKind::Client, "no reply")))))
            .collect()
    }

    fn classify(&mut self, answer: RedisResult<Value>, round: usize) -> Next {
        let err = match answer {
            Ok(v) => return Next::Done(Ok(v)),
            Err(e) => e,
        };
        let last_round = round + 1 >= MAX_ROUNDS;
        match err.kind() {
            ErrorKind::Server(ServerErrorKind::Moved) if !last_round => {
                if let Some((addr, slot)) = err.redirect_node() {
                    self.map.set(slot, addr);
                    self.redirects.moved += 1;
                    // Moved again and again: the nodes do not agree yet (right after a slot
                    // changed owner); give them a moment instead of bouncing at once.
                    return if round >= 2 {
                        Next::Pause
                    } else {
                        Next::Resend
                    };
                }
                Next::Done(Err(err))
            }
            ErrorKind::Server(ServerErrorKind::Ask) if !last_round => match err.redirect_node() {
                Some((addr, _)) => {
                    self.redirects.ask += 1;
                    Next::Ask(Arc::from(addr))
                }
                None => Next::Done(Err(err)),
            },
            ErrorKind::Server(ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown)
                if !last_round =>
            {
                self.redirects.retried += 1;
                Next::Pause
            }
            _ => Next::Done(Err(err)),
        }
    }
}
