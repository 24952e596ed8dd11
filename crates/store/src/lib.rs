//! Cairn's metadata store: users, data sources, queries, visualizations, dashboards, widgets and
//! query results, on SQLite (the default, one file) or PostgreSQL, through sqlx with embedded
//! migrations.
//!
//! # Brief overview
//! [`Store`] is the one handle: cheap to clone (an `Arc` inside), opened from a URL with
//! [`Store::open`], which also applies pending migrations and refuses a database migrated by a
//! newer Cairn ([`StoreError::SchemaTooNew`]). Split deployments connect with
//! [`Store::connect`] (optionally with a read replica, [`Store::connect_with_replica`]), migrate
//! once with [`Store::migrate`] and check [`Store::schema_status`] before serving. Every
//! repository method is an `async fn` on it returning [`StoreResult`]; errors are a
//! [`StoreError`] whose variants map onto HTTP statuses (`NotFound` 404, `Conflict` 409,
//! `Duplicate` 409, `Invalid` 400, others 500). Records are the plain types of
//! `cairn_domain::model`; inputs are the `New*` and `*Update` structs here.
//!
//! - Users: created with a fresh 40-character API key, found by id, e-mail or key.
//! - Data sources: options encrypted at rest with XChaCha20-Poly1305 ([`Cipher`]) under the
//!   32-byte key given to [`Store::open`]; a wrong key gives [`StoreError::Decrypt`], never
//!   garbage. Masking secrets in responses is the HTTP layer's job. Their introspected schemas
//!   are cached here too.
//! - Queries: created as drafts with a default `TABLE` visualization; updated with optimistic
//!   locking on `version` ([`StoreError::Conflict`] carries the current one); archived, forked;
//!   listed through one [`ListFilter`] (search `q`, `tags`, [`Scope`], [`Drafts`], [`Order`],
//!   [`Paging`]) returning a [`Page`] with the total count.
//! - Dashboards: unique slugs made like Redash's, lookup by id, slug or public share token.
//! - Results: a metadata row plus opaque byte chunks, written with
//!   [`Store::begin_result`] / [`Store::append_chunk`] / [`Store::finish_result`] (which also
//!   fans `latest_query_data_id` out to every query with the same data source and hash) and read
//!   back one chunk at a time from [`Store::result_chunks`]. Unfinished results are invisible.
//!
//! - High availability: [`Store::claim_scheduled_run`] makes each scheduled run happen once,
//!   fenced by the scheduler leader's token; [`Store::maintain`] vacuums and analyses.
//!
//! # Why native pools, not sqlx `Any`
//! See the `db` module: the handle holds a `SqlitePool` or a `PgPool`, and each method's SQL is
//! written once and compiled for both drivers, so PostgreSQL keeps `TIMESTAMPTZ`, `JSONB` and
//! `BOOLEAN` columns while both backends share the exact same statements. The same test suite
//! (`tests/`) runs on both.
//!
//! On SQLite the store turns on WAL (readers never wait for the writer), a 10 s busy timeout
//! and foreign keys, and starts write transactions with `BEGIN IMMEDIATE` so that they queue for
//! the write lock instead of failing. Every lookup the server does per request goes through an
//! index: the `hot` module lists those statements from the code's own SQL, and a test asserts
//! from [`Store::explain_hot_statements`] that each plan uses one on both backends. The `q`
//! search is a substring scan by design.
//!
//! # Examples
//! ```
//! use cairn_store::{NewDataSource, NewQuery, NewUser, ListFilter, Store};
//!
//! # async fn demo() -> Result<(), cairn_store::StoreError> {
//! let store = Store::open("sqlite::memory:", [7; 32]).await?;
//! let user = store
//!     .create_user(&NewUser {
//!         name: "Admin".into(),
//!         email: "admin@example.com".into(),
//!         is_admin: true,
//!         password_hash: None,
//!     })
//!     .await?;
//! let ds = store
//!     .create_data_source(&NewDataSource {
//!         name: "Demo".into(),
//!         kind: "sqlite".into(),
//!         options: serde_json::json!({"dbpath": "demo.db"}),
//!         queue_name: None,
//!         scheduled_queue_name: None,
//!     })
//!     .await?;
//! let query = store
//!     .create_query(&NewQuery {
//!         name: "Orders".into(),
//!         description: None,
//!         query: "SELECT * FROM orders".into(),
//!         query_hash: "3c1e...".into(),
//!         data_source_id: ds.id,
//!         schedule: None,
//!         options: serde_json::json!({}),
//!         tags: vec!["sales".into()],
//!         user_id: user.id,
//!     })
//!     .await?;
//! let page = store.list_queries(&ListFilter::default()).await?;
//! assert_eq!(page.count, 1);
//! assert_eq!(page.items[0].id, query.id);
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! # Layout
//! - `db`: [`Store`], connecting, the per-driver dispatch; `schema`: migrations and
//!   [`SchemaStatus`]; `fence`: scheduled-run claims; `maintain`: database care; `hot`: the hot
//!   statements and their plans.
//! - `cipher`: [`Cipher`], encryption at rest.
//! - `listing`: paging, ordering, search and tag filters shared by queries and dashboards.
//! - `users`, `data_sources`, `queries`, `query_lists`, `visualizations`, `dashboards`,
//!   `widgets`, `favorites`: one repository per record.
//! - `results`: result metadata and chunks; `status`: the `/status.json` counters.

mod cipher;
mod dashboards;
mod data_sources;
mod db;
mod error;
mod favorites;
mod fence;
mod hot;
mod listing;
mod maintain;
mod queries;
mod query_lists;
mod results;
mod schema;
mod status;
mod users;
mod visualizations;
mod widgets;

pub use cipher::Cipher;
pub use dashboards::{DashboardUpdate, NewDashboard, slugify};
pub use data_sources::{
    CachedSchema, DEFAULT_QUEUE, DEFAULT_SCHEDULED_QUEUE, DataSourceUpdate, NewDataSource,
};
pub use db::{Backend, Store};
pub use error::{StoreError, StoreResult};
pub use fence::ClaimOutcome;
pub use hot::StatementPlan;
pub use listing::{Drafts, ListFilter, Order, OrderField, Page, Paging, Scope};
pub use maintain::MaintenanceReport;
pub use queries::{NewQuery, QueryUpdate};
pub use query_lists::ScheduledQuery;
pub use results::{ChunkStream, FinishedResult, NewResult, ResultSummary};
pub use schema::SchemaStatus;
pub use status::{PoolStatus, StatusCounts};
pub use users::{NewUser, UserUpdate};
pub use visualizations::{NewVisualization, VisualizationUpdate};
pub use widgets::{NewWidget, WidgetUpdate};
