//! Cairn's metadata store: sqlx on SQLite or PostgreSQL, with migrations.

mod cipher;
mod dashboards;
mod data_sources;
mod db;
mod error;
mod favorites;
mod listing;
mod queries;
mod query_lists;
mod results;
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
pub use listing::{Drafts, ListFilter, Order, OrderField, Page, Paging, Scope};
pub use queries::{NewQuery, QueryUpdate};
pub use query_lists::ScheduledQuery;
pub use results::{ChunkStream, FinishedResult, NewResult, ResultSummary};
pub use status::StatusCounts;
pub use users::{NewUser, UserUpdate};
pub use visualizations::{NewVisualization, VisualizationUpdate};
pub use widgets::{NewWidget, WidgetUpdate};
