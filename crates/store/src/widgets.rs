//! Widgets: visualizations and text boxes placed on dashboards.

use cairn_domain::model::Widget;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::db::{Store, now, with_pool};
use crate::error::{StoreError, StoreResult, refs_as};
use crate::visualizations::object_or_empty;

/// A widget to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWidget {
    /// The dashboard it goes on.
    pub dashboard_id: i64,
    /// The visualization it shows; `None` for a text widget.
    pub visualization_id: Option<i64>,
    /// Markdown text for a text widget.
    pub text: String,
    /// Legacy width.
    pub width: i32,
    /// Options (`position{col,row,sizeX,sizeY}`); `null` becomes `{}`.
    pub options: serde_json::Value,
}

/// Changes to a widget; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WidgetUpdate {
    /// New text.
    pub text: Option<String>,
    /// New width.
    pub width: Option<i32>,
    /// New options.
    pub options: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct WidgetRow {
    id: i64,
    dashboard_id: i64,
    visualization_id: Option<i64>,
    text: String,
    width: i32,
    options: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<WidgetRow> for Widget {
    fn from(r: WidgetRow) -> Self {
        Widget {
            id: r.id,
            dashboard_id: r.dashboard_id,
            visualization_id: r.visualization_id,
            text: r.text,
            width: r.width,
            options: r.options.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! widget_cols {
    () => {
        "id, dashboard_id, visualization_id, text, width, options, created_at, updated_at"
    };
}

/// A dashboard's widgets (a hot statement, see `hot`).
pub(crate) const WIDGETS_OF_DASHBOARD: &str = concat!(
    "SELECT ",
    widget_cols!(),
    " FROM widgets WHERE dashboard_id = $1 ORDER BY id"
);

impl Store {
    /// Creates a widget.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the dashboard or visualization does not exist.
    pub async fn create_widget(&self, new: &NewWidget) -> StoreResult<Widget> {
        let at = now();
        let row: WidgetRow = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "INSERT INTO widgets (dashboard_id, visualization_id, text, width, options, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
                widget_cols!()
            ))
            .bind(new.dashboard_id)
            .bind(new.visualization_id)
            .bind(&new.text)
            .bind(new.width)
            .bind(Json(object_or_empty(&new.options)))
            .bind(at)
            .fetch_one(pool)
            .await
            .map_err(refs_as("dashboard or visualization", "widget"))?
        });
        Ok(row.into())
    }

    /// The widget with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn widget(&self, id: i64) -> StoreResult<Widget> {
        let row: Option<WidgetRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                widget_cols!(),
                " FROM widgets WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(Widget::from).ok_or(StoreError::NotFound("widget"))
    }

    /// A dashboard's widgets, oldest first.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn widgets_for_dashboard(&self, dashboard_id: i64) -> StoreResult<Vec<Widget>> {
        let rows: Vec<WidgetRow> = with_pool!(self, |pool| {
            sqlx::query_as(WIDGETS_OF_DASHBOARD)
                .bind(dashboard_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Widget::from).collect())
    }

    /// Changes a widget.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn update_widget(&self, id: i64, update: &WidgetUpdate) -> StoreResult<Widget> {
        let row: Option<WidgetRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE widgets SET text = COALESCE($2, text), width = COALESCE($3, width), \
                 options = COALESCE($4, options), updated_at = $5 WHERE id = $1 RETURNING ",
                widget_cols!()
            ))
            .bind(id)
            .bind(&update.text)
            .bind(update.width)
            .bind(update.options.as_ref().map(|o| Json(object_or_empty(o))))
            .bind(now())
            .fetch_optional(pool)
            .await?
        });
        row.map(Widget::from).ok_or(StoreError::NotFound("widget"))
    }

    /// Deletes a widget.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn delete_widget(&self, id: i64) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM widgets WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("widget"));
        }
        Ok(())
    }
}
