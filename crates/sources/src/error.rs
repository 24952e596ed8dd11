//! What can go wrong with a data source, as one enum the worker can match on: bad options are
//! the user's to fix, a database error carries the database's own words, a stopped query says
//! why it stopped.

use std::time::Duration;

use thiserror::Error;

/// An error from configuring, connecting to or querying a data source.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The data source type is not one Cairn knows.
    #[error("unknown data source type {0:?}; known types are sqlite, pg and mysql")]
    UnknownType(String),
    /// The options do not match the type's configuration schema.
    #[error("invalid data source options: {0}")]
    InvalidOptions(String),
    /// The database reported an error; the message is the database's own text.
    #[error("{0}")]
    Database(String),
    /// The database could not be reached or the connection failed.
    #[error("cannot connect to the data source: {0}")]
    Connection(String),
    /// The query ran longer than its time limit and was cancelled on the database.
    #[error("query exceeded the time limit of {} seconds and was cancelled", .0.as_secs_f64())]
    TimedOut(Duration),
    /// The query was cancelled (by a user or by shutdown) and stopped on the database.
    #[error("query cancelled by user")]
    Cancelled,
    /// Building the demo database failed.
    #[error("cannot create the demo database: {0}")]
    Demo(String),
}

impl SourceError {
    /// Converts a driver error, keeping the database's own message for database errors.
    pub(crate) fn from_sqlx(e: sqlx::Error) -> SourceError {
        match e {
            sqlx::Error::Database(db) => SourceError::Database(db.message().to_owned()),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Configuration(_) => SourceError::Connection(e.to_string()),
            other => SourceError::Database(other.to_string()),
        }
    }
}
