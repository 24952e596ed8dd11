//! `GET /api/jobs/<id>` (poll) and `DELETE /api/jobs/<id>` (cancel), in Redash's shape.
//!
//! A user polls and cancels any job. An API key that is not a user's (a query's key, a shared
//! dashboard's token) polls only the jobs it started itself: the runs it starts are handed out
//! under a *bound* id, `<job id>.<MAC>`, the MAC (HMAC-SHA256 with the cookie secret) tying the
//! job to the key's scope ([`Caller::key_scope`]). No state is kept, any server with the same
//! secret accepts the id, and a bare or foreign job id gets 403. Keys never cancel.

use crate::auth::Caller;
use crate::error::{AppError, AppPath, AppResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cairn_exec::job::{CANCELLED_MESSAGE, JobId, JobState, JobStatus};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

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

/// The MAC binding job `id` to key scope `scope`.
fn job_mac(app: &AppState, scope: &str, id: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&app.settings.cookie_secret)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(b"cairn job ticket v1\0");
    mac.update(scope.as_bytes());
    mac.update(b"\0");
    mac.update(id.as_bytes());
    mac
}

/// [`job_json`] for `caller`: a key caller gets the job under its bound id (see the module
/// docs), which is what it must poll.
pub fn job_json_for(app: &AppState, caller: &Caller, state: &JobState) -> Value {
    let mut v = job_json(state);
    if let Some(scope) = caller.key_scope() {
        let tag = hex::encode(job_mac(app, &scope, &state.id.0).finalize().into_bytes());
        v["job"]["id"] = json!(format!("{}.{tag}", state.id));
    }
    v
}

/// The job a caller names in the URL: a user's id as is; a key caller's bound id checked.
fn job_id_for(app: &AppState, caller: &Caller, presented: String) -> AppResult<JobId> {
    let Some(scope) = caller.key_scope() else {
        return Ok(JobId(presented));
    };
    let refused = || AppError::forbidden("This key may only poll the jobs it started.");
    let (id, tag) = presented.rsplit_once('.').ok_or_else(refused)?;
    let tag = hex::decode(tag).map_err(|_| refused())?;
    job_mac(app, &scope, id)
        .verify_slice(&tag)
        .map_err(|_| refused())?;
    Ok(JobId(id.to_string()))
}

/// The JSON for a job id nobody knows: failed, with a message saying what to do.
fn unknown_job(id: &JobId) -> Value {
    json!({"job": {
        "id": id, "updated_at": 0, "status": 4, "error": UNKNOWN_JOB,
        "result": null, "query_result_id": null,
    }})
}

/// `GET /api/jobs/<id>`: a key caller only with a bound id it was given.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<Value>> {
    let job = job_id_for(&app, &caller, id.clone())?;
    Ok(Json(match app.queue.state(&job).await? {
        Some(state) => {
            let mut v = job_json(&state);
            v["job"]["id"] = json!(id);
            v
        }
        None => unknown_job(&JobId(id)),
    }))
}

/// `DELETE /api/jobs/<id>`: cancels the job; a running query is stopped on its database. Users
/// only: a shared dashboard's viewers must not stop runs that others may be waiting on.
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
