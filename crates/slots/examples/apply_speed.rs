//! Time to drain one master of a 3-master cluster (about 5461 slots, 66.7k small keys):
//! redis-cli --cluster rebalance with weight 0 versus Cairn's legacy (serial and parallel) and
//! atomic paths. Needs redis-server, redis-cli and a Valkey 9 server (see cairn-testkit).
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

const KEYS: u64 = 66_700;

async fn prepared(flavor: Flavor) -> (RedisCluster, Cluster) {
    let c = RedisCluster::start(ClusterSpec {
        flavor,
        masters: 3,
        replicas: 0,
    });
    let found = Cluster::discover(&c.seed()).await.expect("discover");
    populate(&found, &KeySpace::spread("k:", KEYS), 16, 100, 32)
        .await
        .expect("populate");
    (c, found)
}

async fn cairn(flavor: Flavor, method: Method, parallel: usize) {
    let (c, found) = prepared(flavor).await;
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
    opts.max_parallel = parallel;
    let t = Instant::now();
    let r = apply(&found, &p, &opts, &Silent).await.expect("apply");
    println!(
        "cairn {:<6} {:?} parallel {parallel}: {} slots, {} keys in {:.2} s (incl. final verification)",
        r.method,
        flavor,
        r.moves,
        r.keys,
        t.elapsed().as_secs_f64()
    );
    drop(c);
}

async fn redis_cli_rebalance() {
    let (c, found) = prepared(Flavor::Redis).await;
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
    println!("redis-cli rebalance Redis: drained to {left} slots in {secs:.2} s");
}

#[tokio::main]
async fn main() {
    redis_cli_rebalance().await;
    cairn(Flavor::Redis, Method::Legacy, 1).await;
    cairn(Flavor::Redis, Method::Legacy, 4).await;
    cairn(Flavor::Valkey, Method::Legacy, 4).await;
    cairn(Flavor::Valkey, Method::Atomic, 1).await;
}
