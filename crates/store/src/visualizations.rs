//! Visualizations: charts and tables over a query's result.

use cairn_domain::model::Visualization;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::db::{Store, now, with_pool};
use crate::error::{StoreError, StoreResult, refs_as};

/// A visualization to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVisualization {
    /// The query it shows.
    pub query_id: i64,
    /// Redash's type (`TABLE`, `CHART`, ...).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Renderer options; `null` becomes `{}`.
    pub options: serde_json::Value,
}

/// Changes to a visualization; `None` keeps a field, `Some(None)` clears the description.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisualizationUpdate {
    /// New type.
    pub kind: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New options.
    pub options: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct VisualizationRow {
    id: i64,
    query_id: i64,
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    description: Option<String>,
    options: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<VisualizationRow> for Visualization {
    fn from(r: VisualizationRow) -> Self {
        Visualization {
            id: r.id,
            query_id: r.query_id,
            kind: r.kind,
            name: r.name,
            description: r.description,
            options: r.options.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! vis_cols {
    () => {
        "id, query_id, type, name, description, options, created_at, updated_at"
    };
}

/// A query's visualizations (a hot statement, see `hot`).
pub(crate) const VISUALIZATIONS_OF_QUERY: &str = concat!(
    "SELECT ",
    vis_cols!(),
    " FROM visualizations WHERE query_id = $1 ORDER BY id"
);

impl Store {
    /// Creates a visualization.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a blank type or an unknown query.
    pub async fn create_visualization(&self, new: &NewVisualization) -> StoreResult<Visualization> {
        if new.kind.trim().is_empty() {
            return Err(StoreError::Invalid("a visualization needs a type".into()));
        }
        let at = now();
        let row: VisualizationRow = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "INSERT INTO visualizations (query_id, type, name, description, options, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
                vis_cols!()
            ))
            .bind(new.query_id)
            .bind(new.kind.trim())
            .bind(&new.name)
            .bind(&new.description)
            .bind(Json(object_or_empty(&new.options)))
            .bind(at)
            .fetch_one(pool)
            .await
            .map_err(refs_as("query", "visualization"))?
        });
        Ok(row.into())
    }

    /// The visualization with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn visualization(&self, id: i64) -> StoreResult<Visualization> {
        let row: Option<VisualizationRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                vis_cols!(),
                " FROM visualizations WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(Visualization::from)
            .ok_or(StoreError::NotFound("visualization"))
    }

    /// A query's visualizations, oldest first.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn visualizations_for_query(&self, query_id: i64) -> StoreResult<Vec<Visualization>> {
        let rows: Vec<VisualizationRow> = with_pool!(self, |pool| {
            sqlx::query_as(VISUALIZATIONS_OF_QUERY)
                .bind(query_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Visualization::from).collect())
    }

    /// Changes a visualization.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn update_visualization(
        &self,
        id: i64,
        update: &VisualizationUpdate,
    ) -> StoreResult<Visualization> {
        let mut v = self.visualization(id).await?;
        if let Some(kind) = &update.kind {
            if kind.trim().is_empty() {
                return Err(StoreError::Invalid("a visualization needs a type".into()));
            }
            v.kind = kind.trim().to_string();
        }
        if let Some(name) = &update.name {
            v.name = name.clone();
        }
        if let Some(description) = &update.description {
            v.description = description.clone();
        }
        if let Some(options) = &update.options {
            v.options = object_or_empty(options);
        }
        let row: Option<VisualizationRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE visualizations SET type = $2, name = $3, description = $4, options = $5, \
                 updated_at = $6 WHERE id = $1 RETURNING ",
                vis_cols!()
            ))
            .bind(id)
            .bind(&v.kind)
            .bind(&v.name)
            .bind(&v.description)
            .bind(Json(&v.options))
            .bind(now())
            .fetch_optional(pool)
            .await?
        });
        row.map(Visualization::from)
            .ok_or(StoreError::NotFound("visualization"))
    }

    /// Deletes a visualization and the widgets showing it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn delete_visualization(&self, id: i64) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM visualizations WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("visualization"));
        }
        Ok(())
    }
}

/// `value`, or `{}` when it is `null`.
pub(crate) fn object_or_empty(value: &serde_json::Value) -> serde_json::Value {
    if value.is_null() {
        serde_json::json!({})
    } else {
        value.clone()
    }
}
