//! The one error type of the store, shaped for the HTTP layer: each variant maps to one status.

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist (or is not visible, such as an unfinished result): 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An update named a stale `version`; the field is the current version: 409.
    #[error("version conflict: the current version is {0}")]
    Conflict(i32),
    /// A unique value (e-mail, name) is taken: 409 (or 400).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The request itself is wrong (bad paging, unknown order field, bad URL ...): 400.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Encrypted data could not be decrypted: the secret key is not the one it was written with,
    /// or the data is corrupted.
    #[error(
        "cannot decrypt {0}: the secret key differs from the one it was encrypted with, or the \
         data is corrupted"
    )]
    Decrypt(&'static str),
    /// The database was migrated by a newer Cairn than this one.
    #[error(
        "the database schema is at version {found}, newer than the newest this build knows \
         ({known}); upgrade Cairn"
    )]
    SchemaTooNew {
        /// The version applied in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The schema is not the one this binary expects (pending migrations, a newer database, a
    /// failed migration); the message says what to do.
    #[error("{0}")]
    SchemaNotCurrent(crate::schema::SchemaStatus),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e)
    }
}

/// Shorthand for the store's results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Turns a unique-constraint violation into [`StoreError::Duplicate`], other errors into `Db`.
pub(crate) fn unique_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what),
        _ => StoreError::Db(e),
    }
}

/// Turns a foreign-key violation into [`StoreError::Invalid`] naming what is missing, a
/// unique-constraint violation into [`StoreError::Duplicate`], other errors into `Db`.
pub(crate) fn refs_as(
    missing: &'static str,
    duplicate: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Invalid(format!("{missing} does not exist"))
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(duplicate),
        _ => StoreError::Db(e),
    }
}
