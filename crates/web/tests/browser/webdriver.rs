//! A small WebDriver client over reqwest: chromedriver on a free port, one headless Chromium
//! session with a fresh profile, and the few commands the tests use.

use cairn_testkit::process::{ChildGuard, free_port, port_accepts, wait_until};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; chromedriver (and with it Chromium) stops when this is dropped.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    _driver: ChildGuard,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let driver = ChildGuard::spawn(
            "chromedriver",
            Command::new("/usr/bin/chromedriver").arg(format!("--port={port}")),
            &log,
        );
        wait_until("chromedriver", Duration::from_secs(20), || {
            port_accepts(port)
        });
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().join("chrome").display())]
            }
        }}});
        let resp: Value = http
            .post(format!("http://127.0.0.1:{port}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"))
            .to_string();
        Browser {
            http,
            base: format!("http://127.0.0.1:{port}/session/{id}"),
            _driver: driver,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req
            .send()
            .await
            .expect("webdriver request")
            .json()
            .await
            .unwrap();
        if resp["value"].get("error").is_some() {
            panic!("webdriver {method} {path}: {}", resp["value"]);
        }
        resp["value"].clone()
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let resp: Value = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        resp["value"][ELEMENT].as_str().map(str::to_string)
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Waits up to 20 s for an element matching `css`; returns its id.
    pub async fn find(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(id) = self.try_find(css).await {
                return id;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let body = self.eval("return document.body.innerText").await;
                panic!("no element {css} after 20 s; page text:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clears the field and types `text` (WebDriver key codes allowed).
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.keys(css, text).await;
    }

    pub async fn keys(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Sets a `<select>` and fires `change`, as a user's choice would.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(&format!("{css} option[value=\"{value}\"]")).await;
        self.exec(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        )
        .await;
    }

    /// The text content of the first element matching `css` (waiting for it to exist).
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await;
        let t = self
            .exec(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                json!([css]),
            )
            .await;
        t.as_str().unwrap_or_default().to_string()
    }

    /// Waits up to 20 s until the text of `css` contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let t = self.text(css).await;
            if t.contains(needle) {
                return t;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("{css} never contained {needle:?}; it reads:\n{t}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.exec(script, json!([])).await
    }

    /// Resizes the browser window (for screenshots of long pages).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let data = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Script errors caught by the page's collector plus SEVERE browser log entries since the
    /// last call.
    pub async fn errors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .eval("return (window.__cairnErrors || []).splice(0)")
            .await
            .as_array()
            .map(|a| a.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        let resp: Value = self
            .http
            .post(format!("{}/se/log", self.base))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = resp["value"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("chromedriver gave no browser log: {resp}"));
        for entry in entries {
            if entry["level"] == "SEVERE" {
                out.push(entry["message"].to_string());
            }
        }
        out
    }

    /// Fails the test with the page's script errors and SEVERE console entries, if any.
    pub async fn assert_no_errors(&self, page: &str) {
        let errors = self.errors().await;
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }

    /// Presses the left button on the centre of `css`, moves by (`dx`, `dy`) pixels in steps
    /// and releases: a real pointer drag (pointerdown, pointermove..., pointerup).
    pub async fn drag(&self, css: &str, dx: i64, dy: i64) {
        let id = self.find(css).await;
        let mut moves = vec![
            json!({"type": "pointerMove", "duration": 0, "origin": {ELEMENT: id}, "x": 0, "y": 0}),
            json!({"type": "pointerDown", "button": 0}),
        ];
        for _ in 0..4 {
            moves.push(json!({"type": "pointerMove", "duration": 50, "origin": "pointer", "x": dx / 4, "y": dy / 4}));
        }
        moves.push(json!({"type": "pointerMove", "duration": 50, "origin": "pointer", "x": dx % 4, "y": dy % 4}));
        moves.push(json!({"type": "pointerUp", "button": 0}));
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"}, "actions": moves}]});
        self.cmd(reqwest::Method::POST, "/actions", Some(actions))
            .await;
        self.cmd(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// Presses and releases each key of `keys` (WebDriver key codes allowed) on whatever has
    /// the focus, as a keyboard user would.
    pub async fn press(&self, keys: &str) {
        let mut events = Vec::new();
        for k in keys.chars() {
            events.push(json!({"type": "keyDown", "value": k.to_string()}));
            events.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": events}]});
        self.cmd(reqwest::Method::POST, "/actions", Some(actions))
            .await;
    }

    /// The `id` (or, without one, the text) of the focused element.
    pub async fn focused(&self) -> String {
        self.eval(
            "const e = document.activeElement; return e ? (e.id || e.textContent.trim()) : ''",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
