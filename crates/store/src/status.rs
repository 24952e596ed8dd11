//! Counts for `/status.json`, and the connection pool's state for `/metrics`.

use crate::db::{Store, now, with_pool};
use crate::error::StoreResult;

/// Redash's `/status.json` counters that come from the metadata database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCounts {
    /// `queries_count`: every query, archived ones included.
    pub queries: i64,
    /// `query_results_count`: finished results.
    pub query_results: i64,
    /// `unused_query_results_count`: finished results no query points at, older than the
    /// cleanup age given.
    pub unused_query_results: i64,
    /// `dashboards_count`.
    pub dashboards: i64,
    /// `widgets_count`.
    pub widgets: i64,
}

/// The metadata database pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections waiting for work.
    pub idle: u32,
    /// Open connections lent out.
    pub in_use: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl Store {
    /// The primary pool's connections now (no database access).
    pub fn pool_status(&self) -> PoolStatus {
        with_pool!(self, |pool| {
            let open = pool.size();
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
            PoolStatus {
                idle,
                in_use: open - idle,
                max: pool.options().get_max_connections(),
            }
        })
    }

    /// The counters for `/status.json`; `unused_max_age_secs` is the results cleanup age
    /// (`REDASH_QUERY_RESULTS_CLEANUP_MAX_AGE`, in seconds).
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn status_counts(&self, unused_max_age_secs: i64) -> StoreResult<StatusCounts> {
        let cutoff = now() - chrono::Duration::seconds(unused_max_age_secs.max(0));
        Ok(with_pool!(self, |pool| {
            let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(pool);
            let queries = count("SELECT COUNT(*) FROM queries").await?;
            let dashboards = count("SELECT COUNT(*) FROM dashboards").await?;
            let widgets = count("SELECT COUNT(*) FROM widgets").await?;
            let query_results: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM query_results WHERE complete = $1")
                    .bind(true)
                    .fetch_one(pool)
                    .await?;
            let unused_query_results: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM query_results r WHERE r.complete = $1 \
                 AND r.retrieved_at < $2 AND NOT EXISTS \
                 (SELECT 1 FROM queries q WHERE q.latest_query_data_id = r.id)",
            )
            .bind(true)
            .bind(cutoff)
            .fetch_one(pool)
            .await?;
            StatusCounts {
                queries,
                query_results,
                unused_query_results,
                dashboards,
                widgets,
            }
        }))
    }
}
