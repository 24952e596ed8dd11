//! `cairn slots ...` against a real Valkey 8.0 cluster: `CLUSTER
//! SLOT-STATS` exists (per-slot load) but atomic slot migration does not (apply uses legacy).

use crate::{cairn, count_plan, json_of, master_keys};
use cairn_slots_planner::{LoadSource, Snapshot};
use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster};
use std::process::Command;

fn my_id(c: &RedisCluster, i: usize) -> String {
    c.nodes()[i]
        .command(&["CLUSTER", "MYID"])
        .unwrap()
        .text()
        .unwrap()
}

/// status, measure, plan, apply (auto = legacy), fix, on 3 masters with and without replicas.
#[test]
fn status_measure_plan_apply_fix_on_valkey8() {
    for replicas in [0, 1] {
        let c = RedisCluster::start(ClusterSpec {
            flavor: Flavor::Valkey8,
            masters: 3,
            replicas,
        });
        let seed = c.seed();
        let total = 3 * (1 + replicas);
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
        assert_eq!(nodes.len(), total, "{j}");
        for n in nodes {
            assert_eq!(n["server"], "valkey 8.0.1", "{n}");
            assert_eq!(n["up"], true, "{n}");
        }
        let slots: u64 = nodes
            .iter()
            .map(|n| n["slot_count"].as_u64().unwrap())
            .sum();
        assert_eq!(slots, 16384);
        assert!(j["problems"].as_array().unwrap().is_empty(), "{j}");
        assert!(j["slot_stats_note"].is_null(), "{j}");
        let top = j["top_slots"]
            .as_array()
            .expect("valkey 8 offers SLOT-STATS");
        assert!(!top.is_empty(), "{j}");
        assert!(top.iter().all(|s| s["keys"].as_u64().unwrap() > 0), "{j}");

        // measure: a 1 s window of SLOT-STATS deltas while a read/write load runs.
        let mut load = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["slots", "bench", &seed, "--keys", "3000", "--zipf", "0"])
            .args(["--clients", "2", "--duration", "3s"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let heavy = c.nodes()[0].addr();
        let weight = format!("{heavy}=3");
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
        assert_eq!(s.nodes.len(), total);
        let loads = s.slot_load.as_slice();
        assert!(loads.iter().map(|l| l.keys).sum::<u64>() >= 3000);
        let busy = loads.iter().filter(|l| l.cpu_usec_per_sec > 0.0).count();
        assert!(busy > 100, "slots with CPU in the window: {busy}");
        assert!(loads.iter().any(|l| l.net_in_bytes_per_sec > 0.0));
        assert!(loads.iter().any(|l| l.net_out_bytes_per_sec > 0.0));

        // plan + apply --method auto: no atomic migration on 8.0, so legacy.
        let plan = path("plan.json");
        count_plan(&snap, "60", &plan);
        let out = cairn(&[
            "slots",
            "apply",
            &plan,
            "--journal",
            &path("atomic-journal"),
            "--method",
            "atomic",
        ]);
        assert!(!out.status.success(), "atomic is refused on 8.0");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("needs CLUSTER MIGRATESLOTS"), "{err}");
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
        assert_eq!(j["method"], "legacy", "{j}");
        assert_eq!(j["moves"], 60, "{j}");
        assert!(j["keys"].as_u64().unwrap() > 0, "{j}");
        assert_eq!(master_keys(&c), 3000);

        // fix: slot 0 left open (node 0 migrating it to node 1) is finished.
        let (id0, id1) = (my_id(&c, 0), my_id(&c, 1));
        c.nodes()[1]
            .command(&["CLUSTER", "SETSLOT", "0", "IMPORTING", &id0])
            .unwrap();
        c.nodes()[0]
            .command(&["CLUSTER", "SETSLOT", "0", "MIGRATING", &id1])
            .unwrap();
        let j = json_of(&cairn(&["slots", "fix", &seed, "--dry-run", "--json"]));
        let actions = j["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{j}");
        assert_eq!(actions[0]["kind"], "finish-migration", "{j}");
        assert_eq!(actions[0]["slot"], 0, "{j}");
        let j = json_of(&cairn(&[
            "slots",
            "fix",
            &seed,
            "--json",
            "--journal",
            &path("fix-journal"),
        ]));
        assert_eq!(j["repaired"], 1, "{j}");
        assert_eq!(j["verified"], true, "{j}");
        let j = json_of(&cairn(&["slots", "fix", &seed, "--dry-run", "--json"]));
        assert!(j["actions"].as_array().unwrap().is_empty(), "{j}");
    }
}
