//! The records Cairn keeps, in Redash's shape.
//!
//! These are plain data: the store reads and writes them, the HTTP layer serialises them (adding
//! the derived fields Redash sends, such as `is_safe`, `user` or `can_edit`), and the pure logic in
//! [`crate::schedule`] and [`crate::params`] reads them. Field names follow Redash's JSON so that
//! `serde` gives the wire shape without renames, except where a Rust keyword is in the way
//! (`type` is `kind`).
//!
//! Ids are `i64`, as in Redash's integer primary keys. Timestamps are UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::result::Column;

/// A person or a service account that calls the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Login e-mail, unique.
    pub email: String,
    /// Whether the user belongs to the admin group. This is the seam for Redash's groups and
    /// permissions: until groups exist, admins may do everything and others get the default
    /// group's permissions.
    pub is_admin: bool,
    /// The user's API key (`Authorization: Key <api_key>`), unique.
    pub api_key: String,
    /// The password hash (argon2 or Redash's sha512-crypt); `None` for key-only users. Never
    /// serialised.
    #[serde(skip_serializing, default)]
    pub password_hash: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the user was disabled; `None` while active. Disabled users cannot authenticate.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the user is disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A database that queries run against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    /// Primary key.
    pub id: i64,
    /// Display name, unique.
    pub name: String,
    /// The runner type (`sqlite`, `pg`, `mysql`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The runner's options (host, password, ...), decrypted. The store keeps them encrypted;
    /// responses mask the fields the type's JSON schema lists as `secret`.
    pub options: serde_json::Value,
    /// Queue for ad-hoc runs.
    pub queue_name: String,
    /// Queue for scheduled runs.
    pub scheduled_queue_name: String,
    /// Whether the scheduler skips this data source.
    pub paused: bool,
    /// Why it was paused, when it is.
    pub pause_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A refresh schedule, in Redash's shape. The meaning (when a query is due, back-off, expiry) is
/// in [`crate::schedule`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Seconds between runs; for daily and weekly schedules 86400 and 604800.
    pub interval: Option<i64>,
    /// Time of day `HH:MM` (UTC) for daily and weekly schedules.
    pub time: Option<String>,
    /// Day name (`Monday` ...) for weekly schedules.
    pub day_of_week: Option<String>,
    /// Last day (`YYYY-MM-DD`) on which the schedule runs; `None` means forever.
    pub until: Option<String>,
}

/// A saved query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Primary key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The query text, with `{{ parameter }}` placeholders.
    pub query: String,
    /// Redash's hash of the query text (see [`crate::query_hash`]).
    pub query_hash: String,
    /// When to refresh it; `None` means never.
    pub schedule: Option<Schedule>,
    /// The query's own API key: read this query and its results, run it when safe.
    pub api_key: String,
    /// Archived queries are hidden from lists; `DELETE` archives.
    pub is_archived: bool,
    /// New queries are drafts until published.
    pub is_draft: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The data source it runs on; `None` once that data source was deleted.
    pub data_source_id: Option<i64>,
    /// The newest result for this text and data source, if any.
    pub latest_query_data_id: Option<i64>,
    /// Options, notably `parameters[]`.
    pub options: serde_json::Value,
    /// Optimistic-lock counter: an update must name the current version.
    pub version: i32,
    /// Tags, in the order given.
    pub tags: Vec<String>,
    /// The owner.
    pub user_id: i64,
    /// Who changed it last.
    pub last_modified_by_id: Option<i64>,
    /// Consecutive failed scheduled runs, for the 2^failures back-off.
    pub schedule_failures: i32,
}

/// A chart or table over a query's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visualization {
    /// Primary key.
    pub id: i64,
    /// The query it shows.
    pub query_id: i64,
    /// Redash's visualization type (`TABLE`, `CHART`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Renderer options, opaque to the server.
    pub options: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A page of widgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// Primary key.
    pub id: i64,
    /// URL name, unique: the slugified name, with a numeric suffix on collision.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The owner.
    pub user_id: i64,
    /// Legacy layout, opaque (Redash keeps `[]`).
    pub layout: serde_json::Value,
    /// Options, opaque to the server.
    pub options: serde_json::Value,
    /// Archived dashboards are hidden from lists; `DELETE` archives.
    pub is_archived: bool,
    /// New dashboards are drafts until published.
    pub is_draft: bool,
    /// Tags, in the order given.
    pub tags: Vec<String>,
    /// Optimistic-lock counter.
    pub version: i32,
    /// Whether dashboard-wide filters are on.
    pub dashboard_filters_enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A visualization or a text box placed on a dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// Primary key.
    pub id: i64,
    /// The dashboard it sits on.
    pub dashboard_id: i64,
    /// The visualization it shows; `None` for a text widget.
    pub visualization_id: Option<i64>,
    /// Markdown text for text widgets (empty otherwise).
    pub text: String,
    /// Legacy width (1 or 2).
    pub width: i32,
    /// Options, notably `position{col,row,sizeX,sizeY}`.
    pub options: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What is known about a stored query result without reading its rows.
///
/// The rows themselves are stored as a sequence of opaque chunks (see `cairn-results` for their
/// encoding), so a result of any size is written and read as a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResultMeta {
    /// Primary key: the `query_result_id` of jobs and URLs.
    pub id: i64,
    /// The data source that produced it.
    pub data_source_id: i64,
    /// Hash of the query text that produced it.
    pub query_hash: String,
    /// The query text that produced it, parameters applied.
    pub query: String,
    /// Seconds the query took.
    pub runtime: f64,
    /// When the run finished.
    pub retrieved_at: DateTime<Utc>,
    /// Number of rows.
    pub row_count: i64,
    /// Size of the stored chunks in bytes.
    pub byte_size: i64,
    /// The columns, in order.
    pub columns: Vec<Column>,
}

/// A public share token for a dashboard (Redash's `api_keys` row for a dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Primary key.
    pub id: i64,
    /// The secret token in the public URL.
    pub api_key: String,
    /// Revoked tokens stay inactive and no longer authenticate.
    pub active: bool,
    /// The shared dashboard.
    pub dashboard_id: i64,
    /// Who shared it.
    pub created_by_id: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The kind of object a [`Favorite`] points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FavoriteKind {
    /// A [`Query`].
    Query,
    /// A [`Dashboard`].
    Dashboard,
}

impl FavoriteKind {
    /// The name stored in the database and used by Redash (`Query`, `Dashboard`).
    pub fn as_str(self) -> &'static str {
        match self {
            FavoriteKind::Query => "Query",
            FavoriteKind::Dashboard => "Dashboard",
        }
    }
}

/// A user's star on a query or dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Favorite {
    /// Primary key.
    pub id: i64,
    /// Who starred it.
    pub user_id: i64,
    /// What kind of object.
    pub object_type: FavoriteKind,
    /// The object's id.
    pub object_id: i64,
    /// When it was starred.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_round_trips_in_redash_shape() {
        let json = r#"{"interval":86400,"time":"09:30","day_of_week":null,"until":"2030-01-01"}"#;
        let s: Schedule = serde_json::from_str(json).unwrap();
        assert_eq!(s.interval, Some(86400));
        assert_eq!(s.time.as_deref(), Some("09:30"));
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
    }

    #[test]
    fn user_never_serialises_its_password_hash() {
        let user = User {
            id: 1,
            name: "A".into(),
            email: "a@example.com".into(),
            is_admin: true,
            api_key: "k".into(),
            password_hash: Some("secret-hash".into()),
            created_at: Utc::now(),
            disabled_at: None,
        };
        let json = serde_json::to_string(&user).unwrap();
        assert!(!json.contains("secret-hash"), "{json}");
        assert!(!user.is_disabled());
    }

    #[test]
    fn visualization_type_is_named_type_on_the_wire() {
        let v = Visualization {
            id: 1,
            query_id: 2,
            kind: "TABLE".into(),
            name: "Table".into(),
            description: None,
            options: serde_json::json!({}),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["type"], "TABLE");
    }
}
