//! SQLite: connection options, the row mapping, interruption and schema.
//!
//! SQLite values carry their own storage type (INTEGER, REAL, TEXT, BLOB) whatever the column
//! declares, and expressions have no declared type at all, so each value is read by its own
//! type; column types come from the declared type where there is one (`BOOLEAN`, `DATE`,
//! `DATETIME` included) and are otherwise left for the result encoder to infer from the data.
//!
//! SQLite runs in-process, so there is no server to send a cancel to: each run installs a
//! progress handler that SQLite calls every few thousand VM steps, and a stop makes it return
//! false, which interrupts the statement (`SQLITE_INTERRUPT`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_domain::result::{Column, ColumnType, Row, Value};
use serde_json::Value as Json;
use sqlx::sqlite::{SqliteColumn, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{
    AssertSqlSafe, Column as _, Executor as _, Row as _, SqlSafeStr as _, Statement as _,
    TypeInfo as _, ValueRef as _,
};

use crate::error::SourceError;
use crate::kinds::opt_str;
use crate::runner::{SchemaColumn, TableSchema};
use crate::stream::{Event, Pumped, RowMapper, Sender, StopSignals, pump, send_last, send_stop};
use crate::values;

/// VM instructions between two checks of the stop flag.
const PROGRESS_STEPS: i32 = 10_000;

/// Builds a lazy pool from Redash-style `sqlite` options. The file must exist.
pub(crate) fn pool(options: &Json) -> Result<SqlitePool, SourceError> {
    let path = opt_str(options, "dbpath")
        .ok_or_else(|| SourceError::InvalidOptions("dbpath is required".into()))?;
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false);
    Ok(SqlitePoolOptions::new()
        .max_connections(4)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(15))
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(opts))
}

/// Runs `sql`, sending its columns and rows to `tx`; see the module docs for interruption.
pub(crate) async fn run(pool: SqlitePool, sql: String, tx: Sender, mut stop: StopSignals) {
    let mut conn = match stop.guard(&tx, pool.acquire()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return send_last(&tx, Err(SourceError::from_sqlx(e))).await,
        Err(s) => return send_stop(&tx, s).await,
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    match conn.lock_handle().await {
        Ok(mut handle) => {
            let flag = interrupt.clone();
            handle.set_progress_handler(PROGRESS_STEPS, move || !flag.load(Ordering::Relaxed));
        }
        Err(e) => return send_last(&tx, Err(SourceError::from_sqlx(e))).await,
    }

    let mut mapper = SqliteMapper::default();
    let pumped = {
        let mut rows = sqlx::raw_sql(AssertSqlSafe(sql.as_str())).fetch(&mut *conn);
        let flag = interrupt.clone();
        pump(&mut rows, &mut mapper, &tx, &mut stop, || async move {
            flag.store(true, Ordering::Relaxed)
        })
        .await
    };
    match pumped {
        Pumped::Stopped { stop, idle } => {
            if idle {
                let _ = conn.close().await;
            } else {
                drop(conn.detach());
            }
            send_stop(&tx, stop).await;
            return;
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
    // A transaction the user's SQL left open must not leak into the next run on this
    // connection (SQLite sessions have little other state); "no transaction" errors are fine.
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    if let Ok(mut handle) = conn.lock_handle().await {
        handle.remove_progress_handler();
    }
}

fn declared_kind(type_name: &str) -> Option<ColumnType> {
    match type_name {
        "BOOLEAN" => Some(ColumnType::Boolean),
        "DATE" => Some(ColumnType::Date),
        "DATETIME" => Some(ColumnType::Datetime),
        "INTEGER" => Some(ColumnType::Integer),
        "REAL" => Some(ColumnType::Float),
        "TEXT" | "BLOB" | "TIME" => Some(ColumnType::String),
        // NUMERIC affinity holds integers or reals; NULL means an expression.
        _ => None,
    }
}

fn columns_of(cols: &[SqliteColumn]) -> Vec<Column> {
    let names = values::unique_names(cols.iter().map(|c| c.name().to_owned()));
    names
        .into_iter()
        .zip(cols)
        .map(|(name, c)| Column::new(name, declared_kind(c.type_info().name())))
        .collect()
}

#[derive(Default)]
struct SqliteMapper {
    booleans: Vec<bool>,
}

impl RowMapper<SqliteRow> for SqliteMapper {
    fn columns(&mut self, row: &SqliteRow) -> Vec<Column> {
        self.booleans = row
            .columns()
            .iter()
            .map(|c| c.type_info().name() == "BOOLEAN")
            .collect();
        columns_of(row.columns())
    }

    fn values(&mut self, row: &SqliteRow) -> Result<Row, SourceError> {
        let mut out = Vec::with_capacity(self.booleans.len());
        for (i, &boolean) in self.booleans.iter().enumerate() {
            let raw = row.try_get_raw(i).map_err(SourceError::from_sqlx)?;
            if raw.is_null() {
                out.push(Value::Null);
                continue;
            }
            let storage = raw.type_info().name().to_owned();
            out.push(match storage.as_str() {
                "INTEGER" => {
                    let n: i64 = row.try_get_unchecked(i).map_err(SourceError::from_sqlx)?;
                    if boolean {
                        Value::Bool(n != 0)
                    } else {
                        Value::Int(n)
                    }
                }
                "REAL" => Value::Float(row.try_get_unchecked(i).map_err(SourceError::from_sqlx)?),
                "BLOB" => {
                    let bytes: Vec<u8> =
                        row.try_get_unchecked(i).map_err(SourceError::from_sqlx)?;
                    values::hex(&bytes)
                }
                _ => Value::Text(row.try_get_unchecked(i).map_err(SourceError::from_sqlx)?),
            });
        }
        Ok(out)
    }
}

/// Tables and views with their columns and declared types.
pub(crate) async fn schema(pool: &SqlitePool) -> Result<Vec<TableSchema>, SourceError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type FROM sqlite_master AS m \
         JOIN pragma_table_info(m.name) AS p \
         WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%' \
         ORDER BY m.name, p.cid",
    )
    .fetch_all(pool)
    .await
    .map_err(SourceError::from_sqlx)?;
    Ok(crate::runner::group_tables(rows.into_iter().map(
        |(table, column, kind)| (table, SchemaColumn { name: column, kind }),
    )))
}
