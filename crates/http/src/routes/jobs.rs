//! `GET /api/jobs/<id>` (poll) and `DELETE /api/jobs/<id>` (cancel), in Redash's shape.

use crate::auth::Caller;
use crate::error::{AppPath, AppResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cairn_exec::job::{CANCELLED_MESSAGE, JobId, JobState, JobStatus};
use serde_json::{Value, json};

/// The message for a job id the queue does not know.
const UNKNOWN_JOB: &str = "This job is unknown: it finished long ago and expired, or was lost when the server restarted. Run the query again.";

/// Redash's job JSON: `{"job": {"id","updated_at","status","error","result","query_result_id"}}`.
///
/// Like Redash, a cancelled job is reported as failed (4) with "Query cancelled by user.", which
/// is what existing clients stop polling on.
pub fn job_json(state: &JobState) -> Value {
    let (status, error) = match state.status {
        JobStatus::Cancelled => (JobStatus::Failed, Some(CANCELLED_MESSAGE.to_string())),
        s => (s, state.error.clone()),
    };
    let result = match (&state.result, state.query_result_id) {
        (Some(r), _) => r.clone(),
        (None, Some(id)) => json!(id),
        (None, None) => Value::Null,
    };
    json!({"job": {
        "id": state.id,
        "updated_at": state.updated_at.timestamp(),
        "status": u8::from(status),
        "error": error,
        "result": result,
        "query_result_id": state.query_result_id,
    }})
}

/// The JSON for a job id nobody knows: failed, with a message saying what to do.
fn unknown_job(id: &JobId) -> Value {
    json!({"job": {
        "id": id, "updated_at": 0, "status": 4, "error": UNKNOWN_JOB,
        "result": null, "query_result_id": null,
    }})
}

/// `GET /api/jobs/<id>`.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<Value>> {
    caller.user()?;
    let id = JobId(id);
    Ok(Json(match app.queue.state(&id).await? {
        Some(state) => job_json(&state),
        None => unknown_job(&id),
    }))
}

/// `DELETE /api/jobs/<id>`: cancels the job; a running query is stopped on its database.
pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<Value>> {
    caller.user()?;
    let id = JobId(id);
    Ok(Json(match app.queue.cancel(&id).await? {
        Some(state) => job_json(&state),
        None => unknown_job(&id),
    }))
}
