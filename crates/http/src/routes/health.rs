//! `/ping` (liveness, no auth), `/ready` (readiness, no auth), `/status.json` (admins), and
//! `GET /api/session`.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::serialize::user_json;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_store::SchemaStatus;
use serde_json::{Map, Value, json};
use std::fmt::Display;
use std::time::Duration;

/// How long each readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /ping`: `PONG.`, with no database or queue access, so it stays fast under load.
pub async fn ping() -> &'static str {
    "PONG."
}

/// `GET /ready`: whether this server should get traffic. 200 `{"ok": true, "checks": {...}}`
/// when the metadata database answers, its schema is exactly the one this binary knows
/// ([`cairn_store::Store::schema_status`]) and the queue backend answers, each within 2 s and
/// checked at once; else 503 with the failing checks named in `message` and `ok: false` and an
/// `error` on each. Once shutdown begins it answers 503 (`draining`) at once, so a balancer
/// stops sending new requests while those in flight finish.
///
/// A schema mismatch says what to do (`cairn migrate`, upgrade); connection failures are
/// logged with their cause, not described in this unauthenticated answer.
pub async fn ready(State(app): State<AppState>) -> Response {
    let mut checks = Map::new();
    if app.draining.is_cancelled() {
        checks.insert("draining".into(), failed("the server is shutting down"));
        return readiness(checks);
    }
    let (schema, queue) = tokio::join!(
        probe("database", app.store.schema_status()),
        probe("queue", app.queue.sizes())
    );
    match schema {
        Ok(status) => {
            checks.insert("database".into(), json!({"ok": true}));
            let check = match status {
                SchemaStatus::Current { version } => json!({"ok": true, "version": version}),
                other => failed(other),
            };
            checks.insert("schema".into(), check);
        }
        Err(e) => {
            checks.insert("database".into(), failed(e));
            checks.insert(
                "schema".into(),
                failed("unknown: the database did not answer"),
            );
        }
    }
    checks.insert(
        "queue".into(),
        queue.map_or_else(failed, |_| json!({"ok": true})),
    );
    readiness(checks)
}

/// Runs one readiness check under [`CHECK_TIMEOUT`]; a failure is logged with its cause and
/// described in a few words.
async fn probe<T, E: Display>(
    name: &str,
    check: impl Future<Output = Result<T, E>>,
) -> Result<T, &'static str> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            tracing::warn!(check = name, error = %e, "readiness check failed");
            Err("failed: the server log has the cause")
        }
        Err(_) => {
            tracing::warn!(check = name, "readiness check timed out");
            Err("no answer within 2 s")
        }
    }
}

fn failed(error: impl Display) -> Value {
    json!({"ok": false, "error": error.to_string()})
}

/// 200 when every check passed, else 503 naming the failed ones.
fn readiness(checks: Map<String, Value>) -> Response {
    let failing: Vec<&str> = checks
        .iter()
        .filter(|(_, c)| c["ok"] != json!(true))
        .map(|(name, _)| name.as_str())
        .collect();
    if failing.is_empty() {
        return Json(json!({"ok": true, "checks": checks})).into_response();
    }
    let message = format!("Not ready: {}.", failing.join(", "));
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"ok": false, "message": message, "checks": checks})),
    )
        .into_response()
}

/// `GET /status.json` (admins): counts, queue sizes and the worker processes the queue backend
/// heard from recently (`workers`: id as `name`, queues, `idle`/`busy`, the jobs running and
/// the last heartbeat; empty with the in-process queue), in Redash's shape.
pub async fn status(State(app): State<AppState>, caller: Caller) -> AppResult<Json<Value>> {
    caller.admin()?;
    let counts = app
        .store
        .status_counts(app.settings.unused_result_age_secs)
        .await?;
    let queues: Map<String, Value> = app
        .queue
        .sizes()
        .await?
        .into_iter()
        .map(|(q, n)| (q.as_str().to_string(), json!({"size": n})))
        .collect();
    let workers: Vec<Value> = app
        .queue
        .workers()
        .await?
        .into_iter()
        .map(|w| {
            json!({
                "name": w.id,
                "queues": w.queues.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
                "state": if w.busy.is_empty() { "idle" } else { "busy" },
                "current_jobs": w.busy,
                "last_heartbeat": w.heartbeat_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "workers": workers,
        "queries_count": counts.queries,
        "query_results_count": counts.query_results,
        "unused_query_results_count": counts.unused_query_results,
        "dashboards_count": counts.dashboards,
        "widgets_count": counts.widgets,
        "manager": {
            "started_at": app.started_at,
            "queues": queues,
        },
        "database_metrics": {"metrics": []},
    })))
}

/// What every user may do (Redash's default group); admins also get `admin` and `super_admin`.
const USER_PERMISSIONS: [&str; 12] = [
    "create_dashboard",
    "create_query",
    "edit_dashboard",
    "edit_query",
    "view_query",
    "view_source",
    "execute_query",
    "list_users",
    "schedule_query",
    "list_dashboards",
    "list_alerts",
    "list_data_sources",
];

/// `GET /api/session`: the caller and the client configuration Redash's front end reads.
pub async fn session(caller: Caller) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let permissions: Vec<&str> = if user.is_admin {
        ["admin", "super_admin"]
            .into_iter()
            .chain(USER_PERMISSIONS)
            .collect()
    } else {
        USER_PERMISSIONS.to_vec()
    };
    let mut u = user_json(user);
    u["permissions"] = json!(permissions);
    Ok(Json(json!({
        "user": u,
        "org_slug": "default",
        "client_config": {"version": env!("CARGO_PKG_VERSION"), "pageSize": 20, "allowScriptsInUserInput": false},
        "messages": [],
    })))
}
