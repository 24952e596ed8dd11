//! Discovery, versions, health and load counters on real clusters.

use crate::support::cluster;
use cairn_slots::SlotsError;
use cairn_slots::client::NodeClient;
use cairn_slots::cluster::{Cluster, Problem};
use cairn_slots::info::ServerKind;
use cairn_slots::slot::slot_of;
use cairn_slots::stats;
use cairn_testkit::redis::Flavor;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_masters_replicas_and_versions() {
    for flavor in Flavor::ALL {
        let c = cluster(flavor, 3, 1);
        let found = Cluster::discover(&c.seed()).await.unwrap();
        assert_eq!(found.nodes().len(), 6);
        assert_eq!(found.masters().count(), 3);
        for n in found.nodes() {
            let server = n.server.expect("every node answered INFO");
            match flavor {
                Flavor::Redis => assert_eq!((server.kind, server.major), (ServerKind::Redis, 7)),
                Flavor::Valkey => assert_eq!((server.kind, server.major), (ServerKind::Valkey, 9)),
                Flavor::Valkey8 => {
                    assert_eq!((server.kind, server.major), (ServerKind::Valkey, 8))
                }
                Flavor::Redis8 => assert_eq!((server.kind, server.major), (ServerKind::Redis, 8)),
            }
            if !n.line.is_master() {
                let master = n.line.master_id.as_deref().unwrap();
                assert!(found.node(master).unwrap().line.is_master());
            }
        }
        let own = found.ownership();
        assert!(own.uncovered().is_empty());
        assert_eq!(found.owner(0), own.owner(0));
        found.require_healthy().await.unwrap();
        // Any node works as a seed and yields the same fingerprint.
        let other = Cluster::discover(&c.nodes()[4].addr()).await.unwrap();
        assert_eq!(other.fingerprint(), found.fingerprint());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_seed_and_non_cluster_node_are_clear_errors() {
    let port = cairn_testkit::process::free_port();
    let err = Cluster::discover(&format!("127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, SlotsError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach"), "{err}");
    let err = Cluster::discover("nonsense").await.unwrap_err();
    assert!(matches!(err, SlotsError::BadAddress { .. }), "{err}");
    let standalone = cairn_testkit::redis::RedisServer::start(Flavor::Redis);
    let err = Cluster::discover(&standalone.addr()).await.unwrap_err();
    assert!(matches!(err, SlotsError::NotCluster { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_makes_the_cluster_unhealthy() {
    let mut c = cluster(Flavor::Redis, 3, 1);
    c.kill_node(3);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let dead = found
        .nodes()
        .iter()
        .find(|n| n.client.is_none())
        .expect("one node is down");
    assert!(dead.error.as_deref().unwrap().contains("cannot reach"));
    let health = found.health().await;
    assert!(
        health
            .problems
            .iter()
            .any(|p| matches!(p, Problem::NodeDown { .. })),
        "{:?}",
        health.problems
    );
    let err = found.require_healthy().await.unwrap_err().to_string();
    assert!(
        err.contains("is down") && err.contains("bring the node back"),
        "{err}"
    );
    assert!(found.client(dead.id()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_stats_count_keys_and_cpu_on_valkey() {
    let c = cluster(Flavor::Valkey, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let slot = slot_of(b"foo");
    let owner = found.client(found.owner(slot).unwrap()).unwrap();
    let before = stats::slot_stats(owner, slot, slot).await.unwrap();
    for i in 0..50 {
        let _: () = owner
            .query(redis::cmd("SET").arg(format!("{{foo}}{i}")).arg("v"))
            .await
            .unwrap();
    }
    let after = stats::slot_stats(owner, slot, slot).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].key_count, 50);
    let delta = before[0].delta(&after[0]).unwrap();
    assert!(delta.cpu_usec > 0 && delta.net_in > 0, "{delta:?}");
    assert_eq!(stats::count_keys_in_slot(owner, slot).await.unwrap(), 50);
    assert!(
        !stats::enable_slot_stats(owner).await.unwrap(),
        "already enabled by the harness"
    );
    let node = stats::node_stats(owner).await.unwrap();
    assert_eq!(node.keys, 50);
    assert!(node.used_memory > 0 && node.total_commands > 50);
    // Redis 7.0 has no SLOT-STATS: the error says which command failed.
    let r = cluster(Flavor::Redis, 3, 0);
    let client = NodeClient::connect(&r.seed()).await.unwrap();
    let err = stats::slot_stats(&client, 0, 10)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("CLUSTER SLOT-STATS"), "{err}");
}
