//! Shared helpers: cluster start-up and small checks.

use cairn_slots::bench::keys::KeySpace;
use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use cairn_slots::router::{Router, SlotMap};
use cairn_slots::slot::slot_of;
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, RedisNode, Reply};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Starts a cluster of `masters` masters with `replicas` replicas each.
pub fn cluster(flavor: Flavor, masters: usize, replicas: usize) -> RedisCluster {
    RedisCluster::start(ClusterSpec {
        flavor,
        masters,
        replicas,
    })
}

/// The numeric field `field` of what `node` answers to `info` (`INFO stats`, `CLUSTER INFO`...).
pub fn info_field(node: &RedisNode, info: &[&str], field: &str) -> u64 {
    let text = node.command(info).unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Keys on all masters (replicas excluded).
pub fn dbsize_sum(c: &RedisCluster) -> i64 {
    c.nodes()
        .iter()
        .filter(|n| {
            let info = n
                .command(&["INFO", "replication"])
                .ok()
                .and_then(|r| r.text())
                .unwrap_or_default();
            info.contains("role:master")
        })
        .map(|n| match n.command(&["DBSIZE"]) {
            Ok(Reply::Int(k)) => k,
            other => panic!("DBSIZE: {other:?}"),
        })
        .sum()
}

/// Moves `slot` with the legacy protocol by hand, `batch` keys per MIGRATE and a pause between
/// batches, so that clients meet the half-migrated state for a long time.
pub async fn migrate_slot_slowly(
    cluster: &Cluster,
    slot: u16,
    from: &str,
    to: &str,
    batch: usize,
    pause: Duration,
) {
    let src = cluster.client(from).unwrap();
    let dst = cluster.client(to).unwrap();
    let (host, port) = dst.addr().rsplit_once(':').unwrap();
    let ok = |r: Result<(), cairn_slots::SlotsError>| r.unwrap();
    ok(dst
        .query(
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(from),
        )
        .await);
    ok(src
        .query(
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("MIGRATING")
                .arg(to),
        )
        .await);
    loop {
        let keys: Vec<String> = src
            .query(
                redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(slot)
                    .arg(batch),
            )
            .await
            .unwrap();
        if keys.is_empty() {
            break;
        }
        let mut m = redis::cmd("MIGRATE");
        m.arg(host)
            .arg(port)
            .arg("")
            .arg(0)
            .arg(10_000)
            .arg("KEYS")
            .arg(&keys);
        let _: String = src.query(&m).await.unwrap();
        tokio::time::sleep(pause).await;
    }
    for id in std::iter::once(to).chain(std::iter::once(from)) {
        ok(cluster
            .client(id)
            .unwrap()
            .query(
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(to),
            )
            .await);
    }
    for m in cluster.masters().filter(|m| m.id() != from && m.id() != to) {
        ok(m.client
            .as_ref()
            .unwrap()
            .query(
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(to),
            )
            .await);
    }
}

/// Asserts that every key of `keys` exists, reading through the cluster's current owners.
pub async fn all_keys_readable(found: &Cluster, keys: &KeySpace) {
    let mut router = Router::new(Arc::new(SlotMap::from_cluster(found)), Timeouts::default());
    let batch: Vec<_> = (0..keys.len())
        .map(|i| {
            let (k, s) = keys.key_and_slot(i);
            let mut c = redis::cmd("EXISTS");
            c.arg(k);
            (s, c)
        })
        .collect();
    for r in router.query_batch(batch).await {
        assert_eq!(r.unwrap(), redis::Value::Int(1));
    }
}

/// Writes `SET w<w>:<i> i` through the router until `stop`; returns the acknowledged writes, the
/// number of failed ones and the redirections met.
pub async fn writer(
    w: usize,
    map: Arc<SlotMap>,
    stop: Arc<AtomicBool>,
) -> (Vec<(String, u64)>, u64, u64) {
    let mut router = Router::new(map, Timeouts::default());
    let (mut acked, mut failed) = (Vec::new(), 0);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("w{w}:{i}");
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(i);
        match router.query(slot_of(key.as_bytes()), cmd).await {
            Ok(_) => acked.push((key, i)),
            Err(_) => failed += 1,
        }
        i += 1;
    }
    (acked, failed, router.redirects.moved + router.redirects.ask)
}
