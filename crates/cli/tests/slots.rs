//! `cairn slots ...` run as the built binary against real clusters.

use cairn_testkit::redis::{ClusterSpec, Flavor, RedisCluster};
use std::process::{Command, Output};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cairn")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn status_shows_nodes_as_table_and_json() {
    let c = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Redis,
        masters: 3,
        replicas: 1,
    });
    let seed = c.seed();
    let out = cairn(&["slots", "status", &seed, "--interval", "100ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("state ok"), "{text}");
    assert_eq!(text.matches("redis 7.0").count(), 6, "{text}");
    assert_eq!(text.matches("replica of").count(), 3, "{text}");
    assert!(text.contains("per-slot load is not offered"), "{text}");

    let out = cairn(&["slots", "status", &seed, "--json", "--interval", "100ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let nodes = json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    let slots: u64 = nodes
        .iter()
        .map(|n| n["slot_count"].as_u64().unwrap())
        .sum();
    assert_eq!(slots, 16384);
    assert!(json["problems"].as_array().unwrap().is_empty());
}

#[test]
fn status_lists_hot_slots_on_valkey() {
    let c = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Valkey,
        masters: 3,
        replicas: 0,
    });
    for i in 0..20 {
        let key = format!("k{i}");
        let owner = c.nodes().iter().find(|n| {
            !matches!(
                n.command(&["SET", &key, "v"]),
                Ok(cairn_testkit::redis::Reply::Error(_))
            )
        });
        assert!(owner.is_some());
    }
    let out = cairn(&[
        "slots",
        "status",
        &c.seed(),
        "--json",
        "--interval",
        "100ms",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let top = json["top_slots"]
        .as_array()
        .expect("valkey offers slot stats");
    assert!(!top.is_empty());
    let keys: u64 = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["stats"]["keys"].as_u64().unwrap())
        .sum();
    assert_eq!(keys, 20);
}

#[test]
fn unreachable_seed_is_one_line_error() {
    let port = cairn_testkit::process::free_port();
    let out = cairn(&["slots", "status", &format!("127.0.0.1:{port}")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach") && err.contains("check the address"),
        "{err}"
    );
}
