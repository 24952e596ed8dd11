//! `/api/queries...`: saved queries: lists, search, CRUD with optimistic locking, archive, fork,
//! favorites, tags and API keys.

use crate::auth::Caller;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::routes::listing::{ListParams, page_json, tags_json};
use crate::serialize::{QueryExtras, query_json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cairn_domain::model::{FavoriteKind, Query, Schedule, User};
use cairn_domain::params::{Dialect, ParameterSpec, default_values, render, used_names};
use cairn_domain::query_hash::query_hash;
use cairn_domain::schedule::RefreshSchedule;
use cairn_store::{NewQuery, QueryUpdate, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Loads the users a list of queries refers to, once each.
pub(crate) async fn users_of(app: &AppState, ids: Vec<i64>) -> AppResult<HashMap<i64, User>> {
    let mut users = HashMap::new();
    for id in ids {
        if users.contains_key(&id) {
            continue;
        }
        match app.store.user(id).await {
            Ok(u) => {
                users.insert(id, u);
            }
            Err(cairn_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(users)
}

/// Queries in Redash's list shape for `caller`.
async fn list_json(app: &AppState, caller: &User, queries: &[Query]) -> AppResult<Vec<Value>> {
    let ids: Vec<i64> = queries
        .iter()
        .flat_map(|q| [Some(q.user_id), q.last_modified_by_id])
        .flatten()
        .collect();
    let users = users_of(app, ids).await?;
    let favorites = app
        .store
        .favorite_ids(caller.id, FavoriteKind::Query)
        .await?;
    Ok(queries
        .iter()
        .map(|q| {
            query_json(
                q,
                &QueryExtras {
                    user: users.get(&q.user_id),
                    last_modified_by: q.last_modified_by_id.and_then(|id| users.get(&id)),
                    visualizations: None,
                    is_favorite: favorites.contains(&q.id),
                    can_edit: caller.is_admin || caller.id == q.user_id,
                },
            )
        })
        .collect())
}

/// One query in Redash's shape, with its visualizations, for `caller`.
pub(crate) async fn one_json(app: &AppState, caller: &Caller, q: &Query) -> AppResult<Value> {
    let users = users_of(
        app,
        [Some(q.user_id), q.last_modified_by_id]
            .into_iter()
            .flatten()
            .collect(),
    )
    .await?;
    let visualizations = app.store.visualizations_for_query(q.id).await?;
    let is_favorite = match caller.user() {
        Ok(u) => {
            app.store
                .is_favorite(u.id, FavoriteKind::Query, q.id)
                .await?
        }
        Err(_) => false,
    };
    Ok(query_json(
        q,
        &QueryExtras {
            user: users.get(&q.user_id),
            last_modified_by: q.last_modified_by_id.and_then(|id| users.get(&id)),
            visualizations: Some(&visualizations),
            is_favorite,
            can_edit: caller.may_edit(q.user_id),
        },
    ))
}

async fn list_scope(
    app: &AppState,
    caller: &Caller,
    params: ListParams,
    scope: Scope,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let filter = params.filter(user, scope)?;
    let page = app.store.list_queries(&filter).await?;
    let items = list_json(app, user, &page.items).await?;
    Ok(Json(page_json(&page, items)))
}

/// `GET /api/queries`.
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    list_scope(&app, &caller, p, Scope::All).await
}

/// `GET /api/queries/my`.
pub async fn my(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    let id = caller.user()?.id;
    list_scope(&app, &caller, p, Scope::OwnedBy(id)).await
}

/// `GET /api/queries/favorites`.
pub async fn favorites(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    let id = caller.user()?.id;
    list_scope(&app, &caller, p, Scope::FavoritesOf(id)).await
}

/// `GET /api/queries/archive`.
pub async fn archive_list(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    list_scope(&app, &caller, p, Scope::Archived).await
}

/// `GET /api/queries/recent`: the caller's recently changed queries (a plain list, as Redash).
pub async fn recent(State(app): State<AppState>, caller: Caller) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let queries = app.store.recent_queries(user.id, 10).await?;
    Ok(Json(Value::Array(list_json(&app, user, &queries).await?)))
}

/// `GET /api/queries/tags`: `{"tags":[{"name","count"}]}`.
pub async fn tags(State(app): State<AppState>, caller: Caller) -> AppResult<Json<Value>> {
    caller.user()?;
    Ok(Json(tags_json(app.store.query_tags().await?)))
}

/// The body of `POST /api/queries` and `POST /api/queries/<id>`.
#[derive(Debug, Default, Deserialize)]
pub struct QueryBody {
    name: Option<String>,
    description: Option<Option<String>>,
    query: Option<String>,
    data_source_id: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    schedule: Option<Value>,
    options: Option<Value>,
    tags: Option<Vec<String>>,
    is_draft: Option<bool>,
    version: Option<i32>,
}

/// Distinguishes a field sent as `null` (`Some(Value::Null)`) from one not sent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Checks a schedule from the API and returns it in storable form (`None`: no schedule).
fn checked_schedule(value: &Value) -> AppResult<Option<Schedule>> {
    RefreshSchedule::from_json(value)
        .map(|s| s.map(|s| s.to_model()))
        .map_err(|e| AppError::bad_request(format!("Invalid schedule: {e}")))
}

/// A saved query's hash as Redash computes it: of its text with the parameters' default values
/// applied, so that a run with the defaults shares its hash (and its cached result); of the raw
/// text when the defaults cannot be applied.
fn saved_query_hash(text: &str, options: &Value, data_source_kind: &str) -> String {
    let rendered = ParameterSpec::parse_options(options)
        .ok()
        .and_then(|specs| {
            if specs.is_empty() && used_names(text).is_empty() {
                return None;
            }
            let dialect = Dialect::for_source_type(data_source_kind).unwrap_or(Dialect::Postgres);
            render(
                text,
                &specs,
                &default_values(&specs),
                dialect,
                chrono::Utc::now(),
            )
            .ok()
        });
    query_hash(rendered.as_deref().unwrap_or(text))
}

/// Checks that `options.parameters` parses.
fn checked_options(options: &Value) -> AppResult<()> {
    ParameterSpec::parse_options(options)
        .map(|_| ())
        .map_err(|e| AppError::bad_request(format!("Invalid query options: {e}")))
}

/// `POST /api/queries`: creates a draft.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<QueryBody>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let data_source_id = body
        .data_source_id
        .ok_or_else(|| AppError::bad_request("data_source_id is required."))?;
    let ds = app.store.data_source(data_source_id).await?;
    let text = body.query.unwrap_or_default();
    let options = body.options.unwrap_or_else(|| json!({}));
    checked_options(&options)?;
    let schedule = match &body.schedule {
        Some(v) => checked_schedule(v)?,
        None => None,
    };
    let new = NewQuery {
        name: body
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "New Query".to_string()),
        description: body.description.flatten(),
        query_hash: saved_query_hash(&text, &options, &ds.kind),
        query: text,
        data_source_id,
        schedule,
        options,
        tags: body.tags.unwrap_or_default(),
        user_id: user.id,
    };
    let q = app.store.create_query(&new).await?;
    Ok(Json(one_json(&app, &caller, &q).await?))
}

/// `GET /api/queries/<id>`.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    caller.check_read_query(id)?;
    let q = app.store.query(id).await?;
    Ok(Json(one_json(&app, &caller, &q).await?))
}

/// `POST /api/queries/<id>`: updates the fields sent; a stale `version` gets 409.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<QueryBody>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let current = app.store.query(id).await?;
    caller.check_edit(current.user_id)?;
    let ds_id = body.data_source_id.or(current.data_source_id);
    let ds_kind = match ds_id {
        Some(id) => app.store.data_source(id).await?.kind,
        None => String::new(),
    };
    if let Some(o) = &body.options {
        checked_options(o)?;
    }
    let schedule = match &body.schedule {
        Some(v) => Some(checked_schedule(v)?),
        None => None,
    };
    let update = QueryUpdate {
        name: body.name,
        description: body.description,
        query: (body.query.is_some() || body.options.is_some()).then(|| {
            let text = body.query.clone().unwrap_or_else(|| current.query.clone());
            let options = body.options.as_ref().unwrap_or(&current.options);
            let hash = saved_query_hash(&text, options, &ds_kind);
            (text, hash)
        }),
        data_source_id: body.data_source_id,
        schedule,
        options: body.options,
        tags: body.tags,
        is_draft: body.is_draft,
        version: body.version,
    };
    let q = app.store.update_query(id, &update, user.id).await?;
    Ok(Json(one_json(&app, &caller, &q).await?))
}

/// `DELETE /api/queries/<id>`: archives the query.
pub async fn archive(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let current = app.store.query(id).await?;
    caller.check_edit(current.user_id)?;
    let q = app.store.archive_query(id, user.id).await?;
    Ok(Json(one_json(&app, &caller, &q).await?))
}

/// `POST /api/queries/<id>/fork`: a copy owned by the caller, with its visualizations.
pub async fn fork(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let q = app.store.fork_query(id, user.id).await?;
    Ok(Json(one_json(&app, &caller, &q).await?))
}

/// `POST /api/queries/<id>/favorite`.
pub async fn favorite(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    app.store.query(id).await?;
    app.store
        .add_favorite(user.id, FavoriteKind::Query, id)
        .await?;
    Ok(Json(json!({})))
}

/// `DELETE /api/queries/<id>/favorite`.
pub async fn unfavorite(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    app.store
        .remove_favorite(user.id, FavoriteKind::Query, id)
        .await?;
    Ok(Json(json!({})))
}

/// `POST /api/queries/<id>/regenerate_api_key`.
pub async fn regenerate_api_key(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> AppResult<Json<Value>> {
    let current = app.store.query(id).await?;
    caller.check_edit(current.user_id)?;
    let q = app.store.regenerate_query_api_key(id).await?;
    Ok(Json(one_json(&app, &caller, &q).await?))
}
