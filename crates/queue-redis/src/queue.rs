//! [`RedisQueue`]: the [`Queue`] on Redis Streams.
//!
//! One stream per queue, read through one consumer group. Taking a job is two steps: `TAKE`
//! reads one new entry (the first non-empty queue in priority order), then `START` acknowledges
//! and deletes the entry and marks the job started, if that entry is still the job's queued one
//! (a cancelled or expired job's entry is simply dropped). From then on the job is tracked in the
//! `running` set, heartbeated by the process that took it ([`crate::recover`]). An entry read but
//! never started (the process died between the two steps) stays pending in the group and is put
//! back by [`Queue::recover_stale`] through `XAUTOCLAIM`.
//!
//! When nothing is waiting, a worker blocks in `XREADGROUP BLOCK` on a dedicated connection, for
//! at most [`MAX_BLOCK`] at a time, so a topology change is noticed quickly.

use crate::keys::{GROUP, Keys};
use crate::link::Link;
use crate::scripts;
use async_trait::async_trait;
use cairn_exec::job::{CANCELLED_MESSAGE, Job, JobId, JobState, JobStatus, QueueName};
use cairn_exec::queue::{Enqueued, Queue, QueueError, WorkerInfo};
use redis::streams::StreamReadReply;
use redis::{Cmd, FromRedisValue, RedisError, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest one blocking read waits before the queue is polled again.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(2);
/// How much longer than its `BLOCK` time a blocking read may take before it counts as lost.
const BLOCK_GRACE: Duration = Duration::from_secs(3);
/// How often a waiting `cancel_requested` looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(250);

/// Job and worker timing of a [`RedisQueue`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) job_ttl: Duration,
    pub(crate) heartbeat_timeout: Duration,
}

impl Timing {
    pub(crate) fn job_ttl_ms(&self) -> u64 {
        self.job_ttl.as_millis().max(1) as u64
    }

    pub(crate) fn heartbeat_ms(&self) -> u64 {
        self.heartbeat_timeout.as_millis().max(1) as u64
    }

    /// How long a worker's description outlives its last heartbeat.
    pub(crate) fn worker_ttl_ms(&self) -> u64 {
        3 * self.heartbeat_ms()
    }
}

/// The Redis-backed [`Queue`]; get one from [`crate::Backend::queue`].
#[derive(Debug)]
pub struct RedisQueue {
    pub(crate) link: Arc<Link>,
    pub(crate) keys: Keys,
    pub(crate) timing: Timing,
    /// This process's worker id, also its consumer name in the group.
    pub(crate) worker_id: String,
    /// Jobs this process started and has not finished: heartbeated.
    pub(crate) busy: Mutex<BTreeSet<JobId>>,
    /// The queues this process took jobs from; empty for a process that never dequeued.
    pub(crate) served: Mutex<BTreeSet<QueueName>>,
    pub(crate) last_recover: Mutex<Option<tokio::time::Instant>>,
}

/// An `EVAL` of `script` over `keys`; add the `ARGV` with `.arg`.
pub(crate) fn eval(script: &str, keys: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    cmd
}

pub(crate) fn parse<T: FromRedisValue>(v: Value) -> Result<T, RedisError> {
    Ok(redis::from_redis_value(v)?)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl RedisQueue {
    /// Writes `state` and, for a final state, releases the job's de-duplication lock.
    async fn record(&self, state: &JobState) -> Result<(), QueueError> {
        let job_key = self.keys.job(&state.id);
        let dedup: Option<String> = self
            .run("read a job", redis::cmd("HGET").arg(&job_key).arg("dedup"))
            .await?;
        let Some(dedup) = dedup else {
            return Ok(()); // expired or unknown
        };
        let lock = self.keys.lock(&dedup);
        let mut cmd = eval(scripts::UPDATE, &[&job_key, &self.keys.running(), &lock]);
        cmd.arg(u8::from(state.status))
            .arg(json(state))
            .arg(&state.id.0)
            .arg(self.timing.job_ttl_ms());
        self.run::<i64>("record a job state", &cmd)
            .await
            .map(|_| ())
    }

    /// Runs one command against the queue's slot; failures become a one-line error naming the
    /// URL, the operation and what to check.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: &Cmd,
    ) -> Result<T, QueueError> {
        let value = self
            .link
            .query(self.keys.slot(), cmd)
            .await
            .map_err(|e| self.unavailable(what, &e))?;
        parse(value).map_err(|e| self.unavailable(what, &e))
    }

    pub(crate) fn unavailable(&self, what: &str, e: &RedisError) -> QueueError {
        QueueError::Unavailable(format!(
            "Redis at {} failed to {what}: {e}; check that the server runs and is reachable",
            self.link.url
        ))
    }

    /// Reads one new entry from the first non-empty queue: (queue, entry id, job id).
    async fn take(
        &self,
        queues: &[QueueName],
    ) -> Result<Option<(QueueName, String, JobId)>, QueueError> {
        let streams: Vec<String> = queues.iter().map(|q| self.keys.stream(*q)).collect();
        let refs: Vec<&str> = streams.iter().map(String::as_str).collect();
        let mut cmd = eval(scripts::TAKE, &refs);
        cmd.arg(GROUP).arg(&self.worker_id);
        let got: Option<(usize, String, String)> = self.run("take a job", &cmd).await?;
        Ok(got.and_then(|(i, entry, id)| {
            let queue = *queues.get(i.checked_sub(1)?)?;
            Some((queue, entry, JobId(id)))
        }))
    }

    /// Starts the job of a read entry; `None` when the entry was stale.
    async fn start(
        &self,
        queue: QueueName,
        entry: &str,
        id: &JobId,
    ) -> Result<Option<Job>, QueueError> {
        let started = JobState::queued(id.clone()).with_status(JobStatus::Started);
        let (job_key, stream) = (self.keys.job(id), self.keys.stream(queue));
        let mut cmd = eval(scripts::START, &[&job_key, &stream, &self.keys.running()]);
        cmd.arg(entry)
            .arg(GROUP)
            .arg(&self.worker_id)
            .arg(&id.0)
            .arg(json(&started));
        let Some(text): Option<String> = self.run("start a job", &cmd).await? else {
            return Ok(None);
        };
        self.lock_busy().insert(id.clone());
        match serde_json::from_str::<Job>(&text) {
            Ok(job) => Ok(Some(job)),
            Err(e) => {
                tracing::error!(job = %id, error = %e, "unreadable job in redis; failing it");
                self.update(started.failed(format!("the job's data cannot be read: {e}")))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Puts a read-but-unstarted entry back at the end of its stream.
    pub(crate) async fn redeliver(
        &self,
        queue: QueueName,
        entry: &str,
        id: &JobId,
    ) -> Result<bool, QueueError> {
        let (job_key, stream) = (self.keys.job(id), self.keys.stream(queue));
        let mut cmd = eval(scripts::REDELIVER, &[&job_key, &stream]);
        cmd.arg(entry).arg(GROUP).arg(&id.0);
        Ok(self.run::<i64>("put a job back", &cmd).await? == 1)
    }

    /// Waits on a dedicated connection for new entries: (queue, entry, job id) in priority order.
    async fn wait_for_entries(
        &self,
        queues: &[QueueName],
        block: Duration,
    ) -> Result<Vec<(QueueName, String, JobId)>, RedisError> {
        let addr = self.link.owner(self.keys.slot());
        let mut conn = self.link.blocking(&addr).await?;
        let streams: Vec<String> = queues.iter().map(|q| self.keys.stream(*q)).collect();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(&self.worker_id)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&streams);
        for _ in queues {
            cmd.arg(">");
        }
        let reply = tokio::time::timeout(
            block + BLOCK_GRACE,
            cmd.query_async::<Option<StreamReadReply>>(&mut conn),
        )
        .await
        .map_err(|_| RedisError::from((redis::ErrorKind::Io, "blocking read timed out")))??;
        self.link.give_back(addr, conn);
        let mut found = Vec::new();
        for (queue, stream) in queues.iter().zip(&streams) {
            let Some(key) = reply
                .as_ref()
                .and_then(|r| r.keys.iter().find(|k| &k.key == stream))
            else {
                continue;
            };
            for sid in &key.ids {
                if let Some(Ok(id)) = sid.map.get("id").map(redis::from_redis_value_ref::<String>) {
                    found.push((*queue, sid.id.clone(), JobId(id)));
                }
            }
        }
        Ok(found)
    }

    pub(crate) fn lock_busy(&self) -> std::sync::MutexGuard<'_, BTreeSet<JobId>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lock_served(&self) -> std::sync::MutexGuard<'_, BTreeSet<QueueName>> {
        self.served.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, job: Job, dedup_key: Option<String>) -> Result<Enqueued, QueueError> {
        let state = JobState::queued(job.id.clone());
        let dedup = dedup_key.unwrap_or_default();
        let (job_key, stream) = (self.keys.job(&job.id), self.keys.stream(job.queue));
        let lock = self.keys.lock(&dedup);
        // A holder that is final or gone is a stale lock: free it and try again.
        for _ in 0..5 {
            let mut cmd = eval(scripts::ENQUEUE, &[&job_key, &stream, &lock]);
            cmd.arg(&job.id.0)
                .arg(&dedup)
                .arg(self.timing.job_ttl_ms())
                .arg(json(&state))
                .arg(json(&job))
                .arg(GROUP);
            let (queued, detail): (i64, String) = self.run("queue a job", &cmd).await?;
            if queued == 1 {
                return Ok(Enqueued {
                    state,
                    is_new: true,
                });
            }
            let holder = JobId(detail);
            match self.state(&holder).await? {
                Some(s) if !s.status.is_final() => {
                    return Ok(Enqueued {
                        state: s,
                        is_new: false,
                    });
                }
                _ => {
                    let mut unlock = eval(scripts::UNLOCK, &[&lock]);
                    unlock.arg(&holder.0);
                    self.run::<i64>("free a stale lock", &unlock).await?;
                }
            }
        }
        Err(QueueError::Unavailable(format!(
            "the de-duplication lock {dedup} in Redis at {} keeps changing; try again",
            self.link.url
        )))
    }

    async fn dequeue(
        &self,
        queues: &[QueueName],
        wait: Duration,
    ) -> Result<Option<Job>, QueueError> {
        if queues.is_empty() {
            tokio::time::sleep(wait).await;
            return Ok(None);
        }
        let new_queues = {
            let mut served = self.lock_served();
            let before = served.len();
            served.extend(queues.iter().copied());
            served.len() != before
        };
        if new_queues && let Err(e) = self.heartbeat().await {
            tracing::warn!(error = %e, "cannot register the worker");
        }
        self.recover_if_due().await;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some((queue, entry, id)) = self.take(queues).await? {
                if let Some(job) = self.start(queue, &entry, &id).await? {
                    return Ok(Some(job));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.wait_for_entries(queues, left.min(MAX_BLOCK)).await {
                Ok(found) => {
                    let mut taken = None;
                    for (queue, entry, id) in found {
                        if taken.is_none() {
                            taken = self.start(queue, &entry, &id).await?;
                        } else {
                            self.redeliver(queue, &entry, &id).await?;
                        }
                    }
                    if taken.is_some() {
                        return Ok(taken);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "blocking read failed; polling instead");
                    tokio::time::sleep(left.min(Duration::from_millis(100))).await;
                }
            }
        }
    }

    async fn state(&self, id: &JobId) -> Result<Option<JobState>, QueueError> {
        let text: Option<String> = self
            .run(
                "read a job state",
                redis::cmd("HGET").arg(self.keys.job(id)).arg("state"),
            )
            .await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn update(&self, state: JobState) -> Result<(), QueueError> {
        let recorded = self.record(&state).await;
        if state.status.is_final() {
            // Even when the final state could not be written: the heartbeat stops, so recovery
            // fails the job with a message after the timeout instead of it staying started.
            self.lock_busy().remove(&state.id);
        }
        recorded
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<JobState>, QueueError> {
        let job_key = self.keys.job(id);
        let (state, job, dedup): (Option<String>, Option<String>, Option<String>) = self
            .run(
                "read a job",
                redis::cmd("HMGET")
                    .arg(&job_key)
                    .arg("state")
                    .arg("job")
                    .arg("dedup"),
            )
            .await?;
        let (Some(state), Some(job)) = (state, job) else {
            return Ok(None);
        };
        let (Ok(state), Ok(job)) = (
            serde_json::from_str::<JobState>(&state),
            serde_json::from_str::<Job>(&job),
        ) else {
            return Ok(None);
        };
        let mut cancelled = state.with_status(JobStatus::Cancelled);
        cancelled.error = Some(CANCELLED_MESSAGE.to_string());
        let (flag, lock, stream) = (
            self.keys.cancel(id),
            self.keys.lock(&dedup.unwrap_or_default()),
            self.keys.stream(job.queue),
        );
        let mut cmd = eval(scripts::CANCEL, &[&job_key, &flag, &lock, &stream]);
        cmd.arg(&id.0)
            .arg(self.timing.job_ttl_ms())
            .arg(json(&cancelled))
            .arg(GROUP);
        match self.run::<i64>("cancel a job", &cmd).await? {
            -1 => Ok(None),
            1 => Ok(Some(cancelled)),
            _ => self.state(id).await,
        }
    }

    async fn cancel_requested(&self, id: &JobId) -> Result<(), QueueError> {
        let flag = self.keys.cancel(id);
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(&flag);
        loop {
            match self.run::<i64>("read a cancel flag", &cmd).await {
                Ok(1) => return Ok(()),
                Ok(_) => {}
                Err(e) => tracing::debug!(job = %id, error = %e, "cannot read the cancel flag"),
            }
            tokio::time::sleep(CANCEL_POLL).await;
        }
    }

    async fn sizes(&self) -> Result<Vec<(QueueName, usize)>, QueueError> {
        let streams: Vec<String> = QueueName::ALL
            .iter()
            .map(|q| self.keys.stream(*q))
            .collect();
        let refs: Vec<&str> = streams.iter().map(String::as_str).collect();
        let mut cmd = eval(scripts::SIZES, &refs);
        cmd.arg(GROUP);
        let sizes: Vec<i64> = self.run("count waiting jobs", &cmd).await?;
        Ok(QueueName::ALL
            .into_iter()
            .zip(sizes.into_iter().map(|n| n.max(0) as usize))
            .collect())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, QueueError> {
        let mut cmd = eval(scripts::WORKERS, &[&self.keys.workers()]);
        cmd.arg(self.timing.worker_ttl_ms());
        let ids: Vec<String> = self.run("list workers", &cmd).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|w| self.keys.worker(w)).collect();
        let texts: Vec<Option<String>> = self
            .run("read workers", redis::cmd("MGET").arg(&keys))
            .await?;
        Ok(texts
            .into_iter()
            .flatten()
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect())
    }

    async fn recover_stale(&self) -> Result<usize, QueueError> {
        crate::recover::recover_stale(self).await
    }
}
