//! Slot layouts on unequal nodes: 6 Redis 7 masters capped with cgroup v1 CPU quotas in the
//! ratio 8:4:2:1:1:1 (`WEIGHTS` to change it), a Zipf 0.99 load with 80% reads from Cairn's own
//! load generator.
//!
//! Part `layouts`: for each key naming (`PREFIXES`; where the hottest keys land decides how far
//! a count-balanced layout is from proportional, so every naming is its own cluster), the rate
//! each layout sustains: an open-loop load (1024 clients, one request each in flight) climbs a
//! ladder of offered rates in 10% steps until two steps in a row fall behind (p99, counted from
//! when each request was due, above 300 ms), then one half step refines it. Layouts, in order:
//! - `even`: the count-balanced layout `redis-cli --cluster create` leaves;
//! - `redis-cli weighted`: `redis-cli --cluster rebalance --cluster-weight` with the true
//!   capacities (the quota ratios);
//! - `cairn origin` and `cairn load`: Cairn's plans with the true capacities as weights (`load`
//!   also with per-slot load from an access log recorded by the load generator).
//!
//! Part `apply`: the time to apply the SAME moves (those redis-cli's weighted rebalance made)
//! with redis-cli, Cairn legacy and, on a Valkey 9 cluster with the same quotas, Cairn atomic;
//! and the client p99 while they run, with and without `--max-keys-per-sec`.
//!
//! Must run as root on a host with the cgroup v1 `cpu` controller at /sys/fs/cgroup/cpu:
//! `sudo -E cargo run --release -p cairn-slots --example cgroup_layouts`
//! Environment: `PART` (`layouts`, `apply` or `all`, the default), `PREFIXES` (comma-separated
//! key prefixes, default all seven of [`PREFIXES`]), `SECS` (seconds per ladder step, default 4),
//! `WEIGHTS` (default 8,4,2,1,1,1), `CLIENTS` (open-loop clients, default 1024),
//! `CYCLES` (interleaved redis-cli / Cairn apply rounds, default 2), `KEYS` (default 200000),
//! `CAIRN_VALKEY_SERVER` (the atomic part is skipped without it), `ISOLATE=1` (the benchmark gets
//! the last CPU to itself, every other process the rest, for the duration of the run).

use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::{BenchConfig, BenchReport, Clients, populate, run as run_bench};
use cairn_slots::cluster::Cluster;
use cairn_slots::fix;
use cairn_slots::measure::access_log::read_access_log;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots::migrate::{ApplyOptions, Method, Silent, apply};
use cairn_slots_planner::{Mode, Move, Ownership, Plan, Policy, plan};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, redis_cli};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Capacity of each master relative to the others (`WEIGHTS`, comma-separated, default
/// [`DEFAULT_WEIGHTS`]): the CPU quota of master `i` is `WEIGHTS[i]` times a unit (see
/// [`CpuLimits`]). They are also the "true weights" given to redis-cli and Cairn.
static WEIGHTS: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let spec = std::env::var("WEIGHTS").unwrap_or_else(|_| DEFAULT_WEIGHTS.into());
    let weights: Vec<u64> = spec
        .split(',')
        .map(|w| {
            w.trim()
                .parse()
                .expect("WEIGHTS: comma-separated positive integers")
        })
        .collect();
    assert!(
        weights.len() >= 3 && weights.iter().all(|&w| w > 0),
        "WEIGHTS: at least three positive integers"
    );
    weights
});
const DEFAULT_WEIGHTS: &str = "8,4,2,1,1,1";

/// CPU quotas of the masters: `unit_pct` percent of one core per weight unit, enforced every
/// `period_us` (the kernel's smallest quota is 1 ms, so the smallest node's quota must be at
/// least 1 ms of the period; a node that used its quota waits for the next period, which shows
/// in p99).
#[derive(Clone, Copy)]
struct CpuLimits {
    period_us: u64,
    unit_pct: u64,
}

/// The layout runs: 1% of a core per weight unit (8, 4, 2, 1, 1, 1%, 0.17 core in all, by
/// default) every 100 ms, so the nodes, not the host (2 cores) or the load generator (about 0.4
/// core at 20k requests/s), set the pace.
const LAYOUT_LIMITS: CpuLimits = CpuLimits {
    period_us: 100_000,
    unit_pct: 1,
};
/// The apply-time runs: quotas 20, 20, 10, 10, 5, 5% every 20 ms.
const APPLY_LIMITS: CpuLimits = CpuLimits {
    period_us: 20_000,
    unit_pct: 5,
};
const CPU_ROOT: &str = "/sys/fs/cgroup/cpu";
/// `cpu.shares` of the benchmark's cgroups (default 1024): other work on the host (compilers)
/// must not eat into the nodes' quotas or starve the load generator.
const SHARES: u64 = 16_384;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One cgroup per master with its CPU quota, and one without a quota for this process (the
/// load generator, redis-cli); processes go back to the root cgroup on drop.
struct Cgroups {
    dirs: Vec<PathBuf>,
    client: PathBuf,
}

fn cgroup(name: &str) -> PathBuf {
    let dir = PathBuf::from(CPU_ROOT).join(name);
    std::fs::create_dir_all(&dir).expect("create cgroup (run as root, cgroup v1 cpu)");
    std::fs::write(dir.join("cpu.shares"), SHARES.to_string()).expect("cpu.shares");
    dir
}

impl Cgroups {
    fn create() -> Cgroups {
        let dirs = (0..WEIGHTS.len())
            .map(|i| cgroup(&format!("cairn-layouts-{}-{i}", std::process::id())))
            .collect();
        let client = cgroup(&format!("cairn-layouts-{}-client", std::process::id()));
        std::fs::write(client.join("cgroup.procs"), std::process::id().to_string())
            .expect("attach the load generator");
        Cgroups { dirs, client }
    }

    /// Sets every master's quota; the quota is widened first so the period can always shrink.
    fn limit(&self, limits: CpuLimits) {
        for (dir, w) in self.dirs.iter().zip(WEIGHTS.iter().copied()) {
            std::fs::write(dir.join("cpu.cfs_quota_us"), "-1").expect("cpu.cfs_quota_us");
            std::fs::write(dir.join("cpu.cfs_period_us"), limits.period_us.to_string())
                .expect("cpu.cfs_period_us");
            let quota = limits.period_us * w * limits.unit_pct / 100;
            std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())
                .expect("cpu.cfs_quota_us");
        }
    }

    /// Lifts every master's quota (for work the run does not measure).
    fn unlimit(&self) {
        for dir in &self.dirs {
            std::fs::write(dir.join("cpu.cfs_quota_us"), "-1").expect("cpu.cfs_quota_us");
        }
    }

    fn attach(&self, cluster: &RedisCluster) {
        for (dir, node) in self.dirs.iter().zip(cluster.nodes()) {
            std::fs::write(dir.join("cgroup.procs"), node.pid().to_string())
                .expect("attach to cgroup");
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.dirs.iter().chain([&self.client]) {
            if let Ok(pids) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in pids.lines() {
                    let _ = std::fs::write(PathBuf::from(CPU_ROOT).join("cgroup.procs"), pid);
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

const CPUSET_ROOT: &str = "/sys/fs/cgroup/cpuset";

/// With `ISOLATE=1`: this process (the load generator) and the servers it starts get the host's
/// last CPU to themselves and every other process the others (cgroup v1 `cpuset`), until drop.
/// On a shared host, other work otherwise delays the load generator, which shows as latency.
struct Isolation {
    dirs: [PathBuf; 2],
}

impl Isolation {
    fn create() -> Option<Isolation> {
        if std::env::var("ISOLATE").ok().as_deref() != Some("1") {
            return None;
        }
        let root = PathBuf::from(CPUSET_ROOT);
        let read = |f: &str| std::fs::read_to_string(root.join(f)).expect("cgroup v1 cpuset");
        let cpus = read("cpuset.cpus");
        let last: usize = cpus
            .trim()
            .rsplit(['-', ','])
            .next()
            .and_then(|c| c.parse().ok())
            .expect("cpuset.cpus");
        assert!(last > 0, "ISOLATE=1 needs at least two CPUs");
        let mems = read("cpuset.mems");
        let set = |name: String, cpus: String| {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).expect("create cpuset");
            std::fs::write(dir.join("cpuset.cpus"), cpus).expect("cpuset.cpus");
            std::fs::write(dir.join("cpuset.mems"), mems.trim()).expect("cpuset.mems");
            dir
        };
        let me = std::process::id();
        let rest = set(format!("cairn-rest-{me}"), format!("0-{}", last - 1));
        let ours = set(format!("cairn-bench-{me}"), last.to_string());
        for pid in read("cgroup.procs").lines() {
            // Kernel threads cannot move; they do not matter here.
            let _ = std::fs::write(rest.join("cgroup.procs"), pid);
        }
        std::fs::write(ours.join("cgroup.procs"), me.to_string()).expect("isolate this process");
        Some(Isolation { dirs: [ours, rest] })
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // Processes forked meanwhile land in the set being emptied: move until it is empty.
            for _ in 0..50 {
                if let Ok(pids) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                    for pid in pids.lines() {
                        let _ =
                            std::fs::write(PathBuf::from(CPUSET_ROOT).join("cgroup.procs"), pid);
                    }
                }
                if std::fs::remove_dir(dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn start(flavor: Flavor) -> RedisCluster {
    RedisCluster::start(ClusterSpec {
        flavor,
        masters: WEIGHTS.len(),
        replicas: 0,
    })
}

/// Master ids in testkit node order (node `i` is in cgroup `i`).
fn master_ids(c: &RedisCluster, found: &Cluster) -> Vec<String> {
    c.nodes()
        .iter()
        .map(|n| {
            found
                .masters()
                .find(|m| m.addr() == n.addr())
                .expect("every node is a master")
                .id()
                .to_string()
        })
        .collect()
}

fn weights(ids: &[String]) -> Vec<(String, f64)> {
    ids.iter()
        .zip(WEIGHTS.iter().copied())
        .map(|(id, w)| (id.clone(), w as f64))
        .collect()
}

/// Key namings of the layout runs: where the hottest keys land decides how far a count-balanced
/// layout is from proportional, so each naming is a different cluster.
const PREFIXES: &str = "z:,a:,k:,key:,x:,user:,s:";

/// The closed-loop load: 64 clients x pipeline 8.
fn bench_config(prefix: &str, keys: u64, secs: u64) -> BenchConfig {
    let mut cfg = BenchConfig::new(KeySpace::spread(prefix, keys));
    cfg.zipf = 0.99;
    cfg.read_ratio = 0.8;
    cfg.clients = 64;
    cfg.pipeline = 8;
    cfg.value_size = 100;
    cfg.duration = Duration::from_secs(secs);
    cfg
}

async fn load(seed: &str, cfg: &BenchConfig) -> BenchReport {
    let found = Cluster::discover(seed).await.expect("discover");
    let r = run_bench(&found, cfg).await.expect("bench");
    assert_eq!(r.errors, 0, "bench errors: {:?}", r.first_error);
    r
}

/// The moves that turn `from` into `to`.
fn diff(from: &Ownership, to: &Ownership) -> Vec<Move> {
    from.iter()
        .filter_map(|(slot, owner)| {
            let (a, b) = (owner?, to.owner(slot)?);
            (a != b).then(|| Move {
                slot,
                from: a.to_string(),
                to: b.to_string(),
                keys: 0,
                bytes: 0,
            })
        })
        .collect()
}

/// Limits of a Cairn apply: `--max-keys-per-sec` and `--max-parallel` (default if `None`).
#[derive(Clone, Copy, Default)]
struct Limits {
    keys_per_sec: Option<f64>,
    parallel: Option<usize>,
}

/// Applies `moves` with Cairn; returns seconds.
async fn cairn_apply(seed: &str, moves: Vec<Move>, method: Method, limits: Limits) -> f64 {
    if moves.is_empty() {
        return 0.0;
    }
    converge(seed).await;
    let found = Cluster::discover(seed).await.expect("discover");
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        sample_keys: 0,
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.expect("measure");
    let mut p: Plan = plan(&snap, &Policy::with_mode(Mode::Count)).expect("plan");
    p.moves = moves;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ApplyOptions::new(dir.path().join("journal"));
    opts.method = method;
    opts.max_keys_per_sec = limits.keys_per_sec;
    if let Some(p) = limits.parallel {
        opts.max_parallel = p;
    }
    let t = Instant::now();
    apply(&found, &p, &opts, &Silent).await.expect("apply");
    t.elapsed().as_secs_f64()
}

/// Waits until every node agrees and the cluster is healthy; after 20 s repairs what is left
/// with `fix` (and says so).
async fn converge(seed: &str) {
    let t = Instant::now();
    loop {
        let found = Cluster::discover(seed).await.expect("discover");
        let health = found.health().await;
        if health.is_ok() {
            if t.elapsed() > Duration::from_millis(500) {
                println!("  (converged after {:.1} s)", t.elapsed().as_secs_f64());
            }
            return;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let actions = fix::diagnose(&found).await.expect("diagnose");
            println!("  not converged after 20 s; fix: {actions:?}");
            let dir = tempfile::tempdir().expect("tempdir");
            let opts = ApplyOptions::new(dir.path().join("journal"));
            fix::repair(&found, &actions, &opts, &Silent)
                .await
                .expect("fix");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Moves the cluster back to `layout` (legacy, unthrottled) before the next measurement.
async fn restore(seed: &str, layout: &Ownership) {
    let moves = diff(&ownership(seed).await, layout);
    cairn_apply(seed, moves, Method::Legacy, Limits::default()).await;
}

async fn ownership(seed: &str) -> Ownership {
    Cluster::discover(seed).await.expect("discover").ownership()
}

/// `redis-cli --cluster rebalance` with the true weights; returns seconds.
fn redis_cli_weighted(seed: &str, ids: &[String]) -> f64 {
    let mut args = vec![
        "--cluster".to_string(),
        "rebalance".into(),
        seed.into(),
        "--cluster-weight".into(),
    ];
    args.extend(weights(ids).iter().map(|(id, w)| format!("{id}={w}")));
    let t = Instant::now();
    let out = std::process::Command::new(redis_cli())
        .args(&args)
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    t.elapsed().as_secs_f64()
}

/// A Cairn plan in `mode` with the true weights, applied; returns its move count.
async fn cairn_layout(
    seed: &str,
    ids: &[String],
    mode: Mode,
    log: Option<(PathBuf, f64)>,
) -> usize {
    let found = Cluster::discover(seed).await.expect("discover");
    let access_log = log.map(|(path, secs)| {
        let f = std::io::BufReader::new(std::fs::File::open(path).expect("access log"));
        (
            read_access_log(f).expect("access log parses"),
            Duration::from_secs_f64(secs),
        )
    });
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        access_log,
        sample_keys: 0,
        capacity: CapacityConfig::Weights(weights(ids)),
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.expect("measure");
    let p = plan(&snap, &Policy::with_mode(mode)).expect("plan");
    let n = p.moves.len();
    println!(
        "  cairn {}: {n} moves, predicted worst/mean normalised load {:.3} -> {:.3} (lower bound {:.3})",
        mode.as_str(),
        p.max_mean_before,
        p.max_mean_after,
        p.lower_bound
    );
    cairn_apply(seed, p.moves, Method::Legacy, Limits::default()).await;
    n
}

/// Open-loop clients of the capacity search, each with at most one request unanswered (as
/// behind an application's connection pool): a request due while its client waits goes out when
/// the answer comes, and its latency counts from when it was due. `CLIENTS`, default 1024: by
/// Little's law they can offer at most `clients / mean latency`, and CFS stalls of up to one
/// 100 ms period put the mean latency near 45 ms, so 1024 clients can offer about 23k requests/s,
/// above what the default weights' 17% of a core serves.
static OPEN_CLIENTS: LazyLock<usize> = LazyLock::new(|| env_or("CLIENTS", 1024) as usize);
/// A layout keeps up with an offered rate while p99 (counted from when requests were due)
/// stays under this: three CFS periods of the layout quotas (a node that used its quota waits
/// up to one period); past its capacity the backlog grows and p99 runs to seconds.
const SLO_P99_MS: f64 = 300.0;
/// The rate ladder of the capacity search: 10% steps, then one 5% step between the last rate
/// kept up with and the first one missed.
const STEP: f64 = 1.1;

/// The most requests a node served per unit of CPU quota, over the cluster's requests per unit
/// (1.0: every node busy in proportion to its capacity): the planner's worst/mean normalised
/// load, measured. Robust to host noise, unlike ops/s.
fn skew(r: &BenchReport, addrs: &[String]) -> f64 {
    let served = |a: &String| r.per_node.get(a).copied().unwrap_or(0) as f64;
    let worst = addrs
        .iter()
        .zip(WEIGHTS.iter())
        .map(|(a, &w)| served(a) / w as f64)
        .fold(0.0, f64::max);
    let mean = addrs.iter().map(served).sum::<f64>() / WEIGHTS.iter().sum::<u64>() as f64;
    worst / mean
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What one layout sustains: the highest offered rate it kept up with, and the p99 and
/// served/quota skew there; and the most it served in any step (past its capacity too).
#[derive(Clone, Copy, Default)]
struct Sustained {
    rate: f64,
    p99_ms: f64,
    skew: f64,
    peak: f64,
}

/// CPU seconds this process (the load generator) has used so far, from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

/// Whether the layout kept up with the rate offered in `r`: a backlog shows in p99.
fn kept_up(r: &BenchReport) -> bool {
    r.latency.p99_us as f64 / 1000.0 <= SLO_P99_MS
}

/// Offers `rate` to the layout on `clients`; whether it kept up, and the report.
async fn try_rate(
    clients: &mut Clients,
    cfg: &BenchConfig,
    rate: f64,
    addrs: &[String],
    name: &str,
) -> (bool, BenchReport) {
    let mut c = cfg.clone();
    c.rate = Some(rate);
    let cpu = cpu_secs();
    let r = clients.run(&c).await.expect("bench");
    assert_eq!(r.errors, 0, "bench errors: {:?}", r.first_error);
    let ok = kept_up(&r);
    println!(
        "    {name:<20} offered {rate:>7.0}/s: {:>7.0} ops/s  p99 {:>8.2} ms  served/quota {:.2}  generator {:.2} cores  {}",
        r.ops_per_sec,
        r.latency.p99_us as f64 / 1000.0,
        skew(&r, addrs),
        (cpu_secs() - cpu) / r.elapsed_secs,
        if ok { "kept up" } else { "fell behind" }
    );
    (ok, r)
}

/// Offers `rate` to the layout on `clients` and records it in `best`: the most served, and the
/// rate with its p99 and skew if the layout kept up; returns whether it did.
async fn step(
    clients: &mut Clients,
    cfg: &BenchConfig,
    rate: f64,
    addrs: &[String],
    name: &str,
    best: &mut Sustained,
) -> bool {
    let (ok, r) = try_rate(clients, cfg, rate, addrs, name).await;
    best.peak = best.peak.max(r.ops_per_sec);
    if ok && rate > best.rate {
        best.rate = rate;
        best.p99_ms = r.latency.p99_us as f64 / 1000.0;
        best.skew = skew(&r, addrs);
    }
    ok
}

/// Climbs the rate ladder from `from` (down first if the layout cannot keep up with `from`)
/// and returns the highest rate the layout kept up with, refined by one half step.
async fn sustained(
    clients: &mut Clients,
    cfg: &BenchConfig,
    from: f64,
    addrs: &[String],
    name: &str,
) -> Sustained {
    let mut best = Sustained::default();
    let mut rate = from;
    while !step(clients, cfg, rate, addrs, name, &mut best).await && rate > from / 8.0 {
        rate /= STEP;
    }
    // Up the ladder until two steps in a row fall behind (one can be a throttling accident).
    let mut misses = 0;
    while misses < 2 {
        rate *= STEP;
        let ok = step(clients, cfg, rate, addrs, name, &mut best).await;
        misses = if ok { 0 } else { misses + 1 };
    }
    let mid = best.rate * STEP.sqrt();
    step(clients, cfg, mid, addrs, name, &mut best).await;
    best
}

/// One key naming's results: per layout what it sustains, and the moves that made it.
struct LayoutRun {
    prefix: String,
    sustained: [Sustained; 4],
    moves: [usize; 4],
}

const LAYOUTS: [&str; 4] = ["even", "redis-cli weighted", "cairn origin", "cairn load"];

/// A fresh cluster with `keys` keys named `prefix<i>`; the sustained rate of each layout.
async fn layouts(groups: &Cgroups, prefix: &str, keys: u64, secs: u64) -> LayoutRun {
    let c = start(Flavor::Redis);
    let seed = c.seed();
    let found = Cluster::discover(&seed).await.expect("discover");
    let mut cfg = bench_config(prefix, keys, secs);
    populate(&found, &cfg.keys, 100, 100, 32)
        .await
        .expect("populate");
    let ids = master_ids(&c, &found);
    let addrs: Vec<String> = c.nodes().iter().map(|n| n.addr()).collect();
    groups.limit(APPLY_LIMITS);
    groups.attach(&c);

    // The access log for the load plan: per-slot reads and writes of this very load (recorded
    // under the 2.5x wider apply-time quotas: the same mix, more samples).
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("access.log");
    let mut logged = cfg.clone();
    logged.duration = Duration::from_secs(4);
    logged.access_log = Some(log_path.clone());
    let log_secs = load(&seed, &logged).await.elapsed_secs;

    // Open loop from here on; the ladder starts at the even layout's closed-loop throughput.
    cfg.clients = *OPEN_CLIENTS;
    cfg.pipeline = 1;
    cfg.max_in_flight = Some(1);
    let mut closed = 0.0;
    let mut run = LayoutRun {
        prefix: prefix.to_string(),
        sustained: [Sustained::default(); 4],
        moves: [0; 4],
    };
    let even = found.ownership();
    for (i, name) in LAYOUTS.iter().enumerate() {
        // Moves run without quotas: they are not what this part measures.
        groups.unlimit();
        run.moves[i] = match i {
            0 => 0,
            1 => {
                redis_cli_weighted(&seed, &ids);
                diff(&even, &ownership(&seed).await).len()
            }
            2 => cairn_layout(&seed, &ids, Mode::Origin, None).await,
            _ => cairn_layout(&seed, &ids, Mode::Load, Some((log_path.clone(), log_secs))).await,
        };
        converge(&seed).await;
        // Connections open while the nodes are not capped (the moves above ran uncapped):
        // accepting a thousand of them costs a 1% node seconds of its quota, which would
        // otherwise show as backlog in the first step, or time out.
        let found = Cluster::discover(&seed).await.expect("discover");
        let mut clients = Clients::connect(&found, cfg.clients, cfg.timeouts)
            .await
            .expect("connect");
        // The nodes accept what the kernel has queued for them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        groups.limit(LAYOUT_LIMITS);
        if i == 0 {
            closed = clients.run(&cfg).await.expect("bench").ops_per_sec;
            println!("  keys {prefix}0..: closed loop on the even layout {closed:.0} ops/s");
        }
        let from = run.sustained[..i]
            .iter()
            .map(|s| s.rate / (STEP * STEP))
            .fold(closed * 0.8, f64::max);
        run.sustained[i] = sustained(&mut clients, &cfg, from, &addrs, name).await;
    }
    run
}

fn print_layouts(runs: &[LayoutRun], keys: u64, secs: u64) {
    println!(
        "\nsustained open-loop rate (p99 <= {SLO_P99_MS} ms), {keys} keys, {} clients x 1, {secs} s per step:",
        *OPEN_CLIENTS
    );
    println!(
        "keys          even                          redis-cli weighted            cairn origin                  cairn load                    load/redis-cli (peaks)"
    );
    for r in runs {
        let cells: Vec<String> = (0..4)
            .map(|i| {
                let s = r.sustained[i];
                format!(
                    "{:>6.0} ({:>5.1} ms {:.2}, peak {:>6.0})",
                    s.rate, s.p99_ms, s.skew, s.peak
                )
            })
            .collect();
        println!(
            "{:<8} {}   {:.2}x ({:.2}x)   moves {:?}",
            r.prefix,
            cells.join("  "),
            r.sustained[3].rate / r.sustained[1].rate,
            r.sustained[3].peak / r.sustained[1].peak,
            &r.moves[1..]
        );
    }
    let ratios: Vec<f64> = runs
        .iter()
        .map(|r| r.sustained[3].rate / r.sustained[1].rate)
        .collect();
    let peaks: Vec<f64> = runs
        .iter()
        .map(|r| r.sustained[3].peak / r.sustained[1].peak)
        .collect();
    let origin: Vec<f64> = runs
        .iter()
        .map(|r| r.sustained[2].rate / r.sustained[1].rate)
        .collect();
    println!(
        "cairn load / redis-cli weighted: median {:.2}x over {} key namings {ratios:.2?} (peaks: median {:.2}x {peaks:.2?}); cairn origin / redis-cli: median {:.2}x",
        median(&ratios),
        runs.len(),
        median(&peaks),
        median(&origin)
    );
}

/// Runs a load while `work` runs; returns the load report.
async fn load_during<F: std::future::Future<Output = f64>>(
    seed: &str,
    cfg: &BenchConfig,
    work: F,
) -> (f64, BenchReport) {
    let (seed, mut cfg) = (seed.to_string(), cfg.clone());
    cfg.duration = Duration::from_secs(3600);
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    // The load runs in slices until the work is over, so its report covers the migration.
    let s2 = stop.clone();
    let bench = tokio::spawn(async move {
        let mut slice = cfg.clone();
        slice.duration = Duration::from_secs(1);
        let mut all: Vec<BenchReport> = Vec::new();
        loop {
            let r = load(&seed, &slice).await;
            all.push(r);
            if tokio::time::timeout(Duration::ZERO, s2.notified())
                .await
                .is_ok()
            {
                return all;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let secs = work.await;
    stop.notify_one();
    let slices = bench.await.expect("bench task");
    let worst = slices
        .iter()
        .max_by_key(|r| r.latency.p99_us)
        .cloned()
        .unwrap_or_default();
    (secs, worst)
}

/// CPU seconds each node's process has used so far: all its threads, from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds on a CPU).
fn node_cpu_secs(c: &RedisCluster) -> Vec<f64> {
    c.nodes()
        .iter()
        .map(|n| {
            let tasks = std::fs::read_dir(format!("/proc/{}/task", n.pid())).expect("/proc");
            let ns: f64 = tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| s.split(' ').next()?.parse::<f64>().ok())
                .sum();
            ns / 1e9
        })
        .collect()
}

/// CPU seconds each node used since `before` (from [`node_cpu_secs`]); for a Cairn apply this
/// includes its plan step's `CLUSTER COUNTKEYSINSLOT` of every slot.
fn cpu_since(c: &RedisCluster, before: &[f64]) -> Vec<f64> {
    node_cpu_secs(c)
        .iter()
        .zip(before)
        .map(|(now, then)| now - then)
        .collect()
}

/// The time to apply the same moves (those of redis-cli's weighted rebalance from the even
/// layout) with redis-cli and Cairn legacy, interleaved over `cycles`, then under the closed-loop
/// load with and without throttles, then Cairn atomic on Valkey 9 with the same quotas.
async fn apply_times(groups: &Cgroups, keys: u64, cycles: usize) {
    let cfg = bench_config("z:", keys, 6);
    let c = start(Flavor::Redis);
    let seed = c.seed();
    let found = Cluster::discover(&seed).await.expect("discover");
    populate(&found, &cfg.keys, 100, 100, 32)
        .await
        .expect("populate");
    let ids = master_ids(&c, &found);
    let even = found.ownership();
    groups.limit(APPLY_LIMITS);
    groups.attach(&c);
    let (mut cli_secs, mut legacy_secs, mut cli_moves) = (Vec::new(), Vec::new(), Vec::new());
    for cycle in 0..cycles {
        let cpu = node_cpu_secs(&c);
        let t = redis_cli_weighted(&seed, &ids);
        let cli_cpu = cpu_since(&c, &cpu);
        cli_moves = diff(&even, &ownership(&seed).await);
        cli_secs.push(t);
        restore(&seed, &even).await;
        let cpu = node_cpu_secs(&c);
        let t = cairn_apply(&seed, cli_moves.clone(), Method::Legacy, Limits::default()).await;
        let cairn_cpu = cpu_since(&c, &cpu);
        legacy_secs.push(t);
        restore(&seed, &even).await;
        println!(
            "cycle {cycle}: the same {} moves: redis-cli {:.2} s, cairn legacy {t:.2} s; \
             CPU seconds per node (quotas {:?}%): redis-cli {cli_cpu:.3?}, cairn {cairn_cpu:.3?}",
            cli_moves.len(),
            cli_secs[cycle],
            WEIGHTS
                .iter()
                .map(|w| w * APPLY_LIMITS.unit_pct)
                .collect::<Vec<_>>(),
        );
    }

    // Client p99 while the same moves run, from the even layout each time.
    let (t_cli_load, r_cli) =
        load_during(&seed, &cfg, async { redis_cli_weighted(&seed, &ids) }).await;
    restore(&seed, &even).await;
    let mut under_load = vec![("redis-cli", t_cli_load, r_cli)];
    for (name, limits) in [
        ("cairn legacy, unthrottled", Limits::default()),
        (
            "cairn legacy, 10k keys/s",
            Limits {
                keys_per_sec: Some(10_000.0),
                parallel: None,
            },
        ),
        (
            "cairn, 10k keys/s, par. 16",
            Limits {
                keys_per_sec: Some(10_000.0),
                parallel: Some(16),
            },
        ),
    ] {
        let (t, r) = load_during(
            &seed,
            &cfg,
            cairn_apply(&seed, cli_moves.clone(), Method::Legacy, limits),
        )
        .await;
        restore(&seed, &even).await;
        under_load.push((name, t, r));
    }
    drop(c);

    // Cairn atomic on Valkey 9 with the same quotas, keys and moves (node i -> node i).
    let atomic = match std::env::var_os("CAIRN_VALKEY_SERVER") {
        None => None,
        Some(_) => {
            let v = start(Flavor::Valkey);
            let vseed = v.seed();
            let vfound = Cluster::discover(&vseed).await.expect("discover");
            populate(&vfound, &cfg.keys, 100, 100, 32)
                .await
                .expect("populate");
            let vids = master_ids(&v, &vfound);
            groups.attach(&v);
            let index = |id: &str| ids.iter().position(|x| x == id).expect("known id");
            let moves: Vec<Move> = cli_moves
                .iter()
                .map(|m| Move {
                    slot: m.slot,
                    from: vids[index(&m.from)].clone(),
                    to: vids[index(&m.to)].clone(),
                    keys: 0,
                    bytes: 0,
                })
                .collect();
            Some(cairn_apply(&vseed, moves, Method::Atomic, Limits::default()).await)
        }
    };

    let (cli, legacy) = (median(&cli_secs), median(&legacy_secs));
    println!(
        "\nthe same {} moves (redis-cli's weighted rebalance), no load: redis-cli {cli:.2} s {cli_secs:.2?}, \
         cairn legacy {legacy:.2} s {legacy_secs:.2?} ({:.1}x faster){}",
        cli_moves.len(),
        cli / legacy,
        atomic.map_or(String::new(), |a| format!(
            ", cairn atomic (Valkey 9) {a:.2} s"
        ))
    );
    println!(
        "under load (64 clients x pipeline 8, closed loop; worst 1-s slice during the migration):"
    );
    for (name, t, r) in under_load {
        println!(
            "  {name:<26} {t:>6.2} s   p99 {:>7.2} ms   {:>8.0} ops/s",
            r.latency.p99_us as f64 / 1000.0,
            r.ops_per_sec
        );
    }
}

#[tokio::main]
async fn main() {
    let keys = env_or("KEYS", 200_000);
    let secs = env_or("SECS", 4);
    let part = std::env::var("PART").unwrap_or_else(|_| "all".into());
    let groups = Cgroups::create();
    let _isolation = Isolation::create();
    println!(
        "{} Redis 7 masters of weights {:?}, {keys} keys, Zipf 0.99, 80% reads",
        WEIGHTS.len(),
        *WEIGHTS
    );
    if part == "all" || part == "layouts" {
        let prefixes = std::env::var("PREFIXES").unwrap_or_else(|_| PREFIXES.into());
        let mut runs = Vec::new();
        for prefix in prefixes.split(',') {
            runs.push(layouts(&groups, prefix, keys, secs).await);
        }
        print_layouts(&runs, keys, secs);
    }
    if part == "all" || part == "apply" {
        apply_times(&groups, keys, env_or("CYCLES", 2) as usize).await;
    }
}
