//! Query results: a metadata row plus the result's bytes as a sequence of opaque chunks.
//!
//! The store never looks inside the chunks (`cairn-results` encodes rows into compressed chunks);
//! it only keeps them in order and hands them back one at a time, so a result of any size is
//! written and read in bounded memory.
//!
//! # Lifecycle and visibility
//! [`Store::begin_result`] inserts an unfinished row; [`Store::append_chunk`] adds chunks, each in
//! its own short statement, so a long write never holds a database-wide write lock (which SQLite
//! would need for one long transaction); [`Store::finish_result`] marks the row complete and, in
//! the same transaction, points every query with the same data source and hash at it. Every read
//! ([`Store::result_meta`], [`Store::result_chunks`], [`Store::cached_result`], the counts and the
//! cleanup) sees complete results only, so a half-written result is invisible.
//! [`Store::abort_result`] deletes an unfinished result with its chunks;
//! [`Store::delete_unfinished_results`] removes those a crashed writer left behind.

use cairn_domain::model::QueryResultMeta;
use cairn_domain::result::Column;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::types::Json;

use crate::db::{BeginWrite, Store, now, with_pool};
use crate::error::{StoreError, StoreResult, refs_as};
use crate::query_lists::FAN_OUT;

/// Where a result comes from, known when its run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResult {
    /// The data source that runs it.
    pub data_source_id: i64,
    /// Hash of the query text.
    pub query_hash: String,
    /// The query text, parameters applied.
    pub query: String,
}

/// What is known when a run finishes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSummary {
    /// Seconds the query took.
    pub runtime: f64,
    /// Number of rows.
    pub row_count: i64,
    /// The columns, in order.
    pub columns: Vec<Column>,
}

/// A finished result and the queries now pointing at it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedResult {
    /// The result's metadata.
    pub meta: QueryResultMeta,
    /// Ids of the queries whose `latest_query_data_id` is now this result.
    pub updated_query_ids: Vec<i64>,
}

/// A result's chunks in order, fetched from the database one at a time as the stream is polled.
pub type ChunkStream = BoxStream<'static, StoreResult<Vec<u8>>>;

#[derive(sqlx::FromRow)]
struct MetaRow {
    id: i64,
    data_source_id: i64,
    query_hash: String,
    query: String,
    runtime: f64,
    retrieved_at: DateTime<Utc>,
    row_count: i64,
    byte_size: i64,
    chunk_count: i64,
    columns: Json<Vec<Column>>,
}

impl From<MetaRow> for QueryResultMeta {
    fn from(r: MetaRow) -> Self {
        QueryResultMeta {
            id: r.id,
            data_source_id: r.data_source_id,
            query_hash: r.query_hash,
            query: r.query,
            runtime: r.runtime,
            retrieved_at: r.retrieved_at,
            row_count: r.row_count,
            byte_size: r.byte_size,
            columns: r.columns.0,
        }
    }
}

macro_rules! meta_cols {
    () => {
        "id, data_source_id, query_hash, query, runtime, retrieved_at, row_count, byte_size, \
         chunk_count, columns"
    };
}

/// The newest finished result of a data source and query hash (a hot statement, see `hot`).
pub(crate) const LATEST_RESULT: &str = concat!(
    "SELECT ",
    meta_cols!(),
    " FROM query_results WHERE data_source_id = $1 AND query_hash = $2 \
     AND complete = $3 ORDER BY retrieved_at DESC, id DESC LIMIT 1"
);

/// [`LATEST_RESULT`] retrieved at or after a time: the cache lookup (a hot statement, see
/// `hot`).
pub(crate) const CACHED_RESULT_SINCE: &str = concat!(
    "SELECT ",
    meta_cols!(),
    " FROM query_results WHERE data_source_id = $1 AND query_hash = $2 \
     AND complete = $3 AND retrieved_at >= $4 \
     ORDER BY retrieved_at DESC, id DESC LIMIT 1"
);

/// The first chunk of a result at or after a sequence number (a hot statement, see `hot`).
pub(crate) const CHUNK_FROM: &str = "SELECT seq, bytes FROM query_result_chunks \
    WHERE result_id = $1 AND seq >= $2 ORDER BY seq LIMIT 1";

/// Deletes the oldest unused finished results (a hot statement, see `hot`).
pub(crate) const CLEANUP_RESULTS: &str = "DELETE FROM query_results WHERE id IN \
    (SELECT r.id FROM query_results r WHERE r.complete = $1 AND r.retrieved_at < $2 AND NOT EXISTS \
    (SELECT 1 FROM queries q WHERE q.latest_query_data_id = r.id) \
    ORDER BY r.retrieved_at LIMIT $3)";

/// Deletes unfinished results older than a cutoff (a hot statement, see `hot`).
pub(crate) const DELETE_ABANDONED: &str =
    "DELETE FROM query_results WHERE complete = $1 AND retrieved_at < $2";

impl Store {
    /// Starts a result: an unfinished, invisible row; returns its id.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an unknown data source.
    pub async fn begin_result(&self, new: &NewResult) -> StoreResult<i64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO query_results (data_source_id, query_hash, query, complete, \
                 retrieved_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(new.data_source_id)
            .bind(&new.query_hash)
            .bind(&new.query)
            .bind(false)
            .bind(now())
            .fetch_one(pool)
            .await
            .map_err(refs_as("data source", "result"))?
        }))
    }

    /// Stores chunk number `seq` of an unfinished result. Chunks are read back in `seq` order.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the result does not exist or is already finished,
    /// [`StoreError::Duplicate`] when `seq` was already written.
    pub async fn append_chunk(&self, result_id: i64, seq: i64, bytes: &[u8]) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO query_result_chunks (result_id, seq, bytes) SELECT $1, $2, $3 \
                 WHERE EXISTS (SELECT 1 FROM query_results WHERE id = $1 AND complete = $4)",
            )
            .bind(result_id)
            .bind(seq)
            .bind(bytes)
            .bind(false)
            .execute(pool)
            .await
            .map_err(refs_as("result", "result chunk"))?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("unfinished result"));
        }
        Ok(())
    }

    /// Makes a result complete and visible, and points every query with its data source and
    /// hash at it (Redash's fan-out), in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the result does not exist or is already finished.
    pub async fn finish_result(
        &self,
        result_id: i64,
        summary: &ResultSummary,
    ) -> StoreResult<FinishedResult> {
        let (row, updated): (Option<MetaRow>, Vec<i64>) = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let (chunks, bytes): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(bytes)), 0) AS BIGINT) \
                 FROM query_result_chunks WHERE result_id = $1",
            )
            .bind(result_id)
            .fetch_one(&mut *tx)
            .await?;
            let row: Option<MetaRow> = sqlx::query_as(concat!(
                "UPDATE query_results SET complete = $2, runtime = $3, retrieved_at = $4, \
                 row_count = $5, byte_size = $6, chunk_count = $7, columns = $8 \
                 WHERE id = $1 AND complete = $9 RETURNING ",
                meta_cols!()
            ))
            .bind(result_id)
            .bind(true)
            .bind(summary.runtime)
            .bind(now())
            .bind(summary.row_count)
            .bind(bytes)
            .bind(chunks)
            .bind(Json(&summary.columns))
            .bind(false)
            .fetch_optional(&mut *tx)
            .await?;
            let mut updated = Vec::new();
            if let Some(row) = &row {
                updated = sqlx::query_scalar(FAN_OUT)
                    .bind(row.data_source_id)
                    .bind(&row.query_hash)
                    .bind(row.id)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            (row, updated)
        });
        let meta = row.ok_or(StoreError::NotFound("unfinished result"))?;
        Ok(FinishedResult {
            meta: meta.into(),
            updated_query_ids: updated,
        })
    }

    /// Deletes an unfinished result and its chunks (a failed or cancelled run). Finished results
    /// are left alone.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn abort_result(&self, result_id: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM query_results WHERE id = $1 AND complete = $2")
                .bind(result_id)
                .bind(false)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes unfinished results started more than `older_than_secs` seconds ago: the leftovers
    /// of writers that died. Returns how many were deleted.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn delete_unfinished_results(&self, older_than_secs: i64) -> StoreResult<u64> {
        let cutoff = now() - chrono::Duration::seconds(older_than_secs.max(0));
        Ok(with_pool!(self, |pool| {
            sqlx::query(DELETE_ABANDONED)
                .bind(false)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// A finished result's metadata.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when it does not exist or is unfinished.
    pub async fn result_meta(&self, result_id: i64) -> StoreResult<QueryResultMeta> {
        Ok(self.meta_row(result_id).await?.into())
    }

    async fn meta_row(&self, result_id: i64) -> StoreResult<MetaRow> {
        let row: Option<MetaRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                meta_cols!(),
                " FROM query_results WHERE id = $1 AND complete = $2"
            ))
            .bind(result_id)
            .bind(true)
            .fetch_optional(pool)
            .await?
        });
        row.ok_or(StoreError::NotFound("query result"))
    }

    /// A finished result's chunks in order, as a stream that reads ONE chunk per poll, so only
    /// one chunk is in memory at a time. The stream ends with an error if the result is deleted
    /// while it is read.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the result does not exist or is unfinished; each item can
    /// fail with `Db`.
    pub async fn result_chunks(&self, result_id: i64) -> StoreResult<ChunkStream> {
        let expected = self.meta_row(result_id).await?.chunk_count;
        let store = self.clone();
        let chunks = stream::try_unfold(
            (store, 0_i64, 0_i64),
            move |(store, next, read)| async move {
                match store.chunk_from(result_id, next).await? {
                    Some((seq, bytes)) => Ok(Some((bytes, (store, seq + 1, read + 1)))),
                    None if read == expected => Ok(None),
                    None => Err(StoreError::NotFound("query result (deleted while read)")),
                }
            },
        );
        Ok(chunks.boxed())
    }

    /// The first chunk at or after `seq`.
    async fn chunk_from(&self, result_id: i64, seq: i64) -> StoreResult<Option<(i64, Vec<u8>)>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(CHUNK_FROM)
                .bind(result_id)
                .bind(seq)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The newest finished result for this data source and query hash that `max_age` allows,
    /// with Redash's meaning: `-1` any age, `0` none (always run), `N` retrieved within the
    /// last N seconds.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for `max_age` below -1.
    pub async fn cached_result(
        &self,
        data_source_id: i64,
        query_hash: &str,
        max_age: i64,
    ) -> StoreResult<Option<QueryResultMeta>> {
        let since = match max_age {
            0 => return Ok(None),
            -1 => None,
            n if n > 0 => Some(now() - chrono::Duration::seconds(n)),
            n => {
                return Err(StoreError::Invalid(format!(
                    "max_age must be -1, 0 or a number of seconds, not {n}"
                )));
            }
        };
        let row: Option<MetaRow> = with_pool!(self, |pool| {
            let sql = match since {
                Some(_) => CACHED_RESULT_SINCE,
                None => LATEST_RESULT,
            };
            let mut q = sqlx::query_as(sql)
                .bind(data_source_id)
                .bind(query_hash)
                .bind(true);
            if let Some(since) = since {
                q = q.bind(since);
            }
            q.fetch_optional(pool).await?
        });
        Ok(row.map(QueryResultMeta::from))
    }

    /// Deletes up to `limit` finished results that no query points at and that were retrieved
    /// more than `max_age_secs` seconds ago, oldest first (Redash's `cleanup_query_results`).
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn cleanup_results(&self, max_age_secs: i64, limit: u32) -> StoreResult<u64> {
        let cutoff = now() - chrono::Duration::seconds(max_age_secs.max(0));
        let deleted = with_pool!(self, |pool| {
            sqlx::query(CLEANUP_RESULTS)
                .bind(true)
                .bind(cutoff)
                .bind(i64::from(limit))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted > 0 {
            tracing::info!(deleted, "removed unused query results");
        }
        Ok(deleted)
    }
}
