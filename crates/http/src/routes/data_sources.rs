//! `/api/data_sources...`: data sources with their options encrypted at rest and secrets masked
//! in every response; connection tests and schema refreshes run as jobs on the `schemas` queue.

use crate::auth::Caller;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::routes::jobs::job_json;
use crate::serialize::{data_source_json, data_source_summary, unmask_secrets};
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use cairn_domain::model::DataSource;
use cairn_exec::job::{Job, JobKind, JobStatus, QueueName};
use cairn_sources::{SourceKind, source_types, validate_options};
use cairn_store::{DataSourceUpdate, NewDataSource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The type of a stored data source, or a 400 naming the unknown type.
fn kind_of(key: &str) -> AppResult<SourceKind> {
    SourceKind::from_key(key).map_err(|e| AppError::bad_request(e.to_string()))
}

fn secret_fields(kind: SourceKind) -> Vec<String> {
    kind.secret_fields().iter().map(|s| s.to_string()).collect()
}

/// A data source with masked options.
fn full_json(ds: &DataSource) -> Value {
    match SourceKind::from_key(&ds.kind) {
        Ok(kind) => data_source_json(ds, kind.syntax(), &secret_fields(kind)),
        Err(_) => data_source_summary(ds, "sql"),
    }
}

/// `GET /api/data_sources/types`.
pub async fn types(caller: Caller) -> AppResult<Json<Value>> {
    caller.user()?;
    Ok(Json(json!(source_types())))
}

/// `GET /api/data_sources`.
pub async fn list(State(app): State<AppState>, caller: Caller) -> AppResult<Json<Value>> {
    caller.user()?;
    let sources = app.store.list_data_sources().await?;
    Ok(Json(Value::Array(
        sources
            .iter()
            .map(|ds| {
                let syntax = SourceKind::from_key(&ds.kind)
                    .map(|k| k.syntax())
                    .unwrap_or("sql");
                data_source_summary(ds, syntax)
            })
            .collect(),
    )))
}

/// The body of `POST /api/data_sources[/<id>]`.
#[derive(Debug, Deserialize)]
pub struct DataSourceBody {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    options: Option<Value>,
    queue_name: Option<String>,
    scheduled_queue_name: Option<String>,
}

fn checked_queue(name: &Option<String>) -> AppResult<()> {
    if let Some(n) = name {
        QueueName::parse(n).map_err(AppError::bad_request)?;
    }
    Ok(())
}

/// `POST /api/data_sources` (admin).
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<DataSourceBody>,
) -> AppResult<Json<Value>> {
    caller.admin()?;
    let name = body
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| AppError::bad_request("name is required."))?;
    let kind = kind_of(
        body.kind
            .as_deref()
            .ok_or_else(|| AppError::bad_request("type is required."))?,
    )?;
    let options = body.options.unwrap_or_else(|| json!({}));
    validate_options(kind, &options).map_err(|e| AppError::bad_request(e.to_string()))?;
    checked_queue(&body.queue_name)?;
    checked_queue(&body.scheduled_queue_name)?;
    let ds = app
        .store
        .create_data_source(&NewDataSource {
            name,
            kind: kind.key().to_string(),
            options,
            queue_name: body.queue_name,
            scheduled_queue_name: body.scheduled_queue_name,
        })
        .await?;
    Ok(Json(full_json(&ds)))
}

/// `GET /api/data_sources/<id>` (admin: it shows the options).
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    caller.admin()?;
    Ok(Json(full_json(&app.store.data_source(id).await?)))
}

/// `POST /api/data_sources/<id>` (admin): masked secrets sent back keep their stored values.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<DataSourceBody>,
) -> AppResult<Json<Value>> {
    caller.admin()?;
    let current = app.store.data_source(id).await?;
    let kind = kind_of(&current.kind)?;
    if let Some(k) = &body.kind
        && k != &current.kind
    {
        return Err(AppError::bad_request(
            "A data source's type cannot change; create a new one.",
        ));
    }
    let options = match body.options {
        Some(new) => {
            let merged = unmask_secrets(&new, &current.options, &secret_fields(kind));
            validate_options(kind, &merged).map_err(|e| AppError::bad_request(e.to_string()))?;
            Some(merged)
        }
        None => None,
    };
    checked_queue(&body.queue_name)?;
    checked_queue(&body.scheduled_queue_name)?;
    let ds = app
        .store
        .update_data_source(
            id,
            &DataSourceUpdate {
                name: body.name,
                options,
                queue_name: body.queue_name,
                scheduled_queue_name: body.scheduled_queue_name,
            },
        )
        .await?;
    Ok(Json(full_json(&ds)))
}

/// `DELETE /api/data_sources/<id>` (admin).
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<axum::http::StatusCode> {
    caller.admin()?;
    app.store.delete_data_source(id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The body of `POST /api/data_sources/<id>/pause`.
#[derive(Debug, Default, Deserialize)]
pub struct PauseBody {
    reason: Option<String>,
}

/// `POST /api/data_sources/<id>/pause` (admin): the scheduler skips it, runs are refused.
pub async fn pause(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<PauseBody>,
) -> AppResult<Json<Value>> {
    caller.admin()?;
    let reason = body.reason.unwrap_or_default();
    Ok(Json(full_json(
        &app.store.set_data_source_paused(id, Some(&reason)).await?,
    )))
}

/// `DELETE /api/data_sources/<id>/pause` (admin).
pub async fn resume(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    caller.admin()?;
    Ok(Json(full_json(
        &app.store.set_data_source_paused(id, None).await?,
    )))
}

/// `POST /api/data_sources/<id>/test` (admin): `{"ok","message"}` once the test job ends.
///
/// The test runs as a job on the `schemas` queue; the request waits for it asynchronously (no
/// thread is held) up to the configured time, then answers with the job to poll instead.
pub async fn test(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    caller.admin()?;
    app.store.data_source(id).await?;
    let job = Job::new(
        QueueName::Schemas,
        JobKind::TestConnection { data_source_id: id },
    );
    let enqueued = app
        .queue
        .enqueue(job, Some(format!("test_connection:{id}")))
        .await?;
    let job_id = enqueued.state.id.clone();
    let deadline = tokio::time::Instant::now() + app.settings.test_connection_wait;
    loop {
        let state = app.queue.state(&job_id).await?;
        match state {
            Some(s) if s.status == JobStatus::Finished => {
                return Ok(Json(json!({"ok": true, "message": "success"})));
            }
            Some(s) if s.status.is_final() => {
                let message = s
                    .error
                    .unwrap_or_else(|| "the connection test failed".to_string());
                return Ok(Json(json!({"ok": false, "message": message})));
            }
            None => {
                return Ok(Json(
                    json!({"ok": false, "message": "the test job was lost; try again"}),
                ));
            }
            Some(s) if tokio::time::Instant::now() >= deadline => {
                let mut body = job_json(&s);
                body["ok"] = json!(false);
                body["message"] = json!("the test is still running: poll the job");
                return Ok(Json(body));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `GET /api/data_sources/<id>/schema[?refresh]`: the cached schema `{"schema":[...]}`, or, when
/// none is cached or `refresh` is given, a refresh job `{"job":...}` whose result is the schema.
pub async fn schema(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    RawQuery(raw): RawQuery,
) -> AppResult<Json<Value>> {
    caller.user()?;
    app.store.data_source(id).await?;
    let refresh = raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == "refresh" || kv.starts_with("refresh="));
    if !refresh && let Some(schema) = app.store.data_source_schema(id).await? {
        return Ok(Json(json!({"schema": schema})));
    }
    let job = Job::new(
        QueueName::Schemas,
        JobKind::RefreshSchema { data_source_id: id },
    );
    let enqueued = app
        .queue
        .enqueue(job, Some(format!("refresh_schema:{id}")))
        .await?;
    Ok(Json(job_json(&enqueued.state)))
}
