//! Schema versioning for `cairn migrate`: applying the embedded migrations, and comparing the
//! database's applied migrations with the ones this binary carries ([`SchemaStatus`]).
//!
//! Migrations are sqlx's, recorded in `_sqlx_migrations` (version, checksum, success). On
//! PostgreSQL sqlx holds an advisory lock while it migrates, so several processes may run
//! [`Store::migrate`] at once: one applies, the others wait and then find nothing to do. On SQLite
//! all pending migrations run inside one `BEGIN IMMEDIATE` transaction, which does the same: the
//! others wait for the write lock (busy timeout), then find nothing to do.

use sqlx::migrate::Migrator;

use crate::db::{BeginWrite, Pool, Store, with_pool};
use crate::error::{StoreError, StoreResult};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How the database's schema compares with the migrations this binary carries. Its `Display`
/// is a one-line message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Every migration this binary knows is applied, and no other.
    Current {
        /// The newest applied migration.
        version: i64,
    },
    /// Migrations are pending: run `cairn migrate`.
    Behind {
        /// The newest migration applied to the database (0: none).
        db: i64,
        /// The newest migration this binary knows.
        binary: i64,
    },
    /// The database has migrations this binary does not know: a newer Cairn migrated it.
    Ahead {
        /// The newest migration applied to the database.
        db: i64,
        /// The newest migration this binary knows.
        binary: i64,
    },
    /// A migration failed part-way and is recorded as unsuccessful.
    Dirty {
        /// The failed migration.
        version: i64,
    },
    /// An applied migration's checksum differs from this binary's copy of it.
    Modified {
        /// The differing migration.
        version: i64,
    },
}

impl SchemaStatus {
    /// Whether the schema is exactly what this binary expects.
    pub fn is_current(&self) -> bool {
        matches!(self, SchemaStatus::Current { .. })
    }
}

impl std::fmt::Display for SchemaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaStatus::Current { version } => {
                write!(f, "the database schema is current (version {version})")
            }
            SchemaStatus::Behind { db, binary } => write!(
                f,
                "the database schema is at version {db} but this binary needs {binary}: run \
                 `cairn migrate` first"
            ),
            SchemaStatus::Ahead { db, binary } => write!(
                f,
                "the database schema is at version {db}, newer than the newest this binary \
                 knows ({binary}): this binary is older than the database; upgrade it"
            ),
            SchemaStatus::Dirty { version } => write!(
                f,
                "migration {version} failed part-way and left the database dirty: repair the \
                 schema by hand, delete its row from _sqlx_migrations, then run `cairn migrate`"
            ),
            SchemaStatus::Modified { version } => write!(
                f,
                "migration {version} in the database differs from this binary's copy \
                 (checksum mismatch): the database was migrated by a different build of Cairn"
            ),
        }
    }
}

/// One row of `_sqlx_migrations`.
#[derive(sqlx::FromRow)]
struct Applied {
    version: i64,
    success: bool,
    checksum: Vec<u8>,
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.inner.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATOR,
            Pool::Postgres(_) => &POSTGRES_MIGRATOR,
        }
    }

    /// Applies pending migrations; applying them again is a no-op, and several processes may
    /// call it at once (see the module docs).
    ///
    /// # Errors
    /// [`StoreError::SchemaTooNew`] when the database has a migration this build does not know;
    /// `Migrate` when a migration fails, the database is dirty or a checksum differs.
    pub async fn migrate(&self) -> StoreResult<()> {
        if let SchemaStatus::Ahead { db, binary } = self.schema_status().await? {
            return Err(StoreError::SchemaTooNew {
                found: db,
                known: binary,
            });
        }
        match &self.inner.pool {
            Pool::Sqlite(pool) => {
                // Every migration inside ONE write transaction (sqlx nests its own as
                // savepoints): a second process waits for the write lock, then finds nothing
                // left to apply. (`run_direct` is `run` on a connection: `run` with a borrowed
                // transaction trips the compiler's "Acquire is not general enough" in a
                // spawned future, which sqlx's own source notes.)
                let mut tx = pool.begin_write().await?;
                SQLITE_MIGRATOR.run_direct(None, &mut *tx, false).await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        tracing::debug!(
            version = self.known_schema_version(),
            "metadata schema up to date"
        );
        Ok(())
    }

    /// Compares the database's applied migrations with this binary's.
    ///
    /// # Errors
    /// `Db` when the database cannot be read.
    pub async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let applied = self.applied_migrations().await?;
        let binary = self.known_schema_version();
        if let Some(m) = applied.iter().find(|m| !m.success) {
            return Ok(SchemaStatus::Dirty { version: m.version });
        }
        let db = applied.iter().map(|m| m.version).max().unwrap_or(0);
        let migrator = self.migrator();
        if applied.iter().any(|m| !migrator.version_exists(m.version)) {
            return Ok(SchemaStatus::Ahead { db, binary });
        }
        for m in &applied {
            let ours = migrator.iter().find(|k| k.version == m.version);
            if ours.is_some_and(|k| *k.checksum != *m.checksum) {
                return Ok(SchemaStatus::Modified { version: m.version });
            }
        }
        let pending = migrator
            .iter()
            .any(|k| !applied.iter().any(|m| m.version == k.version));
        Ok(if pending {
            SchemaStatus::Behind { db, binary }
        } else {
            SchemaStatus::Current { version: db }
        })
    }

    /// `Ok` when the schema is current; for the long-running commands that must not run on a
    /// schema they were not built for.
    ///
    /// # Errors
    /// [`StoreError::SchemaNotCurrent`] with the status otherwise (its message says what to
    /// do); `Db` when the database cannot be read.
    pub async fn require_current_schema(&self) -> StoreResult<()> {
        match self.schema_status().await? {
            SchemaStatus::Current { .. } => Ok(()),
            other => Err(StoreError::SchemaNotCurrent(other)),
        }
    }

    /// The newest successfully applied migration version; 0 for an empty database.
    ///
    /// # Errors
    /// `Db` when the database cannot be read.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        Ok(self
            .applied_migrations()
            .await?
            .iter()
            .filter(|m| m.success)
            .map(|m| m.version)
            .max()
            .unwrap_or(0))
    }

    /// The newest migration version this build knows.
    pub fn known_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Every row of `_sqlx_migrations`; none before the first migration.
    async fn applied_migrations(&self) -> StoreResult<Vec<Applied>> {
        let exists: i64 = match &self.inner.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master \
                     WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?
            }
        };
        if exists == 0 {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, |pool| {
            sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations")
                .fetch_all(pool)
                .await?
        }))
    }
}
