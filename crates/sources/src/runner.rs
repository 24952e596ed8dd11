//! The entry point for running SQL on a data source: [`connect`] gives a [`Runner`] holding a
//! connection pool for that source's driver.
//!
//! Pools are per driver (PostgreSQL, MySQL, SQLite) rather than sqlx's `Any`, which cannot
//! decode NUMERIC, TIMESTAMPTZ, DATE, UUID or JSON values. Pools connect lazily, so building a
//! runner does no I/O; [`Runner::test_connection`] is the explicit check. A runner is cheap to
//! clone (pools are shared handles) and meant to be kept per data source and reused.
//!
//! User SQL can open transactions and change session settings, so on PostgreSQL and MySQL a
//! session that ran user SQL is closed afterwards, never handed to the next run (Redash also
//! connects per query); the pool caps concurrent connections and serves catalog queries. SQLite
//! sessions are in-process and cheap to keep: an open transaction is rolled back instead.

use serde::Serialize;
use serde_json::Value as Json;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use tokio_util::sync::CancellationToken;

use crate::error::SourceError;
use crate::kinds::{SourceKind, validate_options};
use crate::stream::{RowStream, RunLimits, StopSignals, channel};
use crate::{mysql, pg, sqlite};

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
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    Mysql(MySqlPool),
}

/// Runs SQL on one data source.
#[derive(Debug, Clone)]
pub struct Runner {
    kind: SourceKind,
    pool: Pool,
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
    let pool = match kind {
        SourceKind::Sqlite => Pool::Sqlite(sqlite::pool(options)?),
        SourceKind::Postgres => Pool::Postgres(pg::pool(options)?),
        SourceKind::Mysql => Pool::Mysql(mysql::pool(options)?),
    };
    Ok(Runner { kind, pool })
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
        match &self.pool {
            Pool::Sqlite(pool) => tokio::spawn(sqlite::run(pool.clone(), sql, tx, stop)),
            Pool::Postgres(pool) => tokio::spawn(pg::run(pool.clone(), sql, tx, stop)),
            Pool::Mysql(pool) => tokio::spawn(mysql::run(pool.clone(), sql, tx, stop)),
        };
        RowStream::first(rx).await
    }

    /// Connects and runs `SELECT 1`.
    ///
    /// # Errors
    /// Why connecting or querying failed, in the driver's or database's words.
    pub async fn test_connection(&self) -> Result<(), SourceError> {
        let result = match &self.pool {
            Pool::Sqlite(pool) => sqlx::raw_sql("SELECT 1").execute(pool).await.map(drop),
            Pool::Postgres(pool) => sqlx::raw_sql("SELECT 1").execute(pool).await.map(drop),
            Pool::Mysql(pool) => sqlx::raw_sql("SELECT 1").execute(pool).await.map(drop),
        };
        result.map_err(SourceError::from_sqlx)
    }

    /// The tables and views with their columns, sorted by name.
    ///
    /// # Errors
    /// Why connecting or querying the catalog failed.
    pub async fn schema(&self) -> Result<Vec<TableSchema>, SourceError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::schema(pool).await,
            Pool::Postgres(pool) => pg::schema(pool).await,
            Pool::Mysql(pool) => mysql::schema(pool).await,
        }
    }

    /// Closes the pool's connections (running queries finish first).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
            Pool::Mysql(pool) => pool.close().await,
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
