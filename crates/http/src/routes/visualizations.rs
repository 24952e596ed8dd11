//! `/api/visualizations...` and `/api/widgets...`: charts over a query's result, and their
//! placement on dashboards. Editing either needs the right to edit its query or dashboard.

use crate::auth::Caller;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::serialize::{visualization_json, widget_json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_store::{NewVisualization, NewWidget, VisualizationUpdate, WidgetUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

/// The body of `POST /api/visualizations[/<id>]`.
#[derive(Debug, Deserialize)]
pub struct VisualizationBody {
    query_id: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    description: Option<Option<String>>,
    options: Option<Value>,
}

/// `POST /api/visualizations`.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<VisualizationBody>,
) -> AppResult<Json<Value>> {
    let query_id = body
        .query_id
        .ok_or_else(|| AppError::bad_request("query_id is required."))?;
    let q = app.store.query(query_id).await?;
    caller.check_edit(q.user_id)?;
    let kind = body
        .kind
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| AppError::bad_request("type is required."))?;
    let v = app
        .store
        .create_visualization(&NewVisualization {
            query_id,
            name: body
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| kind.clone()),
            kind,
            description: body.description.flatten(),
            options: body.options.unwrap_or_else(|| json!({})),
        })
        .await?;
    Ok(Json(visualization_json(&v, None)))
}

/// `POST /api/visualizations/<id>`.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<VisualizationBody>,
) -> AppResult<Json<Value>> {
    let v = app.store.visualization(id).await?;
    caller.check_edit(app.store.query(v.query_id).await?.user_id)?;
    let v = app
        .store
        .update_visualization(
            id,
            &VisualizationUpdate {
                kind: body.kind,
                name: body.name,
                description: body.description,
                options: body.options,
            },
        )
        .await?;
    Ok(Json(visualization_json(&v, None)))
}

/// `DELETE /api/visualizations/<id>`.
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<StatusCode> {
    let v = app.store.visualization(id).await?;
    caller.check_edit(app.store.query(v.query_id).await?.user_id)?;
    app.store.delete_visualization(id).await?;
    Ok(StatusCode::OK)
}

/// The body of `POST /api/widgets[/<id>]`.
#[derive(Debug, Deserialize)]
pub struct WidgetBody {
    dashboard_id: Option<i64>,
    visualization_id: Option<i64>,
    text: Option<String>,
    width: Option<i32>,
    options: Option<Value>,
}

/// `POST /api/widgets`: a visualization (or, without one, a text box) on a dashboard.
pub async fn create_widget(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<WidgetBody>,
) -> AppResult<Json<Value>> {
    let dashboard_id = body
        .dashboard_id
        .ok_or_else(|| AppError::bad_request("dashboard_id is required."))?;
    let d = app.store.dashboard(dashboard_id).await?;
    caller.check_edit(d.user_id)?;
    let vis = match body.visualization_id {
        Some(vid) => Some(app.store.visualization(vid).await?),
        None => None,
    };
    let w = app
        .store
        .create_widget(&NewWidget {
            dashboard_id,
            visualization_id: body.visualization_id,
            text: body.text.unwrap_or_default(),
            width: body.width.unwrap_or(1),
            options: body.options.unwrap_or_else(|| json!({})),
        })
        .await?;
    Ok(Json(widget_json(
        &w,
        vis.map(|v| visualization_json(&v, None)),
    )))
}

/// `POST /api/widgets/<id>`: text, width and options (position) change.
pub async fn update_widget(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<WidgetBody>,
) -> AppResult<Json<Value>> {
    let w = app.store.widget(id).await?;
    caller.check_edit(app.store.dashboard(w.dashboard_id).await?.user_id)?;
    let w = app
        .store
        .update_widget(
            id,
            &WidgetUpdate {
                text: body.text,
                width: body.width,
                options: body.options,
            },
        )
        .await?;
    Ok(Json(widget_json(&w, None)))
}

/// `DELETE /api/widgets/<id>`.
pub async fn delete_widget(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    let w = app.store.widget(id).await?;
    caller.check_edit(app.store.dashboard(w.dashboard_id).await?.user_id)?;
    app.store.delete_widget(id).await?;
    Ok(Json(json!({})))
}
