//! The `cairn` binary's own life cycle: users created from the command line, and a server killed
//! in the middle of a query and started again.

use cairn_testkit::process::{ChildGuard, free_port};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn cairn() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    for var in [
        "REDASH_DATABASE_URL",
        "REDASH_SECRET_KEY",
        "CAIRN_BIND",
        "CAIRN_DATA_DIR",
        "CAIRN_ADMIN_EMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// `cairn up` on `data_dir`; returns the process, its base URL and what it printed so far.
fn start(data_dir: &Path, log_name: &str) -> (ChildGuard, String, String) {
    let port = free_port();
    let log = data_dir.parent().unwrap().join(log_name);
    let mut cmd = cairn();
    cmd.args(["up", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir);
    let mut process = ChildGuard::spawn("cairn up", &mut cmd, &log);
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Cairn is running on") {
            return (process, format!("http://127.0.0.1:{port}"), text);
        }
        assert!(process.is_running(), "cairn up exited:\n{text}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cairn up not listening:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn printed_key(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("API key:"))
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|| panic!("no API key printed:\n{text}"))
}

async fn call(
    key: &str,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .header("Authorization", format!("Key {key}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[test]
fn users_create_prints_a_working_key_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = cairn()
        .args([
            "users",
            "create",
            "--admin",
            "--email",
            "ops@example.com",
            "--password",
            "long enough",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = printed_key(&stdout);
    assert!(
        !stdout.contains("password:"),
        "a given password is not printed back: {stdout}"
    );

    let again = cairn()
        .args([
            "users",
            "create",
            "--email",
            "ops@example.com",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8(again.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("ops@example.com"), "{err}");

    let bad = cairn()
        .args(["users", "create", "--email", "not-an-email", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--email"));

    // A server on that data directory creates no second admin and accepts the key.
    let (_server, url, text) = start(&data, "up.log");
    assert!(
        !text.contains("API key:"),
        "users exist: no admin is created: {text}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, session) = rt.block_on(call(
        &key,
        reqwest::Method::GET,
        format!("{url}/api/session"),
        None,
    ));
    assert_eq!(status, 200);
    assert_eq!(session["user"]["email"], "ops@example.com");
}

#[test]
fn a_killed_server_leaves_no_job_running_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, url, text) = start(&data, "first.log");
    let key = printed_key(&text);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let body = json!({"data_source_id": 1, "query": endless, "max_age": 0});
    let (status, job) = rt.block_on(call(
        &key,
        reqwest::Method::POST,
        format!("{url}/api/query_results"),
        Some(body.clone()),
    ));
    assert_eq!(status, 200, "{job}");
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let (_, j) = rt.block_on(call(
            &key,
            reqwest::Method::GET,
            format!("{url}/api/jobs/{id}"),
            None,
        ));
        if j["job"]["status"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the query never started: {j}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill();

    let (_second, url, _) = start(&data, "second.log");
    let (status, j) = rt.block_on(call(
        &key,
        reqwest::Method::GET,
        format!("{url}/api/jobs/{id}"),
        None,
    ));
    assert_eq!(status, 200);
    assert_eq!(
        j["job"]["status"], 4,
        "a job from before the restart is failed, not running: {j}"
    );
    assert!(
        j["job"]["error"]
            .as_str()
            .unwrap()
            .contains("Run the query again"),
        "{j}"
    );

    // The same query runs again as a new job instead of joining a ghost.
    let (_, again) = rt.block_on(call(
        &key,
        reqwest::Method::POST,
        format!("{url}/api/query_results"),
        Some(body),
    ));
    let new_id = again["job"]["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    let (_, cancelled) = rt.block_on(call(
        &key,
        reqwest::Method::DELETE,
        format!("{url}/api/jobs/{new_id}"),
        None,
    ));
    assert!(cancelled["job"]["status"].is_number(), "{cancelled}");
}
