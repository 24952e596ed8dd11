//! `/api/dashboards...`: dashboards by id or slug with their widgets, lists, favorites, and
//! public sharing: `POST /api/dashboards/<id>/share` makes a token whose page
//! (`GET /api/dashboards/public/<token>`) and queries' results are readable without a login.

use crate::auth::Caller;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::routes::listing::{ListParams, page_json, tags_json};
use crate::routes::queries::users_of;
use crate::serialize::{
    DashboardExtras, QueryExtras, dashboard_json, query_json, visualization_json, widget_json,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cairn_domain::model::{Dashboard, FavoriteKind};
use cairn_store::{DashboardUpdate, NewDashboard, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

/// The widgets of dashboard `d`, each with its visualization and that visualization's query.
async fn widgets_json(app: &AppState, d: &Dashboard, public: bool) -> AppResult<Vec<Value>> {
    let widgets = app.store.widgets_for_dashboard(d.id).await?;
    let mut out = Vec::with_capacity(widgets.len());
    for w in &widgets {
        let vis = match w.visualization_id {
            Some(vid) => {
                let v = app.store.visualization(vid).await?;
                let q = app.store.query(v.query_id).await?;
                let mut qj = query_json(&q, &QueryExtras::default());
                if public {
                    strip_private_query_fields(&mut qj);
                }
                Some(visualization_json(&v, Some(qj)))
            }
            None => None,
        };
        out.push(widget_json(w, vis));
    }
    Ok(out)
}

/// A public page shows results, not the means to reach the data: no SQL, no keys, no owner.
fn strip_private_query_fields(q: &mut Value) {
    if let Some(map) = q.as_object_mut() {
        for key in [
            "query",
            "api_key",
            "user",
            "last_modified_by",
            "schedule",
            "data_source_id",
        ] {
            map.remove(key);
        }
    }
}

/// The public URL of a share token.
fn public_url(app: &AppState, token: &str) -> String {
    format!("{}/public/dashboards/{token}", app.settings.base_url)
}

/// A dashboard with widgets, for `caller`.
async fn one_json(app: &AppState, caller: &Caller, d: &Dashboard) -> AppResult<Value> {
    let user = caller.user()?;
    let owner = users_of(app, vec![d.user_id]).await?;
    let share = app
        .store
        .dashboard_share(d.id)
        .await?
        .filter(|k| k.active)
        .map(|k| (public_url(app, &k.api_key), k.api_key));
    Ok(dashboard_json(
        d,
        DashboardExtras {
            user: owner.get(&d.user_id),
            widgets: Some(widgets_json(app, d, false).await?),
            is_favorite: app
                .store
                .is_favorite(user.id, FavoriteKind::Dashboard, d.id)
                .await?,
            can_edit: caller.may_edit(d.user_id),
            share,
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
    let page = app.store.list_dashboards(&filter).await?;
    let owner_ids: Vec<i64> = page.items.iter().map(|d| d.user_id).collect();
    let users = users_of(app, owner_ids).await?;
    let favorites = app
        .store
        .favorite_ids(user.id, FavoriteKind::Dashboard)
        .await?;
    let items = page
        .items
        .iter()
        .map(|d| {
            dashboard_json(
                d,
                DashboardExtras {
                    user: users.get(&d.user_id),
                    widgets: None,
                    is_favorite: favorites.contains(&d.id),
                    can_edit: user.is_admin || user.id == d.user_id,
                    share: None,
                },
            )
        })
        .collect();
    Ok(Json(page_json(&page, items)))
}

/// `GET /api/dashboards`.
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    list_scope(&app, &caller, p, Scope::All).await
}

/// `GET /api/dashboards/my`.
pub async fn my(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    let id = caller.user()?.id;
    list_scope(&app, &caller, p, Scope::OwnedBy(id)).await
}

/// `GET /api/dashboards/favorites`.
pub async fn favorites(
    State(app): State<AppState>,
    caller: Caller,
    p: ListParams,
) -> AppResult<Json<Value>> {
    let id = caller.user()?.id;
    list_scope(&app, &caller, p, Scope::FavoritesOf(id)).await
}

/// `GET /api/dashboards/tags`.
pub async fn tags(State(app): State<AppState>, caller: Caller) -> AppResult<Json<Value>> {
    caller.user()?;
    Ok(Json(tags_json(app.store.dashboard_tags().await?)))
}

/// The body of `POST /api/dashboards[/<id>]`.
#[derive(Debug, Default, Deserialize)]
pub struct DashboardBody {
    name: Option<String>,
    layout: Option<Value>,
    options: Option<Value>,
    tags: Option<Vec<String>>,
    is_draft: Option<bool>,
    dashboard_filters_enabled: Option<bool>,
    version: Option<i32>,
}

/// `POST /api/dashboards`: creates a draft.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<DashboardBody>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let name = body
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| AppError::bad_request("name is required."))?;
    let d = app
        .store
        .create_dashboard(&NewDashboard {
            name,
            user_id: user.id,
        })
        .await?;
    Ok(Json(one_json(&app, &caller, &d).await?))
}

/// `GET /api/dashboards/<id or slug>`.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> AppResult<Json<Value>> {
    caller.user()?;
    let d = app.store.dashboard_by_id_or_slug(&key).await?;
    Ok(Json(one_json(&app, &caller, &d).await?))
}

/// `POST /api/dashboards/<id>`: a stale `version` gets 409.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
    AppJson(body): AppJson<DashboardBody>,
) -> AppResult<Json<Value>> {
    let current = app.store.dashboard_by_id_or_slug(&key).await?;
    caller.check_edit(current.user_id)?;
    let d = app
        .store
        .update_dashboard(
            current.id,
            &DashboardUpdate {
                name: body.name,
                layout: body.layout,
                options: body.options,
                tags: body.tags,
                is_draft: body.is_draft,
                dashboard_filters_enabled: body.dashboard_filters_enabled,
                version: body.version,
            },
        )
        .await?;
    Ok(Json(one_json(&app, &caller, &d).await?))
}

/// `DELETE /api/dashboards/<id>`: archives.
pub async fn archive(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> AppResult<Json<Value>> {
    let current = app.store.dashboard_by_id_or_slug(&key).await?;
    caller.check_edit(current.user_id)?;
    let d = app.store.archive_dashboard(current.id).await?;
    Ok(Json(one_json(&app, &caller, &d).await?))
}

/// `POST /api/dashboards/<id>/favorite`.
pub async fn favorite(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let d = app.store.dashboard_by_id_or_slug(&key).await?;
    app.store
        .add_favorite(user.id, FavoriteKind::Dashboard, d.id)
        .await?;
    Ok(Json(json!({})))
}

/// `DELETE /api/dashboards/<id>/favorite`.
pub async fn unfavorite(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let d = app.store.dashboard_by_id_or_slug(&key).await?;
    app.store
        .remove_favorite(user.id, FavoriteKind::Dashboard, d.id)
        .await?;
    Ok(Json(json!({})))
}

/// `POST /api/dashboards/<id>/share`: `{"public_url","api_key"}`.
pub async fn share(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> AppResult<Json<Value>> {
    let user = caller.user()?;
    let d = app.store.dashboard_by_id_or_slug(&key).await?;
    caller.check_edit(d.user_id)?;
    let k = app.store.share_dashboard(d.id, user.id).await?;
    Ok(Json(
        json!({"public_url": public_url(&app, &k.api_key), "api_key": k.api_key}),
    ))
}

/// `DELETE /api/dashboards/<id>/share`: the public link stops working.
pub async fn unshare(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> AppResult<Json<Value>> {
    let d = app.store.dashboard_by_id_or_slug(&key).await?;
    caller.check_edit(d.user_id)?;
    app.store.unshare_dashboard(d.id).await?;
    Ok(Json(json!({})))
}

/// `GET /api/dashboards/public/<token>`: no login; read-only; only this dashboard.
pub async fn public(
    State(app): State<AppState>,
    AppPath(token): AppPath<String>,
) -> AppResult<Json<Value>> {
    let d = match app.store.dashboard_by_public_token(&token).await {
        Ok(d) => d,
        Err(cairn_store::StoreError::NotFound(_)) => {
            return Err(AppError::not_found(
                "No dashboard is shared under this link.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut v = dashboard_json(
        &d,
        DashboardExtras {
            user: None,
            widgets: Some(widgets_json(&app, &d, true).await?),
            is_favorite: false,
            can_edit: false,
            share: None,
        },
    );
    if let Some(map) = v.as_object_mut() {
        map.remove("user");
        map.remove("user_id");
    }
    Ok(Json(v))
}
