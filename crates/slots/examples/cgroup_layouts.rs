//! Slot layouts on unequal nodes: 6 Redis 7 masters capped with cgroup v1 CPU quotas, a Zipf
//! 0.99 load with 80% reads from Cairn's own load generator, and the throughput and p99 latency
//! after each layout:
//! - `even`: the count-balanced layout `redis-cli --cluster create` leaves;
//! - `redis-cli weighted`: `redis-cli --cluster rebalance --cluster-weight` with the true
//!   capacities (the quota ratios);
//! - `cairn origin` and `cairn load`: Cairn's plans with the true capacities as weights (`load`
//!   also with per-slot load from an access log recorded by the load generator).
//!
//! Then the time to apply the SAME moves (those redis-cli's weighted rebalance made) with
//! redis-cli, Cairn legacy and, on a Valkey 9 cluster with the same quotas, Cairn atomic; and the
//! client p99 while they run, with and without `--max-keys-per-sec`.
//!
//! Must run as root on a host with the cgroup v1 `cpu` controller at /sys/fs/cgroup/cpu:
//! `sudo -E cargo run --release -p cairn-slots --example cgroup_layouts`
//! Environment: `CYCLES` (default 2: every layout measured in each cycle, interleaved), `RUNS`
//! (load runs per layout and cycle, default 2), `SECS` (seconds per run, default 6), `KEYS`
//! (default 200000), `CAIRN_VALKEY_SERVER` (the atomic part is skipped without it).

use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::{BenchConfig, BenchReport, populate, run as run_bench};
use cairn_slots::cluster::Cluster;
use cairn_slots::fix;
use cairn_slots::measure::access_log::read_access_log;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots::migrate::{ApplyOptions, Method, Silent, apply};
use cairn_slots_planner::{Mode, Move, Ownership, Plan, Policy, plan};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, redis_cli};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// CPU share of each master, percent of one core. The host has 2 cores shared with other work
/// and with the load generator, so the quotas sum to 0.7 core: every node is bound by its quota,
/// not by the host.
const QUOTAS: [u64; 6] = [20, 20, 10, 10, 5, 5];
/// CFS period: 20 ms (5% of it is the kernel's 1 ms minimum quota; shorter periods keep the
/// throttling pauses, which show in p99, short).
const PERIOD_US: u64 = 20_000;
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

fn cgroup(name: &str, quota_pct: Option<u64>) -> PathBuf {
    let dir = PathBuf::from(CPU_ROOT).join(name);
    std::fs::create_dir_all(&dir).expect("create cgroup (run as root, cgroup v1 cpu)");
    std::fs::write(dir.join("cpu.shares"), SHARES.to_string()).expect("cpu.shares");
    if let Some(pct) = quota_pct {
        std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())
            .expect("cpu.cfs_period_us");
        std::fs::write(
            dir.join("cpu.cfs_quota_us"),
            (PERIOD_US * pct / 100).to_string(),
        )
        .expect("cpu.cfs_quota_us");
    }
    dir
}

impl Cgroups {
    fn create() -> Cgroups {
        let dirs = QUOTAS
            .iter()
            .enumerate()
            .map(|(i, pct)| cgroup(&format!("cairn-layouts-{i}"), Some(*pct)))
            .collect();
        let client = cgroup("cairn-layouts-client", None);
        std::fs::write(client.join("cgroup.procs"), std::process::id().to_string())
            .expect("attach the load generator");
        Cgroups { dirs, client }
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

fn start(flavor: Flavor) -> RedisCluster {
    RedisCluster::start(ClusterSpec {
        flavor,
        masters: QUOTAS.len(),
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
        .zip(QUOTAS)
        .map(|(id, q)| (id.clone(), q as f64))
        .collect()
}

fn bench_config(keys: u64, secs: u64) -> BenchConfig {
    let mut cfg = BenchConfig::new(KeySpace::spread("z:", keys));
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
    cairn_apply(seed, p.moves, Method::Legacy, Limits::default()).await;
    n
}

#[derive(Default)]
struct Samples {
    ops: Vec<f64>,
    p99: Vec<f64>,
    skew: Vec<f64>,
}

impl Samples {
    fn add(&mut self, r: &BenchReport, addrs: &[String]) {
        self.ops.push(r.ops_per_sec);
        self.p99.push(r.latency.p99_us as f64 / 1000.0);
        self.skew.push(skew(r, addrs));
    }
}

/// Max/mean over nodes of requests served per unit of CPU quota (1.0: every node busy in
/// proportion to its capacity). Robust to host noise, unlike ops/s.
fn skew(r: &BenchReport, addrs: &[String]) -> f64 {
    let per: Vec<f64> = addrs
        .iter()
        .zip(QUOTAS)
        .map(|(a, q)| r.per_node.get(a).copied().unwrap_or(0) as f64 / q as f64)
        .collect();
    let mean = per.iter().sum::<f64>() / per.len() as f64;
    per.iter().copied().fold(0.0, f64::max) / mean
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{lo:.0}-{hi:.0}")
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

#[tokio::main]
async fn main() {
    let cycles = env_or("CYCLES", 2) as usize;
    let runs = env_or("RUNS", 2) as usize;
    let secs = env_or("SECS", 6);
    let keys = env_or("KEYS", 200_000);
    let cfg = bench_config(keys, secs);
    let groups = Cgroups::create();

    let c = start(Flavor::Redis);
    let seed = c.seed();
    let found = Cluster::discover(&seed).await.expect("discover");
    populate(&found, &cfg.keys, 100, 100, 32)
        .await
        .expect("populate");
    let ids = master_ids(&c, &found);
    let addrs: Vec<String> = c.nodes().iter().map(|n| n.addr()).collect();
    let even = found.ownership();
    groups.attach(&c);
    println!(
        "6 Redis 7 masters, CPU quotas {QUOTAS:?}% of a core (period {PERIOD_US} us), {keys} keys, \
         Zipf 0.99, 80% reads, 64 clients x pipeline 8, {runs} x {secs} s per layout and cycle, {cycles} cycles"
    );

    // The access log for the load plan: per-slot reads and writes of this very load.
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("access.log");
    let mut logged = cfg.clone();
    logged.duration = Duration::from_secs(4);
    logged.access_log = Some(log_path.clone());
    let log_secs = load(&seed, &logged).await.elapsed_secs;

    let names = ["even", "redis-cli weighted", "cairn origin", "cairn load"];
    let mut results: Vec<Samples> = (0..names.len()).map(|_| Samples::default()).collect();
    let mut cli_secs = Vec::new();
    let mut legacy_secs = Vec::new();
    let mut cli_moves = Vec::new();
    let mut plan_moves = [0usize; 2];
    for cycle in 0..cycles {
        for (i, name) in names.iter().enumerate() {
            match i {
                0 => {}
                1 => {
                    let t = redis_cli_weighted(&seed, &ids);
                    cli_moves = diff(&even, &ownership(&seed).await);
                    cli_secs.push(t);
                    println!(
                        "cycle {cycle}: redis-cli weighted rebalance: {} moves in {t:.2} s",
                        cli_moves.len()
                    );
                }
                2 => plan_moves[0] = cairn_layout(&seed, &ids, Mode::Origin, None).await,
                _ => {
                    plan_moves[1] =
                        cairn_layout(&seed, &ids, Mode::Load, Some((log_path.clone(), log_secs)))
                            .await
                }
            }
            for _ in 0..runs {
                let r = load(&seed, &cfg).await;
                println!(
                    "cycle {cycle}: {name:<20} {:>8.0} ops/s  p99 {:>6.2} ms  served/quota max/mean {:.2}  per node {:?}",
                    r.ops_per_sec,
                    r.latency.p99_us as f64 / 1000.0,
                    skew(&r, &addrs),
                    addrs
                        .iter()
                        .map(|a| r.per_node.get(a).copied().unwrap_or(0))
                        .collect::<Vec<_>>()
                );
                results[i].add(&r, &addrs);
            }
        }
        // Back to the even layout, then the redis-cli moves again with Cairn legacy (no load).
        cairn_apply(
            &seed,
            diff(&ownership(&seed).await, &even),
            Method::Legacy,
            Limits::default(),
        )
        .await;
        let t = cairn_apply(&seed, cli_moves.clone(), Method::Legacy, Limits::default()).await;
        legacy_secs.push(t);
        println!(
            "cycle {cycle}: cairn legacy, the same {} moves: {t:.2} s",
            cli_moves.len()
        );
        cairn_apply(
            &seed,
            diff(&ownership(&seed).await, &even),
            Method::Legacy,
            Limits::default(),
        )
        .await;
    }

    // Client p99 while the same moves run, from the even layout each time.
    let (t_cli_load, r_cli) =
        load_during(&seed, &cfg, async { redis_cli_weighted(&seed, &ids) }).await;
    restore(&seed, &even).await;
    let (t_fast, r_fast) = load_during(
        &seed,
        &cfg,
        cairn_apply(&seed, cli_moves.clone(), Method::Legacy, Limits::default()),
    )
    .await;
    restore(&seed, &even).await;
    let slow = Limits {
        keys_per_sec: Some(10_000.0),
        parallel: None,
    };
    let (t_slow, r_slow) = load_during(
        &seed,
        &cfg,
        cairn_apply(&seed, cli_moves.clone(), Method::Legacy, slow),
    )
    .await;
    restore(&seed, &even).await;
    let gentle = Limits {
        keys_per_sec: Some(10_000.0),
        parallel: Some(16),
    };
    let (t_gentle, r_gentle) = load_during(
        &seed,
        &cfg,
        cairn_apply(&seed, cli_moves.clone(), Method::Legacy, gentle),
    )
    .await;
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

    println!(
        "\nlayout                 ops/s (median, range)     p99 ms (median, range)   served/quota max/mean   moves"
    );
    for (i, name) in names.iter().enumerate() {
        let moves = match i {
            1 => cli_moves.len().to_string(),
            2 => plan_moves[0].to_string(),
            3 => plan_moves[1].to_string(),
            _ => "-".into(),
        };
        println!(
            "{name:<22} {:>8.0} ({:>13})   {:>6.2} ({:>11})   {:>5.2}                  {moves}",
            median(&results[i].ops),
            range(&results[i].ops),
            median(&results[i].p99),
            range(&results[i].p99),
            median(&results[i].skew),
        );
    }
    let base = median(&results[1].ops);
    println!(
        "cairn load / redis-cli weighted throughput: {:.2}x; cairn origin / redis-cli: {:.2}x",
        median(&results[3].ops) / base,
        median(&results[2].ops) / base
    );
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
    println!("under load (worst 1-s slice during the migration):");
    for (name, t, r) in [
        ("redis-cli", t_cli_load, &r_cli),
        ("cairn legacy, unthrottled", t_fast, &r_fast),
        ("cairn legacy, 10k keys/s", t_slow, &r_slow),
        ("cairn, 10k keys/s, par. 16", t_gentle, &r_gentle),
    ] {
        println!(
            "  {name:<26} {t:>6.2} s   p99 {:>7.2} ms   {:>8.0} ops/s",
            r.latency.p99_us as f64 / 1000.0,
            r.ops_per_sec
        );
    }
}
