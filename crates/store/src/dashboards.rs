//! Dashboards: create with a unique slug, read by id, slug or public share token, update with
//! optimistic locking, archive, list; and their public share tokens.

use cairn_domain::model::{ApiKey, Dashboard};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::db::{BeginWrite, Store, builder, now, random_key, with_pool, with_read_pool};
use crate::error::{StoreError, StoreResult, refs_as};
use crate::listing::{
    ListFilter, ListTable, Page, clean_tags, like_pattern, list_page, push_filters,
};
use crate::visualizations::object_or_empty;

/// The lock key that serialises slug allocation on PostgreSQL.
const SLUG_LOCK: i64 = 0x6361_6972_6e00_0001;

/// A dashboard to create: a draft, its slug made from the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDashboard {
    /// Display name.
    pub name: String,
    /// The owner.
    pub user_id: i64,
}

/// Changes to a dashboard; `None` keeps a field. The slug never changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardUpdate {
    /// New name.
    pub name: Option<String>,
    /// New legacy layout.
    pub layout: Option<serde_json::Value>,
    /// New options.
    pub options: Option<serde_json::Value>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// Publish (`false`) or unpublish.
    pub is_draft: Option<bool>,
    /// Dashboard-wide filters on or off.
    pub dashboard_filters_enabled: Option<bool>,
    /// The version the client edited; a different current version is a
    /// [`StoreError::Conflict`]. `None` skips the check.
    pub version: Option<i32>,
}

#[derive(sqlx::FromRow)]
struct DashboardRow {
    id: i64,
    slug: String,
    name: String,
    user_id: i64,
    layout: Json<serde_json::Value>,
    options: Json<serde_json::Value>,
    is_archived: bool,
    is_draft: bool,
    tags: Json<Vec<String>>,
    version: i32,
    dashboard_filters_enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<DashboardRow> for Dashboard {
    fn from(r: DashboardRow) -> Self {
        Dashboard {
            id: r.id,
            slug: r.slug,
            name: r.name,
            user_id: r.user_id,
            layout: r.layout.0,
            options: r.options.0,
            is_archived: r.is_archived,
            is_draft: r.is_draft,
            tags: r.tags.0,
            version: r.version,
            dashboard_filters_enabled: r.dashboard_filters_enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ShareRow {
    id: i64,
    api_key: String,
    active: bool,
    dashboard_id: i64,
    created_by_id: i64,
    created_at: DateTime<Utc>,
}

impl From<ShareRow> for ApiKey {
    fn from(r: ShareRow) -> Self {
        ApiKey {
            id: r.id,
            api_key: r.api_key,
            active: r.active,
            dashboard_id: r.dashboard_id,
            created_by_id: r.created_by_id,
            created_at: r.created_at,
        }
    }
}

macro_rules! dashboard_cols {
    () => {
        "id, slug, name, user_id, layout, options, is_archived, is_draft, tags, version, \
         dashboard_filters_enabled, created_at, updated_at"
    };
}

const DASHBOARDS: ListTable = ListTable {
    select: concat!("SELECT ", dashboard_cols!(), " FROM dashboards d"),
    alias: "d",
    searched: &["d.name"],
    tag_table: "dashboard_tags",
    tag_id: "dashboard_id",
    favorite_kind: "Dashboard",
};

macro_rules! share_cols {
    () => {
        "id, api_key, active, dashboard_id, created_by_id, created_at"
    };
}

/// Redash's slug of a name: lowercase, every run of characters other than `a-z 0-9 _ -`
/// replaced by one `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

/// The first of `base`, `base_1`, `base_2`, ... not in `taken`.
fn free_slug(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (1..)
        .map(|n| format!("{base}_{n}"))
        .find(|s| !taken.contains(s))
        .unwrap_or_else(|| base.to_string())
}

/// The statement for one page of dashboards matching `filter`, after `prefix` (empty, or
/// `EXPLAIN` for `hot`).
pub(crate) fn dashboards_page<DB>(prefix: &str, filter: &ListFilter) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    list_page(prefix, &DASHBOARDS, filter)
}

/// The dashboard with a slug (a hot statement, see `hot`).
pub(crate) const DASHBOARD_BY_SLUG: &str = concat!(
    "SELECT ",
    dashboard_cols!(),
    " FROM dashboards WHERE slug = $1"
);

/// A dashboard's active share (a hot statement, see `hot`).
pub(crate) const ACTIVE_SHARE: &str = concat!(
    "SELECT ",
    share_cols!(),
    " FROM dashboard_shares WHERE dashboard_id = $1 AND active = $2 \
         ORDER BY id LIMIT 1"
);

/// The dashboard an active public token shares (a hot statement, see `hot`).
pub(crate) const DASHBOARD_BY_SHARE_TOKEN: &str =
    "SELECT dashboard_id FROM dashboard_shares WHERE api_key = $1 AND active = $2";

/// Tag counts of dashboards that are not archived (a hot statement, see `hot`).
pub(crate) const DASHBOARD_TAGS: &str = "SELECT t.tag, COUNT(*) AS n FROM dashboard_tags t \
    JOIN dashboards d ON d.id = t.dashboard_id WHERE d.is_archived = $1 \
    GROUP BY t.tag ORDER BY n DESC, t.tag";

impl Store {
    /// Creates a draft dashboard whose slug is the slugified name, with `_1`, `_2` ... appended
    /// when taken (as Redash does).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a blank name or an unknown user.
    pub async fn create_dashboard(&self, new: &NewDashboard) -> StoreResult<Dashboard> {
        let name = new.name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("a dashboard needs a name".into()));
        }
        let base = slugify(name);
        let prefix = like_pattern(&format!("{base}_"));
        // `like_pattern` matches anywhere; a slug prefix must match at the start.
        let prefix = prefix.strip_prefix('%').unwrap_or(&prefix).to_string();
        // Allocation is serialised (see `BeginWrite::begin_serialized`), so two concurrent
        // creations never pick the same free slug.
        let row: DashboardRow = with_pool!(self, |pool| {
            let mut tx = pool.begin_serialized(SLUG_LOCK).await?;
            let taken: Vec<String> = sqlx::query_scalar(
                "SELECT slug FROM dashboards WHERE slug = $1 OR slug LIKE $2 ESCAPE '\\'",
            )
            .bind(&base)
            .bind(&prefix)
            .fetch_all(&mut *tx)
            .await?;
            let row = sqlx::query_as(concat!(
                "INSERT INTO dashboards (slug, name, user_id, layout, options, tags, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
                dashboard_cols!()
            ))
            .bind(free_slug(&base, &taken))
            .bind(name)
            .bind(new.user_id)
            .bind(Json(serde_json::json!([])))
            .bind(Json(serde_json::json!({})))
            .bind(Json(Vec::<String>::new()))
            .bind(now())
            .fetch_one(&mut *tx)
            .await
            .map_err(refs_as("user", "dashboard with this slug"))?;
            tx.commit().await?;
            row
        });
        Ok(row.into())
    }

    /// The dashboard with this id (archived ones too).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn dashboard(&self, id: i64) -> StoreResult<Dashboard> {
        let row: Option<DashboardRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                dashboard_cols!(),
                " FROM dashboards WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(Dashboard::from)
            .ok_or(StoreError::NotFound("dashboard"))
    }

    /// The dashboard with this slug.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn dashboard_by_slug(&self, slug: &str) -> StoreResult<Dashboard> {
        let row: Option<DashboardRow> = with_pool!(self, |pool| {
            sqlx::query_as(DASHBOARD_BY_SLUG)
                .bind(slug)
                .fetch_optional(pool)
                .await?
        });
        row.map(Dashboard::from)
            .ok_or(StoreError::NotFound("dashboard"))
    }

    /// A dashboard by Redash's URL segment: a number is an id, anything else a slug.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn dashboard_by_id_or_slug(&self, key: &str) -> StoreResult<Dashboard> {
        match key.parse::<i64>() {
            Ok(id) => match self.dashboard(id).await {
                Err(StoreError::NotFound(_)) => self.dashboard_by_slug(key).await,
                other => other,
            },
            Err(_) => self.dashboard_by_slug(key).await,
        }
    }

    /// Applies `update` and bumps the version, compare-and-set as
    /// [`Store::update_query`](crate::Store::update_query) does.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`] with the current version,
    /// [`StoreError::Invalid`] for a blank name.
    pub async fn update_dashboard(
        &self,
        id: i64,
        update: &DashboardUpdate,
    ) -> StoreResult<Dashboard> {
        if update.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(StoreError::Invalid("a dashboard needs a name".into()));
        }
        for _attempt in 0..5 {
            let current = self.dashboard(id).await?;
            if let Some(expected) = update.version
                && expected != current.version
            {
                return Err(StoreError::Conflict(current.version));
            }
            let mut next = current.clone();
            if let Some(name) = &update.name {
                next.name = name.trim().to_string();
            }
            if let Some(layout) = &update.layout {
                next.layout = layout.clone();
            }
            if let Some(options) = &update.options {
                next.options = object_or_empty(options);
            }
            if let Some(tags) = &update.tags {
                next.tags = clean_tags(tags);
            }
            if let Some(is_draft) = update.is_draft {
                next.is_draft = is_draft;
            }
            if let Some(enabled) = update.dashboard_filters_enabled {
                next.dashboard_filters_enabled = enabled;
            }
            let written: Option<DashboardRow> = with_pool!(self, |pool| {
                let mut tx = pool.begin_write().await?;
                let row: Option<DashboardRow> = sqlx::query_as(concat!(
                    "UPDATE dashboards SET name = $3, layout = $4, options = $5, tags = $6, \
                     is_draft = $7, dashboard_filters_enabled = $8, updated_at = $9, \
                     version = version + 1 WHERE id = $1 AND version = $2 RETURNING ",
                    dashboard_cols!()
                ))
                .bind(id)
                .bind(current.version)
                .bind(&next.name)
                .bind(Json(&next.layout))
                .bind(Json(&next.options))
                .bind(Json(&next.tags))
                .bind(next.is_draft)
                .bind(next.dashboard_filters_enabled)
                .bind(now())
                .fetch_optional(&mut *tx)
                .await?;
                if row.is_some() && update.tags.is_some() {
                    sqlx::query("DELETE FROM dashboard_tags WHERE dashboard_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for tag in &next.tags {
                        sqlx::query(
                            "INSERT INTO dashboard_tags (dashboard_id, tag) VALUES ($1, $2)",
                        )
                        .bind(id)
                        .bind(tag)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                row
            });
            if let Some(row) = written {
                return Ok(row.into());
            }
        }
        let current = self.dashboard(id).await?;
        Err(StoreError::Conflict(current.version))
    }

    /// Archives a dashboard (Redash's `DELETE`): hidden from lists, its share tokens revoked.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn archive_dashboard(&self, id: i64) -> StoreResult<Dashboard> {
        let row: Option<DashboardRow> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row: Option<DashboardRow> = sqlx::query_as(concat!(
                "UPDATE dashboards SET is_archived = $2, updated_at = $3 WHERE id = $1 RETURNING ",
                dashboard_cols!()
            ))
            .bind(id)
            .bind(true)
            .bind(now())
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query("UPDATE dashboard_shares SET active = $2 WHERE dashboard_id = $1")
                .bind(id)
                .bind(false)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        });
        row.map(Dashboard::from)
            .ok_or(StoreError::NotFound("dashboard"))
    }

    /// A page of dashboards matching `filter` (search is on the name), with the total count.
    /// Served by the read replica when there is one.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn list_dashboards(&self, filter: &ListFilter) -> StoreResult<Page<Dashboard>> {
        let (rows, count): (Vec<DashboardRow>, i64) = with_read_pool!(self, |pool| {
            let mut count_qb = builder(pool, "SELECT COUNT(*) FROM dashboards d");
            push_filters(&mut count_qb, &DASHBOARDS, filter);
            let count: i64 = count_qb.build_query_scalar().fetch_one(pool).await?;
            let rows = dashboards_page("", filter)
                .build_query_as()
                .fetch_all(pool)
                .await?;
            (rows, count)
        });
        Ok(Page {
            items: rows.into_iter().map(Dashboard::from).collect(),
            count,
            page: filter.paging.page(),
            page_size: filter.paging.page_size(),
        })
    }

    /// Every tag on a dashboard that is not archived, with counts, most used first. Served by
    /// the read replica when there is one.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn dashboard_tags(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(with_read_pool!(self, |pool| {
            sqlx::query_as(DASHBOARD_TAGS)
                .bind(false)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Shares a dashboard publicly: returns its active share token, creating one if needed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown dashboard, [`StoreError::Invalid`] for an
    /// unknown user.
    pub async fn share_dashboard(&self, dashboard_id: i64, by: i64) -> StoreResult<ApiKey> {
        self.dashboard(dashboard_id).await?;
        let row: ShareRow = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let existing: Option<ShareRow> = sqlx::query_as(ACTIVE_SHARE)
                .bind(dashboard_id)
                .bind(true)
                .fetch_optional(&mut *tx)
                .await?;
            let row = match existing {
                Some(row) => row,
                None => sqlx::query_as(concat!(
                    "INSERT INTO dashboard_shares (api_key, active, dashboard_id, created_by_id, \
                     created_at) VALUES ($1, $2, $3, $4, $5) RETURNING ",
                    share_cols!()
                ))
                .bind(random_key())
                .bind(true)
                .bind(dashboard_id)
                .bind(by)
                .bind(now())
                .fetch_one(&mut *tx)
                .await
                .map_err(refs_as("user", "share token"))?,
            };
            tx.commit().await?;
            row
        });
        Ok(row.into())
    }

    /// Revokes a dashboard's share tokens; its public URL stops working.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn unshare_dashboard(&self, dashboard_id: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE dashboard_shares SET active = $2 WHERE dashboard_id = $1")
                .bind(dashboard_id)
                .bind(false)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The dashboard's active share token, if it is shared.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn dashboard_share(&self, dashboard_id: i64) -> StoreResult<Option<ApiKey>> {
        let row: Option<ShareRow> = with_pool!(self, |pool| {
            sqlx::query_as(ACTIVE_SHARE)
                .bind(dashboard_id)
                .bind(true)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(ApiKey::from))
    }

    /// The dashboard an active public token shares.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the token is unknown or revoked or the dashboard archived.
    pub async fn dashboard_by_public_token(&self, token: &str) -> StoreResult<Dashboard> {
        let id: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(DASHBOARD_BY_SHARE_TOKEN)
                .bind(token)
                .bind(true)
                .fetch_optional(pool)
                .await?
        });
        let dashboard = self
            .dashboard(id.ok_or(StoreError::NotFound("dashboard"))?)
            .await?;
        if dashboard.is_archived {
            return Err(StoreError::NotFound("dashboard"));
        }
        Ok(dashboard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_redash() {
        assert_eq!(slugify("Sales Overview"), "sales-overview");
        assert_eq!(slugify("Q3 — 2026 / EU!!"), "q3-2026-eu-");
        assert_eq!(slugify("a_b-c"), "a_b-c");
    }

    #[test]
    fn collisions_get_numbered_suffixes() {
        let taken = vec!["sales".to_string(), "sales_1".to_string()];
        assert_eq!(free_slug("sales", &taken), "sales_2");
        assert_eq!(free_slug("other", &taken), "other");
    }
}
