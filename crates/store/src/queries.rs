//! Saved queries: create (as drafts), read, update with optimistic locking, archive, fork, and
//! their API keys. Lists, tags, schedules and the result fan-out are in `query_lists`.
//!
//! Tags are kept twice on purpose: as a JSON array on the row (their order, returned as is) and
//! one row each in `query_tags` (indexed, for tag filters and counts). Both are written in the
//! same transaction.

use cairn_domain::model::{Query, Schedule};
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::db::{BeginWrite, Store, now, random_key, with_pool};
use crate::error::{StoreError, StoreResult};
use crate::listing::clean_tags;

/// A query to create. It starts as a draft at version 1, with a fresh API key and Redash's
/// default `TABLE` visualization.
#[derive(Debug, Clone, PartialEq)]
pub struct NewQuery {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Query text.
    pub query: String,
    /// Redash's hash of `query` (`cairn_domain::query_hash`).
    pub query_hash: String,
    /// The data source it runs on.
    pub data_source_id: i64,
    /// Refresh schedule.
    pub schedule: Option<Schedule>,
    /// Options (`parameters[]`); `null` becomes `{}`.
    pub options: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// The owner.
    pub user_id: i64,
}

/// Changes to a query. `None` keeps a field; for nullable fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New text and its hash, together.
    pub query: Option<(String, String)>,
    /// New data source.
    pub data_source_id: Option<i64>,
    /// New schedule; a changed schedule resets `schedule_failures`.
    pub schedule: Option<Option<Schedule>>,
    /// New options.
    pub options: Option<serde_json::Value>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// Publish (`false`) or unpublish.
    pub is_draft: Option<bool>,
    /// The version the client edited; a different current version is a
    /// [`StoreError::Conflict`]. `None` skips the check.
    pub version: Option<i32>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct QueryRow {
    id: i64,
    name: String,
    description: Option<String>,
    query: String,
    query_hash: String,
    schedule: Option<Json<Schedule>>,
    api_key: String,
    is_archived: bool,
    is_draft: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    data_source_id: Option<i64>,
    latest_query_data_id: Option<i64>,
    options: Json<serde_json::Value>,
    version: i32,
    tags: Json<Vec<String>>,
    user_id: i64,
    last_modified_by_id: Option<i64>,
    schedule_failures: i32,
}

impl From<QueryRow> for Query {
    fn from(r: QueryRow) -> Self {
        Query {
            id: r.id,
            name: r.name,
            description: r.description,
            query: r.query,
            query_hash: r.query_hash,
            schedule: r.schedule.map(|s| s.0),
            api_key: r.api_key,
            is_archived: r.is_archived,
            is_draft: r.is_draft,
            created_at: r.created_at,
            updated_at: r.updated_at,
            data_source_id: r.data_source_id,
            latest_query_data_id: r.latest_query_data_id,
            options: r.options.0,
            version: r.version,
            tags: r.tags.0,
            user_id: r.user_id,
            last_modified_by_id: r.last_modified_by_id,
            schedule_failures: r.schedule_failures,
        }
    }
}

/// The query columns, unqualified (SQLite's `RETURNING` does not accept qualified names).
macro_rules! query_cols {
    () => {
        "id, name, description, query, query_hash, schedule, api_key, is_archived, is_draft, \
         created_at, updated_at, data_source_id, latest_query_data_id, options, version, tags, \
         user_id, last_modified_by_id, schedule_failures"
    };
}
pub(crate) use query_cols;

/// The query columns, qualified with the alias `q`, for joins.
macro_rules! query_cols_q {
    () => {
        "q.id, q.name, q.description, q.query, q.query_hash, q.schedule, q.api_key, \
         q.is_archived, q.is_draft, q.created_at, q.updated_at, q.data_source_id, \
         q.latest_query_data_id, q.options, q.version, q.tags, q.user_id, \
         q.last_modified_by_id, q.schedule_failures"
    };
}
pub(crate) use query_cols_q;

/// Inserts a query, its tags and its default visualization inside transaction `$tx`; evaluates
/// to the new `QueryRow`.
macro_rules! insert_query {
    ($tx:expr, $new:expr, $latest:expr) => {{
        let new: &NewQuery = $new;
        let at = now();
        let tags = clean_tags(&new.tags);
        let row: QueryRow = sqlx::query_as(concat!(
            "INSERT INTO queries (name, description, query, query_hash, schedule, api_key, \
             is_draft, created_at, updated_at, data_source_id, latest_query_data_id, options, \
             tags, user_id, last_modified_by_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $13) RETURNING ",
            query_cols!()
        ))
        .bind(new.name.trim())
        .bind(&new.description)
        .bind(&new.query)
        .bind(&new.query_hash)
        .bind(new.schedule.clone().map(Json))
        .bind(random_key())
        .bind(true)
        .bind(at)
        .bind(new.data_source_id)
        .bind($latest)
        .bind(Json(options_or_empty(&new.options)))
        .bind(Json(&tags))
        .bind(new.user_id)
        .fetch_one(&mut *$tx)
        .await?;
        for tag in &tags {
            sqlx::query("INSERT INTO query_tags (query_id, tag) VALUES ($1, $2)")
                .bind(row.id)
                .bind(tag)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO visualizations (query_id, type, name, description, options, \
             created_at, updated_at) VALUES ($1, 'TABLE', 'Table', '', $2, $3, $3)",
        )
        .bind(row.id)
        .bind(Json(serde_json::json!({})))
        .bind(at)
        .execute(&mut *$tx)
        .await?;
        row
    }};
}

/// The query owning an API key (a hot statement, see `hot`).
pub(crate) const QUERY_BY_API_KEY: &str =
    concat!("SELECT ", query_cols!(), " FROM queries WHERE api_key = $1");

impl Store {
    /// Creates a draft query with its default `TABLE` visualization.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a blank name, options that are not an object, or an unknown
    /// data source or user.
    pub async fn create_query(&self, new: &NewQuery) -> StoreResult<Query> {
        check_new_query(new)?;
        let row = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            check_refs(&mut tx, new.data_source_id, new.user_id).await?;
            let row = insert_query!(tx, new, None::<i64>);
            tx.commit().await?;
            row
        });
        Ok(row.into())
    }

    /// The query with this id (archived ones too).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn query(&self, id: i64) -> StoreResult<Query> {
        let row: Option<QueryRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                query_cols!(),
                " FROM queries WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(Query::from).ok_or(StoreError::NotFound("query"))
    }

    /// The query whose own API key this is.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when no query has this key.
    pub async fn query_by_api_key(&self, api_key: &str) -> StoreResult<Query> {
        let row: Option<QueryRow> = with_pool!(self, |pool| {
            sqlx::query_as(QUERY_BY_API_KEY)
                .bind(api_key)
                .fetch_optional(pool)
                .await?
        });
        row.map(Query::from).ok_or(StoreError::NotFound("query"))
    }

    /// Applies `update`, made by user `modified_by`, and bumps the version.
    ///
    /// The row is read, changed in memory and written back only if its version is still the one
    /// read (compare-and-set), so concurrent updates never overwrite each other silently: with
    /// `update.version` set the loser gets [`StoreError::Conflict`], without it the update is
    /// retried on the new row.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`] with the current version,
    /// [`StoreError::Invalid`] for bad fields or an unknown data source.
    pub async fn update_query(
        &self,
        id: i64,
        update: &QueryUpdate,
        modified_by: i64,
    ) -> StoreResult<Query> {
        if update.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(StoreError::Invalid("a query needs a name".into()));
        }
        if update
            .options
            .as_ref()
            .is_some_and(|o| !o.is_object() && !o.is_null())
        {
            return Err(StoreError::Invalid(
                "query options must be an object".into(),
            ));
        }
        for _attempt in 0..5 {
            let current = self.query(id).await?;
            if let Some(expected) = update.version
                && expected != current.version
            {
                return Err(StoreError::Conflict(current.version));
            }
            let next = apply_update(current.clone(), update);
            let tags = clean_tags(&next.tags);
            let written: Option<QueryRow> = with_pool!(self, |pool| {
                let mut tx = pool.begin_write().await?;
                if let Some(ds) = update.data_source_id {
                    check_refs(&mut tx, ds, modified_by).await?;
                }
                let row: Option<QueryRow> = sqlx::query_as(concat!(
                    "UPDATE queries SET name = $3, description = $4, query = $5, \
                     query_hash = $6, data_source_id = $7, schedule = $8, options = $9, \
                     tags = $10, is_draft = $11, schedule_failures = $12, updated_at = $13, \
                     last_modified_by_id = $14, version = version + 1 \
                     WHERE id = $1 AND version = $2 RETURNING ",
                    query_cols!()
                ))
                .bind(id)
                .bind(current.version)
                .bind(&next.name)
                .bind(&next.description)
                .bind(&next.query)
                .bind(&next.query_hash)
                .bind(next.data_source_id)
                .bind(next.schedule.clone().map(Json))
                .bind(Json(&next.options))
                .bind(Json(&tags))
                .bind(next.is_draft)
                .bind(next.schedule_failures)
                .bind(now())
                .bind(modified_by)
                .fetch_optional(&mut *tx)
                .await?;
                if row.is_some() && update.tags.is_some() {
                    sqlx::query("DELETE FROM query_tags WHERE query_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for tag in &tags {
                        sqlx::query("INSERT INTO query_tags (query_id, tag) VALUES ($1, $2)")
                            .bind(id)
                            .bind(tag)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                row
            });
            if let Some(row) = written {
                return Ok(row.into());
            }
        }
        let current = self.query(id).await?;
        Err(StoreError::Conflict(current.version))
    }

    /// Archives a query as Redash's `DELETE` does: hidden from lists, schedule cleared, and the
    /// widgets showing its visualizations removed from dashboards.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such query.
    pub async fn archive_query(&self, id: i64, by: i64) -> StoreResult<Query> {
        let row: Option<QueryRow> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row: Option<QueryRow> = sqlx::query_as(concat!(
                "UPDATE queries SET is_archived = $2, schedule = NULL, updated_at = $3, \
                 last_modified_by_id = $4 WHERE id = $1 RETURNING ",
                query_cols!()
            ))
            .bind(id)
            .bind(true)
            .bind(now())
            .bind(by)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM widgets WHERE visualization_id IN \
                 (SELECT id FROM visualizations WHERE query_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            row
        });
        row.map(Query::from).ok_or(StoreError::NotFound("query"))
    }

    /// Copies a query for `user_id` as Redash's fork does: a draft named `Copy of (#id) name`
    /// with the same text, data source, options, tags and latest result, plus copies of its
    /// visualizations other than tables.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Invalid`] when the query has no data source.
    pub async fn fork_query(&self, id: i64, user_id: i64) -> StoreResult<Query> {
        let original = self.query(id).await?;
        let data_source_id = original.data_source_id.ok_or_else(|| {
            StoreError::Invalid("cannot fork a query whose data source was deleted".into())
        })?;
        let new = NewQuery {
            name: format!("Copy of (#{}) {}", original.id, original.name),
            description: original.description.clone(),
            query: original.query.clone(),
            query_hash: original.query_hash.clone(),
            data_source_id,
            schedule: None,
            options: original.options.clone(),
            tags: original.tags.clone(),
            user_id,
        };
        let row = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            check_refs(&mut tx, data_source_id, user_id).await?;
            let row = insert_query!(tx, &new, original.latest_query_data_id);
            sqlx::query(
                "INSERT INTO visualizations (query_id, type, name, description, options, \
                 created_at, updated_at) SELECT $1, type, name, description, options, $3, $3 \
                 FROM visualizations WHERE query_id = $2 AND type <> 'TABLE' ORDER BY id",
            )
            .bind(row.id)
            .bind(original.id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            row
        });
        Ok(row.into())
    }

    /// Gives a query a new API key; the old one stops working.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such query.
    pub async fn regenerate_query_api_key(&self, id: i64) -> StoreResult<Query> {
        let row: Option<QueryRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE queries SET api_key = $2 WHERE id = $1 RETURNING ",
                query_cols!()
            ))
            .bind(id)
            .bind(random_key())
            .fetch_optional(pool)
            .await?
        });
        row.map(Query::from).ok_or(StoreError::NotFound("query"))
    }
}

/// Checks that a data source and a user exist, inside the writing transaction.
async fn check_refs<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    data_source_id: i64,
    user_id: i64,
) -> StoreResult<()>
where
    DB: sqlx::Database,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::Decode<'q, DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let ds: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM data_sources WHERE id = $1")
        .bind(data_source_id)
        .fetch_one(&mut **tx)
        .await?;
    if ds == 0 {
        return Err(StoreError::Invalid(format!(
            "data source {data_source_id} does not exist"
        )));
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?;
    if users == 0 {
        return Err(StoreError::Invalid(format!(
            "user {user_id} does not exist"
        )));
    }
    Ok(())
}

fn check_new_query(new: &NewQuery) -> StoreResult<()> {
    if new.name.trim().is_empty() {
        return Err(StoreError::Invalid("a query needs a name".into()));
    }
    if !new.options.is_object() && !new.options.is_null() {
        return Err(StoreError::Invalid(
            "query options must be an object".into(),
        ));
    }
    Ok(())
}

fn options_or_empty(options: &serde_json::Value) -> serde_json::Value {
    if options.is_null() {
        serde_json::json!({})
    } else {
        options.clone()
    }
}

/// `current` with `update` applied (pure, so the compare-and-set loop can redo it).
fn apply_update(mut q: Query, u: &QueryUpdate) -> Query {
    if let Some(name) = &u.name {
        q.name = name.trim().to_string();
    }
    if let Some(description) = &u.description {
        q.description = description.clone();
    }
    if let Some((text, hash)) = &u.query {
        q.query = text.clone();
        q.query_hash = hash.clone();
    }
    if let Some(ds) = u.data_source_id {
        q.data_source_id = Some(ds);
    }
    if let Some(schedule) = &u.schedule
        && *schedule != q.schedule
    {
        q.schedule = schedule.clone();
        q.schedule_failures = 0;
    }
    if let Some(options) = &u.options {
        q.options = options_or_empty(options);
    }
    if let Some(tags) = &u.tags {
        q.tags = clean_tags(tags);
    }
    if let Some(is_draft) = u.is_draft {
        q.is_draft = is_draft;
    }
    q
}
