//! PostgreSQL: connection options, the row mapping, cancellation and schema.
//!
//! Queries run through the simple (text) protocol, so every value arrives as PostgreSQL's own
//! text and any type (NUMERIC, TIMESTAMPTZ, JSON, UUID, arrays, enums) can be shown; the
//! column's type decides how the text becomes a value.
//!
//! A run first asks for its connection's backend pid, and sets `statement_timeout` a little
//! (10 s) above the time limit as a safety net for a worker that dies mid-query. Cancelling sends
//! `pg_cancel_backend(pid)` from a separate connection: closing a socket would not stop a query
//! that is busy computing.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use cairn_domain::result::{Column, ColumnType, Row, Value};
use serde_json::Value as Json;
use sqlx::postgres::{PgConnectOptions, PgRow, PgSslMode};
use sqlx::{
    AssertSqlSafe, Column as _, Connection as _, Executor as _, PgConnection, Row as _,
    SqlSafeStr as _, Statement as _, TypeInfo as _, ValueRef as _,
};

use crate::error::SourceError;
use crate::kinds::{opt_port, opt_str};
use crate::runner::{MAX_SESSIONS, SchemaColumn, TableSchema, connect_within};
use crate::stream::{Event, Pumped, RowMapper, Sender, StopSignals, pump, send_last, send_stop};
use crate::values;

/// The connection settings from Redash-style `pg` options.
pub(crate) fn source(options: &Json) -> Result<PgSource, SourceError> {
    let dbname = opt_str(options, "dbname")
        .ok_or_else(|| SourceError::InvalidOptions("dbname is required".into()))?;
    let ssl = match opt_str(options, "sslmode").unwrap_or("prefer") {
        "disable" => PgSslMode::Disable,
        "allow" => PgSslMode::Allow,
        "prefer" => PgSslMode::Prefer,
        "require" => PgSslMode::Require,
        "verify-ca" => PgSslMode::VerifyCa,
        "verify-full" => PgSslMode::VerifyFull,
        other => {
            return Err(SourceError::InvalidOptions(format!(
                "unknown sslmode {other:?}"
            )));
        }
    };
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(opt_str(options, "host").unwrap_or("127.0.0.1"))
        .port(opt_port(options, "port", 5432)?)
        .database(dbname)
        .ssl_mode(ssl)
        .application_name("cairn");
    // Sessions are reset with DISCARD ALL between runs, which drops prepared statements.
    if let Some(user) = opt_str(options, "user") {
        opts = opts.username(user);
    }
    if let Some(password) = opt_str(options, "password") {
        opts = opts.password(password);
    }
    Ok(PgSource {
        options: Arc::new(opts.statement_cache_capacity(0)),
        sessions: Arc::new(Semaphore::new(MAX_SESSIONS)),
        idle: Arc::default(),
    })
}

/// Where and how to connect, the cap on concurrent sessions, and the idle sessions. A run gets
/// a session that was reset with `DISCARD ALL`, or a new one (so connection errors surface as
/// the driver reports them, never as a pool timeout): user SQL never inherits another run's
/// session state.
#[derive(Debug, Clone)]
pub(crate) struct PgSource {
    options: Arc<PgConnectOptions>,
    sessions: Arc<Semaphore>,
    /// Clean sessions kept for the next run: a new PostgreSQL session costs several
    /// milliseconds (a backend process, authentication), more than a small query.
    idle: Arc<Mutex<Vec<PgConnection>>>,
}

impl PgSource {
    /// Opens a session, waiting for a free slot first: a clean idle one if it still answers,
    /// otherwise a new one.
    async fn open(&self) -> Result<(OwnedSemaphorePermit, PgConnection), SourceError> {
        let slot = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SourceError::Connection("data source closed".into()))?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut conn) = idle else { break };
            if conn.ping().await.is_ok() {
                return Ok((slot, conn));
            }
        }
        let conn = connect_within::<PgConnection>(&self.options).await?;
        Ok((slot, conn))
    }

    /// Connects and runs `SELECT 1`.
    pub(crate) async fn test_connection(&self) -> Result<(), SourceError> {
        let (_slot, mut conn) = self.open().await?;
        sqlx::raw_sql("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(SourceError::from_sqlx)?;
        self.release(conn).await;
        Ok(())
    }

    /// Keeps a session for the next run if it can be made clean, closes it otherwise.
    ///
    /// `DISCARD ALL` resets everything user SQL can leave behind (settings such as
    /// `statement_timeout`, temporary tables, prepared statements, advisory locks, `LISTEN`s);
    /// it refuses to run inside a transaction, which is then rolled back first. sqlx's own
    /// statement cache is off for these sessions (see [`source`]), so discarding prepared
    /// statements cannot confuse it.
    async fn release(&self, mut conn: PgConnection) {
        let mut clean = sqlx::raw_sql("DISCARD ALL")
            .execute(&mut conn)
            .await
            .is_ok();
        if !clean {
            clean = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.is_ok()
                && sqlx::raw_sql("DISCARD ALL")
                    .execute(&mut conn)
                    .await
                    .is_ok();
        }
        if clean && !self.sessions.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
                return;
            }
        }
        let _ = conn.close().await;
    }

    /// Refuses new sessions from now on and closes the idle ones.
    pub(crate) async fn close(&self) {
        self.sessions.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

/// The most clean sessions kept between runs.
const MAX_IDLE: usize = 4;

/// Runs `sql`, sending its columns and rows to `tx`; see the module docs for cancellation.
pub(crate) async fn run(source: PgSource, sql: String, tx: Sender, mut stop: StopSignals) {
    let (_slot, mut conn) = match stop.guard(&tx, source.open()).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return send_last(&tx, Err(e)).await,
        Err(s) => return send_stop(&tx, s).await,
    };
    // Safety net only, for a worker that dies mid-query: our own cancellation fires 10 s earlier.
    let timeout_ms = stop
        .limit()
        .map(|limit| limit.as_millis() + 10_000)
        .unwrap_or(0)
        .to_string();
    let pid: i32 = match sqlx::query_as::<_, (i32, String)>(
        "SELECT pg_backend_pid(), set_config('statement_timeout', $1, false)",
    )
    .bind(timeout_ms)
    .fetch_one(&mut conn)
    .await
    {
        Ok((pid, _)) => pid,
        Err(e) => return send_last(&tx, Err(SourceError::from_sqlx(e))).await,
    };

    let mut mapper = PgMapper::default();
    let pumped = {
        let mut rows = sqlx::raw_sql(AssertSqlSafe(sql.as_str())).fetch(&mut conn);
        pump(&mut rows, &mut mapper, &tx, &mut stop, || {
            cancel_backend(&source, pid)
        })
        .await
    };
    let last = match pumped {
        Pumped::Stopped { stop, idle } => {
            if idle {
                let _ = conn.close().await;
            } else {
                drop(conn);
            }
            return send_stop(&tx, stop).await;
        }
        Pumped::Done { rows: 0 } => {
            // No row told the columns: describe the statement (single statements only).
            let columns = match conn.prepare(AssertSqlSafe(sql).into_sql_str()).await {
                Ok(statement) => columns_of(statement.columns()),
                Err(_) => Vec::new(),
            };
            vec![Ok(Event::Columns(columns)), Ok(Event::End)]
        }
        Pumped::Done { .. } => vec![Ok(Event::End)],
        Pumped::Failed(e) => vec![Err(e)],
    };
    // User SQL may leave a transaction open or change session settings: the session is reset
    // before another run gets it, and before this run reports its end, so a run that follows
    // at once finds the session idle instead of opening a new one.
    source.release(conn).await;
    for event in last {
        send_last(&tx, event).await;
    }
}

/// Cancels the query of backend `pid` from a fresh connection.
async fn cancel_backend(source: &PgSource, pid: i32) {
    match connect_within::<PgConnection>(&source.options).await {
        Ok(mut c) => {
            if let Err(e) = sqlx::query("SELECT pg_cancel_backend($1)")
                .bind(pid)
                .execute(&mut c)
                .await
            {
                tracing::warn!(pid, error = %e, "pg_cancel_backend failed");
            }
            let _ = c.close().await;
        }
        Err(e) => tracing::warn!(pid, error = %e, "cannot connect to cancel a query"),
    }
}

#[derive(Clone, Copy)]
enum Conv {
    Int,
    Float,
    Decimal,
    Bool,
    Datetime,
    Text,
}

fn conv_for(type_name: &str) -> (Conv, ColumnType) {
    match type_name {
        "INT2" | "INT4" | "INT8" | "OID" => (Conv::Int, ColumnType::Integer),
        "FLOAT4" | "FLOAT8" => (Conv::Float, ColumnType::Float),
        "NUMERIC" => (Conv::Decimal, ColumnType::Float),
        "BOOL" => (Conv::Bool, ColumnType::Boolean),
        "DATE" => (Conv::Text, ColumnType::Date),
        "TIMESTAMP" | "TIMESTAMPTZ" => (Conv::Datetime, ColumnType::Datetime),
        _ => (Conv::Text, ColumnType::String),
    }
}

fn columns_of(cols: &[sqlx::postgres::PgColumn]) -> Vec<Column> {
    let names = values::unique_names(cols.iter().map(|c| c.name().to_owned()));
    names
        .into_iter()
        .zip(cols)
        .map(|(name, c)| Column::new(name, Some(conv_for(c.type_info().name()).1)))
        .collect()
}

#[derive(Default)]
struct PgMapper {
    convs: Vec<Conv>,
}

impl RowMapper<PgRow> for PgMapper {
    fn columns(&mut self, row: &PgRow) -> Vec<Column> {
        self.convs = row
            .columns()
            .iter()
            .map(|c| conv_for(c.type_info().name()).0)
            .collect();
        columns_of(row.columns())
    }

    fn values(&mut self, row: &PgRow) -> Result<Row, SourceError> {
        let mut out = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            let raw = row.try_get_raw(i).map_err(SourceError::from_sqlx)?;
            if raw.is_null() {
                out.push(Value::Null);
                continue;
            }
            let text = raw
                .as_str()
                .map_err(|e| SourceError::Database(format!("cannot read column {i}: {e}")))?;
            out.push(match conv {
                Conv::Int => values::integer(text),
                Conv::Float => values::float(text),
                Conv::Decimal => values::decimal(text),
                Conv::Bool => Value::Bool(text == "t"),
                Conv::Datetime => values::datetime(text),
                Conv::Text => Value::Text(text.to_owned()),
            });
        }
        Ok(out)
    }
}

/// Tables and views outside the system schemas, named `schema.table` unless in `public`.
pub(crate) async fn schema(source: &PgSource) -> Result<Vec<TableSchema>, SourceError> {
    let (_slot, mut conn) = source.open().await?;
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
           AND table_schema NOT LIKE 'pg_toast%' AND table_schema NOT LIKE 'pg_temp%' \
         ORDER BY table_schema, table_name, ordinal_position",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(SourceError::from_sqlx)?;
    source.release(conn).await;
    Ok(crate::runner::group_tables(rows.into_iter().map(
        |(schema, table, column, kind)| {
            let name = if schema == "public" {
                table
            } else {
                format!("{schema}.{table}")
            };
            (name, SchemaColumn { name: column, kind })
        },
    )))
}
