//! The scheduler: enqueues scheduled queries when they are due and runs housekeeping.
//!
//! Every periodic task runs inline in one loop, so a task never overlaps its own previous run;
//! the loop sleeps until the earliest next run. Scheduled runs are enqueued with the same
//! de-duplication key as any run of that text, so a query whose previous run is still queued or
//! running is not enqueued again.
//!
//! Exactly once across schedulers: before enqueuing, the run is claimed in the store for the
//! time it became due ([`Store::claim_scheduled_run`]) under the fencing token of
//! [`Scheduler::with_fence`] (constant 0 without one), so two schedulers that both see a query
//! due enqueue it once, and a deposed leader's claims are refused.

use crate::job::{Job, JobKind, QueueName, run_dedup_key};
use crate::queue::Queue;
use crate::settings::SchedulerSettings;
use cairn_domain::model::DataSource;
use cairn_domain::params::{Dialect, ParameterSpec, default_values, render};
use cairn_domain::query_hash::query_hash;
use cairn_domain::schedule::RefreshSchedule;
use cairn_store::{ClaimOutcome, ScheduledQuery, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Partial results older than this belong to no running job any more and are deleted.
const ABANDONED_RESULT_AGE: Duration = Duration::from_secs(6 * 3600);

/// A claimed run that left no trace (its job lost with a failed queue or worker) is claimed
/// again this long after its due time, and every such period after that.
const RECLAIM_AFTER_SECS: i64 = 600;

/// Gauge: 1 on the scheduler replica that leads, 0 on the others (set by the `cairn scheduler`
/// role).
pub const LEADER_METRIC: &str = "cairn_scheduler_leader";
/// Gauge: when this scheduler, leading, last finished a look for due scheduled queries (or
/// started leading), in seconds since the epoch; alerts compare it with the time.
pub const LAST_ROUND_METRIC: &str = "cairn_scheduler_last_round_timestamp_seconds";

/// The periodic tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Task {
    RefreshQueries,
    ExpireSchedules,
    RefreshSchemas,
    CleanupResults,
    Maintain,
}

/// Enqueues scheduled work.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Store,
    queue: Arc<dyn Queue>,
    settings: SchedulerSettings,
    fence: Option<watch::Receiver<Option<u64>>>,
}

impl Scheduler {
    /// A scheduler over this store and queue, claiming runs with fencing token 0 (one
    /// in-process scheduler).
    pub fn new(store: Store, queue: Arc<dyn Queue>, settings: SchedulerSettings) -> Scheduler {
        Scheduler {
            store,
            queue,
            settings,
            fence: None,
        }
    }

    /// Claims runs under the fencing token `fence` holds at each round: `Some(token)` while
    /// this scheduler leads, `None` when it does not (nothing is enqueued and no maintenance
    /// runs then).
    pub fn with_fence(mut self, fence: watch::Receiver<Option<u64>>) -> Scheduler {
        self.fence = Some(fence);
        self
    }

    /// The fencing token to claim with now; `None` when not the leader.
    fn fencing_token(&self) -> Option<u64> {
        match &self.fence {
            None => Some(0),
            Some(fence) => *fence.borrow(),
        }
    }

    fn interval(&self, task: Task) -> Option<Duration> {
        match task {
            Task::RefreshQueries => Some(self.settings.refresh_interval),
            Task::ExpireSchedules => Some(self.settings.expire_interval),
            Task::RefreshSchemas => Some(self.settings.schema_interval),
            Task::CleanupResults => self.settings.cleanup.as_ref().map(|c| c.interval),
            Task::Maintain => self.settings.maintenance_interval,
        }
    }

    /// Runs every periodic task at its interval until `shutdown` is cancelled. Each task runs
    /// once at start, except database maintenance, first run one interval after start.
    pub async fn run(self, shutdown: CancellationToken) {
        let tasks = [
            Task::RefreshQueries,
            Task::ExpireSchedules,
            Task::RefreshSchemas,
            Task::CleanupResults,
            Task::Maintain,
        ];
        let mut next: HashMap<Task, Instant> = tasks
            .iter()
            .filter_map(|t| {
                let every = self.interval(*t)?;
                let first = if *t == Task::Maintain {
                    every
                } else {
                    Duration::ZERO
                };
                Some((*t, Instant::now() + first))
            })
            .collect();
        tracing::info!("scheduler started");
        while let Some((&task, &at)) = next.iter().min_by_key(|(_, at)| **at) {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(e) = self.run_task(task).await {
                tracing::warn!(?task, error = %e, "periodic task failed; it runs again at its next interval");
            }
            if let Some(every) = self.interval(task) {
                next.insert(task, Instant::now() + every);
            }
        }
        tracing::info!("scheduler stopped");
    }

    async fn run_task(&self, task: Task) -> Result<(), String> {
        match task {
            Task::RefreshQueries => self.refresh_queries(Utc::now()).await.map(|n| {
                if n > 0 {
                    tracing::info!(enqueued = n, "scheduled queries enqueued");
                }
                if self.fencing_token().is_some() {
                    metrics::gauge!(LAST_ROUND_METRIC).set(Utc::now().timestamp() as f64);
                }
            }),
            Task::ExpireSchedules => self.expire_schedules(Utc::now()).await.map(|_| ()),
            Task::RefreshSchemas => self.refresh_schemas().await,
            Task::CleanupResults => self.cleanup_results().await,
            Task::Maintain => self.maintain().await,
        }
    }

    /// Enqueues every scheduled query that is due at `now` and whose run for that due time this
    /// scheduler claims; returns how many jobs were new. Without a fencing token (not the
    /// leader) it enqueues nothing.
    ///
    /// # Errors
    /// When the store or the queue fails, or when the fencing token is stale (a newer leader
    /// claimed runs: the round stops there); queries with a broken schedule or parameters are
    /// logged and skipped, not errors.
    pub async fn refresh_queries(&self, now: DateTime<Utc>) -> Result<usize, String> {
        let Some(token) = self.fencing_token() else {
            tracing::debug!("not the scheduler leader: no scheduled query enqueued");
            return Ok(0);
        };
        let scheduled = self
            .store
            .scheduled_queries()
            .await
            .map_err(|e| e.to_string())?;
        let mut sources: HashMap<i64, DataSource> = HashMap::new();
        let mut enqueued = 0;
        for sq in scheduled {
            if sq.data_source_paused {
                continue;
            }
            let Some(due_at) = due_time(&sq, now) else {
                continue;
            };
            let q = &sq.query;
            let Some(ds_id) = q.data_source_id else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(e) = sources.entry(ds_id) {
                let ds = self
                    .store
                    .data_source(ds_id)
                    .await
                    .map_err(|e| e.to_string())?;
                e.insert(ds);
            }
            let ds = &sources[&ds_id];
            let text = match rendered_with_defaults(&q.query, &q.options, ds, now) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(query_id = q.id, error = %e, "scheduled query skipped: its parameters cannot be applied");
                    continue;
                }
            };
            match self
                .store
                .claim_scheduled_run(q.id, due_at, token)
                .await
                .map_err(|e| e.to_string())?
            {
                ClaimOutcome::Claimed => {}
                ClaimOutcome::AlreadyClaimed => continue,
                ClaimOutcome::StaleToken { highest } => {
                    tracing::error!(
                        token,
                        highest,
                        "stale scheduler fencing token: a newer leader claims runs; round stopped"
                    );
                    return Err(format!(
                        "fencing token {token} is stale (a newer scheduler leader holds {highest})"
                    ));
                }
            }
            let hash = query_hash(&text);
            let queue = QueueName::parse(&ds.scheduled_queue_name).unwrap_or(QueueName::Scheduled);
            let job = Job::new(
                queue,
                JobKind::ExecuteQuery {
                    data_source_id: ds_id,
                    query_text: text,
                    query_hash: hash.clone(),
                    query_id: Some(q.id),
                    user_id: None,
                    scheduled: true,
                },
            );
            let e = self
                .queue
                .enqueue(job, Some(run_dedup_key(ds_id, &hash)))
                .await
                .map_err(|e| e.to_string())?;
            if e.is_new {
                enqueued += 1;
            }
        }
        Ok(enqueued)
    }

    /// Clears schedules whose `until` day has passed; returns how many.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn expire_schedules(&self, now: DateTime<Utc>) -> Result<usize, String> {
        let mut cleared = 0;
        for sq in self
            .store
            .scheduled_queries()
            .await
            .map_err(|e| e.to_string())?
        {
            let expired = sq
                .query
                .schedule
                .as_ref()
                .and_then(|s| RefreshSchedule::from_model(s).ok().flatten())
                .is_some_and(|s| s.is_expired(now));
            if expired {
                self.store
                    .clear_schedule(sq.query.id)
                    .await
                    .map_err(|e| e.to_string())?;
                cleared += 1;
            }
        }
        Ok(cleared)
    }

    async fn refresh_schemas(&self) -> Result<(), String> {
        for ds in self
            .store
            .list_data_sources()
            .await
            .map_err(|e| e.to_string())?
        {
            if ds.paused {
                continue;
            }
            let job = Job::new(
                QueueName::Schemas,
                JobKind::RefreshSchema {
                    data_source_id: ds.id,
                },
            );
            self.queue
                .enqueue(job, Some(format!("refresh_schema:{}", ds.id)))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn maintain(&self) -> Result<(), String> {
        if self.fencing_token().is_none() {
            return Ok(());
        }
        self.store
            .maintain()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn cleanup_results(&self) -> Result<(), String> {
        let Some(c) = &self.settings.cleanup else {
            return Ok(());
        };
        let deleted = self
            .store
            .cleanup_results(c.max_age.as_secs() as i64, c.count)
            .await
            .map_err(|e| e.to_string())?;
        let abandoned = self
            .store
            .delete_unfinished_results(ABANDONED_RESULT_AGE.as_secs() as i64)
            .await
            .map_err(|e| e.to_string())?;
        if deleted + abandoned > 0 {
            tracing::info!(deleted, abandoned, "old query results deleted");
        }
        Ok(())
    }
}

/// The time a scheduled query became due, when it is due at `now`: computed from the stored
/// schedule, last result and failure count only (never from `now` itself), so every scheduler
/// names the same due time and the claim dedupes them. A query that never ran is due at once
/// (Redash would wait for a first result that never comes); after failures it backs off from its
/// last change. Once a due time is [`RECLAIM_AFTER_SECS`] old, the run is due again for the
/// start of the current such period, so a claimed run whose job was lost is not lost forever.
fn due_time(sq: &ScheduledQuery, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let schedule = sq
        .query
        .schedule
        .as_ref()
        .and_then(|s| RefreshSchedule::from_model(s).ok().flatten())?;
    let failures = sq.query.schedule_failures.max(0) as u32;
    let last_run = match sq.latest_retrieved_at {
        Some(t) => t,
        None if failures == 0 => DateTime::<Utc>::UNIX_EPOCH,
        None => sq.query.updated_at,
    };
    if !schedule.is_due(Some(last_run), failures, now) {
        return None;
    }
    let due = schedule.next_due(Some(last_run), failures, now)?;
    let periods = (now - due).num_seconds() / RECLAIM_AFTER_SECS;
    due.checked_add_signed(chrono::Duration::seconds(periods * RECLAIM_AFTER_SECS))
}

/// The text of a saved query with its parameters' default values applied.
fn rendered_with_defaults(
    text: &str,
    options: &serde_json::Value,
    ds: &DataSource,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let specs = ParameterSpec::parse_options(options).map_err(|e| e.to_string())?;
    if specs.is_empty() && cairn_domain::params::used_names(text).is_empty() {
        return Ok(text.to_string());
    }
    let dialect = Dialect::for_source_type(&ds.kind).unwrap_or(Dialect::Postgres);
    render(text, &specs, &default_values(&specs), dialect, now).map_err(|e| e.to_string())
}
