//! Data sources: running user SQL on SQLite, PostgreSQL and MySQL/MariaDB as a stream of rows,
//! with time limits and cancellation that stop the query on the database itself.
//!
//! Redash loads a whole result into a worker's memory, and its time limits kill the worker's
//! job but leave the query running on the database. Here a query's rows come one at a time
//! through a bounded channel (so memory does not grow with the result), and every way a run can
//! stop early (time limit, explicit cancel, the consumer going away) cancels the statement on
//! the server: `pg_cancel_backend`, `KILL QUERY`, or SQLite's interrupt.
//!
//! # Brief overview
//!
//! - [`source_types`], [`SourceKind`], [`validate_options`]: the types and their JSON-Schema
//!   options for `/api/data_sources/types`, in Redash's shape and with Redash's option names.
//! - [`connect`] builds a [`Runner`] (a per-driver pool, connected lazily).
//! - [`Runner::run`] returns a [`RowStream`]: [`RowStream::columns`] first, then
//!   [`RowStream::next_row`] until `None`. Values are
//!   [`cairn_domain::result::Value`]s, read by each value's own type; NUMERIC/DECIMAL become
//!   floats when exact and text otherwise, dates and times ISO-8601 text, JSON and UUIDs text.
//! - [`Runner::test_connection`], [`Runner::schema`].
//! - [`demo::create_demo_database`]: the SQLite demo database `cairn up` offers.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), cairn_sources::SourceError> {
//! use std::time::Duration;
//! use cairn_sources::{connect, RunLimits};
//! use tokio_util::sync::CancellationToken;
//!
//! let runner = connect("sqlite", &serde_json::json!({"dbpath": "/tmp/demo.db"}))?;
//! let limits = RunLimits { time_limit: Some(Duration::from_secs(30)) };
//! let cancel = CancellationToken::new(); // keep a clone to cancel from elsewhere
//! let mut rows = runner.run("SELECT * FROM orders", limits, cancel).await?;
//! println!("{:?}", rows.columns());
//! while let Some(row) = rows.next_row().await? {
//!     // hand the row to a cairn_results::ResultEncoder
//! #   let _ = row;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `kinds`: types, JSON Schemas, option checks.
//! - `runner`: [`connect`], [`Runner`], schema types.
//! - `stream`: [`RowStream`] and the loop that pumps rows and watches the stop signals.
//! - `pg`, `mysql`, `sqlite`: one file per driver (options, value mapping, cancellation,
//!   schema query).
//! - `values`: text forms to values, Redash's duplicate column names.
//! - [`demo`]: the demo database.

pub mod demo;
mod error;
mod kinds;
mod mysql;
mod pg;
mod runner;
mod sqlite;
mod stream;
mod values;

pub use error::SourceError;
pub use kinds::{QUERY_TIME_LIMIT_OPTION, SourceKind, SourceType, source_types, validate_options};
pub use runner::{Runner, SchemaColumn, TableSchema, connect};
pub use stream::{RowStream, RunLimits};
