//! A real `cairn up` process for the binary's own tests and benchmarks.
//!
//! The binary's path is passed in (`env!("CARGO_BIN_EXE_cairn")` exists only inside the `cairn`
//! package's tests and benchmarks), so this harness knows nothing of how Cairn is built.

use crate::process::{ChildGuard, free_port, port_accepts};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Variables of the machine's own configuration that must not reach a server under test.
const HOST_CONFIG: &[&str] = &[
    "REDASH_DATABASE_URL",
    "REDASH_DATABASE_REPLICA_URL",
    "REDASH_REDIS_URL",
    "REDASH_SECRET_KEY",
    "REDASH_COOKIE_SECRET",
    "CAIRN_BIND",
    "CAIRN_DATA_DIR",
    "CAIRN_BASE_URL",
    "CAIRN_ADMIN_EMAIL",
];

/// A `cairn` command with the machine's own Cairn configuration removed and quiet logs.
pub fn command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for var in HOST_CONFIG {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// A running `cairn up`, killed when dropped.
#[derive(Debug)]
pub struct CairnUp {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin's API key, when this start created the admin (first start).
    pub api_key: Option<String>,
    /// Where its output goes.
    pub log: PathBuf,
    /// The process.
    pub process: ChildGuard,
}

impl CairnUp {
    /// Starts `bin up` on `data_dir` and a free port with `extra` flags, logging to `log`, and
    /// waits until it listens.
    ///
    /// # Panics
    /// When it exits or does not listen within 60 s; the message has its output.
    pub fn start(bin: &Path, data_dir: &Path, log: &Path, extra: &[&str]) -> CairnUp {
        let port = free_port();
        let mut cmd = command(bin);
        cmd.arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra);
        let mut process = ChildGuard::spawn("cairn up", &mut cmd, &log.to_path_buf());
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("Cairn is running on") {
                return CairnUp {
                    url: format!("http://127.0.0.1:{port}"),
                    api_key: printed_api_key(&text),
                    log: log.to_path_buf(),
                    process,
                };
            }
            assert!(process.is_running(), "cairn up exited:\n{text}");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cairn up not listening after 60 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The API key in `cairn up`'s or `cairn users create`'s output (`API key:  <key>`).
pub fn printed_api_key(output: &str) -> Option<String> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("API key:"))
        .map(|k| k.trim().to_string())
}

/// One role of a separately deployed Cairn (`server`, `worker`, `scheduler`), killed when
/// dropped.
#[derive(Debug)]
pub struct CairnRole {
    /// `http://127.0.0.1:<port>`: the API for a server, the health and metrics listener for a
    /// worker or scheduler.
    pub url: String,
    /// Where its output goes.
    pub log: PathBuf,
    /// The process.
    pub process: ChildGuard,
}

impl CairnRole {
    /// Starts `bin <role> <extra>` with `env` on a free port (`--bind` for a server,
    /// `--metrics-bind` otherwise), logging to `log`, and waits until the port accepts.
    ///
    /// # Panics
    /// When it exits or does not listen within 60 s; the message has its output.
    pub fn start(
        bin: &Path,
        role: &str,
        extra: &[&str],
        env: &[(&str, String)],
        log: &Path,
    ) -> CairnRole {
        let port = free_port();
        let bind_flag = if role == "server" {
            "--bind"
        } else {
            "--metrics-bind"
        };
        let mut cmd = command(bin);
        cmd.arg(role)
            .arg(bind_flag)
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let mut process = ChildGuard::spawn(format!("cairn {role}"), &mut cmd, &log.to_path_buf());
        let started = Instant::now();
        while !port_accepts(port) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            assert!(process.is_running(), "cairn {role} exited:\n{text}");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cairn {role} not listening after 60 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        CairnRole {
            url: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
            process,
        }
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
