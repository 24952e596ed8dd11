//! The `cairn` binary's own life cycle: users created from the command line, and a server killed
//! in the middle of a query and started again.

use cairn_testkit::cairn::{self, CairnUp, printed_api_key};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn cairn() -> Command {
    cairn::command(Path::new(env!("CARGO_BIN_EXE_cairn")))
}

/// `cairn up` on `data_dir`, logging next to it.
fn start(data_dir: &Path, log_name: &str) -> CairnUp {
    let log = data_dir.parent().unwrap().join(log_name);
    CairnUp::start(Path::new(env!("CARGO_BIN_EXE_cairn")), data_dir, &log, &[])
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
    let key = printed_api_key(&stdout).expect("an API key is printed");
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
    let server = start(&data, "up.log");
    assert!(
        server.api_key.is_none(),
        "users exist: no admin is created: {}",
        server.output()
    );
    let url = server.url.clone();
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
    let mut first = start(&data, "first.log");
    let key = first
        .api_key
        .clone()
        .expect("the first start prints the admin's key");
    let url = first.url.clone();
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
    first.process.kill();

    let second = start(&data, "second.log");
    let url = second.url.clone();
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
