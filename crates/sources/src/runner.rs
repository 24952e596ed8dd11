//! The entry point for running SQL on a data source: [`connect`] gives a [`Runner`] holding
//! the connection settings for that source's driver.
//!
//! Drivers are used directly (PostgreSQL, MySQL, SQLite) rather than through sqlx's `Any`,
//! which cannot decode NUMERIC, TIMESTAMPTZ, DATE, UUID or JSON values. Building a runner does
//! no I/O; [`Runner::test_connection`] is the explicit check. A runner is cheap to clone
//! (shared handles) and meant to be kept per data source and reused.
//!
//! User SQL can open transactions and change session settings, so no run inherits another's
//! session state: PostgreSQL sessions are reset with `DISCARD ALL` before they are reused (a new
//! one costs several milliseconds), MySQL sessions are closed after each run (a new one costs
//! well under a millisecond; sqlx has no `COM_RESET_CONNECTION`), and SQLite connections (in
//! process, pooled) get any open transaction rolled back. Sessions are opened directly rather
//! than through a sqlx pool, so a failed connection reports the driver's own reason at once
//! instead of a pool timeout; a semaphore caps the sessions open at once.

use serde::Serialize;
use serde_json::Value as Json;
use sqlx::sqlite::SqlitePool;
use tokio_util::sync::CancellationToken;

use crate::error::SourceError;
use crate::kinds::{SourceKind, validate_options};
use crate::stream::{RowStream, RunLimits, StopSignals, channel};
use crate::{mysql, pg, sqlite};

/// The most sessions one PostgreSQL or MySQL data source opens at once (per runner).
pub(crate) const MAX_SESSIONS: usize = 16;
/// How long opening a session may take before the server counts as unreachable.
pub(crate) const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Opens a session of any driver within [`CONNECT_TIMEOUT`]: a server that does not answer is a
/// connection error, not a hang.
pub(crate) async fn connect_within<C: sqlx::Connection>(
    options: &<C as sqlx::Connection>::Options,
) -> Result<C, SourceError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, C::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(SourceError::from_sqlx(e)),
        Err(_) => Err(SourceError::Connection(format!(
            "no answer from the server within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// One table or view of a data source's schema, in Redash's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    /// The table name, qualified with its schema when not in the default one.
    pub name: String,
    /// The columns in table order.
    pub columns: Vec<SchemaColumn>,
}

/// One column of a [`TableSchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaColumn {
    /// The column name.
    pub name: String,
    /// The database's type name for the column (`integer`, `character varying`, `TEXT`...).
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(pg::PgSource),
    Mysql(mysql::MySqlSource),
}

/// Runs SQL on one data source.
#[derive(Debug, Clone)]
pub struct Runner {
    kind: SourceKind,
    backend: Backend,
}

/// A runner for a data source of type `kind` (`sqlite`, `pg`, `mysql`) with Redash-style
/// `options`. Does no I/O: connections are made when first needed.
///
/// Must be called within a Tokio runtime.
///
/// # Errors
/// [`SourceError::UnknownType`] or [`SourceError::InvalidOptions`].
pub fn connect(kind: &str, options: &Json) -> Result<Runner, SourceError> {
    let kind = SourceKind::from_key(kind)?;
    validate_options(kind, options)?;
    let backend = match kind {
        SourceKind::Sqlite => Backend::Sqlite(sqlite::pool(options)?),
        SourceKind::Postgres => Backend::Postgres(pg::source(options)?),
        SourceKind::Mysql => Backend::Mysql(mysql::source(options)?),
    };
    Ok(Runner { kind, backend })
}

impl Runner {
    /// The data source type.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Starts `sql` and returns once its columns are known (the first row arrived or the
    /// query finished); rows then come one at a time from [`RowStream::next_row`].
    ///
    /// The query is cancelled ON THE DATABASE when `limits.time_limit` passes, when `cancel` is
    /// cancelled, or when the returned stream is dropped early: PostgreSQL through
    /// `pg_cancel_backend`, MySQL/MariaDB through `KILL QUERY`, SQLite through an interrupt.
    /// The SQL is the user's and runs as given (several statements are allowed where the
    /// database allows them; the columns are those of the first statement returning rows).
    ///
    /// # Errors
    /// The database's own error text ([`SourceError::Database`]), [`SourceError::Connection`],
    /// [`SourceError::TimedOut`] or [`SourceError::Cancelled`]; the same errors can also end the
    /// stream later.
    pub async fn run(
        &self,
        sql: &str,
        limits: RunLimits,
        cancel: CancellationToken,
    ) -> Result<RowStream, SourceError> {
        let (tx, rx) = channel();
        let stop = StopSignals::new(cancel, limits);
        let sql = sql.to_owned();
        match &self.backend {
            Backend::Sqlite(pool) => tokio::spawn(sqlite::run(pool.clone(), sql, tx, stop)),
            Backend::Postgres(source) => tokio::spawn(pg::run(source.clone(), sql, tx, stop)),
            Backend::Mysql(source) => tokio::spawn(mysql::run(source.clone(), sql, tx, stop)),
        };
        RowStream::first(rx).await
    }

    /// Connects and runs `SELECT 1`.
    ///
    /// # Errors
    /// Why connecting or querying failed, in the driver's or database's words.
    pub async fn test_connection(&self) -> Result<(), SourceError> {
        let result = match &self.backend {
            Backend::Sqlite(pool) => sqlx::raw_sql("SELECT 1").execute(pool).await.map(drop),
            Backend::Postgres(source) => return source.test_connection().await,
            Backend::Mysql(source) => return source.test_connection().await,
        };
        result.map_err(SourceError::from_sqlx)
    }

    /// The tables and views with their columns, sorted by name.
    ///
    /// # Errors
    /// Why connecting or querying the catalog failed.
    pub async fn schema(&self) -> Result<Vec<TableSchema>, SourceError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::schema(pool).await,
            Backend::Postgres(source) => pg::schema(source).await,
            Backend::Mysql(source) => mysql::schema(source).await,
        }
    }

    /// Refuses new sessions and closes idle SQLite connections (running queries finish first).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(source) => source.close().await,
            Backend::Mysql(source) => source.close(),
        }
    }
}

/// Groups `(table, column)` pairs, already ordered by table, into tables.
pub(crate) fn group_tables(
    columns: impl IntoIterator<Item = (String, SchemaColumn)>,
) -> Vec<TableSchema> {
    let mut tables: Vec<TableSchema> = Vec::new();
    for (table, column) in columns {
        match tables.last_mut() {
            Some(last) if last.name == table => last.columns.push(column),
            _ => tables.push(TableSchema {
                name: table,
                columns: vec![column],
            }),
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables
}
