//! `cairn slots ...` run as the built binary against real clusters.

mod redis8;
mod valkey8;

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

fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", stdout(o)))
}

/// Asserts that `out` failed with a message containing `why`.
fn refused(out: &Output, why: &str) {
    assert!(!out.status.success(), "expected a refusal: {}", stdout(out));
    assert!(stderr(out).contains(why), "{}", stderr(out));
}

/// `cairn slots plan <snap> --mode count --max-moves <moves> -o <plan>`, which must succeed.
fn count_plan(snap: &str, moves: &str, plan: &str) -> Output {
    let out = cairn(&[
        "slots",
        "plan",
        snap,
        "--mode",
        "count",
        "--max-moves",
        moves,
        "-o",
        plan,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    out
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

/// Keys on the masters (replicas hold copies).
fn master_keys(c: &RedisCluster) -> i64 {
    c.nodes()[..c.spec().masters]
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
    assert_eq!(master_keys(&c), 20000);

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
    let out = count_plan(&path("snap.json"), "400", &path("plan.json"));
    assert!(stdout(&out).contains("moves: 400"), "{}", stdout(&out));
    // A snapshot is not a plan: refused with a one-line error.
    let out = cairn(&[
        "slots",
        "apply",
        &path("snap.json"),
        "--journal",
        &path("j"),
    ]);
    refused(&out, "not a usable plan");

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
    assert_eq!(master_keys(&c), 20000);
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
    refused(&out, "cluster changed since the snapshot");
}

/// `--json` of apply, resume, fix (dry run and repair) and watch (one object per round).
#[test]
fn apply_resume_fix_and_watch_print_json() {
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
        "3000",
        "--populate-only",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let heavy = c.nodes()[0].addr();
    let weight = format!("{heavy}=3");
    let snap = path("snap.json");
    let plan = path("plan.json");
    let out = cairn(&[
        "slots", "measure", &seed, "--window", "0s", "--weight", &weight, "-o", &snap,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    count_plan(&snap, "60", &plan);

    let journal = path("journal");
    let j = json_of(&cairn(&[
        "slots",
        "apply",
        &plan,
        "--journal",
        &journal,
        "--method",
        "legacy",
        "--json",
    ]));
    assert_eq!(j["command"], "apply");
    assert_eq!(j["status"], "ok");
    assert_eq!(j["moves"], 60);
    assert_eq!(j["method"], "legacy");
    assert_eq!(j["stopped_early"], false);
    assert_eq!(j["journal"], journal.as_str());
    assert!(j["keys"].as_u64().unwrap() > 0, "{j}");
    assert!(j["elapsed_ms"].is_u64(), "{j}");
    assert_eq!(master_keys(&c), 3000);

    let j = json_of(&cairn(&[
        "slots",
        "resume",
        "--journal",
        &journal,
        "--json",
    ]));
    assert_eq!(j["command"], "resume");
    assert_eq!(j["status"], "nothing-to-do");
    assert_eq!(j["moves"], 0);

    // Open slot 0 by hand (node 0 migrating it to node 1): fix finds and finishes it.
    let id = |i: usize| {
        c.nodes()[i]
            .command(&["CLUSTER", "MYID"])
            .unwrap()
            .text()
            .unwrap()
    };
    let (id0, id1) = (id(0), id(1));
    c.nodes()[1]
        .command(&["CLUSTER", "SETSLOT", "0", "IMPORTING", &id0])
        .unwrap();
    c.nodes()[0]
        .command(&["CLUSTER", "SETSLOT", "0", "MIGRATING", &id1])
        .unwrap();
    let j = json_of(&cairn(&["slots", "fix", &seed, "--dry-run", "--json"]));
    assert_eq!(j["command"], "fix");
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["repaired"], 0);
    let actions = j["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{j}");
    assert_eq!(actions[0]["kind"], "finish-migration");
    assert_eq!(actions[0]["slot"], 0);
    assert_eq!(actions[0]["from"], id0.as_str());
    assert_eq!(actions[0]["to"], id1.as_str());
    assert!(
        actions[0]["description"]
            .as_str()
            .unwrap()
            .contains("slot 0")
    );
    let fix_journal = path("fix-journal");
    let j = json_of(&cairn(&[
        "slots",
        "fix",
        &seed,
        "--json",
        "--journal",
        &fix_journal,
    ]));
    assert_eq!(
        (j["dry_run"].clone(), j["repaired"].clone()),
        (false.into(), 1.into())
    );
    assert_eq!(j["verified"], true);
    let j = json_of(&cairn(&["slots", "fix", &seed, "--dry-run", "--json"]));
    assert!(j["actions"].as_array().unwrap().is_empty(), "{j}");

    // watch: the first round applies at most --max-moves slots and prints one JSON line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "slots",
            "watch",
            &seed,
            "--interval",
            "1s",
            "--window",
            "0s",
        ])
        .args(["--sustain", "0s", "--trigger", "1.01", "--mode", "count"])
        .args(["--weight", &weight, "--max-moves", "20", "--json"])
        .args(["--journal", &path("watch-journal")])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let round: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(round["round"], 1, "{round}");
    assert_eq!(round["leader"], true, "{round}");
    assert_eq!(round["action"], "applied", "{round}");
    assert!(round["worst_load"].as_f64().unwrap() > 1.01, "{round}");
    assert_eq!(round["planned_moves"], 20, "{round}");
    assert_eq!(round["apply"]["moves"], 20, "{round}");
    assert!(round["error"].is_null(), "{round}");
}
