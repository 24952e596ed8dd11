//! `/ping` (liveness, no auth) and `/status.json` (admins), and `GET /api/session`.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::serialize::user_json;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

/// `GET /ping`: `PONG.`, with no database or queue access, so it stays fast under load.
pub async fn ping() -> &'static str {
    "PONG."
}

/// `GET /status.json` (admins): counts and queue sizes in Redash's shape.
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
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "workers": [],
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

/// `GET /api/session`: the caller and the client configuration Redash's front end reads.
pub async fn session(caller: Caller) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let permissions: Vec<&str> = if user.is_admin {
        vec![
            "admin",
            "super_admin",
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
        ]
    } else {
        vec![
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
        ]
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
