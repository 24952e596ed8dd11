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

fn dbsize_sum(c: &RedisCluster) -> i64 {
    c.nodes()
        .iter()
        .map(|n| match n.command(&["DBSIZE"]) {
            Ok(cairn_testkit::redis::Reply::Int(k)) => k,
            other => panic!("DBSIZE: {other:?}"),
        })
        .sum()
}

fn slot_count_of(seed: &str, addr: &str) -> u64 {
    let out = cairn(&["slots", "status", seed, "--json", "--interval", "10ms"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["addr"] == addr)
        .unwrap()["slot_count"]
        .as_u64()
        .unwrap()
}

/// The whole operator flow through the binary, with the balancer killed (SIGKILL) mid-apply and
/// finished by `resume`.
#[test]
fn measure_plan_apply_killed_then_resumed() {
    let c = RedisCluster::start(ClusterSpec {
        flavor: Flavor::Redis,
        masters: 3,
        replicas: 0,
    });
    let seed = c.seed();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let out = cairn(&[
        "slots",
        "bench",
        &seed,
        "--populate",
        "20000",
        "--populate-only",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(dbsize_sum(&c), 20000);

    let heavy = c.nodes()[0].addr();
    let weight = format!("{heavy}=3");
    let out = cairn(&[
        "slots",
        "measure",
        &seed,
        "--window",
        "0s",
        "--weight",
        &weight,
        "-o",
        &path("snap.json"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cairn(&[
        "slots",
        "plan",
        &path("snap.json"),
        "--mode",
        "count",
        "--max-moves",
        "400",
        "-o",
        &path("plan.json"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("moves: 400"), "{}", stdout(&out));
    // A snapshot is not a plan: refused with a one-line error.
    let out = cairn(&[
        "slots",
        "apply",
        &path("snap.json"),
        "--journal",
        &path("j"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a usable plan"),
        "{}",
        stderr(&out)
    );

    let before = slot_count_of(&seed, &heavy);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "slots",
            "apply",
            &path("plan.json"),
            "--journal",
            &path("journal"),
            "--method",
            "legacy",
        ])
        .args([
            "--max-parallel",
            "1",
            "--keys-per-migrate",
            "1",
            "--max-keys-per-sec",
            "100",
        ])
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "apply is throttled to take several seconds"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mid = slot_count_of(&seed, &heavy);
    assert!(
        mid > before && mid < before + 400,
        "killed part-way: {before} -> {mid}"
    );

    let out = cairn(&["slots", "resume", "--journal", &path("journal")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cluster verified"),
        "{}",
        stderr(&out)
    );
    assert_eq!(slot_count_of(&seed, &heavy), before + 400);
    assert_eq!(dbsize_sum(&c), 20000);
    let out = cairn(&["slots", "fix", &seed, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to fix"), "{}", stdout(&out));
    // The plan is now stale: apply refuses and changes nothing.
    let out = cairn(&[
        "slots",
        "apply",
        &path("plan.json"),
        "--journal",
        &path("j2"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cluster changed since the snapshot"),
        "{}",
        stderr(&out)
    );
}
