//! A worker: takes jobs from its queues and runs up to `concurrency` of them at once.
//!
//! Each job's outcome is recorded in the queue's job state, which is what clients poll. A job
//! that fails for any reason ends in a final state with a message; none is left "started".
//! On shutdown the worker stops taking jobs and waits for those it runs to finish.
//!
//! # Metrics
//! The names are a contract with the alert rules; keep them exactly:
//! - `cairn_job_wait_seconds{queue}` (histogram): from enqueue to start;
//! - `cairn_job_run_seconds{queue}` (histogram): from start to the recorded outcome;
//! - `cairn_jobs_total{queue,outcome}` (counter), outcome `finished`, `failed` or `cancelled`;
//! - `cairn_workers_busy{queue}` (gauge): jobs running now.

use crate::execute::execute_query;
use crate::job::{CANCELLED_MESSAGE, Job, JobKind, JobState, JobStatus, QueueName};
use crate::queue::Queue;
use crate::runners::Runners;
use crate::settings::ExecSettings;
use cairn_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// What a job produced when it did not fail.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A query result was stored under this id.
    QueryResult(i64),
    /// A non-query job's result, for `job.result`.
    Value(serde_json::Value),
}

/// Why a job did not produce its outcome.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Cancelled on request; the database query was stopped.
    Cancelled,
    /// Failed; the message is for the user (the database's own text where it has one).
    Error(String),
}

/// Runs jobs from some queues.
#[derive(Debug, Clone)]
pub struct Worker {
    pub(crate) store: Store,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) runners: Arc<Runners>,
    pub(crate) settings: Arc<ExecSettings>,
}

impl Worker {
    /// A worker over this store and queue.
    pub fn new(store: Store, queue: Arc<dyn Queue>, settings: ExecSettings) -> Worker {
        Worker {
            store,
            queue,
            runners: Arc::new(Runners::default()),
            settings: Arc::new(settings),
        }
    }

    /// Takes jobs from `queues` (in priority order) and runs up to `concurrency` at once until
    /// `shutdown` is cancelled, then waits for the jobs in progress.
    pub async fn run(
        self,
        queues: Vec<QueueName>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) {
        let concurrency = concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        tracing::info!(?queues, concurrency, "worker started");
        // Exported from the start, so autoscalers and alerts see an idle worker as 0, not absent.
        for queue in &queues {
            metrics::gauge!("cairn_workers_busy", "queue" => queue.as_str()).set(0.0);
        }
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.cancelled() => break,
            };
            let next = tokio::select! {
                j = self.queue.dequeue(&queues, Duration::from_secs(1)) => j,
                _ = shutdown.cancelled() => break,
            };
            match next {
                Ok(Some(job)) => {
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.process(job).await;
                        drop(permit);
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take jobs; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        let _ = slots.acquire_many(concurrency as u32).await;
        tracing::info!("worker stopped");
    }

    /// Runs one job (already marked started) and records its final state.
    pub async fn process(&self, job: Job) {
        let started = std::time::Instant::now();
        let queue_label = job.queue.as_str();
        let waited = (chrono::Utc::now() - job.enqueued_at)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!("cairn_job_wait_seconds", "queue" => queue_label)
            .record(waited.as_secs_f64());
        let busy = metrics::gauge!("cairn_workers_busy", "queue" => queue_label);
        busy.increment(1.0);
        let state = match self.queue.state(&job.id).await {
            Ok(Some(s)) => s,
            Ok(None) => JobState::queued(job.id.clone()).with_status(JobStatus::Started),
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "cannot read job state");
                JobState::queued(job.id.clone()).with_status(JobStatus::Started)
            }
        };
        let cancel = CancellationToken::new();
        let watcher = {
            let (queue, id, cancel) = (self.queue.clone(), job.id.clone(), cancel.clone());
            tokio::spawn(async move {
                if queue.cancel_requested(&id).await.is_ok() {
                    cancel.cancel();
                }
            })
        };
        let outcome = match &job.kind {
            JobKind::ExecuteQuery { .. } => execute_query(self, &job, cancel.clone()).await,
            JobKind::TestConnection { data_source_id } => {
                crate::introspect::test_connection(self, *data_source_id).await
            }
            JobKind::RefreshSchema { data_source_id } => {
                crate::introspect::refresh_schema(self, *data_source_id).await
            }
        };
        watcher.abort();
        let final_state = match outcome {
            Ok(Outcome::QueryResult(id)) => {
                let mut s = state.with_status(JobStatus::Finished);
                s.query_result_id = Some(id);
                s
            }
            Ok(Outcome::Value(v)) => {
                let mut s = state.with_status(JobStatus::Finished);
                s.result = Some(v);
                s
            }
            Err(Failure::Cancelled) => {
                let mut s = state.with_status(JobStatus::Cancelled);
                s.error = Some(CANCELLED_MESSAGE.to_string());
                s
            }
            Err(Failure::Error(message)) => state.failed(message),
        };
        tracing::info!(
            job = %job.id,
            queue = job.queue.as_str(),
            status = ?final_state.status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            error = final_state.error.as_deref().unwrap_or(""),
            "job done"
        );
        let outcome = match final_state.status {
            JobStatus::Cancelled => "cancelled",
            JobStatus::Finished => "finished",
            _ => "failed",
        };
        if let Err(e) = self.queue.update(final_state).await {
            tracing::error!(job = %job.id, error = %e, "cannot record the job's outcome");
        }
        busy.decrement(1.0);
        metrics::histogram!("cairn_job_run_seconds", "queue" => queue_label)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("cairn_jobs_total", "queue" => queue_label, "outcome" => outcome)
            .increment(1);
    }
}
