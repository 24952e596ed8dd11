//! Database care: the periodic housekeeping that keeps the planner's statistics fresh and the
//! files from bloating (Redash leaves this to the operator, and its metadata database slows down
//! as `query_results` churns).

use std::time::{Duration, Instant};

use crate::db::{Pool, Store};
use crate::error::StoreResult;

/// The statements [`Store::maintain`] runs on SQLite, in order.
const SQLITE_MAINTENANCE: &[&str] = &[
    "PRAGMA optimize",
    "ANALYZE",
    "PRAGMA wal_checkpoint(TRUNCATE)",
];
/// The statements [`Store::maintain`] runs on PostgreSQL, in order.
const POSTGRES_MAINTENANCE: &[&str] = &["VACUUM (ANALYZE)"];

/// What one [`Store::maintain`] run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// The statements run, in order.
    pub statements: Vec<&'static str>,
    /// How long they took together.
    pub elapsed: Duration,
}

impl Store {
    /// Runs the database's housekeeping on the primary: `VACUUM (ANALYZE)` on PostgreSQL
    /// (outside any transaction, as it must be), `PRAGMA optimize`, `ANALYZE` and
    /// `PRAGMA wal_checkpoint(TRUNCATE)` on SQLite (fresh statistics, and a WAL file shrunk back
    /// to nothing). Safe to run while the store is in use; the scheduler runs it periodically.
    ///
    /// # Errors
    /// `Db` when a statement fails (for instance for lack of privileges).
    pub async fn maintain(&self) -> StoreResult<MaintenanceReport> {
        let started = Instant::now();
        let statements = match &self.inner.pool {
            Pool::Sqlite(pool) => {
                for sql in SQLITE_MAINTENANCE {
                    sqlx::raw_sql(*sql).execute(pool).await?;
                }
                SQLITE_MAINTENANCE
            }
            Pool::Postgres(pool) => {
                for sql in POSTGRES_MAINTENANCE {
                    sqlx::raw_sql(*sql).execute(pool).await?;
                }
                POSTGRES_MAINTENANCE
            }
        };
        let report = MaintenanceReport {
            statements: statements.to_vec(),
            elapsed: started.elapsed(),
        };
        tracing::info!(
            statements = ?report.statements,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "metadata database maintained"
        );
        Ok(report)
    }
}
