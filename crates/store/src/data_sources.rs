//! Data sources, with their options encrypted at rest.
//!
//! Options hold passwords, so the `encrypted_options` column only ever holds
//! [`crate::Cipher`] output; they are decrypted when a record is read. Masking secret fields in
//! responses is the HTTP layer's job, which knows each type's JSON schema.

use cairn_domain::model::DataSource;
use chrono::{DateTime, Utc};

use crate::db::{Store, now, with_pool};
use crate::error::{StoreError, StoreResult, unique_as};

/// The queue ad-hoc runs go to unless a data source names another.
pub const DEFAULT_QUEUE: &str = "adhoc";
/// The queue scheduled runs go to unless a data source names another.
pub const DEFAULT_SCHEDULED_QUEUE: &str = "scheduled";

/// A data source to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDataSource {
    /// Display name, unique.
    pub name: String,
    /// Runner type (`sqlite`, `pg`, `mysql`); the caller checks it is known.
    pub kind: String,
    /// Runner options, plaintext; stored encrypted.
    pub options: serde_json::Value,
    /// Queue for ad-hoc runs; `None` means [`DEFAULT_QUEUE`].
    pub queue_name: Option<String>,
    /// Queue for scheduled runs; `None` means [`DEFAULT_SCHEDULED_QUEUE`].
    pub scheduled_queue_name: Option<String>,
}

/// Changes to a data source; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSourceUpdate {
    /// New name.
    pub name: Option<String>,
    /// New options (complete, plaintext: the caller has already put back masked secrets).
    pub options: Option<serde_json::Value>,
    /// New ad-hoc queue.
    pub queue_name: Option<String>,
    /// New scheduled queue.
    pub scheduled_queue_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DataSourceRow {
    id: i64,
    name: String,
    #[sqlx(rename = "type")]
    kind: String,
    encrypted_options: Vec<u8>,
    queue_name: String,
    scheduled_queue_name: String,
    paused: bool,
    pause_reason: Option<String>,
    created_at: DateTime<Utc>,
}

macro_rules! ds_cols {
    () => {
        "id, name, type, encrypted_options, queue_name, scheduled_queue_name, paused, \
         pause_reason, created_at"
    };
}

const OPTIONS: &str = "data source options";

impl Store {
    fn open_data_source(&self, row: DataSourceRow) -> StoreResult<DataSource> {
        let plain = self.inner.cipher.decrypt(&row.encrypted_options, OPTIONS)?;
        let options = serde_json::from_slice(&plain).map_err(|_| StoreError::Decrypt(OPTIONS))?;
        Ok(DataSource {
            id: row.id,
            name: row.name,
            kind: row.kind,
            options,
            queue_name: row.queue_name,
            scheduled_queue_name: row.scheduled_queue_name,
            paused: row.paused,
            pause_reason: row.pause_reason,
            created_at: row.created_at,
        })
    }

    fn seal_options(&self, options: &serde_json::Value) -> StoreResult<Vec<u8>> {
        if !options.is_object() {
            return Err(StoreError::Invalid(
                "data source options must be a JSON object".into(),
            ));
        }
        let plain = serde_json::to_vec(options)
            .map_err(|e| StoreError::Invalid(format!("data source options: {e}")))?;
        Ok(self.inner.cipher.encrypt(&plain))
    }

    /// Creates a data source, its options encrypted.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a blank name or type or options that are not an object,
    /// [`StoreError::Duplicate`] when the name is taken.
    pub async fn create_data_source(&self, new: &NewDataSource) -> StoreResult<DataSource> {
        if new.name.trim().is_empty() || new.kind.trim().is_empty() {
            return Err(StoreError::Invalid(
                "a data source needs a name and a type".into(),
            ));
        }
        let sealed = self.seal_options(&new.options)?;
        let row: DataSourceRow = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "INSERT INTO data_sources (name, type, encrypted_options, queue_name, \
                 scheduled_queue_name, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                ds_cols!()
            ))
            .bind(new.name.trim())
            .bind(new.kind.trim())
            .bind(&sealed)
            .bind(new.queue_name.as_deref().unwrap_or(DEFAULT_QUEUE))
            .bind(
                new.scheduled_queue_name
                    .as_deref()
                    .unwrap_or(DEFAULT_SCHEDULED_QUEUE),
            )
            .bind(now())
            .fetch_one(pool)
            .await
            .map_err(unique_as("data source with this name"))?
        });
        self.open_data_source(row)
    }

    /// The data source with this id, options decrypted.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Decrypt`] when the secret key is not the one the
    /// options were written with.
    pub async fn data_source(&self, id: i64) -> StoreResult<DataSource> {
        let row: Option<DataSourceRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                ds_cols!(),
                " FROM data_sources WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        self.open_data_source(row.ok_or(StoreError::NotFound("data source"))?)
    }

    /// Every data source, by id, options decrypted.
    ///
    /// # Errors
    /// As [`Store::data_source`].
    pub async fn list_data_sources(&self) -> StoreResult<Vec<DataSource>> {
        let rows: Vec<DataSourceRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                ds_cols!(),
                " FROM data_sources ORDER BY id"
            ))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(|r| self.open_data_source(r)).collect()
    }

    /// Changes a data source.
    ///
    /// # Errors
    /// As [`Store::create_data_source`], plus [`StoreError::NotFound`].
    pub async fn update_data_source(
        &self,
        id: i64,
        update: &DataSourceUpdate,
    ) -> StoreResult<DataSource> {
        if update.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(StoreError::Invalid("a data source needs a name".into()));
        }
        let sealed = update
            .options
            .as_ref()
            .map(|o| self.seal_options(o))
            .transpose()?;
        let row: Option<DataSourceRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE data_sources SET name = COALESCE($2, name), \
                 encrypted_options = COALESCE($3, encrypted_options), \
                 queue_name = COALESCE($4, queue_name), \
                 scheduled_queue_name = COALESCE($5, scheduled_queue_name) \
                 WHERE id = $1 RETURNING ",
                ds_cols!()
            ))
            .bind(id)
            .bind(update.name.as_deref().map(str::trim))
            .bind(&sealed)
            .bind(&update.queue_name)
            .bind(&update.scheduled_queue_name)
            .fetch_optional(pool)
            .await
            .map_err(unique_as("data source with this name"))?
        });
        self.open_data_source(row.ok_or(StoreError::NotFound("data source"))?)
    }

    /// Pauses (`Some(reason)`, the reason may be empty) or resumes (`None`) scheduled runs.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such data source.
    pub async fn set_data_source_paused(
        &self,
        id: i64,
        pause: Option<&str>,
    ) -> StoreResult<DataSource> {
        let reason = pause.map(str::trim).filter(|r| !r.is_empty());
        let row: Option<DataSourceRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE data_sources SET paused = $2, pause_reason = $3 WHERE id = $1 RETURNING ",
                ds_cols!()
            ))
            .bind(id)
            .bind(pause.is_some())
            .bind(reason)
            .fetch_optional(pool)
            .await?
        });
        self.open_data_source(row.ok_or(StoreError::NotFound("data source"))?)
    }

    /// Deletes a data source and its results, as Redash does: its queries stay, without a data
    /// source and without a latest result.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such data source.
    pub async fn delete_data_source(&self, id: i64) -> StoreResult<()> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM data_sources WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound("data source"));
        }
        Ok(())
    }
}

/// A data source's schema as last introspected.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedSchema {
    /// Redash's `schema` list: `[{"name": table, "columns": [...]}]`, opaque to the store.
    pub schema: serde_json::Value,
    /// When it was introspected.
    pub refreshed_at: DateTime<Utc>,
}

impl Store {
    /// The cached schema of a data source, if one was stored.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn data_source_schema(&self, id: i64) -> StoreResult<Option<serde_json::Value>> {
        Ok(self.cached_schema(id).await?.map(|c| c.schema))
    }

    /// The cached schema of a data source with its refresh time, if one was stored.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn cached_schema(&self, id: i64) -> StoreResult<Option<CachedSchema>> {
        let row: Option<(sqlx::types::Json<serde_json::Value>, DateTime<Utc>)> =
            with_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT schema, refreshed_at FROM data_source_schemas \
                     WHERE data_source_id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?
            });
        Ok(row.map(|(schema, refreshed_at)| CachedSchema {
            schema: schema.0,
            refreshed_at,
        }))
    }

    /// Stores (replaces) the cached schema of a data source.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the data source does not exist.
    pub async fn set_data_source_schema(
        &self,
        id: i64,
        schema: &serde_json::Value,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO data_source_schemas (data_source_id, schema, refreshed_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (data_source_id) \
                 DO UPDATE SET schema = excluded.schema, refreshed_at = excluded.refreshed_at",
            )
            .bind(id)
            .bind(sqlx::types::Json(schema))
            .bind(now())
            .execute(pool)
            .await
            .map_err(crate::error::refs_as("data source", "schema"))?;
        });
        Ok(())
    }
}
