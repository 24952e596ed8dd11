//! Who is calling: API keys as Redash reads them.
//!
//! A key arrives as `Authorization: Key <key>`, as a bare `Authorization: <key>`, or as
//! `?api_key=<key>`. A user's key acts as that user. A query's own key can only read that query
//! and its results, and run it when it is safe (no text parameters). Sessions, groups and
//! permissions come later; [`Caller`] is the seam they plug into. Without a key, a browser's
//! session cookie authenticates instead ([`crate::session`]).

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cairn_domain::model::{Query, User};
use cairn_store::StoreError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A user, through their API key.
    User(User),
    /// A query's own API key: may read that query and its results only.
    QueryKey(Box<Query>),
    /// A dashboard's public share token: may read the queries on that dashboard and their
    /// results only.
    DashboardKey {
        /// The shared dashboard.
        dashboard_id: i64,
        /// The queries its widgets show.
        queries: Vec<Query>,
    },
}

impl Caller {
    /// The user behind the request.
    ///
    /// # Errors
    /// 403 for a query key, which only reaches its own query's results.
    pub fn user(&self) -> Result<&User, AppError> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::QueryKey(_) | Caller::DashboardKey { .. } => Err(AppError::forbidden(
                "This key only reads its own query's or dashboard's results; use a user API key.",
            )),
        }
    }

    /// The user, who must be an admin.
    ///
    /// # Errors
    /// 403 for anyone else.
    pub fn admin(&self) -> Result<&User, AppError> {
        let user = self.user()?;
        if user.is_admin {
            Ok(user)
        } else {
            Err(AppError::forbidden("This needs an admin."))
        }
    }

    /// Whether the caller may read query `query_id` and its results.
    pub fn may_read_query(&self, query_id: i64) -> bool {
        match self {
            Caller::User(_) => true,
            Caller::QueryKey(q) => q.id == query_id,
            Caller::DashboardKey { queries, .. } => queries.iter().any(|q| q.id == query_id),
        }
    }

    /// The queries a key (not a user) is limited to; `None` for a user.
    pub fn key_queries(&self) -> Option<&[Query]> {
        match self {
            Caller::User(_) => None,
            Caller::QueryKey(q) => Some(std::slice::from_ref(q.as_ref())),
            Caller::DashboardKey { queries, .. } => Some(queries),
        }
    }

    /// What a key (not a user) is scoped to, as text: `query:<id>` or `dashboard:<id>`; `None`
    /// for a user. Jobs a key starts are bound to this ([`crate::routes::jobs`]).
    pub fn key_scope(&self) -> Option<String> {
        match self {
            Caller::User(_) => None,
            Caller::QueryKey(q) => Some(format!("query:{}", q.id)),
            Caller::DashboardKey { dashboard_id, .. } => Some(format!("dashboard:{dashboard_id}")),
        }
    }

    /// Checks [`Caller::may_read_query`].
    ///
    /// # Errors
    /// 403 when the caller may not.
    pub fn check_read_query(&self, query_id: i64) -> Result<(), AppError> {
        if self.may_read_query(query_id) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "This API key does not give access to that query.",
            ))
        }
    }

    /// Whether the caller may edit a query or dashboard owned by `owner_id`.
    pub fn may_edit(&self, owner_id: i64) -> bool {
        match self {
            Caller::User(u) => u.is_admin || u.id == owner_id,
            Caller::QueryKey(_) | Caller::DashboardKey { .. } => false,
        }
    }

    /// Checks [`Caller::may_edit`].
    ///
    /// # Errors
    /// 403 when the caller may not.
    pub fn check_edit(&self, owner_id: i64) -> Result<(), AppError> {
        if self.may_edit(owner_id) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "Only its owner or an admin can change this.",
            ))
        }
    }
}

/// The API key a request carries, if any.
fn api_key(parts: &Parts) -> Option<String> {
    if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = header.to_str().ok()?.trim();
        let key = match value.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("key") => rest.trim(),
            _ if value.eq_ignore_ascii_case("key") => "",
            _ => value,
        };
        if !key.is_empty() {
            return Some(key.to_string());
        }
    }
    let query = parts.uri.query()?;
    url_param(query, "api_key")
}

/// The first value of `name` in a URL query string, percent-decoded.
fn url_param(query: &str, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The queries shown by the widgets of dashboard `dashboard_id`.
async fn dashboard_queries(state: &AppState, dashboard_id: i64) -> Result<Vec<Query>, AppError> {
    let mut queries: Vec<Query> = Vec::new();
    for w in state.store.widgets_for_dashboard(dashboard_id).await? {
        let Some(vid) = w.visualization_id else {
            continue;
        };
        let v = state.store.visualization(vid).await?;
        if !queries.iter().any(|q| q.id == v.query_id) {
            queries.push(state.store.query(v.query_id).await?);
        }
    }
    Ok(queries)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, AppError> {
        let Some(key) = api_key(parts) else {
            return crate::session::caller_from_cookie(parts, state).await;
        };
        match state.store.user_by_api_key(&key).await {
            Ok(user) if user.is_disabled() => return Err(AppError::unauthorized()),
            Ok(user) => return Ok(Caller::User(user)),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match state.store.query_by_api_key(&key).await {
            Ok(query) if !query.is_archived => return Ok(Caller::QueryKey(Box::new(query))),
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match state.store.dashboard_by_public_token(&key).await {
            Ok(d) => Ok(Caller::DashboardKey {
                dashboard_id: d.id,
                queries: dashboard_queries(state, d.id).await?,
            }),
            Err(StoreError::NotFound(_)) => Err(AppError::unauthorized()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(req: Request<()>) -> Parts {
        req.into_parts().0
    }

    #[test]
    fn keys_come_from_header_or_query_string() {
        let p = parts(
            Request::get("/x")
                .header("Authorization", "Key abc")
                .body(())
                .unwrap(),
        );
        assert_eq!(api_key(&p).as_deref(), Some("abc"));
        let p = parts(
            Request::get("/x")
                .header("Authorization", "abc")
                .body(())
                .unwrap(),
        );
        assert_eq!(api_key(&p).as_deref(), Some("abc"));
        let p = parts(Request::get("/x?page=1&api_key=a%2Bb").body(()).unwrap());
        assert_eq!(api_key(&p).as_deref(), Some("a+b"));
        let p = parts(Request::get("/x?api_key=").body(()).unwrap());
        assert_eq!(api_key(&p), None);
        let p = parts(
            Request::get("/x")
                .header("Authorization", "Key ")
                .body(())
                .unwrap(),
        );
        assert_eq!(api_key(&p), None);
    }
}
