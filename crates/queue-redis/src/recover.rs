//! At-least-once delivery: heartbeats, and what happens to the jobs of a worker that stopped.
//!
//! Every process that took jobs refreshes, every third of the heartbeat timeout, the heartbeat of
//! each job it runs (`running` set, server time) and its own worker description. Any process
//! calling [`Queue::recover_stale`] (workers do it from `dequeue` at most every half timeout; the
//! scheduler may call it on its tick) handles the started jobs whose heartbeat is older than the
//! timeout:
//! - connection tests and schema refreshes are idempotent and cheap: they are re-queued, once;
//!   a second loss fails them;
//! - query executions are failed with [`lost_message`]: a query may write (Redash runs whatever
//!   SQL it is given), may be what killed the worker (a huge result), and its user is waiting on
//!   the job and can decide to run it again. The de-duplication lock is freed, so that re-run
//!   starts a new job.
//!
//! Entries read from a stream but never started (the reader died between the two steps) are put
//! back with `XAUTOCLAIM` once idle for the timeout.

use crate::keys::GROUP;
use crate::queue::{RedisQueue, eval};
use crate::scripts;
use cairn_exec::job::{Job, JobId, JobKind, JobState, QueueName};
use cairn_exec::queue::{QueueError, WorkerInfo};
use redis::Value;
use std::sync::Weak;
use std::time::Duration;

/// The state message of a query whose worker stopped.
pub fn lost_message(timeout: Duration) -> String {
    format!(
        "the worker running this job stopped (no heartbeat for {} s); run it again",
        timeout.as_secs().max(1)
    )
}

/// Whether a job may simply be run again after its worker stopped.
fn is_idempotent(job: &Job) -> bool {
    matches!(
        job.kind,
        JobKind::TestConnection { .. } | JobKind::RefreshSchema { .. }
    )
}

/// See the module docs.
pub(crate) async fn recover_stale(q: &RedisQueue) -> Result<usize, QueueError> {
    let mut handled = 0;
    let mut stale = eval(scripts::STALE, &[&q.keys.running()]);
    stale.arg(q.timing.heartbeat_ms());
    let ids: Vec<String> = q.run("list stale jobs", &stale).await?;
    for id in ids.into_iter().map(JobId) {
        handled += recover_job(q, &id).await?;
    }
    for queue in QueueName::ALL {
        handled += reclaim_unstarted(q, queue).await?;
    }
    Ok(handled)
}

async fn recover_job(q: &RedisQueue, id: &JobId) -> Result<usize, QueueError> {
    let job_key = q.keys.job(id);
    let (state, job, dedup, attempts): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u32>,
    ) = q
        .run(
            "read a stale job",
            redis::cmd("HMGET")
                .arg(&job_key)
                .arg("state")
                .arg("job")
                .arg("dedup")
                .arg("attempts"),
        )
        .await?;
    let parsed = state
        .and_then(|s| serde_json::from_str::<JobState>(&s).ok())
        .zip(job.and_then(|j| serde_json::from_str::<Job>(&j).ok()));
    let Some((state, job)) = parsed else {
        // The job's state expired or is unreadable: nothing to recover, stop tracking it.
        q.run::<i64>(
            "forget a job",
            redis::cmd("ZREM").arg(q.keys.running()).arg(&id.0),
        )
        .await?;
        return Ok(0);
    };
    let requeue = is_idempotent(&job) && attempts.unwrap_or(0) < 2;
    let message = lost_message(q.timing.heartbeat_timeout);
    let next = if requeue {
        JobState::queued(id.clone())
    } else {
        state.failed(message.clone())
    };
    let dedup = dedup.unwrap_or_default();
    let lock = q.keys.lock(&dedup);
    let stream = q.keys.stream(job.queue);
    let mut cmd = eval(
        scripts::RECOVER,
        &[&job_key, &q.keys.running(), &lock, &stream],
    );
    cmd.arg(&id.0)
        .arg(q.timing.heartbeat_ms())
        .arg(if requeue { "requeue" } else { "fail" })
        .arg(serde_json::to_string(&next).unwrap_or_default())
        .arg(q.timing.job_ttl_ms())
        .arg(GROUP);
    match q.run::<i64>("recover a stale job", &cmd).await? {
        1 => tracing::warn!(job = %id, queue = job.queue.as_str(), "worker stopped; job re-queued"),
        2 => {
            tracing::warn!(job = %id, queue = job.queue.as_str(), "worker stopped; job failed: {message}")
        }
        _ => return Ok(0),
    }
    Ok(1)
}

async fn reclaim_unstarted(q: &RedisQueue, queue: QueueName) -> Result<usize, QueueError> {
    let stream = q.keys.stream(queue);
    let mut claim = redis::cmd("XAUTOCLAIM");
    claim
        .arg(&stream)
        .arg(GROUP)
        .arg(&q.worker_id)
        .arg(q.timing.heartbeat_ms())
        .arg("0-0")
        .arg("COUNT")
        .arg(100);
    let reply: Value = match q.run("claim unstarted entries", &claim).await {
        Ok(v) => v,
        // No stream or group yet: nothing was ever read from this queue.
        Err(e) if e.to_string().contains("NOGROUP") => return Ok(0),
        Err(e) => return Err(e),
    };
    let claimed: redis::streams::StreamAutoClaimReply = match redis::from_redis_value(reply) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "unexpected XAUTOCLAIM reply");
            return Ok(0);
        }
    };
    let mut n = 0;
    for entry in claimed.claimed {
        let Some(Ok(id)) = entry
            .map
            .get("id")
            .map(redis::from_redis_value_ref::<String>)
        else {
            continue;
        };
        if q.redeliver(queue, &entry.id, &JobId(id)).await? {
            n += 1;
        }
    }
    Ok(n)
}

impl RedisQueue {
    /// Runs [`recover_stale`] if this process has not for half a heartbeat timeout; failures
    /// are logged, since the caller (a dequeue) has its own work to do.
    pub(crate) async fn recover_if_due(&self) {
        let now = tokio::time::Instant::now();
        {
            let mut last = self.last_recover.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now - t < self.timing.heartbeat_timeout / 2) {
                return;
            }
            *last = Some(now);
        }
        if let Err(e) = recover_stale(self).await {
            tracing::warn!(error = %e, "cannot recover the jobs of stopped workers");
        }
    }

    /// Refreshes the heartbeats of this process's jobs and its worker description.
    pub(crate) async fn heartbeat(&self) -> Result<(), QueueError> {
        let busy: Vec<JobId> = self.lock_busy().iter().cloned().collect();
        let queues: Vec<QueueName> = self.lock_served().iter().copied().collect();
        if busy.is_empty() && queues.is_empty() {
            return Ok(());
        }
        let info = (!queues.is_empty()).then(|| WorkerInfo {
            id: self.worker_id.clone(),
            queues,
            busy: busy.clone(),
            heartbeat_at: chrono::Utc::now(),
        });
        let info = info
            .map(|i| serde_json::to_string(&i).unwrap_or_default())
            .unwrap_or_default();
        let mut cmd = eval(
            scripts::HEARTBEAT,
            &[
                &self.keys.running(),
                &self.keys.workers(),
                &self.keys.worker(&self.worker_id),
            ],
        );
        cmd.arg(&self.worker_id)
            .arg(info)
            .arg(self.timing.worker_ttl_ms());
        for id in &busy {
            cmd.arg(&id.0);
        }
        self.run::<i64>("send a heartbeat", &cmd).await?;
        Ok(())
    }
}

/// Heartbeats `queue` every third of its timeout until the queue is dropped.
pub(crate) fn spawn_heartbeats(queue: Weak<RedisQueue>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(q) = queue.upgrade() else {
                return;
            };
            if let Err(e) = q.heartbeat().await {
                tracing::warn!(error = %e, "cannot send worker heartbeat");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_introspection_jobs_are_rerun() {
        let test = Job::new(
            QueueName::Schemas,
            JobKind::TestConnection { data_source_id: 1 },
        );
        assert!(is_idempotent(&test));
        let run = Job::new(
            QueueName::Adhoc,
            JobKind::ExecuteQuery {
                data_source_id: 1,
                query_text: "select 1".into(),
                query_hash: "h".into(),
                query_id: None,
                user_id: None,
                scheduled: false,
            },
        );
        assert!(!is_idempotent(&run));
        assert_eq!(
            lost_message(Duration::from_secs(30)),
            "the worker running this job stopped (no heartbeat for 30 s); run it again"
        );
    }
}
