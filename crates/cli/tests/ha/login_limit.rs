//! The login limit is one budget for every `cairn server` on one Redis: 50 failed logins spread
//! over two servers exhaust it on both. When Redis goes away, logging in stays possible and
//! limited: each server falls back to its own count, which already holds the attempts it
//! served.

use crate::deployment::Deployment;
use cairn_testkit::redis::{Flavor, RedisServer};
use serde_json::json;

/// Redash's default: login attempts per client IP and per email in an hour.
const LIMIT: usize = 50;

/// Tries to log in as the admin with `password` at `server`; the status and `Retry-After`.
async fn login(http: &reqwest::Client, server: &str, password: &str) -> (u16, Option<String>) {
    let resp = http
        .post(format!("{server}/api/session/login"))
        .json(&json!({"email": "admin@example.com", "password": password}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{server}: no answer: {e}"));
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    (resp.status().as_u16(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_share_one_budget_across_servers() {
    let _serial = crate::serial().await;
    let mut redis = RedisServer::start(Flavor::Redis);
    let d = Deployment::start(&redis.url(), 2, 0, 0).await;
    let urls: Vec<String> = d.servers.iter().map(|s| s.url.clone()).collect();
    let http = reqwest::Client::new();
    for i in 0..LIMIT {
        let (status, _) = login(&http, &urls[i % 2], "wrong").await;
        assert_eq!(status, 401, "attempt {} on server {}", i + 1, i % 2);
    }
    for url in &urls {
        let (status, retry) = login(&http, url, "wrong").await;
        assert_eq!(status, 429, "{url}: the 51st attempt");
        let secs: u64 = retry.expect("Retry-After").parse().unwrap();
        assert!((1..=3600).contains(&secs), "{secs}");
        let (status, _) = login(&http, url, "long enough").await;
        assert_eq!(status, 429, "{url}: even the right password waits");
    }

    // Redis goes away: each server limits on its own, from the 25 attempts it served.
    redis.node().kill();
    for i in 0..LIMIT / 2 {
        let (status, _) = login(&http, &urls[0], "wrong").await;
        assert_eq!(status, 401, "attempt {} without Redis", i + 1);
    }
    let (status, _) = login(&http, &urls[0], "wrong").await;
    assert_eq!(status, 429, "the per-process limit holds without Redis");
    assert!(
        d.servers[0]
            .output()
            .contains("limiting per process until it answers"),
        "the fallback is logged"
    );
}
