//! The watch loop: lease with fencing, one acting replica, churn budget, metrics endpoint.

use crate::support::cluster;
use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use cairn_slots::lease::Lease;
use cairn_slots::measure::{CapacityConfig, MeasureConfig};
use cairn_slots::migrate::{ApplyOptions, Silent};
use cairn_slots::router::{Router, SlotMap};
use cairn_slots::watch::{WatchConfig, WatchMetrics, run, serve_metrics};
use cairn_slots_planner::{Mode, Policy};
use cairn_testkit::redis::Flavor;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_has_one_holder_and_increasing_tokens() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let map = Arc::new(SlotMap::from_cluster(&found));
    let mut ra = Router::new(map.clone(), Timeouts::default());
    let mut rb = Router::new(map, Timeouts::default());
    let ttl = Duration::from_millis(400);
    let mut a = Lease::new("t", "a", ttl);
    let mut b = Lease::new("t", "b", ttl);
    assert!(a.acquire_or_renew(&mut ra).await.unwrap());
    assert!(!b.acquire_or_renew(&mut rb).await.unwrap());
    assert!(a.acquire_or_renew(&mut ra).await.unwrap(), "renewal");
    assert!(a.still_held(&mut ra).await.unwrap());
    let first = a.token().unwrap();
    a.release(&mut ra).await.unwrap();
    assert!(b.acquire_or_renew(&mut rb).await.unwrap());
    let second = b.token().unwrap();
    assert!(
        second > first,
        "fencing tokens increase: {first} then {second}"
    );
    // b stops renewing; after the ttl, a takes over and b's renewal fails.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert!(a.acquire_or_renew(&mut ra).await.unwrap());
    assert!(a.token().unwrap() > second);
    assert!(!b.still_held(&mut rb).await.unwrap());
    assert!(!b.acquire_or_renew(&mut rb).await.unwrap());
    // A stale holder cannot release the new holder's lease.
    b.release(&mut rb).await.unwrap();
    assert!(a.still_held(&mut ra).await.unwrap());
}

fn config(
    heavy: &str,
    rounds: usize,
    interval_ms: u64,
    dir: &tempfile::TempDir,
    holder: &str,
) -> WatchConfig {
    WatchConfig {
        interval: Duration::from_millis(interval_ms),
        trigger: 1.25,
        sustain: Duration::ZERO,
        max_moves: 30,
        measure: MeasureConfig {
            window: Duration::ZERO,
            sample_keys: 0,
            capacity: CapacityConfig::Weights(vec![(heavy.to_string(), 3.0)]),
            ..MeasureConfig::default()
        },
        policy: Policy::with_mode(Mode::Count),
        apply: ApplyOptions::new(dir.path().join(format!("journal-{holder}"))),
        lease_name: "watch-test".into(),
        holder: holder.into(),
        lease_ttl: Duration::from_secs(5),
        rounds: Some(rounds),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_rebalances_within_the_churn_budget() {
    let c = cluster(Flavor::Redis, 3, 0);
    let seed = c.seed();
    let found = Cluster::discover(&seed).await.unwrap();
    let heavy = found.masters().next().unwrap().id().to_string();
    let before = found.ownership().slots_of(&heavy).len();
    let dir = tempfile::tempdir().unwrap();
    let ma = Arc::new(Mutex::new(WatchMetrics::default()));
    let mb = Arc::new(Mutex::new(WatchMetrics::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_metrics(listener, ma.clone()));

    let (ca, cb) = (
        config(&heavy, 4, 400, &dir, "a"),
        config(&heavy, 2, 200, &dir, "b"),
    );
    let (sa, sb, ma2, mb2) = (seed.clone(), seed.clone(), ma.clone(), mb.clone());
    let a = tokio::spawn(async move { run(&sa, &ca, ma2, &Silent).await });
    // Start the second replica once the first holds the lease.
    for _ in 0..200 {
        if ma.lock().unwrap().leader {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        ma.lock().unwrap().leader,
        "the first replica took the lease"
    );
    let b = tokio::spawn(async move { run(&sb, &cb, mb2, &Silent).await });
    b.await.unwrap().unwrap();
    let mb = mb.lock().unwrap().clone();
    assert!(
        !mb.leader && mb.moves == 0 && mb.rounds == 2,
        "the second replica stood by: {mb:?}"
    );
    a.await.unwrap().unwrap();
    let ma_now = ma.lock().unwrap().clone();
    assert_eq!(ma_now.applied_rounds, 4, "{ma_now:?}");
    assert_eq!(ma_now.moves, 120);
    assert!(
        ma_now.worst_load > 1.25 && ma_now.lower_bound >= 1.0,
        "{ma_now:?}"
    );
    let after = Cluster::discover(&seed).await.unwrap();
    assert_eq!(after.ownership().slots_of(&heavy).len(), before + 120);
    after.require_healthy().await.unwrap();

    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    sock.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    sock.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.0 200 OK"), "{body}");
    assert!(body.contains("cairn_slots_moves_total 120\n"), "{body}");
    assert!(body.contains("# TYPE cairn_slots_leader gauge"), "{body}");
    server.abort();
}
