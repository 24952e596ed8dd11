//! The PyPI Redash clients, unchanged, against the real `cairn` binary.
//!
//! Each test starts `cairn up` on a fresh data directory and a free port, reads the admin's API
//! key from what the first start prints, and runs a script from `tests/compat/` with the
//! virtualenv's Python (`CAIRN_COMPAT_PYTHON`, else `target/compat-venv/bin/python`; both are set
//! up by `scripts/test.sh`). The scripts use `redash-api-client` (module `redashAPI`) and
//! `redash-python` (module `redash_python`) as their users do: create a data source on a SQLite
//! file this test writes, run queries and poll jobs, check the rows, create visualizations,
//! dashboards and widgets, share a dashboard and read it without a key, and page through more
//! than one page of queries and dashboards. A script exits non-zero at the first answer that
//! differs from Redash's; its output and the server's log are printed then.

use cairn_testkit::cairn::CairnUp;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a script may run before it is killed and the test fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The rows of table `items` in the test's SQLite database: `(id, name, price, note)`.
const ITEMS: &[(i64, &str, f64, Option<&str>)] = &[
    (1, "apple", 0.5, Some("fresh")),
    (2, "banana", 0.25, None),
    (3, "cherry", 3.75, Some("ünïcode, \"quoted\"")),
    (4, "durian", 12.0, Some("line one\nline two")),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtualenv's interpreter; panics with how to create it when it is missing.
fn python() -> PathBuf {
    let path = match std::env::var_os("CAIRN_COMPAT_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/compat-venv/bin/python"),
    };
    assert!(
        path.exists(),
        "no Python for the compatibility tests at {}: run ./scripts/test.sh, or create it with \
         `python3 -m venv target/compat-venv && target/compat-venv/bin/pip install \
         redash-api-client==0.3.0 redash-python==0.3.27`, or point CAIRN_COMPAT_PYTHON at an \
         interpreter that has both clients",
        path.display()
    );
    path
}

/// Writes `items.db` with [`ITEMS`]; returns its path and `{"columns": [...], "rows": [[...]]}`.
fn write_items_db(dir: &Path) -> (PathBuf, Value) {
    use sqlx::Connection;
    let path = dir.join("items.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("create items.db");
        sqlx::query(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             price REAL NOT NULL, note TEXT)",
        )
        .execute(&mut conn)
        .await
        .expect("create table items");
        for (id, name, price, note) in ITEMS {
            sqlx::query("INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)")
                .bind(id)
                .bind(name)
                .bind(price)
                .bind(note)
                .execute(&mut conn)
                .await
                .expect("insert item");
        }
        conn.close().await.expect("close items.db");
    });
    let rows: Vec<Value> = ITEMS
        .iter()
        .map(|(id, name, price, note)| json!([id, name, price, note]))
        .collect();
    let items = json!({"columns": ["id", "name", "price", "note"], "rows": rows});
    let path = path.canonicalize().expect("canonical items.db path");
    (path, items)
}

/// A `cairn up` process on a fresh data directory, with the admin's key.
struct Server {
    up: CairnUp,
    url: String,
    api_key: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let up = CairnUp::start(
            Path::new(env!("CARGO_BIN_EXE_cairn")),
            &dir.join("data"),
            &dir.join("cairn.log"),
            &[],
        );
        let api_key = up
            .api_key
            .clone()
            .unwrap_or_else(|| panic!("no API key in cairn's output:\n{}", up.output()));
        Server {
            url: up.url.clone(),
            api_key,
            up,
        }
    }

    fn log_text(&self) -> String {
        self.up.output()
    }
}

/// What a script printed and how it ended.
struct ScriptRun {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// Runs `tests/compat/<script>` against `server`, killing it after [`SCRIPT_TIMEOUT`].
fn run_script(script: &str, server: &Server, sqlite: &Path, items: &Value) -> ScriptRun {
    let dir = workspace_root().join("tests/compat");
    let mut child = Command::new(python())
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("CAIRN_URL", &server.url)
        .env("CAIRN_API_KEY", &server.api_key)
        .env("CAIRN_SQLITE_PATH", sqlite)
        .env("CAIRN_ITEMS", items.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the compatibility script {script}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break status.to_string();
        }
        if start.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break format!("killed after {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let success = status == "exit status: 0";
    ScriptRun {
        success,
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Starts a server, runs `script` and fails the test with everything printed when it fails.
fn check_client(script: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sqlite, items) = write_items_db(dir.path());
    let server = Server::start(dir.path());
    let run = run_script(script, &server, &sqlite, &items);
    assert!(
        run.success && run.stdout.trim_end().ends_with("OK"),
        "{script} failed ({}).\n--- script stdout ---\n{}\n--- script stderr ---\n{}\n--- cairn log ---\n{}",
        run.status,
        run.stdout,
        run.stderr,
        server.log_text()
    );
}

#[test]
fn redash_api_client_works_unchanged() {
    check_client("drive_redash_api_client.py");
}

#[test]
fn redash_python_works_unchanged() {
    check_client("drive_redash_python.py");
}
