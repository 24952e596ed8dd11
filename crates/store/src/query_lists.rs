//! Everything that reads or touches many queries at once: paged lists and search, recent
//! queries, tag counts, the scheduler's view, and the `latest_query_data_id` fan-out.

use cairn_domain::model::Query;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::db::{Store, builder, with_pool, with_read_pool};
use crate::error::{StoreError, StoreResult};
use crate::listing::{ListFilter, ListTable, Page, list_page, push_filters};
use crate::queries::{QueryRow, query_cols, query_cols_q};

const QUERIES: ListTable = ListTable {
    select: concat!("SELECT ", query_cols!(), " FROM queries q"),
    alias: "q",
    searched: &["q.name", "COALESCE(q.description, '')", "q.query"],
    tag_table: "query_tags",
    tag_id: "query_id",
    favorite_kind: "Query",
};

/// A query with a schedule, as the scheduler needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledQuery {
    /// The query (its `schedule` is set).
    pub query: Query,
    /// When its latest result was retrieved, if it has one: the base of the next due time.
    pub latest_retrieved_at: Option<DateTime<Utc>>,
    /// Whether its data source is paused (the scheduler skips it then).
    pub data_source_paused: bool,
}

#[derive(sqlx::FromRow)]
struct ScheduledRow {
    #[sqlx(flatten)]
    query: QueryRow,
    latest_retrieved_at: Option<DateTime<Utc>>,
    data_source_paused: bool,
}

/// A user's most recently changed queries (a hot statement, see `hot`).
pub(crate) const RECENT_QUERIES: &str = concat!(
    "SELECT ",
    query_cols!(),
    " FROM queries WHERE is_archived = $1 \
         AND (user_id = $2 OR last_modified_by_id = $2) \
         ORDER BY updated_at DESC, id DESC LIMIT $3"
);

/// Tag counts of queries that are not archived (a hot statement, see `hot`).
pub(crate) const QUERY_TAGS: &str = "SELECT t.tag, COUNT(*) AS n FROM query_tags t \
    JOIN queries q ON q.id = t.query_id WHERE q.is_archived = $1 \
    GROUP BY t.tag ORDER BY n DESC, t.tag";

/// Points every query with a data source and hash at a result: Redash's fan-out (a hot
/// statement, see `hot`).
pub(crate) const FAN_OUT: &str = "UPDATE queries SET latest_query_data_id = $3 \
    WHERE data_source_id = $1 AND query_hash = $2 RETURNING id";

/// The scheduler's view of scheduled queries (a hot statement, see `hot`).
pub(crate) const SCHEDULED_QUERIES: &str = concat!(
    "SELECT ",
    query_cols_q!(),
    ", r.retrieved_at AS latest_retrieved_at, ds.paused AS data_source_paused \
         FROM queries q JOIN data_sources ds ON ds.id = q.data_source_id \
         LEFT JOIN query_results r ON r.id = q.latest_query_data_id \
         WHERE q.schedule IS NOT NULL AND q.is_archived = $1 ORDER BY q.id"
);

/// The statement for one page of queries matching `filter`, after `prefix` (empty, or
/// `EXPLAIN` for `hot`).
pub(crate) fn queries_page<DB>(prefix: &str, filter: &ListFilter) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    list_page(prefix, &QUERIES, filter)
}

impl Store {
    /// A page of queries matching `filter` (Redash's `/api/queries`, `/my`, `/favorites`,
    /// `/archive`), with the total count. Served by the read replica when there is one.
    ///
    /// The search is a case-insensitive substring match on name, description and query text
    /// (SQLite lowercases ASCII letters only).
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn list_queries(&self, filter: &ListFilter) -> StoreResult<Page<Query>> {
        let (rows, count): (Vec<QueryRow>, i64) = with_read_pool!(self, |pool| {
            let mut count_qb = builder(pool, "SELECT COUNT(*) FROM queries q");
            push_filters(&mut count_qb, &QUERIES, filter);
            let count: i64 = count_qb.build_query_scalar().fetch_one(pool).await?;
            let rows = queries_page("", filter)
                .build_query_as()
                .fetch_all(pool)
                .await?;
            (rows, count)
        });
        Ok(Page {
            items: rows.into_iter().map(Query::from).collect(),
            count,
            page: filter.paging.page(),
            page_size: filter.paging.page_size(),
        })
    }

    /// The `limit` queries this user created or changed most recently, not archived.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn recent_queries(&self, user_id: i64, limit: u32) -> StoreResult<Vec<Query>> {
        let rows: Vec<QueryRow> = with_pool!(self, |pool| {
            sqlx::query_as(RECENT_QUERIES)
                .bind(false)
                .bind(user_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Query::from).collect())
    }

    /// Every tag on a query that is not archived, with how many such queries carry it, most
    /// used first (Redash's `/api/queries/tags`). Served by the read replica when there is one.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn query_tags(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(with_read_pool!(self, |pool| {
            sqlx::query_as(QUERY_TAGS)
                .bind(false)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Points every query with this data source and query hash at `result_id` (Redash's
    /// fan-out after a run) and returns their ids.
    ///
    /// # Errors
    /// `Db` on database failure (for instance an unknown result id).
    pub async fn set_latest_result(
        &self,
        data_source_id: i64,
        query_hash: &str,
        result_id: i64,
    ) -> StoreResult<Vec<i64>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(FAN_OUT)
                .bind(data_source_id)
                .bind(query_hash)
                .bind(result_id)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Points query `query_id` at result `result_id`: for a run with parameters, whose hash
    /// differs from the saved text's, so the fan-out by hash does not reach it.
    ///
    /// # Errors
    /// `NotFound` for an unknown query; `Db` on database failure.
    pub async fn set_query_latest_result(&self, query_id: i64, result_id: i64) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE queries SET latest_query_data_id = $2 WHERE id = $1")
                .bind(query_id)
                .bind(result_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("query"));
        }
        Ok(())
    }

    /// Every query that is not archived, has a schedule and a data source, with the time of its
    /// latest result and whether its data source is paused: what the scheduler decides from.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn scheduled_queries(&self) -> StoreResult<Vec<ScheduledQuery>> {
        let rows: Vec<ScheduledRow> = with_pool!(self, |pool| {
            sqlx::query_as(SCHEDULED_QUERIES)
                .bind(false)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| ScheduledQuery {
                query: r.query.into(),
                latest_retrieved_at: r.latest_retrieved_at,
                data_source_paused: r.data_source_paused,
            })
            .collect())
    }

    /// Counts one more failed scheduled run and returns the new count (for the 2^failures
    /// back-off).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such query.
    pub async fn record_schedule_failure(&self, id: i64) -> StoreResult<i32> {
        let n: Option<i32> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "UPDATE queries SET schedule_failures = schedule_failures + 1 \
                 WHERE id = $1 RETURNING schedule_failures",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        n.ok_or(StoreError::NotFound("query"))
    }

    /// Resets the failure count after a successful scheduled run.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such query.
    pub async fn reset_schedule_failures(&self, id: i64) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE queries SET schedule_failures = 0 WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("query"));
        }
        Ok(())
    }

    /// Removes a query's schedule (Redash's `empty_schedules` for schedules past `until`),
    /// without bumping its version.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such query.
    pub async fn clear_schedule(&self, id: i64) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE queries SET schedule = NULL, schedule_failures = 0 WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("query"));
        }
        Ok(())
    }
}
