//! Shared helpers: cluster start-up and small synchronous checks.

use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster};

/// Starts a cluster of `masters` masters with `replicas` replicas each.
pub fn cluster(flavor: Flavor, masters: usize, replicas: usize) -> RedisCluster {
    RedisCluster::start(ClusterSpec {
        flavor,
        masters,
        replicas,
    })
}
