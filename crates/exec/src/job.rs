//! Jobs and their states.
//!
//! The numeric states are Redash's, so existing clients can poll `/api/jobs/<id>` unchanged:
//! 1 queued, 2 started, 3 finished, 4 failed, 5 cancelled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A job's id: a UUID in its hyphenated text form, as Redash's rq job ids are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    /// A new random id.
    pub fn random() -> Self {
        JobId(uuid::Uuid::new_v4().to_string())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The queues Cairn knows, named after the kind of work they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueName {
    /// Queries a user runs now and waits for.
    Adhoc,
    /// Scheduled query refreshes.
    Scheduled,
    /// Schema introspection and connection tests.
    Schemas,
    /// Housekeeping: result cleanup, schedule expiry, database maintenance.
    Default,
}

impl QueueName {
    /// Every queue, in priority order for a worker serving several.
    pub const ALL: [QueueName; 4] = [
        QueueName::Adhoc,
        QueueName::Scheduled,
        QueueName::Schemas,
        QueueName::Default,
    ];

    /// The queue's name as used in configuration and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Adhoc => "adhoc",
            QueueName::Scheduled => "scheduled",
            QueueName::Schemas => "schemas",
            QueueName::Default => "default",
        }
    }

    /// Parses a queue name (`adhoc`, `scheduled`, `schemas`, `default`).
    ///
    /// # Errors
    /// The unknown name, to be reported to the user.
    pub fn parse(name: &str) -> Result<QueueName, String> {
        QueueName::ALL
            .into_iter()
            .find(|q| q.as_str() == name.trim())
            .ok_or_else(|| {
                format!("unknown queue '{name}' (known: adhoc, scheduled, schemas, default)")
            })
    }
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Run a query's SQL (parameters already applied) and store its result.
    ExecuteQuery {
        /// The data source to run it on.
        data_source_id: i64,
        /// The SQL text, parameters applied.
        query_text: String,
        /// Redash's hash of `query_text`.
        query_hash: String,
        /// The saved query this run belongs to, if any.
        query_id: Option<i64>,
        /// The user who asked, if any (scheduled runs have none).
        user_id: Option<i64>,
        /// Whether the scheduler started it (scheduled time limit, failure accounting).
        scheduled: bool,
    },
    /// Check that a data source can be reached (`SELECT 1`).
    TestConnection {
        /// The data source to test.
        data_source_id: i64,
    },
    /// Introspect a data source's tables and columns into the schema cache.
    RefreshSchema {
        /// The data source to introspect.
        data_source_id: i64,
    },
}

/// A unit of work waiting in or taken from a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The queue it waits in.
    pub queue: QueueName,
    /// What it does.
    pub kind: JobKind,
    /// When it was enqueued.
    pub enqueued_at: DateTime<Utc>,
}

impl Job {
    /// A new job with a random id, enqueued now.
    pub fn new(queue: QueueName, kind: JobKind) -> Job {
        Job {
            id: JobId::random(),
            queue,
            kind,
            enqueued_at: Utc::now(),
        }
    }
}

/// Redash's job status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum JobStatus {
    /// Waiting in its queue.
    Queued = 1,
    /// A worker is running it.
    Started = 2,
    /// Done; the result is stored.
    Finished = 3,
    /// Failed; `error` says why.
    Failed = 4,
    /// Cancelled before it finished.
    Cancelled = 5,
}

impl JobStatus {
    /// Whether the job can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Finished | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl From<JobStatus> for u8 {
    fn from(s: JobStatus) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for JobStatus {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Ok(match v {
            1 => JobStatus::Queued,
            2 => JobStatus::Started,
            3 => JobStatus::Finished,
            4 => JobStatus::Failed,
            5 => JobStatus::Cancelled,
            other => return Err(format!("unknown job status {other}")),
        })
    }
}

/// The de-duplication key shared by every run of one query text on one data source: while a
/// job holding it is queued or running, identical runs join that job (Redash's
/// `query_hash_job:<data_source_id>:<hash>` lock).
pub fn run_dedup_key(data_source_id: i64, query_hash: &str) -> String {
    format!("query_hash_job:{data_source_id}:{query_hash}")
}

/// The message Redash clients expect for a cancelled query.
pub const CANCELLED_MESSAGE: &str = "Query cancelled by user.";

/// What a client sees when it polls a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// The job's id.
    pub id: JobId,
    /// Its status.
    pub status: JobStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The stored result of a finished query run.
    pub query_result_id: Option<i64>,
    /// The outcome of a non-query job (connection test, schema refresh).
    pub result: Option<serde_json::Value>,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
}

impl JobState {
    /// The state of a job just enqueued.
    pub fn queued(id: JobId) -> JobState {
        JobState {
            id,
            status: JobStatus::Queued,
            error: None,
            query_result_id: None,
            result: None,
            updated_at: Utc::now(),
            started_at: None,
        }
    }

    /// This state moved to `status` now.
    pub fn with_status(mut self, status: JobStatus) -> JobState {
        if status == JobStatus::Started {
            self.started_at = Some(Utc::now());
        }
        self.status = status;
        self.updated_at = Utc::now();
        self
    }

    /// This state, failed with `error`.
    pub fn failed(self, error: impl Into<String>) -> JobState {
        let mut s = self.with_status(JobStatus::Failed);
        s.error = Some(error.into());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_redash_numbers() {
        assert_eq!(serde_json::to_string(&JobStatus::Queued).unwrap(), "1");
        assert_eq!(serde_json::to_string(&JobStatus::Cancelled).unwrap(), "5");
        assert_eq!(
            serde_json::from_str::<JobStatus>("3").unwrap(),
            JobStatus::Finished
        );
        assert!(serde_json::from_str::<JobStatus>("9").is_err());
    }

    #[test]
    fn queue_names_parse_and_reject_unknown() {
        assert_eq!(QueueName::parse("adhoc").unwrap(), QueueName::Adhoc);
        assert_eq!(QueueName::parse(" default ").unwrap(), QueueName::Default);
        let err = QueueName::parse("queries").unwrap_err();
        assert!(err.contains("unknown queue 'queries'"), "{err}");
    }

    #[test]
    fn failed_state_keeps_error_and_time_moves() {
        let s = JobState::queued(JobId::random());
        let t0 = s.updated_at;
        let f = s.failed("boom");
        assert_eq!(f.status, JobStatus::Failed);
        assert_eq!(f.error.as_deref(), Some("boom"));
        assert!(f.updated_at >= t0);
    }
}
