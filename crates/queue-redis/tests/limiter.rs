//! The shared rate limit: two backends (two servers' connections) on one standalone Redis 7.0,
//! a Valkey 9 server and a 3-master Redis 7.0 cluster spend one budget together; the window
//! slides; keys expire; a dead Redis is an error, not a hang.

mod common;

use cairn_queue_redis::limiter::Verdict;
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster, RedisServer, Reply, command};
use common::{backend, opts};
use std::time::Duration;

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

fn refused(v: Verdict) -> Duration {
    match v {
        Verdict::Refused { retry_after } => retry_after,
        Verdict::Allowed => panic!("allowed past the limit"),
    }
}

/// Two backends on `url` spend one budget of 5 per key, alternating; then both refuse.
async fn two_servers_share_one_budget(url: &str) {
    let o = opts("limit");
    let (a, b) = (backend(url, &o).await, backend(url, &o).await);
    let window = Duration::from_secs(3600);
    let (la, lb) = (a.limiter("login", 5, window), b.limiter("login", 5, window));
    let k = keys(&["ip:10.0.0.1", "email:eve@example.com"]);
    for i in 0..5 {
        let l = if i % 2 == 0 { &la } else { &lb };
        assert_eq!(l.try_attempt(&k).await.unwrap(), Verdict::Allowed, "{i}");
    }
    for l in [&la, &lb] {
        let wait = refused(l.try_attempt(&k).await.unwrap());
        assert!(wait > Duration::ZERO && wait <= window, "{wait:?}");
    }
    // The ip is full, so another email from it is refused too, and not recorded.
    let other = keys(&["ip:10.0.0.1", "email:bob@example.com"]);
    refused(lb.try_attempt(&other).await.unwrap());
    let fresh = keys(&["ip:10.0.0.2", "email:bob@example.com"]);
    for _ in 0..5 {
        assert_eq!(la.try_attempt(&fresh).await.unwrap(), Verdict::Allowed);
    }
    refused(lb.try_attempt(&fresh).await.unwrap());
    // Another limit name (and another deployment's tag) has budgets of its own.
    let runs = a.limiter("runs", 1, window);
    assert_eq!(runs.try_attempt(&k).await.unwrap(), Verdict::Allowed);
    let other_tag = backend(url, &opts("limit")).await;
    let elsewhere = other_tag.limiter("login", 5, window);
    assert_eq!(elsewhere.try_attempt(&k).await.unwrap(), Verdict::Allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_redis_servers_share_one_budget() {
    let server = RedisServer::start(Flavor::Redis);
    two_servers_share_one_budget(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_servers_share_one_budget() {
    let server = RedisServer::start(Flavor::Valkey);
    two_servers_share_one_budget(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_servers_share_one_budget() {
    let cluster = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Redis,
        masters: 3,
        replicas: 0,
    });
    two_servers_share_one_budget(&format!("redis+cluster://{}", cluster.seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_slides_and_keys_expire() {
    let server = RedisServer::start(Flavor::Redis);
    let o = opts("window");
    let (a, b) = (
        backend(&server.url(), &o).await,
        backend(&server.url(), &o).await,
    );
    let window = Duration::from_secs(2);
    let (la, lb) = (a.limiter("w", 2, window), b.limiter("w", 2, window));
    let k = keys(&["ip:1"]);
    assert_eq!(la.try_attempt(&k).await.unwrap(), Verdict::Allowed);
    // Half a window apart, so the second attempt is still in the window when the first leaves.
    tokio::time::sleep(window / 2).await;
    assert_eq!(lb.try_attempt(&k).await.unwrap(), Verdict::Allowed);
    let wait = refused(la.try_attempt(&k).await.unwrap());
    let key = format!("{{{}}}:limit:w:ip:1", o.key_tag);
    let Ok(Reply::Int(ttl)) = command(server.port(), &["PTTL", &key]) else {
        panic!("no TTL on {key}");
    };
    assert!(
        ttl > 0 && ttl <= 2000,
        "the key expires with its window: {ttl}"
    );
    let Ok(Reply::Int(members)) = command(server.port(), &["ZCARD", &key]) else {
        panic!("{key} is not a sorted set");
    };
    assert_eq!(members, 2, "refused attempts are not stored");
    // Once the oldest attempt has left the window (the server's clock), one more fits.
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(lb.try_attempt(&k).await.unwrap(), Verdict::Allowed);
    refused(la.try_attempt(&k).await.unwrap());
    tokio::time::sleep(window + Duration::from_millis(20)).await;
    let Ok(Reply::Int(exists)) = command(server.port(), &["EXISTS", &key]) else {
        panic!("EXISTS failed");
    };
    assert_eq!(exists, 0, "an idle key is gone after one window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_is_an_error_not_a_hang() {
    let mut server = RedisServer::start(Flavor::Redis);
    let mut o = opts("dead");
    o.op_timeout = Duration::from_secs(1);
    let b = backend(&server.url(), &o).await;
    let l = b.limiter("login", 5, Duration::from_secs(60));
    assert_eq!(
        l.try_attempt(&keys(&["ip:1"])).await.unwrap(),
        Verdict::Allowed
    );
    server.node().kill();
    let err = l.try_attempt(&keys(&["ip:1"])).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rate limit") && text.contains(&server.addr()) && !text.contains('\n'),
        "{text}"
    );
}
