//! High availability with real processes: PostgreSQL, Redis (standalone and cluster, Redis 7.0
//! and Valkey 9), and separate `cairn server`, `worker` and `scheduler` processes, some of them
//! killed on purpose.
//!
//! The tests run one at a time: each deployment is about ten processes on a small machine.

mod deployment;
mod failures;
mod login_limit;
mod scheduler;
mod schema;

use tokio::sync::{Mutex, MutexGuard};

/// Held by each test for its whole run (each test has its own runtime; tokio's mutex works
/// across them).
pub async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}
