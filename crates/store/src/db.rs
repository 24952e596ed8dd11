//! The [`Store`] handle: connecting to a database (and an optional read replica) from its URL,
//! and the plumbing every repository module shares. Migrations live in `schema`.
//!
//! # Why an enum over two native pools, not sqlx `Any`
//! `Any` only carries integers, floats, text and bytes: PostgreSQL columns would have to give up
//! `TIMESTAMPTZ`, `JSONB` and `BOOLEAN`, and every timestamp would become a hand-encoded number.
//! Instead [`Store`] holds either a `SqlitePool` or a `PgPool`, and each repository method is
//! written ONCE in SQL both databases accept (`$n` placeholders, `RETURNING`, `ON CONFLICT DO
//! NOTHING`, `LOWER(..) LIKE`) inside [`with_pool!`], which compiles that one body for each
//! driver. Both schemas are native, rows decode into the same Rust types, and the SQL cannot
//! drift apart between the two backends.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rand::RngExt;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::cipher::Cipher;
use crate::error::{StoreError, StoreResult};

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (the default, one file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// A read replica of a PostgreSQL primary, for [`with_read_pool!`].
    pub(crate) replica: Option<PgPool>,
    pub(crate) cipher: Cipher,
}

/// The metadata store: a cheap-to-clone handle (an `Arc` inside) over a connection pool.
///
/// Every repository method is an `async fn` on this type, spread over the modules of this crate
/// by topic (users, data sources, queries, ...).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

/// Runs `$body` with `$pool` bound to the native pool, compiled once per driver.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.inner.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Like [`with_pool!`], but on the read replica when there is one: ONLY for reads that tolerate
/// replication lag (see [`Store::connect_with_replica`] for the rule).
macro_rules! with_read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match (&$store.inner.pool, &$store.inner.replica) {
            ($crate::db::Pool::Sqlite($pool), _) => $body,
            ($crate::db::Pool::Postgres(_), Some($pool)) => $body,
            ($crate::db::Pool::Postgres($pool), None) => $body,
        }
    };
}
pub(crate) use with_read_pool;

/// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that
/// reads first and writes later cannot wait for a busy writer and fails with "database is locked"
/// instead.
///
/// `begin_serialized` also makes transactions with the same `key` run one after another, for
/// read-then-insert sequences such as picking a free slug: SQLite's `BEGIN IMMEDIATE` already
/// serialises all writers, PostgreSQL takes a transaction-scoped advisory lock on `key`.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
    fn begin_serialized(
        &self,
        key: i64,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }

    fn begin_serialized(
        &self,
        _key: i64,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        self.begin()
    }

    async fn begin_serialized(
        &self,
        key: i64,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// A query builder for the pool's database; the pool only fixes the type.
pub(crate) fn builder<DB: sqlx::Database>(
    _pool: &sqlx::Pool<DB>,
    sql: &str,
) -> sqlx::QueryBuilder<DB> {
    sqlx::QueryBuilder::new(sql)
}

impl Store {
    /// Opens the database at `url`, applies pending migrations and returns the handle: what
    /// `cairn up` (one process, nobody else migrating) does. Split deployments connect with
    /// [`Store::connect`] and migrate once with `cairn migrate` ([`Store::migrate`]).
    ///
    /// # Errors
    /// As [`Store::connect`] and [`Store::migrate`].
    pub async fn open(url: &str, secret_key: [u8; 32]) -> StoreResult<Store> {
        let store = Store::connect(url, secret_key).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to the database at `url` WITHOUT touching its schema; check it with
    /// [`Store::schema_status`] before serving.
    ///
    /// `url` is `sqlite://<path>?mode=rwc` (SQLite; WAL journal, 10 s busy timeout, foreign keys
    /// on) or `postgres://...` / `postgresql://...`. `secret_key` encrypts data source options.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an unsupported or malformed URL, `Db` when connecting fails.
    pub async fn connect(url: &str, secret_key: [u8; 32]) -> StoreResult<Store> {
        let pool = if url.starts_with("sqlite:") {
            Pool::Sqlite(open_sqlite(url).await?)
        } else if is_postgres(url) {
            Pool::Postgres(open_postgres(url).await?)
        } else {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL {:?}: use sqlite://PATH?mode=rwc or postgres://...",
                redact(url)
            )));
        };
        Ok(Store::from_pools(pool, None, secret_key))
    }

    /// Like [`Store::connect`], plus a read replica of the same PostgreSQL database at
    /// `replica_url` for the read-only traffic that tolerates replication lag.
    ///
    /// # Which reads go to the replica
    /// Only the list views a person browses: [`Store::list_queries`],
    /// [`Store::list_dashboards`], [`Store::query_tags`] and [`Store::dashboard_tags`]. A
    /// replica may be a moment behind, so everything that must see a write just made stays on
    /// the primary: lookups by id, slug or key (read right after create/update), results and
    /// their chunks (read right after a run), the scheduler's view, the fan-out, and every
    /// write. A list briefly missing a query saved a moment ago is acceptable; a 404 on the
    /// page just redirected to is not.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when either URL is not PostgreSQL; `Db` when connecting fails.
    pub async fn connect_with_replica(
        url: &str,
        replica_url: &str,
        secret_key: [u8; 32],
    ) -> StoreResult<Store> {
        if !is_postgres(url) || !is_postgres(replica_url) {
            return Err(StoreError::Invalid(
                "a read replica needs PostgreSQL for both the primary and the replica URL".into(),
            ));
        }
        let primary = Pool::Postgres(open_postgres(url).await?);
        let replica = open_postgres(replica_url).await?;
        Ok(Store::from_pools(primary, Some(replica), secret_key))
    }

    fn from_pools(pool: Pool, replica: Option<PgPool>, secret_key: [u8; 32]) -> Store {
        Store {
            inner: Arc::new(Inner {
                pool,
                replica,
                cipher: Cipher::new(secret_key),
            }),
        }
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.inner.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether reads that tolerate lag go to a read replica (see [`Store::connect_with_replica`]).
    pub fn has_replica(&self) -> bool {
        self.inner.replica.is_some()
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
        if let Some(replica) = &self.inner.replica {
            replica.close().await;
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

async fn open_postgres(url: &str) -> StoreResult<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Invalid(format!("bad database URL: {e}")))?;
    Ok(PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?)
}

async fn open_sqlite(url: &str) -> StoreResult<SqlitePool> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Invalid(format!("bad database URL: {e}")))?
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let options = if in_memory {
        options
    } else {
        options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    // An in-memory database lives in one connection: a second one would be another database.
    let pool_options = if in_memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(8)
    };
    Ok(pool_options.connect_with(options).await?)
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// The current time at the database's precision (microseconds), so a value read back equals
/// the value written.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A 40-character random alphanumeric key, like Redash's API keys.
pub(crate) fn random_key() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(redact("mysql://u:pw@h/db"), "mysql://***@h/db");
        assert_eq!(redact("file.db"), "file.db");
    }

    #[test]
    fn keys_are_long_and_distinct() {
        let (a, b) = (random_key(), random_key());
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
