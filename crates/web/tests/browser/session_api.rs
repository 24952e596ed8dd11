//! Login, session cookie, CSRF and rate limit over real HTTP (no browser needed).

use crate::harness::{EMAIL, PASSWORD, TestApp};
use cairn_http::ServerSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> String {
    let line = set
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {set:?}"));
    line[name.len() + 1..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_authenticates_and_csrf_guards_writes() {
    let app = TestApp::start(ServerSettings::default()).await;
    let http = reqwest::Client::new();
    let wrong = http
        .post(format!("{}/api/session/login", app.base))
        .json(&json!({"email": EMAIL, "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(cookies(&wrong).is_empty());

    let resp = http
        .post(format!("{}/api/session/login", app.base))
        .json(&json!({"email": "Admin@Example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let set = cookies(&resp);
    let session_line = set
        .iter()
        .find(|c| c.starts_with("cairn_session="))
        .unwrap();
    assert!(
        session_line.contains("HttpOnly") && session_line.contains("SameSite=Lax"),
        "{session_line}"
    );
    let session = cookie_value(&set, "cairn_session");
    let csrf = cookie_value(&set, "cairn_csrf");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["csrf_token"], csrf.as_str());
    assert_eq!(body["user"]["email"], EMAIL);
    let jar = format!("cairn_session={session}; cairn_csrf={csrf}");

    let me: Value = http
        .get(format!("{}/api/session", app.base))
        .header("Cookie", &jar)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], EMAIL);

    let no_header = http
        .post(format!("{}/api/dashboards", app.base))
        .header("Cookie", &jar)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), StatusCode::FORBIDDEN);
    let bad_header = http
        .post(format!("{}/api/dashboards", app.base))
        .header("Cookie", &jar)
        .header("X-CSRF-Token", "0".repeat(32))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), StatusCode::FORBIDDEN);
    let ok = http
        .post(format!("{}/api/dashboards", app.base))
        .header("Cookie", &jar)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let mut forged = session.clone();
    forged.replace_range(0..1, if forged.starts_with('9') { "8" } else { "9" });
    let r = http
        .get(format!("{}/api/session", app.base))
        .header("Cookie", format!("cairn_session={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let out = http
        .post(format!("{}/api/session/logout", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        cookies(&out)
            .iter()
            .any(|c| c.starts_with("cairn_session=;") && c.contains("Max-Age=0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_rate_limited() {
    let app = TestApp::start(ServerSettings {
        login_attempts_per_hour: 3,
        ..ServerSettings::default()
    })
    .await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http
            .post(format!("{}/api/session/login", app.base))
            .json(&json!({"email": EMAIL, "password": "bad"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = http
        .post(format!("{}/api/session/login", app.base))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits once the limit is reached"
    );
}
