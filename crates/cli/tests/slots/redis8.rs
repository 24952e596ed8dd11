//! `cairn slots ...` against a real Redis 8.6 cluster: `CLUSTER SLOT-STATS` (per-slot load) and
//! atomic slot migration (`CLUSTER MIGRATION IMPORT`), which `--method auto` picks.

use crate::{cairn, count_plan, json_of, master_keys, refused};
use cairn_slots_planner::{LoadSource, Snapshot};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster};
use std::process::Command;
use std::time::{Duration, Instant};

/// status, measure, plan, apply (auto = atomic), fix, on 3 masters with a replica each.
#[test]
fn status_measure_plan_apply_fix_on_redis8() {
    let c = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Redis8,
        masters: 3,
        replicas: 1,
    });
    let seed = c.seed();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let out = cairn(&[
        "slots",
        "bench",
        &seed,
        "--populate",
        "3000",
        "--populate-only",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(master_keys(&c), 3000);

    // status: every node with its version, and per-slot load from SLOT-STATS.
    let j = json_of(&cairn(&[
        "slots",
        "status",
        &seed,
        "--json",
        "--interval",
        "200ms",
    ]));
    let nodes = j["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6, "{j}");
    for n in nodes {
        assert_eq!(n["server"], "redis 8.6.3", "{n}");
        assert_eq!(n["up"], true, "{n}");
    }
    assert!(j["problems"].as_array().unwrap().is_empty(), "{j}");
    assert!(j["slot_stats_note"].is_null(), "{j}");
    let top = j["top_slots"]
        .as_array()
        .expect("redis 8.6 offers SLOT-STATS");
    assert!(!top.is_empty(), "{j}");

    // measure: a 1 s window of SLOT-STATS deltas while a read/write load runs.
    let mut load = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["slots", "bench", &seed, "--keys", "3000", "--zipf", "0"])
        .args(["--clients", "2", "--duration", "3s"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let weight = format!("{}=3", c.nodes()[0].addr());
    let snap = path("snap.json");
    let out = cairn(&[
        "slots", "measure", &seed, "--window", "1s", "--weight", &weight, "-o", &snap,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(load.wait().unwrap().success());
    let s = Snapshot::from_json(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    assert_eq!(
        s.load_sources,
        vec![LoadSource::SlotStats, LoadSource::KeyCounts]
    );
    let loads = s.slot_load.as_slice();
    let busy = loads.iter().filter(|l| l.cpu_usec_per_sec > 0.0).count();
    assert!(busy > 100, "slots with CPU in the window: {busy}");
    assert!(loads.iter().any(|l| l.net_in_bytes_per_sec > 0.0));

    // plan + apply: a throttle cannot apply to atomic migration (one-line refusal); auto picks
    // atomic.
    let plan = path("plan.json");
    count_plan(&snap, "300", &plan);
    let out = cairn(&[
        "slots",
        "apply",
        &plan,
        "--journal",
        &path("throttled-journal"),
        "--method",
        "atomic",
        "--max-keys-per-sec",
        "100",
    ]);
    refused(&out, "cannot be throttled");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let j = json_of(&cairn(&[
        "slots",
        "apply",
        &plan,
        "--journal",
        &path("journal"),
        "--method",
        "auto",
        "--json",
    ]));
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(j["method"], "atomic", "{j}");
    assert_eq!(j["moves"], 300, "{j}");
    let after = json_of(&cairn(&["slots", "status", &seed, "--json"]));
    let slots_of_0 = after["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["addr"] == c.nodes()[0].addr())
        .map(|n| n["slot_count"].as_u64().unwrap());
    assert_eq!(slots_of_0, Some(5461 + 300), "{after}");
    // The sources drop the keys they gave away in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while master_keys(&c) != 3000 {
        assert!(Instant::now() < deadline, "keys: {}", master_keys(&c));
        std::thread::sleep(Duration::from_millis(50));
    }
    let j = json_of(&cairn(&["slots", "fix", &seed, "--dry-run", "--json"]));
    assert!(j["actions"].as_array().unwrap().is_empty(), "{j}");
}
