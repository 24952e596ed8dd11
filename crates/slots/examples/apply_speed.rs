//! Time to drain one master of a 3-master Redis 7 cluster (5461 slots go to the two others):
//! `redis-cli --cluster rebalance --cluster-weight <drained>=0` against Cairn's legacy apply of
//! the same drain (same slots leave the same node; redis-cli picks its own split between the two
//! receivers), with empty slots and with 100k small keys spread over all slots (about 33.3k of
//! them move). The two tools run on fresh, identical clusters, interleaved, `ROUNDS` times
//! (default 2), and the ratio of the medians is printed. Cairn's atomic path is timed once per
//! key count for reference, on Valkey 9 (`CLUSTER MIGRATESLOTS`, when `CAIRN_VALKEY_SERVER` is
//! set) and on Redis 8.6 (`CLUSTER MIGRATION IMPORT`, when `CAIRN_REDIS8_SERVER` is set).
//!
//! `cargo run --release -p cairn-slots --example apply_speed`

use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::populate;
use cairn_slots::cluster::Cluster;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use cairn_slots::migrate::{ApplyOptions, Method, Silent, apply};
use cairn_slots_planner::{Mode, Policy, plan};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, redis_cli};
use std::time::{Duration, Instant};

async fn prepared(flavor: Flavor, keys: u64) -> (RedisCluster, Cluster) {
    let c = RedisCluster::start(ClusterSpec {
        flavor,
        masters: 3,
        replicas: 0,
    });
    let found = Cluster::discover(&c.seed()).await.expect("discover");
    if keys > 0 {
        populate(&found, &KeySpace::spread("k:", keys), 16, 100, 32)
            .await
            .expect("populate");
    }
    (c, found)
}

/// Seconds for Cairn to drain the first master, including the final verification.
async fn cairn(flavor: Flavor, method: Method, keys: u64) -> f64 {
    let (c, found) = prepared(flavor, keys).await;
    let drained = found.masters().next().expect("a master").id().to_string();
    let cfg = MeasureConfig {
        window: Duration::ZERO,
        sample_keys: 0,
        capacity: CapacityConfig::Weights(vec![(drained, 0.0)]),
        ..MeasureConfig::default()
    };
    let snap = measure(&found, &cfg).await.expect("measure");
    let p = plan(
        &snap,
        &Policy {
            mode: Mode::Count,
            use_empty_masters: false,
            ..Policy::default()
        },
    )
    .expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ApplyOptions::new(dir.path().join("journal"));
    opts.method = method;
    let t = Instant::now();
    let r = apply(&found, &p, &opts, &Silent).await.expect("apply");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  cairn {:<6} {flavor:?}: {} slots, {} keys in {secs:.2} s",
        r.method, r.moves, r.keys
    );
    drop(c);
    secs
}

/// Seconds for redis-cli to drain the first master.
async fn redis_cli_rebalance(keys: u64) -> f64 {
    let (c, found) = prepared(Flavor::Redis, keys).await;
    let drained = found.masters().next().expect("a master").id().to_string();
    let t = Instant::now();
    let out = std::process::Command::new(redis_cli())
        .args([
            "--cluster",
            "rebalance",
            &c.seed(),
            "--cluster-weight",
            &format!("{drained}=0"),
        ])
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs = t.elapsed().as_secs_f64();
    let after = Cluster::discover(&c.seed()).await.expect("discover");
    let left = after.ownership().slots_of(&drained).len();
    println!("  redis-cli rebalance Redis: drained to {left} slots in {secs:.2} s");
    secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    for keys in [0u64, 100_000] {
        println!("drain 1 of 3 masters, {keys} keys in the cluster, {rounds} rounds:");
        let (mut cli, mut legacy) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            cli.push(redis_cli_rebalance(keys).await);
            legacy.push(cairn(Flavor::Redis, Method::Legacy, keys).await);
        }
        let (cli, legacy) = (median(cli), median(legacy));
        println!(
            "  => redis-cli {cli:.2} s, cairn legacy {legacy:.2} s (medians): {:.1}x faster",
            cli / legacy
        );
        if std::env::var_os("CAIRN_VALKEY_SERVER").is_some() {
            cairn(Flavor::Valkey, Method::Atomic, keys).await;
        }
        if std::env::var_os("CAIRN_REDIS8_SERVER").is_some() {
            cairn(Flavor::Redis8, Method::Atomic, keys).await;
        }
    }
}
