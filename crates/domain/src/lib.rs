//! Cairn's domain model and the pure logic of queries: no I/O happens here.
//!
//! # Layout
//! - [`model`]: the records Cairn keeps (users, data sources, queries, visualizations,
//!   dashboards, widgets, query results) in Redash's shape.
//! - [`query_hash`]: Redash's query hash.
//! - [`params`]: typed `{{ name }}` parameters, validated and rendered so they cannot inject SQL.
//! - [`schedule`]: Redash refresh schedules and when a query is next due.
//! - [`result`]: the shape of a query result (columns, cell values) shared by the data sources
//!   that produce rows, the result store that keeps them and the writers that download them.

pub mod model;
pub mod params;
pub mod query_hash;
pub mod result;
pub mod schedule;
