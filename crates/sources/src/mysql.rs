//! MySQL and MariaDB: connection options, the row mapping, cancellation and schema.
//!
//! Queries run through the text protocol (`COM_QUERY`), so DECIMAL, dates and every other type
//! arrive as the server's own text. Column types follow Redash's MySQL mapping (`TINYINT(1)`
//! stays an integer, as Redash reports it).
//!
//! A run first asks for its `CONNECTION_ID()`. Cancelling sends `KILL QUERY <id>` from a
//! separate connection, which stops the statement and leaves the session usable; the stream
//! is then drained and the connection closed.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use cairn_domain::result::{Column, ColumnType, Row, Value};
use serde_json::Value as Json;
use sqlx::mysql::{MySqlColumn, MySqlConnectOptions, MySqlRow};
use sqlx::{
    AssertSqlSafe, Column as _, Connection as _, Executor as _, MySqlConnection, Row as _,
    SqlSafeStr as _, Statement as _, TypeInfo as _, ValueRef as _,
};

use crate::error::SourceError;
use crate::kinds::{opt_port, opt_str};
use crate::runner::{MAX_SESSIONS, SchemaColumn, TableSchema, connect_within};
use crate::stream::{Event, Pumped, RowMapper, Sender, StopSignals, pump, send_last, send_stop};
use crate::values;

/// The connection settings from Redash-style `mysql` options.
pub(crate) fn source(options: &Json) -> Result<MySqlSource, SourceError> {
    let db = opt_str(options, "db")
        .ok_or_else(|| SourceError::InvalidOptions("db is required".into()))?;
    let mut opts = MySqlConnectOptions::new()
        .host(opt_str(options, "host").unwrap_or("127.0.0.1"))
        .port(opt_port(options, "port", 3306)?)
        .database(db)
        .charset("utf8mb4");
    if let Some(user) = opt_str(options, "user") {
        opts = opts.username(user);
    }
    if let Some(password) = opt_str(options, "passwd") {
        opts = opts.password(password);
    }
    Ok(MySqlSource {
        options: Arc::new(opts),
        sessions: Arc::new(Semaphore::new(MAX_SESSIONS)),
    })
}

/// Where and how to connect, and the cap on concurrent sessions. Every run, schema read and
/// test opens its own session and closes it: connection errors surface as they are, and user
/// SQL never inherits another run's session state.
#[derive(Debug, Clone)]
pub(crate) struct MySqlSource {
    options: Arc<MySqlConnectOptions>,
    sessions: Arc<Semaphore>,
}

impl MySqlSource {
    /// Opens a session, waiting for a free slot first.
    async fn open(&self) -> Result<(OwnedSemaphorePermit, MySqlConnection), SourceError> {
        let slot = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SourceError::Connection("data source closed".into()))?;
        let conn = connect_within::<MySqlConnection>(&self.options).await?;
        Ok((slot, conn))
    }

    /// Connects and runs `SELECT 1`.
    pub(crate) async fn test_connection(&self) -> Result<(), SourceError> {
        let (_slot, mut conn) = self.open().await?;
        sqlx::raw_sql("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(SourceError::from_sqlx)?;
        let _ = conn.close().await;
        Ok(())
    }

    /// Refuses new sessions from now on.
    pub(crate) fn close(&self) {
        self.sessions.close();
    }
}

/// Runs `sql`, sending its columns and rows to `tx`; see the module docs for cancellation.
pub(crate) async fn run(source: MySqlSource, sql: String, tx: Sender, mut stop: StopSignals) {
    let (_slot, mut conn) = match stop.guard(&tx, source.open()).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return send_last(&tx, Err(e)).await,
        Err(s) => return send_stop(&tx, s).await,
    };
    let id: u64 = match sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut conn)
        .await
    {
        Ok(id) => id,
        Err(e) => return send_last(&tx, Err(SourceError::from_sqlx(e))).await,
    };

    let mut mapper = MySqlMapper::default();
    let pumped = {
        let mut rows = sqlx::raw_sql(AssertSqlSafe(sql.as_str())).fetch(&mut conn);
        pump(&mut rows, &mut mapper, &tx, &mut stop, || {
            kill_query(&source, id)
        })
        .await
    };
    match pumped {
        Pumped::Stopped { stop, idle } => {
            if idle {
                let _ = conn.close().await;
            } else {
                drop(conn);
            }
            return send_stop(&tx, stop).await;
        }
        Pumped::Done { rows: 0 } => {
            let columns = match conn.prepare(AssertSqlSafe(sql).into_sql_str()).await {
                Ok(statement) => columns_of(statement.columns()),
                Err(_) => Vec::new(),
            };
            send_last(&tx, Ok(Event::Columns(columns))).await;
            send_last(&tx, Ok(Event::End)).await;
        }
        Pumped::Done { .. } => send_last(&tx, Ok(Event::End)).await,
        Pumped::Failed(e) => send_last(&tx, Err(e)).await,
    }
    // User SQL may leave a transaction open or change session settings: its session is never
    // handed to another run.
    let _ = conn.close().await;
}

/// Stops the statement running on connection `id`, from a fresh connection.
async fn kill_query(source: &MySqlSource, id: u64) {
    match connect_within::<MySqlConnection>(&source.options).await {
        Ok(mut c) => {
            if let Err(e) = c.execute(AssertSqlSafe(format!("KILL QUERY {id}"))).await {
                tracing::warn!(id, error = %e, "KILL QUERY failed");
            }
            let _ = c.close().await;
        }
        Err(e) => tracing::warn!(id, error = %e, "cannot connect to kill a query"),
    }
}

#[derive(Clone, Copy)]
enum Conv {
    Int,
    Float,
    Decimal,
    Datetime,
    Bits,
    Hex,
    Text,
}

fn conv_for(type_name: &str) -> (Conv, Option<ColumnType>) {
    match type_name.trim_end_matches(" UNSIGNED") {
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "BOOLEAN" | "YEAR" => {
            (Conv::Int, Some(ColumnType::Integer))
        }
        "FLOAT" | "DOUBLE" => (Conv::Float, Some(ColumnType::Float)),
        "DECIMAL" => (Conv::Decimal, Some(ColumnType::Float)),
        "DATE" => (Conv::Text, Some(ColumnType::Date)),
        "DATETIME" | "TIMESTAMP" => (Conv::Datetime, Some(ColumnType::Datetime)),
        "BIT" => (Conv::Bits, Some(ColumnType::Integer)),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "GEOMETRY" => {
            (Conv::Hex, Some(ColumnType::String))
        }
        "NULL" => (Conv::Text, None),
        _ => (Conv::Text, Some(ColumnType::String)),
    }
}

fn columns_of(cols: &[MySqlColumn]) -> Vec<Column> {
    let names = values::unique_names(cols.iter().map(|c| c.name().to_owned()));
    names
        .into_iter()
        .zip(cols)
        .map(|(name, c)| Column::new(name, conv_for(c.type_info().name()).1))
        .collect()
}

#[derive(Default)]
struct MySqlMapper {
    convs: Vec<Conv>,
}

impl RowMapper<MySqlRow> for MySqlMapper {
    fn columns(&mut self, row: &MySqlRow) -> Vec<Column> {
        self.convs = row
            .columns()
            .iter()
            .map(|c| conv_for(c.type_info().name()).0)
            .collect();
        columns_of(row.columns())
    }

    fn values(&mut self, row: &MySqlRow) -> Result<Row, SourceError> {
        let mut out = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            if row
                .try_get_raw(i)
                .map_err(SourceError::from_sqlx)?
                .is_null()
            {
                out.push(Value::Null);
                continue;
            }
            let bytes: &[u8] = row.try_get_unchecked(i).map_err(SourceError::from_sqlx)?;
            let text = || String::from_utf8_lossy(bytes);
            out.push(match conv {
                Conv::Int => values::integer(&text()),
                Conv::Float => values::float(&text()),
                Conv::Decimal => values::decimal(&text()),
                Conv::Datetime => values::datetime(&text()),
                Conv::Bits => {
                    Value::Int(bytes.iter().fold(0i64, |acc, b| (acc << 8) | i64::from(*b)))
                }
                // `_bin` collations (MariaDB's JSON is one) also carry the binary flag, and the
                // driver does not expose the charset: text that is valid UTF-8 stays text.
                Conv::Hex => match std::str::from_utf8(bytes) {
                    Ok(text) => Value::Text(text.to_owned()),
                    Err(_) => values::hex(bytes),
                },
                Conv::Text => Value::Text(text().into_owned()),
            });
        }
        Ok(out)
    }
}

/// Tables and views outside the system schemas, named `schema.table` unless in the data
/// source's own database.
pub(crate) async fn schema(source: &MySqlSource) -> Result<Vec<TableSchema>, SourceError> {
    let (_slot, mut conn) = source.open().await?;
    let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), CAST(column_name AS CHAR), \
                CAST(data_type AS CHAR), CAST(DATABASE() AS CHAR) \
         FROM information_schema.columns \
         WHERE table_schema NOT IN ('information_schema', 'performance_schema', 'mysql', 'sys') \
         ORDER BY table_schema, table_name, ordinal_position",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(SourceError::from_sqlx)?;
    let _ = conn.close().await;
    Ok(crate::runner::group_tables(rows.into_iter().map(
        |(schema, table, column, kind, current)| {
            let name = if current.as_deref() == Some(schema.as_str()) {
                table
            } else {
                format!("{schema}.{table}")
            };
            (name, SchemaColumn { name: column, kind })
        },
    )))
}
