//! The hot statements: what the server and scheduler run on every request or round, listed
//! once, from the very constants and builders the repository methods run, so that
//! [`Store::explain_hot_statements`] (and the test asserting each one is served by an index)
//! cannot drift from the code.
//!
//! Not listed: lookups by primary key (always indexed), the `COUNT(*)` of a list's total (it
//! reads every matching row by design) and the `q` substring search (a scan by design; the
//! list it filters is still read in index order).

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;

use crate::dashboards::{
    ACTIVE_SHARE, DASHBOARD_BY_SHARE_TOKEN, DASHBOARD_BY_SLUG, DASHBOARD_TAGS, dashboards_page,
};
use crate::db::{Pool, Store};
use crate::error::StoreResult;
use crate::favorites::FAVORITE_IDS;
use crate::listing::{Drafts, ListFilter, Order, OrderField, Scope};
use crate::queries::QUERY_BY_API_KEY;
use crate::query_lists::{FAN_OUT, QUERY_TAGS, RECENT_QUERIES, SCHEDULED_QUERIES, queries_page};
use crate::results::{
    CACHED_RESULT_SINCE, CHUNK_FROM, CLEANUP_RESULTS, DELETE_ABANDONED, LATEST_RESULT,
};
use crate::users::{USER_BY_API_KEY, USER_BY_EMAIL};
use crate::visualizations::VISUALIZATIONS_OF_QUERY;
use crate::widgets::WIDGETS_OF_DASHBOARD;

/// A sample parameter value.
enum Arg {
    Int(i64),
    Text(&'static str),
    Bool(bool),
    Time,
}

/// How a hot statement is built.
enum Sql {
    /// A fixed statement with `$n` parameters.
    Fixed(&'static str, &'static [Arg]),
    /// A page of the query list.
    Queries(ListFilter),
    /// A page of the dashboard list.
    Dashboards(ListFilter),
}

/// How the database plans one hot statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementPlan {
    /// What the statement does.
    pub name: &'static str,
    /// The plan, one line per node (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL).
    pub plan: String,
    /// Whether no table is read in full: on SQLite no bare `SCAN table` (every scan goes
    /// through an index), on PostgreSQL no `Seq Scan` even with sequential scans discouraged
    /// (so an index CAN serve it, whatever the planner picks for a tiny table).
    pub uses_index: bool,
}

fn list(scope: Scope, drafts: Drafts, field: OrderField, tags: &[&str]) -> ListFilter {
    ListFilter {
        scope,
        drafts,
        order: Order {
            field,
            descending: true,
        },
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..ListFilter::default()
    }
}

/// Every hot statement with sample arguments.
fn hot_statements() -> Vec<(&'static str, Sql)> {
    use Arg::{Bool, Int, Text, Time};
    use OrderField::{CreatedAt, Name, UpdatedAt};
    let all = Drafts::All;
    vec![
        ("user by API key", Sql::Fixed(USER_BY_API_KEY, &[Text("k")])),
        ("user by e-mail", Sql::Fixed(USER_BY_EMAIL, &[Text("a@b")])),
        (
            "query by API key",
            Sql::Fixed(QUERY_BY_API_KEY, &[Text("k")]),
        ),
        (
            "dashboard by slug",
            Sql::Fixed(DASHBOARD_BY_SLUG, &[Text("s")]),
        ),
        (
            "dashboard by share token",
            Sql::Fixed(DASHBOARD_BY_SHARE_TOKEN, &[Text("k"), Bool(true)]),
        ),
        (
            "active share of a dashboard",
            Sql::Fixed(ACTIVE_SHARE, &[Int(1), Bool(true)]),
        ),
        (
            "widgets of a dashboard",
            Sql::Fixed(WIDGETS_OF_DASHBOARD, &[Int(1)]),
        ),
        (
            "visualizations of a query",
            Sql::Fixed(VISUALIZATIONS_OF_QUERY, &[Int(1)]),
        ),
        (
            "favorite ids",
            Sql::Fixed(FAVORITE_IDS, &[Int(1), Text("Query")]),
        ),
        (
            "recent queries",
            Sql::Fixed(RECENT_QUERIES, &[Bool(false), Int(1), Int(10)]),
        ),
        ("query tags", Sql::Fixed(QUERY_TAGS, &[Bool(false)])),
        ("dashboard tags", Sql::Fixed(DASHBOARD_TAGS, &[Bool(false)])),
        (
            "latest result by query hash",
            Sql::Fixed(LATEST_RESULT, &[Int(1), Text("h"), Bool(true)]),
        ),
        (
            "cached result by query hash",
            Sql::Fixed(CACHED_RESULT_SINCE, &[Int(1), Text("h"), Bool(true), Time]),
        ),
        ("result chunk", Sql::Fixed(CHUNK_FROM, &[Int(1), Int(0)])),
        (
            "latest result fan-out",
            Sql::Fixed(FAN_OUT, &[Int(1), Text("h"), Int(1)]),
        ),
        (
            "scheduled queries",
            Sql::Fixed(SCHEDULED_QUERIES, &[Bool(false)]),
        ),
        (
            "result cleanup",
            Sql::Fixed(CLEANUP_RESULTS, &[Bool(true), Time, Int(100)]),
        ),
        (
            "abandoned result cleanup",
            Sql::Fixed(DELETE_ABANDONED, &[Bool(false), Time]),
        ),
        (
            "query list",
            Sql::Queries(list(Scope::All, all, CreatedAt, &[])),
        ),
        (
            "query list by name",
            Sql::Queries(list(Scope::All, all, Name, &[])),
        ),
        (
            "query list by last change",
            Sql::Queries(list(Scope::All, all, UpdatedAt, &[])),
        ),
        (
            "my queries",
            Sql::Queries(list(Scope::OwnedBy(1), all, CreatedAt, &[])),
        ),
        (
            "favorite queries",
            Sql::Queries(list(Scope::FavoritesOf(1), all, CreatedAt, &[])),
        ),
        (
            "queries by tags",
            Sql::Queries(list(Scope::All, all, CreatedAt, &["a", "b"])),
        ),
        (
            "dashboard list",
            Sql::Dashboards(list(
                Scope::All,
                Drafts::PublishedOrOwnedBy(1),
                CreatedAt,
                &[],
            )),
        ),
        (
            "dashboard list by name",
            Sql::Dashboards(list(Scope::All, all, Name, &[])),
        ),
        (
            "dashboard list by last change",
            Sql::Dashboards(list(Scope::All, all, UpdatedAt, &[])),
        ),
        (
            "favorite dashboards",
            Sql::Dashboards(list(Scope::FavoritesOf(1), all, CreatedAt, &[])),
        ),
    ]
}

fn sample_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// Runs `$prefix` + one hot statement on `$conn` and returns its rows.
macro_rules! explain_rows {
    ($conn:expr, $prefix:expr, $sql:expr) => {
        match $sql {
            Sql::Fixed(sql, args) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("{}{sql}", $prefix)));
                for arg in args.iter() {
                    q = match arg {
                        Arg::Int(v) => q.bind(*v),
                        Arg::Text(v) => q.bind(*v),
                        Arg::Bool(v) => q.bind(*v),
                        Arg::Time => q.bind(sample_time()),
                    };
                }
                q.fetch_all(&mut *$conn).await?
            }
            Sql::Queries(filter) => {
                queries_page($prefix, &filter)
                    .build()
                    .fetch_all(&mut *$conn)
                    .await?
            }
            Sql::Dashboards(filter) => {
                dashboards_page($prefix, &filter)
                    .build()
                    .fetch_all(&mut *$conn)
                    .await?
            }
        }
    };
}

impl Store {
    /// How the database plans each hot statement (see the `hot` module): for checking that
    /// every per-request lookup is served by an index. Runs on the primary; nothing is
    /// executed, only planned.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn explain_hot_statements(&self) -> StoreResult<Vec<StatementPlan>> {
        let mut plans = Vec::new();
        match &self.inner.pool {
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                for (name, sql) in hot_statements() {
                    let rows = explain_rows!(conn, "EXPLAIN QUERY PLAN ", sql);
                    let lines = rows
                        .iter()
                        .map(|r| r.try_get::<String, _>("detail"))
                        .collect::<Result<Vec<_>, _>>()?;
                    let full_scan = lines
                        .iter()
                        .any(|l| l.starts_with("SCAN ") && !l.contains(" USING "));
                    plans.push(StatementPlan {
                        name,
                        plan: lines.join("\n"),
                        uses_index: !full_scan,
                    });
                }
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await?;
                for (name, sql) in hot_statements() {
                    let rows = explain_rows!(tx, "EXPLAIN ", sql);
                    let lines = rows
                        .iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<Result<Vec<_>, _>>()?;
                    let plan = lines.join("\n");
                    plans.push(StatementPlan {
                        name,
                        uses_index: !plan.contains("Seq Scan"),
                        plan,
                    });
                }
                tx.rollback().await?;
            }
        }
        Ok(plans)
    }
}
