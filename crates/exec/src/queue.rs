//! The queue interface every backend implements.
//!
//! A backend owns three things that must agree with each other: the waiting jobs, each job's
//! state, and the de-duplication locks that make identical running queries share one job. Keeping
//! them behind one interface lets the in-process backend (`cairn up`) and the Redis backend
//! (several servers and workers) give clients the same behaviour.

mod memory;

pub use memory::MemoryQueue;

use crate::job::{Job, JobId, JobState, QueueName};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend could not be reached or answered with an error.
    #[error("queue backend unavailable: {0}")]
    Unavailable(String),
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The job that will produce the result: the new one, or the live one holding the same
    /// de-duplication key.
    pub state: JobState,
    /// Whether a new job was queued (false when an identical job was already queued or running).
    pub is_new: bool,
}

/// A worker process as its queue backend last heard of it (for `/status.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's id (unique per process).
    pub id: String,
    /// The queues it takes jobs from.
    pub queues: Vec<QueueName>,
    /// The jobs it is running.
    pub busy: Vec<JobId>,
    /// When it last reported that it is alive.
    pub heartbeat_at: DateTime<Utc>,
}

/// A job queue with job states, de-duplication and cancellation.
#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug + 'static {
    /// Queues `job`, unless a job that is still queued or running holds `dedup_key`: then that
    /// job is returned and nothing is queued.
    async fn enqueue(&self, job: Job, dedup_key: Option<String>) -> Result<Enqueued, QueueError>;

    /// Takes the next job from the first non-empty queue of `queues` (in that order) and marks
    /// it started, waiting up to `wait` for one to arrive.
    async fn dequeue(
        &self,
        queues: &[QueueName],
        wait: Duration,
    ) -> Result<Option<Job>, QueueError>;

    /// The job's current state; `None` when no such job exists or its state expired.
    async fn state(&self, id: &JobId) -> Result<Option<JobState>, QueueError>;

    /// Records a new state for a job; a final state releases its de-duplication key.
    async fn update(&self, state: JobState) -> Result<(), QueueError>;

    /// Cancels a job: a queued job is cancelled at once, a running one is signalled (its worker
    /// stops the database query and records the cancellation). Returns the state after the
    /// request, `None` for an unknown job.
    async fn cancel(&self, id: &JobId) -> Result<Option<JobState>, QueueError>;

    /// Resolves once cancellation of job `id` has been requested.
    async fn cancel_requested(&self, id: &JobId) -> Result<(), QueueError>;

    /// The number of jobs waiting in each queue.
    async fn sizes(&self) -> Result<Vec<(QueueName, usize)>, QueueError>;

    /// The worker processes that reported recently (empty for a backend whose workers live in
    /// the same process).
    async fn workers(&self) -> Result<Vec<WorkerInfo>, QueueError>;

    /// Deals with jobs whose worker stopped: re-queues or fails every started job that has not
    /// been heartbeated for the backend's heartbeat timeout, and returns how many it handled.
    /// A backend whose workers cannot die separately from it has nothing to do.
    async fn recover_stale(&self) -> Result<usize, QueueError>;
}
