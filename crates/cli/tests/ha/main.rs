//! High availability with real processes: PostgreSQL, Redis (standalone and cluster, Redis 7.0
//! and Valkey 9), and separate `cairn server`, `worker` and `scheduler` processes, some of them
//! killed on purpose.
//!
//! The tests run one at a time: each deployment is about ten processes on a small machine.

mod deployment;
mod failures;
mod scheduler;

use std::sync::{Mutex, MutexGuard};

/// Held by each test for its whole run.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
