//! A throw-away MariaDB (or MySQL-compatible) server: `mariadb-install-db` into a temporary
//! directory, then `mariadbd` on a free port bound to 127.0.0.1, durability switched off for
//! speed.
//!
//! Starting a server takes a couple of seconds, so a test binary normally shares ONE server
//! ([`MariaDbServer::shared`]) and gives each test its own database
//! ([`MariaDbServer::fresh_database`]). A shared server lives until the test process exits:
//! statics are never dropped, so a small watchdog shell process stops the server and removes
//! its directory once the test process is gone (also when it was killed).
//!
//! The server has a real `root` account that logs in without a password over TCP from
//! 127.0.0.1 (`mysql://root@127.0.0.1:<port>/<db>`), so clients exercise the ordinary network
//! authentication path, not a socket-only shortcut. When the tests run as root, `mariadbd` runs
//! with `--user=root` (it refuses to otherwise). Binaries are looked up on `PATH` and in
//! `/usr/sbin`, `/usr/bin`.
//!
//! # Examples
//! ```no_run
//! let url = cairn_testkit::mariadb::MariaDbServer::shared().fresh_database("sources");
//! assert!(url.starts_with("mysql://root@127.0.0.1:"));
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::process::{ChildGuard, free_port, port_accepts, wait_until};

/// A running MariaDB server. Stopped when dropped (or, for [`MariaDbServer::shared`], when the
/// process exits).
#[derive(Debug)]
pub struct MariaDbServer {
    port: u16,
    /// The Unix socket, used only by [`MariaDbServer::sql`] for setup.
    socket: PathBuf,
    /// The `mariadbd` process; killed on drop.
    server: ChildGuard,
    /// Stops the server and removes `root` once the test process or the server is gone.
    watchdog: Option<Child>,
    /// The temporary directory (data, socket, log); removed on drop or by the watchdog.
    root: PathBuf,
}

impl MariaDbServer {
    /// Starts a new server of its own.
    ///
    /// # Panics
    /// When the MariaDB binaries are missing, `mariadb-install-db` fails or the server is not
    /// ready within 60 s: the message includes the server log.
    pub fn start() -> MariaDbServer {
        let install_db = find_program(&["mariadb-install-db", "mysql_install_db"]);
        let mariadbd = find_program(&["mariadbd", "mysqld"]);
        let port = free_port();
        let root = tempfile::Builder::new()
            .prefix("cairn-mariadb-")
            .tempdir()
            .expect("create temp dir")
            .keep();
        let data = root.join("data");
        let socket = root.join("mysqld.sock");
        let user = current_user();
        // Each server gets its own temporary directory: concurrent bootstraps sharing /tmp
        // were seen to remove each other's temporary tables.
        let tmp = root.join("tmp");
        std::fs::create_dir(&tmp).expect("create tmp dir");

        let install_log = root.join("install-db.log");
        let out = std::fs::File::create(&install_log).expect("create install log");
        let status = Command::new(&install_db)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("clone log")))
            .stderr(Stdio::from(out))
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", install_db.display()));
        if !status.success() {
            panic!(
                "mariadb-install-db failed ({status}):\n{}",
                read_log(&install_log)
            );
        }

        let log = root.join("mariadbd.log");
        let mut cmd = Command::new(&mariadbd);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                root.join("mariadbd.pid").display()
            ))
            .arg(format!("--port={port}"))
            .arg(format!("--user={user}"))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-buffer-pool-size=64M",
                "--skip-performance-schema",
                "--max-connections=300",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
            ]);
        let server = ChildGuard::spawn(format!("mariadbd on port {port}"), &mut cmd, &log);
        let watchdog = spawn_watchdog(server.pid(), &root);
        let mut db = MariaDbServer {
            port,
            socket,
            server,
            watchdog,
            root,
        };
        db.wait_ready(&log);
        // Password-less root over TCP from 127.0.0.1 (install-db only creates root@localhost,
        // which with --skip-name-resolve matches the socket alone).
        db.sql(
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;",
        );
        db
    }

    /// The server shared by every test of this test binary, started on first use.
    ///
    /// # Panics
    /// As [`MariaDbServer::start`].
    pub fn shared() -> &'static MariaDbServer {
        static SHARED: OnceLock<MariaDbServer> = OnceLock::new();
        SHARED.get_or_init(MariaDbServer::start)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL as `root` without a database selected.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// A URL of database `name` on this server (which may not exist).
    pub fn database_url(&self, name: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` and returns its URL.
    ///
    /// # Panics
    /// When `name` is not a plain lowercase identifier (`[a-z_][a-z0-9_]*`) or `CREATE DATABASE`
    /// fails (for instance because it exists).
    pub fn create_database(&self, name: &str) -> String {
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(plain, "not a plain database name: {name:?}");
        self.sql(&format!("CREATE DATABASE {name}"));
        self.database_url(name)
    }

    /// Creates a database with a name unique in this process, starting with `prefix`, and
    /// returns its URL: one call per test gives each test an empty database.
    ///
    /// # Panics
    /// As [`MariaDbServer::create_database`].
    pub fn fresh_database(&self, prefix: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        self.create_database(&format!("t_{prefix}_{n}"))
    }

    /// Runs SQL (one or more `;`-separated statements) as root over the Unix socket with the
    /// `mariadb` client, and returns its tab-separated output without column names.
    ///
    /// # Panics
    /// When the SQL fails; the message has the client's error.
    pub fn sql(&self, sql: &str) -> String {
        let client = find_program(&["mariadb", "mysql"]);
        let out = Command::new(&client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-uroot", "--batch", "--skip-column-names", "-e", sql])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", client.display()));
        if !out.status.success() {
            panic!(
                "mariadb {sql:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_ready(&mut self, log: &Path) {
        let port = self.port;
        let socket = self.socket.clone();
        let mut exited = false;
        let server = &mut self.server;
        let ready = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("mariadbd", Duration::from_secs(60), || {
                if !server.is_running() {
                    exited = true;
                    return true;
                }
                socket.exists() && port_accepts(port)
            })
        }));
        if exited || ready.is_err() {
            panic!(
                "mariadbd did not start (exited: {exited}):\n{}",
                read_log(log)
            );
        }
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        self.server.kill();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A shell loop that waits until this process or the server is gone, then kills the server and
/// removes its directory.
fn spawn_watchdog(server_pid: u32, root: &Path) -> Option<Child> {
    let script = r#"
        while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.2; done
        kill -KILL "$2" 2>/dev/null
        rm -rf "$3"
    "#;
    Command::new("sh")
        .args(["-c", script, "mariadb-watchdog"])
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// The first of `names` found on `PATH` or in `/usr/sbin`, `/usr/bin`.
fn find_program(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("none of {names:?} found on PATH or in /usr/sbin, /usr/bin (install `mariadb-server`)")
}

fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_owned())
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_created_and_root_logs_in_over_tcp() {
        let db = MariaDbServer::shared();
        let url = db.fresh_database("kit");
        assert!(url.starts_with(&format!("mysql://root@127.0.0.1:{}/t_kit_", db.port())));
        let name = url.rsplit('/').next().unwrap().to_string();
        let client = find_program(&["mariadb", "mysql"]);
        let out = Command::new(client)
            .args([
                "--no-defaults",
                "-h127.0.0.1",
                "-uroot",
                "--batch",
                "--skip-column-names",
            ])
            .arg(format!("-P{}", db.port()))
            .args(["-e", "SELECT DATABASE(), CURRENT_USER()", &name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{name}\troot@127.0.0.1")
        );
        let again = std::panic::catch_unwind(|| db.create_database(&name));
        assert!(again.is_err(), "the database exists");
    }

    #[test]
    fn an_own_server_stops_and_cleans_up_on_drop() {
        let db = MariaDbServer::start();
        let port = db.port();
        let root = db.root.clone();
        assert!(port_accepts(port));
        drop(db);
        assert!(!port_accepts(port));
        assert!(!root.exists());
    }
}
