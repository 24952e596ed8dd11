//! Scheduler failover time: three `cairn scheduler` replicas on PostgreSQL and Redis; the
//! leader is killed with SIGKILL 20 times, and each time the time until another replica leads
//! is measured (by polling every replica's `/metrics`), printed next to the lease time to live.
//!
//! Run: `cargo bench -p cairn --bench scheduler_failover`.

#[path = "../tests/ha/deployment.rs"]
#[allow(dead_code)] // the tests use more of the harness than this benchmark
mod deployment;

use cairn_testkit::redis::{Flavor, RedisServer};
use deployment::{Deployment, LEASE_TTL};
use std::time::Duration;

const KILLS: usize = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let redis = RedisServer::start(Flavor::Redis);
    let mut d = Deployment::start(&redis.url(), 1, 0, 3).await;
    let (mut leader, _) = d.wait_leader(Duration::from_secs(60)).await;
    let mut times = Vec::with_capacity(KILLS);
    for i in 0..KILLS {
        d.schedulers[leader].process.kill();
        let (next, took) = d.wait_leader(Duration::from_secs(60)).await;
        println!(
            "kill {:>2}: replica {leader} -> {next} in {:>6.0} ms",
            i + 1,
            took.as_secs_f64() * 1e3
        );
        times.push(took);
        d.add_scheduler();
        leader = next;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ttl = Duration::from_secs(LEASE_TTL);
    println!();
    println!("lease TTL {:.0} ms, {KILLS} kills", ms(ttl));
    println!(
        "failover p50 {:.0} ms ({:.2} x TTL), p90 {:.0} ms, max {:.0} ms ({:.2} x TTL)",
        ms(times[KILLS / 2]),
        ms(times[KILLS / 2]) / ms(ttl),
        ms(times[KILLS * 9 / 10]),
        ms(times[KILLS - 1]),
        ms(times[KILLS - 1]) / ms(ttl),
    );
}
