//! A throw-away PostgreSQL cluster: `initdb` into a temporary directory, then `postgres` on a free
//! port, durability switched off for speed.
//!
//! Starting a cluster takes a second or two, so a test binary normally shares ONE server
//! ([`PgServer::shared`]) and gives each test its own database ([`PgServer::create_database`] or
//! [`PgServer::fresh_database`]). A shared server lives until the test process exits: statics are
//! never dropped, so a small watchdog shell process stops the server and removes its directory
//! once the test process is gone (also when it was killed).
//!
//! `initdb` refuses to run as root. When the tests run as root, the server binaries run as the
//! `postgres` OS user through `setpriv`, which `exec`s, so the child we hold is the postmaster
//! itself and killing it stops the server. The binaries come from the highest
//! `/usr/lib/postgresql/<version>/bin`, or from `CAIRN_PG_BIN` when set.
//!
//! # Examples
//! ```no_run
//! let url = cairn_testkit::postgres::PgServer::shared().fresh_database("store");
//! assert!(url.starts_with("postgres://"));
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::process::{ChildGuard, free_port, wait_until};

/// The OS user that owns the cluster when the tests run as root.
const PG_OS_USER: &str = "postgres";

/// A running PostgreSQL server with superuser `postgres` and trust authentication on
/// 127.0.0.1 only. Stopped when dropped (or, for [`PgServer::shared`], when the process exits).
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    bin: PathBuf,
    /// The postmaster; killed on drop.
    server: ChildGuard,
    /// Stops the server and removes `root` once the test process or the server is gone.
    watchdog: Option<Child>,
    /// The temporary directory (data, socket, log); removed by the watchdog.
    root: PathBuf,
}

impl PgServer {
    /// Starts a new server of its own.
    ///
    /// # Panics
    /// When no PostgreSQL binaries are found, `initdb` fails or the server is not ready within
    /// 30 s: the message includes the server log.
    pub fn start() -> PgServer {
        let bin = find_bin_dir();
        let port = free_port();
        let root = tempfile::Builder::new()
            .prefix("cairn-pg-")
            .tempdir()
            .expect("create temp dir")
            .keep();
        let as_postgres = running_as_root();
        if as_postgres {
            chown_to_postgres(&root);
        }
        let data = root.join("data");
        let sockets = root.join("sockets");
        std::fs::create_dir(&sockets).expect("create socket dir");
        if as_postgres {
            chown_to_postgres(&sockets);
        }

        let init_log = root.join("initdb.log");
        let mut initdb = server_command(&bin.join("initdb"), as_postgres, &root);
        initdb.args(["-D"]).arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]);
        let out = std::fs::File::create(&init_log).expect("create initdb log");
        let status = initdb
            .stdout(Stdio::from(out.try_clone().expect("clone log")))
            .stderr(Stdio::from(out))
            .status()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
        if !status.success() {
            panic!("initdb failed ({status}):\n{}", read_log(&init_log));
        }

        let log = root.join("postgres.log");
        let mut cmd = server_command(&bin.join("postgres"), as_postgres, &root);
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&sockets)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ]);
        let server = ChildGuard::spawn(format!("postgres on port {port}"), &mut cmd, &log);
        let watchdog = spawn_watchdog(server.pid(), &root);
        let mut pg = PgServer {
            port,
            bin,
            server,
            watchdog,
            root,
        };
        pg.wait_ready(&log);
        pg
    }

    /// The server shared by every test of this test binary, started on first use.
    ///
    /// # Panics
    /// As [`PgServer::start`].
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path of one of the server's client tools (`pg_dump`, `pg_restore`, `psql`, ...), from
    /// the same installation as the server. Connect them with `-h 127.0.0.1 -p PORT -U postgres`.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// A URL of the `postgres` database as superuser `postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// A URL of database `name` on this server (which may not exist).
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
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
        self.psql(&format!("CREATE DATABASE {name}"));
        self.database_url(name)
    }

    /// Creates a database with a name unique in this process, starting with `prefix`, and
    /// returns its URL: one call per test gives each test an empty database.
    ///
    /// # Panics
    /// As [`PgServer::create_database`].
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

    /// Runs one SQL statement on the `postgres` database with `psql`.
    ///
    /// # Panics
    /// When the statement fails; the message has psql's error.
    pub fn psql(&self, sql: &str) {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        if !out.status.success() {
            panic!(
                "psql {sql:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn wait_ready(&mut self, log: &Path) {
        let isready = self.bin.join("pg_isready");
        let port = self.port.to_string();
        let mut exited = false;
        let server = &mut self.server;
        let ready = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("postgres", Duration::from_secs(30), || {
                if !server.is_running() {
                    exited = true;
                    return true;
                }
                Command::new(&isready)
                    .args(["-q", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
                    .status()
                    .is_ok_and(|s| s.success())
            })
        }));
        if exited || ready.is_err() {
            panic!(
                "postgres did not start (exited: {exited}):\n{}",
                read_log(log)
            );
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // SIGQUIT is PostgreSQL's immediate shutdown: backends go too, not just the postmaster.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.server.pid().to_string()])
            .status();
        let server = &mut self.server;
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("postgres shutdown", Duration::from_secs(5), || {
                !server.is_running()
            })
        }));
        if stopped.is_err() {
            self.server.kill();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A command for a server binary, run as the `postgres` user when we are root.
fn server_command(program: &Path, as_postgres: bool, cwd: &Path) -> Command {
    let mut cmd = if as_postgres {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            PG_OS_USER,
            "--regid",
            PG_OS_USER,
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.current_dir(cwd);
    cmd
}

/// A shell loop that waits until this process or the server is gone, then stops the server
/// (immediate shutdown) and removes its directory.
fn spawn_watchdog(server_pid: u32, root: &Path) -> Option<Child> {
    let script = r#"
        while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.2; done
        kill -QUIT "$2" 2>/dev/null
        i=0
        while kill -0 "$2" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
        kill -KILL "$2" 2>/dev/null
        rm -rf "$3"
    "#;
    Command::new("sh")
        .args(["-c", script, "pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// The directory holding `initdb`, `postgres`, `pg_isready` and `psql`.
fn find_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL found in /usr/lib/postgresql/*/bin (install `postgresql` or set \
             CAIRN_PG_BIN)"
        ),
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(path: &Path) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, PG_OS_USER])
            .output()
            .unwrap_or_else(|e| panic!("cannot run id: {e}"));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no `{PG_OS_USER}` OS user to run PostgreSQL as root"))
    };
    std::os::unix::fs::chown(path, Some(id("-u")), Some(id("-g")))
        .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_created_and_reachable() {
        let pg = PgServer::shared();
        let url = pg.fresh_database("kit");
        assert!(url.starts_with(&format!(
            "postgres://postgres@127.0.0.1:{}/t_kit_",
            pg.port()
        )));
        let name = url.rsplit('/').next().unwrap().to_string();
        // Creating the same database twice fails: the first one exists.
        let again = std::panic::catch_unwind(|| pg.create_database(&name));
        assert!(again.is_err());
    }

    #[test]
    fn an_own_server_stops_and_cleans_up_on_drop() {
        let pg = PgServer::start();
        let port = pg.port();
        let root = pg.root.clone();
        assert!(crate::process::port_accepts(port));
        drop(pg);
        assert!(!crate::process::port_accepts(port));
        assert!(!root.exists());
    }
}
