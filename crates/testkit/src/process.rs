//! Child processes owned by a test: killed and reaped when their guard is dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    /// What the process is, for error messages.
    pub label: String,
}

impl ChildGuard {
    /// Spawns `cmd` with stdout and stderr sent to `log` (a file path).
    ///
    /// # Panics
    /// When the program cannot be started: a test cannot go on without its server.
    pub fn spawn(label: impl Into<String>, cmd: &mut Command, log: &PathBuf) -> ChildGuard {
        let label = label.into();
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        ChildGuard {
            child: Some(child),
            label,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Kills the process now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the process to stop (SIGTERM) without waiting for it.
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let started = Instant::now();
        while self.is_running() {
            if started.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
///
/// Ports are handed out from a per-process counter offset by the pid, then checked by binding, so
/// that parallel tests in one process and in several processes rarely collide.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = (std::process::id() % 200) * 100;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        // Ports 20000..55000, so that port + 10000 (a cluster node's bus port) is a port too.
        let port = (20_000 + base.wrapping_add(offset.wrapping_mul(7)) % 35_000) as u16;
        if port_is_free(port) && port_is_free(port + 10_000) {
            return port;
        }
    }
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Polls `ready` every 50 ms until it returns true or `timeout` passes.
///
/// # Panics
/// When the timeout passes: `what` names the thing that never became ready.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > timeout {
            panic!("{what} not ready after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}
